"""Jobs in the store on SQLite and on a real PostgreSQL server: jobs, show, report, account,
export, leaderboard and compare of a job spread over two nodes in two regions.

The job, built by hand below: node ``n0`` (region FR) holds rank 0 (the node measurer:
its CPU package, 10 × 30 J, and its GPU, 10 × 100 J, plus one paused interval of
999 J that never counts) and rank 1 (its GPU, 10 × 200 J); node ``n1`` (region DE)
holds rank 2 (package 10 × 50 J, GPU 10 × 150 J) and rank 3 (measured nothing), and
both of ``n1``'s runs ended without stopping. So ``n0`` used 300 + 1000 + 2000 =
3300 J, ``n1`` 500 + 1500 = 2000 J, the job 5300 J; the job is partial (``n1`` dead),
final, and spans 10.5 s (the first start to the last end).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.distributed import Launch
from wattprint.errors import RunNotFound
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.report.jobview import job_document, resolve_target
from wattprint.store import Store

SRC = Path(__file__).resolve().parents[2] / "src"
DATA = SRC / "wattprint" / "data" / "intensity"
T0 = 1_700_000_000.0
JOB = "slurm:4242.0"
J_PER_KWH = 3.6e6


def _device(device_id: str) -> DeviceRecord:
    gpu = device_id.startswith("nvml")
    return DeviceRecord(device_id, "gpu" if gpu else "cpu", "A100" if gpu else "pkg",
                        "nvml" if gpu else "rapl", True, True, None, "whole-device")


def _rank(store: Store, rid: str, node: str, rank: int, region: str, start: float, end: float,
          series: dict[str, float], status: str = "finished") -> None:
    store.create_run(project="dist", phase="training", attribution="machine", interval_s=1.0,
                     started_at=T0 + start, region=region, run_id=rid, name=f"rank{rank}")
    store.set_job(rid, Launch(job_id=JOB, launcher="slurm", node=node, rank=rank,
                              local_rank=rank % 2, world_size=4))
    store.add_devices(rid, [_device(d) for d in series])
    store.append_intervals(rid, [IntervalRecord(d, T0 + s, T0 + s + 1, joules, 0.0)
                                 for s in range(10) for d, joules in series.items()])
    store.finish_run(rid, status=status, ended_at=T0 + end, exit_code=0)


def build_job(store: Store) -> None:
    """The job of the module docstring, and one plain run beside it."""
    _rank(store, "aaaa0000", "n0", 0, "FR", 0.0, 10.0,
          {"rapl:package-0": 30.0, "nvml:0": 100.0})
    store.append_intervals("aaaa0000", [IntervalRecord("nvml:0", T0 + 10, T0 + 11, 999.0,
                                                       0.0, True)])
    store.log_metric("aaaa0000", "accuracy", 0.5, 0, T0 + 1)
    store.log_metric("aaaa0000", "accuracy", 0.75, 1, T0 + 2)
    store.add_units("aaaa0000", "sample", 640)
    _rank(store, "aaaa0001", "n0", 1, "FR", 0.2, 10.5, {"nvml:1": 200.0})
    store.log_metric("aaaa0001", "accuracy", 0.1, 0, T0 + 1)
    _rank(store, "aaaa0002", "n1", 2, "DE", 0.1, 9.0,
          {"rapl:package-0": 50.0, "nvml:0": 150.0}, status="interrupted")
    _rank(store, "aaaa0003", "n1", 3, "DE", 0.3, 9.0, {}, status="interrupted")
    store.create_run(project="dist", phase="training", attribution="machine", interval_s=1.0,
                     started_at=T0 + 100, region="FR", run_id="bbbb0000", name="single")
    store.add_devices("bbbb0000", [_device("nvml:0")])
    store.append_intervals("bbbb0000", [IntervalRecord("nvml:0", T0 + 100, T0 + 101, 720.0,
                                                       0.0)])
    store.log_metric("bbbb0000", "accuracy", 0.6, 0, T0 + 100)
    store.finish_run("bbbb0000", status="finished", ended_at=T0 + 101, exit_code=0)


def annual_g_per_kwh(iso2: str) -> float:
    """The newest annual intensity of a country in the shipped table, read independently."""
    with (DATA / "countries_owid_ember.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["iso2"] == iso2]
    return float(max(rows, key=lambda r: int(r["year"]))["g_per_kwh"])


def kg(joules: float, iso2: str) -> float:
    """Operational carbon at PUE 1 of ``joules`` in a country, kg."""
    return joules / J_PER_KWH * annual_g_per_kwh(iso2) / 1000.0


PLAIN = AccountingOptions(pue=1.0, embodied=False)


@pytest.fixture
def job_store(store_target: str | Path) -> Store:
    store = Store(store_target)
    build_job(store)
    return store


def test_job_document_by_node_rank_and_device(job_store: Store) -> None:
    doc = job_document(job_store, JOB, PLAIN)
    assert doc["energy_j"] == 5300.0 and doc["runs"] == 4 and doc["ranks"] == 4
    assert doc["status"] == "partial" and doc["partial"] and doc["final"]
    assert doc["dead_nodes"] == ["n1"] and doc["wall_s"] == 10.5
    nodes = {d["node"]: d for d in doc["by_node"]}
    assert nodes["n0"]["energy_j"] == 3300.0 and nodes["n1"]["energy_j"] == 2000.0
    assert nodes["n0"]["regions"] == ["FR"] and nodes["n1"]["regions"] == ["DE"]
    assert nodes["n1"]["dead"] and not nodes["n0"]["dead"]
    # each node accounted in its own region
    assert nodes["n0"]["co2e_kg"] == pytest.approx(kg(3300, "FR"), rel=1e-9)
    assert nodes["n1"]["co2e_kg"] == pytest.approx(kg(2000, "DE"), rel=1e-9)
    assert doc["co2e_kg"] == pytest.approx(kg(3300, "FR") + kg(2000, "DE"), rel=1e-9)
    assert doc["footprint"]["energy_kwh"]["total"] == pytest.approx(5300 / J_PER_KWH)
    assert [(d["rank"], d["energy_j"]) for d in doc["by_rank"]] == [
        (0, 1300.0), (1, 2000.0), (2, 2000.0), (3, 0.0)]
    devices = {(d["node"], d["device_id"]): (d["energy_j"], d["measured_by"])
               for d in doc["by_device"]}
    assert devices == {("n0", "nvml:0"): (1000.0, [0]), ("n0", "nvml:1"): (2000.0, [1]),
                       ("n0", "rapl:package-0"): (300.0, [0]),
                       ("n1", "nvml:0"): (1500.0, [2]), ("n1", "rapl:package-0"): (500.0, [2])}
    assert doc["metrics_from_rank"] == 0 and doc["units"] == {"sample": 640.0}
    assert [m["value"] for m in doc["metrics"]] == [0.5, 0.75]
    assert [m["value"] for m in job_document(job_store, JOB, PLAIN, 1)["metrics"]] == [0.1]
    assert sorted((r["run_id"], r["region"]) for r in doc["accounted"]) == [
        ("aaaa0000", "FR"), ("aaaa0001", "FR"), ("aaaa0002", "DE")]


def test_a_job_argument_resolves_where_a_run_would_not(job_store: Store) -> None:
    assert resolve_target(job_store, JOB) == ("job", JOB)  # exactly a job id
    assert resolve_target(job_store, "job:slurm:42") == ("job", JOB)  # job: and a prefix
    assert resolve_target(job_store, "job:last") == ("job", JOB)
    assert resolve_target(job_store, "aaaa0001") == ("run", "aaaa0001")
    assert resolve_target(job_store, "bbbb") == ("run", "bbbb0000")
    assert resolve_target(job_store, "slurm") == ("job", JOB)  # no run starts so
    with pytest.raises(RunNotFound, match="ambiguous"):
        resolve_target(job_store, "aaaa")
    with pytest.raises(RunNotFound):
        resolve_target(job_store, "job:nope")


def _cli(target: str | Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    url = str(target) if str(target).startswith("postgresql:") else f"sqlite:///{target}"
    env = dict(os.environ, PYTHONPATH=str(SRC), WATTPRINT_HOME=str(home),
               WATTPRINT_STORE=url, COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_jobs_show_report_and_account_on_the_command_line(
        job_store: Store, store_target: str | Path, tmp_path: Path) -> None:
    job_store.close()
    (listed,) = json.loads(_cli(store_target, tmp_path, "jobs", "--json").stdout)["jobs"]
    assert listed["job_id"] == JOB and listed["status"] == "partial"
    assert listed["nodes"] == ["n0", "n1"] and listed["energy_j"] == 5300.0
    shown = json.loads(_cli(store_target, tmp_path, "show", "job:slurm", "--json").stdout)
    assert shown["energy_j"] == 5300.0 and shown["dead_nodes"] == ["n1"]
    report = json.loads(_cli(store_target, tmp_path, "report", JOB, "--format", "json",
                             "--pue", "1", "--no-embodied").stdout)
    assert report["schema"] == "wattprint.appendix.job/1" and report["kind"] == "job"
    assert report["co2e_kg"] == pytest.approx(kg(3300, "FR") + kg(2000, "DE"), rel=1e-9)
    assert report["accounting"]["pue_requested"] == 1.0
    md = _cli(store_target, tmp_path, "report", JOB, "--no-embodied").stdout
    assert md.startswith("# Energy and carbon appendix: job slurm:4242.0")
    assert "> Partial job: node(s) n1 ended without stopping" in md
    assert "| n1 | DE | 2 |" in md and "## Metrics and units (rank 0)" in md
    html = _cli(store_target, tmp_path, "report", "job:last", "--format", "html").stdout
    assert "<h1>Energy and carbon appendix: job slurm:4242.0</h1>" in html
    assert 'id="wattprint-data"' in html
    accounted = json.loads(_cli(store_target, tmp_path, "account", JOB, "--json", "--pue",
                                "1", "--no-embodied").stdout)
    assert accounted["partial"] is True
    assert {d["node"]: d["co2e_kg"] for d in accounted["by_node"]} == pytest.approx(
        {"n0": kg(3300, "FR"), "n1": kg(2000, "DE")}, rel=1e-9)
    run = json.loads(_cli(store_target, tmp_path, "account", "bbbb", "--json", "--pue", "1",
                          "--no-embodied").stdout)
    assert run["id"] == "bbbb0000" and run["co2e_kg"] == pytest.approx(kg(720, "FR"))


def test_export_has_job_columns_and_exports_one_job(
        job_store: Store, store_target: str | Path, tmp_path: Path) -> None:
    job_store.close()
    rows = list(csv.DictReader(io.StringIO(_cli(store_target, tmp_path, "export",
                                                "--quiet").stdout)))
    by_id = {r["id"]: r for r in rows}
    assert (by_id["aaaa0002"]["job_id"], by_id["aaaa0002"]["job_node"],
            by_id["aaaa0002"]["job_rank"]) == (JOB, "n1", "2")
    assert by_id["bbbb0000"]["job_id"] == "" and by_id["bbbb0000"]["job_rank"] == ""
    only = list(csv.DictReader(io.StringIO(_cli(store_target, tmp_path, "export", "--job",
                                                "slurm", "--quiet").stdout)))
    assert sorted(r["id"] for r in only) == ["aaaa0000", "aaaa0001", "aaaa0002", "aaaa0003"]
    assert sum(float(r["energy_kwh"]) for r in only) == pytest.approx(5300 / J_PER_KWH)
    doc = json.loads(_cli(store_target, tmp_path, "export", "--format", "json",
                          "--quiet").stdout)
    jobs = {r["id"]: r.get("job") for r in doc["runs"]}
    assert jobs["aaaa0000"] == {"id": JOB, "node": "n0", "rank": 0}
    assert jobs["bbbb0000"] is None


def test_leaderboard_counts_a_job_once_and_compare_takes_jobs(job_store: Store) -> None:
    from wattprint.report.compare import compare_runs
    from wattprint.report.leaderboard import leaderboard

    board = leaderboard(job_store, "dist", "accuracy", costs=["energy"], opts=PLAIN)
    assert [(r["id"], r["metric"]) for r in board["runs"]] == [(JOB, 0.75),
                                                                ("bbbb0000", 0.6)]
    assert board["runs"][0]["energy_kwh"] == pytest.approx(5300 / J_PER_KWH)
    assert board["runs"][0]["duration_s"] == 10.5 and board["excluded"] == []
    cmp = compare_runs(job_store, ["bbbb0000", JOB], PLAIN)
    assert [r["id"] for r in cmp["runs"]] == ["bbbb0000", JOB]
    rows = {r["quantity"]: r for r in cmp["rows"]}
    assert rows["device_kwh.gpu"]["values"] == pytest.approx(
        [720 / J_PER_KWH, 4500 / J_PER_KWH])
    assert rows["device_kwh.cpu"]["values"] == [None, pytest.approx(800 / J_PER_KWH)]
    assert rows["energy_kwh.total"]["ratio"][1] == pytest.approx(5300 / 720)
    assert rows["metric.accuracy"]["values"] == [0.6, 0.75]
