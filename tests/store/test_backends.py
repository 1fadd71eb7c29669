"""The store interface, the same tests on SQLite and on a real PostgreSQL server.

``store_target`` gives each test an empty store of each backend (see
``pgserver.py``); expected values are worked out by hand in each test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from store.pgserver import PASSWORD, PgServer
from wattprint.errors import RunNotFound, StoreError
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.store import SCHEMA_VERSION, Store, schema
from wattprint.store.copy import copy_runs, merge

SRC = Path(__file__).resolve().parents[2] / "src"
CPU = DeviceRecord("rapl:package-0", "cpu", "pkg", "rapl", True, True, None, "cpu-time-share")
GPU = DeviceRecord("nvml:0", "gpu", "A100", "nvml", True, True, None, "whole-device",
                   {"uuid": "GPU-1"})


def fill(store: Store, run_id: str, t0: float = 100.0) -> None:
    """A run with one row in every table; its totals are worked out in the tests."""
    store.create_run(project="p", phase="training", attribution="machine", interval_s=1.0,
                     started_at=t0, name="n", command="python train.py", region="FR",
                     info={"k": [1, 2]}, run_id=run_id)
    store.add_devices(run_id, [CPU, GPU])
    store.append_intervals(run_id, [
        IntervalRecord("rapl:package-0", t0, t0 + 1, 30.0, 12.0),
        IntervalRecord("nvml:0", t0, t0 + 1, 250.5, 250.5),
        IntervalRecord("rapl:package-0", t0 + 1, t0 + 2, 50.0, 20.0),
        IntervalRecord("rapl:package-0", t0 + 2, t0 + 3, 7.0, 7.0, True),
    ])
    store.add_gap(run_id, "nvml:0", t0 + 1, t0 + 2, "timeout")
    for step, loss in enumerate((0.9, 0.5, 0.25)):
        store.log_metric(run_id, "loss", loss, step, t0 + step)
    store.add_units(run_id, "sample", 10)
    store.add_units(run_id, "sample", 5)
    outer = store.open_phase(run_id, "train", 0, t0)
    inner = store.open_phase(run_id, "epoch", 1, t0 + 0.5)
    store.close_phase(inner, t0 + 1.5)
    pause = store.add_pause(run_id, t0 + 2, None, "intensity above 300")
    store.end_pause(pause, t0 + 2.5)
    store.set_idle(run_id, "nvml:0", 55.0, "measured")
    store.set_tags(run_id, {"team": "vision", "seed": "1"})
    store.update_info(run_id, {"more": True})
    del outer  # left open: finishing the run closes it
    store.finish_run(run_id, status="finished", ended_at=t0 + 3, exit_code=0)


def test_every_table_round_trips(store_target: str | Path) -> None:
    store = Store(store_target)
    assert store.schema_version() == SCHEMA_VERSION
    fill(store, "aaaa0001")
    run = store.run("aaaa")
    assert (run.status, run.started_at, run.ended_at, run.exit_code, run.region) == (
        "finished", 100.0, 103.0, 0, "FR")
    assert run.info == {"k": [1, 2], "more": True}
    assert [d.device_id for d in store.devices(run.id)] == ["nvml:0", "rapl:package-0"]
    assert store.devices(run.id)[0].extra == {"uuid": "GPU-1"}
    # paused interval excluded: cpu 30 + 50 J over 2 s
    assert store.device_totals(run.id) == {"rapl:package-0": (80.0, 32.0, 2.0, 2),
                                           "nvml:0": (250.5, 250.5, 1.0, 1)}
    assert len(store.intervals(run.id)) == 4
    assert store.gaps(run.id) == [{"device_id": "nvml:0", "t_start": 101.0, "t_end": 102.0,
                                   "reason": "timeout"}]
    assert [m["value"] for m in store.metrics(run.id)] == [0.9, 0.5, 0.25]
    assert store.units(run.id) == {"sample": 15.0}
    assert store.phases(run.id) == [
        {"name": "train", "depth": 0, "t_start": 100.0, "t_end": 103.0},
        {"name": "epoch", "depth": 1, "t_start": 100.5, "t_end": 101.5}]
    assert store.pauses(run.id) == [{"t_start": 102.0, "t_end": 102.5,
                                     "reason": "intensity above 300"}]
    assert store.idle(run.id) == {"nvml:0": (55.0, "measured")}
    assert store.tags(run.id) == {"team": "vision", "seed": "1"}
    store.set_idle(run.id, "nvml:0", 60.0, "catalogue")  # replaced, not added
    assert store.idle(run.id) == {"nvml:0": (60.0, "catalogue")}


def test_listing_prefixes_and_delete(store_target: str | Path) -> None:
    store = Store(store_target)
    for rid, t in (("abc1", 1.0), ("abc2", 2.0), ("other", 3.0)):
        store.create_run(project="q" if rid == "other" else "p", phase="t",
                         attribution="machine", interval_s=1, started_at=t, run_id=rid)
    assert [r.id for r in store.runs()] == ["other", "abc2", "abc1"]
    assert store.run_ids("p") == ["abc2", "abc1"]
    assert store.resolve_id("last") == "other"
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.run("abc")
    with pytest.raises(RunNotFound):
        store.run("nope")
    store.delete_run("abc1")
    assert store.run_ids() == ["other", "abc2"]
    with pytest.raises(StoreError):  # the id is the primary key
        store.create_run(project="p", phase="t", attribution="machine", interval_s=1,
                         started_at=1.0, run_id="abc2")
    store.close()


def test_a_transaction_is_all_or_nothing(store_target: str | Path) -> None:
    store = Store(store_target)
    store.create_run(project="p", phase="t", attribution="machine", interval_s=1,
                     started_at=1.0, run_id="r1")
    with pytest.raises(RuntimeError), store.transaction():
        store.append_intervals("r1", [IntervalRecord("cpu", 1.0, 2.0, 5.0, 5.0)])
        raise RuntimeError("stop")
    assert store.intervals("r1") == []
    store.append_intervals("r1", [IntervalRecord("cpu", 1.0, 2.0, 5.0, 5.0)])
    assert len(store.intervals("r1")) == 1
    store.close()


def test_bad_values_are_skipped_in_listings(store_target: str | Path) -> None:
    store = Store(store_target)
    for rid in ("good", "bad"):
        store.create_run(project="p", phase="t", attribution="machine", interval_s=1,
                         started_at=1.0, run_id=rid)
    store.append_intervals("bad", [IntervalRecord("cpu", 1.0, 2.0, float("inf"), 1.0)])
    assert [r.id for r in store.runs()] == ["good"]
    with pytest.raises(StoreError, match="wattprint delete bad"):
        store.run("bad")
    store.close()


def test_a_newer_schema_is_refused(store_target: str | Path) -> None:
    store = Store(store_target)
    with store.transaction():
        store._conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(StoreError, match="newer than this wattprint"):
        Store(store_target)


def test_a_new_migration_is_one_entry_for_both_backends(
        store_target: str | Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(store_target).close()  # at today's version
    monkeypatch.setitem(schema.MIGRATIONS, SCHEMA_VERSION + 1,
                        "ALTER TABLE runs ADD COLUMN example_note TEXT;"
                        " ALTER TABLE runs ADD COLUMN example_count INTEGER;"
                        " CREATE INDEX runs_example ON runs(example_note)")
    store = Store(store_target)
    assert store.schema_version() == SCHEMA_VERSION + 1
    assert store.columns("runs")[-2:] == ["example_note", "example_count"]


WRITER = textwrap.dedent("""
    import sys
    from wattprint.records import IntervalRecord
    from wattprint.store import Store
    target, node, writer, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = Store(target)
    rid = f"{node}-w{writer:02d}"
    store.create_run(project="job", phase="training", attribution="machine", interval_s=1.0,
                     started_at=1000.0, run_id=rid, info={"node": node})
    for i in range(n):  # one batch per second of the simulated run: 2 devices
        store.append_intervals(rid, [
            IntervalRecord(f"{node}:cpu", 1000.0 + i, 1001.0 + i, 1.0, 1.0),
            IntervalRecord(f"{node}:gpu{writer}", 1000.0 + i, 1001.0 + i, 2.0, 2.0)])
        store.log_metric(rid, "step", float(i), i, 1000.0 + i)
        store.add_units(rid, "sample", 1)
    store.finish_run(rid, status="finished", ended_at=1000.0 + n, exit_code=0)
""")


def test_32_writers_on_4_nodes_lose_nothing(store_target: str | Path) -> None:
    Store(store_target).close()  # created once, as the first node would
    env = dict(os.environ, PYTHONPATH=str(SRC))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(store_target), f"node{n}",
                               str(w), "40"], env=env, stderr=subprocess.PIPE, text=True)
             for n in range(4) for w in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    store = Store(store_target)
    runs = store.runs()
    assert len(runs) == 32 and {r.status for r in runs} == {"finished"}
    for run in runs:
        # 40 seconds x (1 J cpu + 2 J gpu), 40 steps, 40 samples
        totals = store.device_totals(run.id)
        assert sorted(v[0] for v in totals.values()) == [40.0, 80.0]
        assert sum(v[3] for v in totals.values()) == 80
        assert [m["value"] for m in store.metrics(run.id)] == [float(i) for i in range(40)]
        assert store.units(run.id) == {"sample": 40.0}


def everything(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a store, by table, sorted (row order of ordered tables kept)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in schema.TABLES:
        cols = store.columns(table)
        rows = [row for rid in sorted(store.run_ids()) for row in
                store.table_rows(table, rid, cols)]
        out[table] = rows if table in schema.ORDERED_TABLES else sorted(rows, key=repr)
    return out


def test_copy_sqlite_to_postgresql_to_sqlite_keeps_every_row(
        tmp_path: Path, pg_server: PgServer) -> None:
    first = Store(tmp_path / "a.db")
    fill(first, "run00001", 100.0)
    fill(first, "run00002", 200.0)
    first.create_run(project="p", phase="t", attribution="process", interval_s=0.5,
                     started_at=300.0, run_id="run00003")  # still running, nothing else
    url = pg_server.new_database()
    middle, last = Store(url), Store(tmp_path / "c.db")
    report = copy_runs(first, middle)
    assert report.copied == ["run00001", "run00002", "run00003"]
    # 2 filled runs: 4 intervals, 3 metrics, 2 phases, 2 devices, 2 tags each
    assert {k: report.rows[k] for k in ("runs", "intervals", "metrics", "phases", "tags")} == {
        "runs": 3, "intervals": 8, "metrics": 6, "phases": 4, "tags": 4}
    copy_runs(middle, last)
    assert everything(last) == everything(middle) == everything(first)
    assert Store(tmp_path / "c.db").run("run00001") == first.run("run00001")
    # idempotent: a second copy adds nothing
    again = copy_runs(first, middle)
    assert again.copied == [] and len(again.present) == 3
    assert everything(middle) == everything(first)
    # a run that has ended since the last copy is brought up to date
    first.append_intervals("run00003", [IntervalRecord("cpu", 300.0, 301.0, 9.0, 9.0)])
    first.finish_run("run00003", status="finished", ended_at=301.0)
    later = copy_runs(first, middle)
    assert later.replaced == ["run00003"] and later.copied == []
    assert everything(middle) == everything(first)


def node_file(path: Path, node: str, rank: int, job: str) -> None:
    from wattprint.distributed import Launch

    store = Store(path)
    rid = f"{job}-{node}"
    fill(store, rid, 100.0 + rank)
    store.set_job(rid, Launch(job_id=job, node=node, rank=rank, local_rank=0, world_size=2,
                              launcher="slurm"))
    store.close()


def test_merge_of_two_node_files_gives_one_job(
        store_target: str | Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # merge reads the columns from the stores: the job columns come along unnamed
    node_file(tmp_path / "node1.db", "node1", 0, "slurm-4242")
    node_file(tmp_path / "node2.db", "node2", 1, "slurm-4242")
    dest = Store(store_target)
    report = merge([tmp_path / "node1.db", tmp_path / "node2.db"], dest)
    assert sorted(report.copied) == ["slurm-4242-node1", "slurm-4242-node2"]
    rows = dest._read("SELECT job_id, job_node FROM runs ORDER BY job_node", ())
    assert [tuple(r) for r in rows] == [("slurm-4242", "node1"), ("slurm-4242", "node2")]
    assert {r.project for r in dest.runs()} == {"p"}
    # per job: 2 nodes x (80 J cpu + 250.5 J gpu)
    assert sum(v[0] for rid in dest.run_ids() for v in dest.device_totals(rid).values()) == 661.0
    assert merge([tmp_path / "node1.db", tmp_path / "node2.db"], dest).copied == []


def test_credentials_are_never_printed(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    store = Store(url)
    assert PASSWORD not in store.where and "***" in store.where
    wrong = url.replace(PASSWORD, "not-the-" + PASSWORD)
    with pytest.raises(StoreError) as caught:
        Store(wrong)
    assert "not-the-" not in str(caught.value) and PASSWORD not in str(caught.value)
    del caught  # its traceback would keep this frame's store in a reference cycle
    # the password from a password file (PGPASSFILE) instead of the URL
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:wattprint:{PASSWORD}\n")
    passfile.chmod(0o600)
    env = dict(os.environ, PGPASSFILE=str(passfile), WATTPRINT_STORE=pg_server.url(
        url.split("@/", 1)[1].split("?")[0], password=False), PYTHONPATH=str(SRC),
        WATTPRINT_HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    fill(store, "r1")
    shown = subprocess.run([sys.executable, "-m", "wattprint", "runs", "--json"], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    assert '"r1"' in shown.stdout
    env["WATTPRINT_STORE"] = url
    config = subprocess.run([sys.executable, "-m", "wattprint", "config"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert config.returncode == 0 and "wattprint:***@" in config.stdout
    assert PASSWORD not in config.stdout + config.stderr
    store.close()


def test_cli_merge_then_copy(store_target: str | Path, tmp_path: Path) -> None:
    for n in (1, 2):
        node = Store(tmp_path / f"node{n}.db")
        fill(node, f"run-node{n}", 100.0 * n)
        node.close()
    env = dict(os.environ, PYTHONPATH=str(SRC), WATTPRINT_HOME=str(tmp_path / "home"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("WATTPRINT_STORE", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    merged = cli("merge", str(tmp_path / "node1.db"), str(tmp_path / "node2.db"),
                 "--to", str(store_target))
    assert merged.returncode == 0, merged.stderr
    assert merged.stdout.startswith("2 run(s) copied, 0 replaced")
    assert PASSWORD not in merged.stdout + merged.stderr
    again = cli("merge", str(tmp_path / "node1.db"), str(tmp_path / "node2.db"),
                "--to", str(store_target), "--json")
    assert again.returncode == 0, again.stderr
    assert '"copied": []' in again.stdout
    back = tmp_path / "back.db"
    copied = cli("store", "copy", "--from", str(store_target), "--to", f"sqlite:///{back}")
    assert copied.returncode == 0, copied.stderr
    # 2 runs: 4 intervals, 3 metrics, 2 phases each
    assert "rows: 2 runs, 4 devices, 8 intervals, 2 gaps, 6 metrics, 4 phases" in copied.stdout
    assert sorted(Store(back).run_ids()) == ["run-node1", "run-node2"]
