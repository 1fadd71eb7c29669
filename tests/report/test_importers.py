"""Imports of real peer logs (written by codecarbon, carbontracker and eco2AI themselves)."""

from __future__ import annotations

import calendar
import csv
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timezone
from pathlib import Path

import pytest

from wattprint.errors import ConfigError, StoreError
from wattprint.report.importers import (
    PeerLogError,
    import_peer_log,
    parse_carbontracker,
)
from wattprint.store import Store
from wattprint.time import parse_time_zone

PEERS = Path(__file__).resolve().parents[1] / "fixtures" / "peers"
CODECARBON = PEERS / "codecarbon" / "emissions.csv"
CARBONTRACKER = PEERS / "carbontracker"
ECO2AI = PEERS / "eco2ai" / "emission.csv"
J_PER_KWH = 3_600_000.0


def utc(text: str, fmt: str) -> float:
    return float(calendar.timegm(time.strptime(text, fmt)))


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "db.sqlite")


def device_energy_j(store: Store, run_id: str) -> dict[str, float]:
    return {d: t[0] for d, t in store.device_totals(run_id).items()}


# ---------------------------------------------------------------------------- codecarbon


def test_codecarbon_rows_become_runs_with_the_files_energy(store: Store) -> None:
    result = import_peer_log(store, "codecarbon", CODECARBON, tz=timezone.utc)
    rows = csv_rows(CODECARBON)
    assert len(result.imported) == len(rows) == 2 and result.skipped == []
    by_name = {store.run(r).name: store.run(r) for r in result.imported}
    for row in rows:
        run = by_name[row["experiment_id"]]
        pue = float(row["pue"])
        assert run.tool == "codecarbon" and run.status == "imported"
        assert run.project == row["project_name"] and run.region == "DE"  # from DEU
        end = utc(row["timestamp"], "%Y-%m-%dT%H:%M:%S")
        assert run.ended_at == end
        assert run.started_at == pytest.approx(end - float(row["duration"]), abs=1e-6)
        energies = device_energy_j(store, run.id)
        assert set(energies) == {"codecarbon:cpu", "codecarbon:ram"}  # gpu_count 0: no GPU
        # device energy: codecarbon's kWh divided by the PUE it multiplied in
        assert energies["codecarbon:cpu"] == pytest.approx(
            float(row["cpu_energy"]) / pue * J_PER_KWH, rel=1e-12)
        assert energies["codecarbon:ram"] == pytest.approx(
            float(row["ram_energy"]) / pue * J_PER_KWH, rel=1e-12)
        assert run.info["peer_co2e_kg"] == float(row["emissions"])
        assert run.info["peer_energy_kwh"] == float(row["energy_consumed"])
        assert run.info["peer_pue"] == pue and run.info["peer_run_id"] == row["run_id"]
        assert run.info["peer_country"] == "DEU" and run.info["peer_version"] == "3.3.2"
        for d in store.devices(run.id):
            assert d.source == "codecarbon" and d.measured is False
            assert d.model is not None and "codecarbon 3.3.2" in d.model
    assert any(float(r["pue"]) != 1.0 for r in rows)  # the fixture exercises the PUE


def test_importing_again_skips_what_is_there(store: Store) -> None:
    first = import_peer_log(store, "codecarbon", CODECARBON, tz=timezone.utc)
    again = import_peer_log(store, "codecarbon", CODECARBON, tz=timezone.utc)
    assert again.imported == [] and sorted(again.skipped) == sorted(first.imported)
    assert len(store.runs()) == 2


def test_project_given_overrides_the_peers(store: Store) -> None:
    result = import_peer_log(store, "codecarbon", CODECARBON, project="compare",
                             tz=timezone.utc)
    assert {store.run(r).project for r in result.imported} == {"compare"}


def test_time_zone_of_naive_timestamps(store: Store, tmp_path: Path) -> None:
    (row,) = csv_rows(CODECARBON)[:1]
    result = import_peer_log(store, "codecarbon", CODECARBON, tz=parse_time_zone("+02:00"))
    run = next(store.run(r) for r in result.imported if store.run(r).name == row["experiment_id"])
    assert run.ended_at == utc(row["timestamp"], "%Y-%m-%dT%H:%M:%S") - 2 * 3600


def _set(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    rows[row][rows[0].index(column)] = value
    return rows


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: _set(rows, 2, "cpu_energy", "abc"),
     r"line 3: column 'cpu_energy' is 'abc', not a number"),
    (lambda rows: _set(rows, 1, "ram_energy", "-0.5"), r"line 2: column 'ram_energy' is '-0.5'"),
    (lambda rows: _set(rows, 1, "pue", "0.8"), r"line 2: column 'pue' is 0.8; a PUE is >= 1"),
    (lambda rows: rows[:1], "has a header but no rows"),
    (lambda rows: [["a", "b", "c"], ["1", "2", "3"]], r"missing column\(s\) timestamp, duration"),
    (lambda rows: _set(rows, 1, "timestamp", "yesterday"),
     r"line 2: cannot read the time 'yesterday'"),
    (lambda rows: [rows[0], [*rows[1], "extra"]], "line 2: more cells than the header"),
])
def test_bad_codecarbon_file_is_a_clear_error_and_stores_nothing(
        store: Store, tmp_path: Path,
        edit: Callable[[list[list[str]]], list[list[str]]], message: str) -> None:
    with CODECARBON.open(newline="") as f:
        rows = list(csv.reader(f))
    bad = tmp_path / "emissions.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(edit(rows))
    with pytest.raises(PeerLogError, match=message) as info:
        import_peer_log(store, "codecarbon", bad, tz=timezone.utc)
    assert str(bad) in str(info.value)
    assert store.runs() == []  # valid rows before the bad one were not stored either


def test_binary_or_missing_file(store: Store, tmp_path: Path) -> None:
    binary = tmp_path / "emissions.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PeerLogError, match="not a text file"):
        import_peer_log(store, "codecarbon", binary)
    with pytest.raises(PeerLogError, match="no such file"):
        import_peer_log(store, "codecarbon", tmp_path / "missing.csv")


def test_store_failure_leaves_nothing_half_imported(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = store.append_intervals

    def failing_disk(run_id: str, intervals: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second run of the file hits a full disk
            raise sqlite3.OperationalError("database or disk is full")
        real(run_id, intervals)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "append_intervals", failing_disk)
    with pytest.raises(StoreError, match="nothing from this file was kept"):
        import_peer_log(store, "codecarbon", CODECARBON, tz=timezone.utc)
    assert store.runs() == []


def test_unknown_tool_and_misplaced_pue(store: Store) -> None:
    with pytest.raises(ConfigError, match="choose one of codecarbon, carbontracker, eco2ai"):
        import_peer_log(store, "mlco2", CODECARBON)
    with pytest.raises(ConfigError, match="eco2ai only"):
        import_peer_log(store, "codecarbon", CODECARBON, peer_pue=1.5)


# ---------------------------------------------------------------------------- carbontracker

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) - (.*)$")


def read_std_log(path: Path) -> dict[str, object]:
    """The test's own reading of a carbontracker standard log: epochs and powers."""
    epochs: list[dict[str, float]] = []
    pue = None
    for line in path.read_text().splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ts, msg = m.groups()
        if msg.startswith("Epoch "):
            epochs.append({"end": utc(ts, "%Y-%m-%d %H:%M:%S")})
        elif msg.startswith("Duration: "):
            h, mi, s = msg.split(": ")[1].split(":")
            epochs[-1]["duration"] = int(h) * 3600 + int(mi) * 60 + float(s)
        elif msg.startswith("Average power usage (W) for "):
            comp, value = msg[len("Average power usage (W) for "):].split(": ")
            epochs[-1][comp] = float("nan") if value == "None" else float(value)
        elif "PUE coefficient of" in msg:
            pue = float(msg.split("PUE coefficient of ")[1].split()[0])
    return {"epochs": epochs, "pue": pue}


def read_actual(path: Path) -> tuple[float, float]:
    text = path.read_text()
    m = re.search(r"Actual consumption.*?Energy:\s*([0-9.]+) kWh\s*CO2eq:\s*([0-9.]+) g", text,
                  re.S)
    assert m
    return float(m.group(1)), float(m.group(2)) / 1000


def test_carbontracker_directory_gives_one_run_per_log(store: Store) -> None:
    result = import_peer_log(store, "carbontracker", CARBONTRACKER, tz=timezone.utc)
    std_logs = sorted(CARBONTRACKER.glob("*_carbontracker.log"))
    assert len(result.imported) == len(std_logs) == 2
    runs = {store.run(r).name: store.run(r) for r in result.imported}
    assert set(runs) == {"full", "early"}
    for std in std_logs:
        run = runs[std.name.split("_")[0]]
        parsed = read_std_log(std)
        epochs = parsed["epochs"]
        assert isinstance(epochs, list)
        energies = device_energy_j(store, run.id)
        assert set(energies) == {"carbontracker:cpu:0", "carbontracker:gpu:0"}
        expected_cpu = sum(e["cpu"] * e["duration"] for e in epochs)
        expected_gpu = sum(e["gpu"] * e["duration"] for e in epochs)
        assert energies["carbontracker:cpu:0"] == pytest.approx(expected_cpu, rel=1e-12)
        assert energies["carbontracker:gpu:0"] == pytest.approx(expected_gpu, rel=1e-12)
        assert len(store.intervals(run.id)) == 2 * len(epochs)
        assert run.ended_at == epochs[-1]["end"]
        # carbontracker's own total is the same energy times its PUE (to its rounding)
        out = std.with_name(std.name.replace("_carbontracker.log", "_carbontracker_output.log"))
        actual_kwh, actual_kg = read_actual(out)
        assert run.info["peer_energy_kwh"] == actual_kwh
        assert run.info["peer_co2e_kg"] == pytest.approx(actual_kg, rel=1e-12)
        assert run.info["peer_pue"] == parsed["pue"] == 1.58
        assert (expected_cpu + expected_gpu) * 1.58 / J_PER_KWH == pytest.approx(actual_kwh,
                                                                                 rel=1e-3)
        assert run.info["peer_version"] == "2.4.7" and run.tool == "carbontracker"
        assert "peer_predicted_energy_kwh" in run.info
        for d in store.devices(run.id):
            assert d.measured is False and d.source == "carbontracker"
    assert runs["early"].info["peer_early_stop"] is True
    assert runs["full"].info["peer_early_stop"] is False


def test_carbontracker_single_log_file(store: Store) -> None:
    out_log = next(CARBONTRACKER.glob("full_*_carbontracker_output.log"))
    result = import_peer_log(store, "carbontracker", out_log, tz=timezone.utc)
    assert [store.run(r).name for r in result.imported] == ["full"]


def _edited_copy(tmp_path: Path, prefix: str, replace: list[tuple[str, str]]) -> Path:
    """A copy of a real log with some lines edited (for shapes this machine cannot produce)."""
    folder = tmp_path / "ct"
    folder.mkdir()
    for f in CARBONTRACKER.glob(f"{prefix}_*"):
        text = f.read_text()
        if f.name.endswith("_carbontracker.log"):
            for old, new in replace:
                text = text.replace(old, new, 1)
        (folder / f.name).write_text(text)
    return folder


def test_epoch_without_power_is_a_gap_not_zero(store: Store, tmp_path: Path) -> None:
    folder = _edited_copy(tmp_path, "full", [("for cpu: 32.5", "for cpu: None")])
    (rid,) = import_peer_log(store, "carbontracker", folder, tz=timezone.utc).imported
    (std,) = folder.glob("*_carbontracker.log")
    epochs = read_std_log(std)["epochs"]
    assert isinstance(epochs, list)
    gaps = store.gaps(rid)
    assert [g["device_id"] for g in gaps] == ["carbontracker:cpu:0"]
    assert epochs[0]["cpu"] != epochs[0]["cpu"]  # NaN: the first epoch has no power
    expected = sum(e["cpu"] * e["duration"] for e in epochs[1:])
    assert device_energy_j(store, rid)["carbontracker:cpu:0"] == pytest.approx(expected)


def test_rapl_devices_in_one_component(store: Store, tmp_path: Path) -> None:
    # carbontracker's RAPL handler lists packages and DRAM in the CPU component
    folder = _edited_copy(tmp_path, "full", [
        ("CPU with device(s) Simulated CPU.", "CPU with device(s) cpu:0, dram:0."),
        ("for cpu: 32.5", "for cpu: [20.5 4.25]"),
        ("for cpu: 32.5", "for cpu: [20.5\n 4.25]"),  # numpy wraps long arrays
        ("for cpu: 32.5", "for cpu: [20.5 4.25]"),
    ])
    (rid,) = import_peer_log(store, "carbontracker", folder, tz=timezone.utc).imported
    kinds = {d.device_id: d.kind for d in store.devices(rid)}
    assert kinds["carbontracker:cpu:0"] == "cpu" and kinds["carbontracker:cpu:1"] == "dram"
    energies = device_energy_j(store, rid)
    assert energies["carbontracker:cpu:0"] == pytest.approx(20.5 * 1.5 * 3)
    assert energies["carbontracker:cpu:1"] == pytest.approx(4.25 * 1.5 * 3)


def test_bad_carbontracker_logs(store: Store, tmp_path: Path) -> None:
    folder = _edited_copy(tmp_path, "full", [("for cpu: 32.5", "for cpu: [1.0 2.0]")])
    with pytest.raises(PeerLogError, match=r"line \d+: 2 power value\(s\) for cpu but 1"):
        import_peer_log(store, "carbontracker", folder, tz=timezone.utc)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PeerLogError, match="no carbontracker log in this directory"):
        parse_carbontracker(empty)
    with pytest.raises(PeerLogError, match="not a carbontracker log"):
        parse_carbontracker(CODECARBON)
    std = tmp_path / "x_1.2_2024-01-01T000000Z_carbontracker.log"
    std.write_text("2024-01-01 00:00:00 - carbontracker version 2.4.7\n")
    with pytest.raises(PeerLogError, match="no 'The following components were found' line"):
        parse_carbontracker(std)
    assert store.runs() == []


# ---------------------------------------------------------------------------- eco2AI


def test_eco2ai_rows_and_epochs(store: Store) -> None:
    result = import_peer_log(store, "eco2ai", ECO2AI, tz=timezone.utc)
    rows = csv_rows(ECO2AI)
    ids = list(dict.fromkeys(r["id"] for r in rows))
    assert len(result.imported) == len(ids) == 2
    for rid in result.imported:
        run = store.run(rid)
        mine = [r for r in rows if r["id"] == run.info["peer_run_id"]]
        assert run.tool == "eco2ai" and run.status == "imported" and run.project == "demo"
        assert run.name == mine[0]["experiment_description"] and run.region == "DE"
        expected = sum(float(r["power_consumption(kWh)"]) for r in mine) * J_PER_KWH
        assert device_energy_j(store, rid) == {"eco2ai:total": pytest.approx(expected)}
        starts = [utc(r["start_time"], "%Y-%m-%d %H:%M:%S") for r in mine]
        assert run.started_at == min(starts)
        assert [i.t_start for i in store.intervals(rid)] == starts
        assert run.info["peer_co2e_kg"] == pytest.approx(
            sum(float(r["CO2_emissions(kg)"]) for r in mine))
        (device,) = store.devices(rid)
        assert device.kind == "node" and device.measured is False
    epochs_run = next(store.run(r) for r in result.imported
                      if store.run(r).name == "resnet-epochs")
    # the epoch cells ("epoch: 1, loss: 1.0, ") carry the user's parameters as metrics
    assert [(m["name"], m["value"], m["step"]) for m in store.metrics(epochs_run.id)] == [
        ("loss", 1.0, 1), ("loss", 0.5, 2)]


def test_eco2ai_pue_given_on_import(store: Store) -> None:
    result = import_peer_log(store, "eco2ai", ECO2AI, tz=timezone.utc, peer_pue=1.25)
    rows = csv_rows(ECO2AI)
    total = sum(sum(device_energy_j(store, r).values()) for r in result.imported)
    assert total == pytest.approx(
        sum(float(r["power_consumption(kWh)"]) for r in rows) / 1.25 * J_PER_KWH)
    with pytest.raises(ConfigError, match="below 1"):
        import_peer_log(store, "eco2ai", ECO2AI, peer_pue=0.5)


def test_bad_eco2ai_file(store: Store, tmp_path: Path) -> None:
    rows = csv_rows(ECO2AI)
    rows[1]["power_consumption(kWh)"] = "-1"  # the second data row, line 3
    bad = tmp_path / "emission.csv"
    with bad.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(PeerLogError, match=r"line 3: column 'power_consumption\(kWh\)'"):
        import_peer_log(store, "eco2ai", bad, tz=timezone.utc)
    assert store.runs() == []


# ---------------------------------------------------------------------------- CLI


def wattprint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # the exchange commands' module is imported explicitly so the test runs whether or
    # not the command package already registers it
    code = "import wattprint.cli.exchange; from wattprint.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, text=True,
                          capture_output=True, timeout=120)


def test_cli_import_then_export(home: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    imported = wattprint("import", "codecarbon", str(CODECARBON), "--tz", "UTC", "--project",
                         "cmp", "--json", env=env)
    assert imported.returncode == 0, imported.stderr
    ids = json.loads(imported.stdout)["imported"]
    assert len(ids) == 2
    out = tmp_path / "runs.csv"
    exported = wattprint("export", "--project", "cmp", "--format", "csv", "-o", str(out),
                         env=env)
    assert exported.returncode == 0, exported.stderr
    assert "exported 2 run(s)" in exported.stderr
    rows = {r["id"]: r for r in csv_rows(out)}
    assert set(rows) == set(ids)
    expected = sorted((float(r["cpu_energy"]) + float(r["ram_energy"])) / float(r["pue"])
                      for r in csv_rows(CODECARBON))
    assert sorted(float(r["energy_kwh"]) for r in rows.values()) == pytest.approx(expected)
    assert {r["tool"] for r in rows.values()} == {"codecarbon"}
    cc = wattprint("export", "--project", "cmp", "--codecarbon", "--quiet", env=env)
    assert cc.returncode == 0, cc.stderr
    with CODECARBON.open() as f:
        assert cc.stdout.splitlines()[0] == f.readline().rstrip("\n")


def test_cli_bad_input_is_one_clear_line(home: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    bad = wattprint("import", "codecarbon", str(ECO2AI), env=env)
    assert bad.returncode == 2
    assert "not a codecarbon emissions.csv" in bad.stderr and "Traceback" not in bad.stderr
    parquet = wattprint("export", "--format", "parquet", env=env)
    assert parquet.returncode == 2 and "-o FILE" in parquet.stderr
    copy = tmp_path / "peers"
    shutil.copytree(CARBONTRACKER, copy)
    ok = wattprint("import", "carbontracker", str(copy), "--quiet", env=env)
    assert ok.returncode == 0 and ok.stderr == ""


def test_the_package_keeps_every_name_of_the_single_module() -> None:
    import wattprint.report.importers as importers
    from wattprint.errors import WattprintError
    from wattprint.report.importers import carbontracker, codecarbon, eco2ai, storing

    assert sorted(importers.__all__) == sorted([
        "PEERS", "ImportResult", "PeerGap", "PeerLogError", "PeerRun", "import_peer_log",
        "import_runs", "parse_carbontracker", "parse_codecarbon", "parse_eco2ai",
        "parse_peer_log", "parse_time_zone"])
    assert importers.PEERS == ("codecarbon", "carbontracker", "eco2ai")
    assert importers.parse_codecarbon is codecarbon.parse_codecarbon
    assert importers.parse_carbontracker is carbontracker.parse_carbontracker
    assert importers.parse_eco2ai is eco2ai.parse_eco2ai
    assert importers.import_peer_log is storing.import_peer_log
    assert issubclass(PeerLogError, WattprintError)


# ---------------------------------------------------------------------------- concurrency
IMPORTER = """
import sys
from datetime import timezone
from pathlib import Path
from wattprint.report.importers import import_peer_log
from wattprint.store import Store
result = import_peer_log(Store(Path(sys.argv[1])), "codecarbon", Path(sys.argv[2]),
                         tz=timezone.utc)
print(len(result.imported), len(result.skipped))
"""


def many_codecarbon_runs(path: Path, n: int) -> Path:
    """A codecarbon file of ``n`` runs: the fixture's first row under ``n`` run ids."""
    header, first = CODECARBON.read_text().splitlines()[:2]
    rows = [first.replace("392ad805-40d1-4132-a40a-5896c4d5948e",
                          f"00000000-0000-0000-0000-{k:012d}") for k in range(n)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def importer_env() -> dict[str, str]:
    src = Path(__file__).resolve().parents[2] / "src"
    return dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def test_four_concurrent_imports_of_one_file_store_every_run_once(tmp_path: Path) -> None:
    peer_file = many_codecarbon_runs(tmp_path / "many.csv", 200)
    for trial in range(5):
        db = tmp_path / f"trial{trial}.db"
        Store(db).close()
        procs = [subprocess.Popen([sys.executable, "-c", IMPORTER, str(db), str(peer_file)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=importer_env()) for _ in range(4)]
        outcomes = []
        for proc in procs:
            out, errs = proc.communicate(timeout=120)
            assert proc.returncode == 0, errs
            outcomes.append(tuple(int(x) for x in out.split()))
        # exactly one import stores the file; the others find every run there
        assert sorted(outcomes) == [(0, 200), (0, 200), (0, 200), (200, 0)]
        store = Store(db)
        assert len(store.run_ids()) == 200
        assert all(len(store.devices(rid)) == 2 for rid in store.run_ids()[:20])


def test_sigkill_during_import_leaves_each_run_complete_or_absent(tmp_path: Path) -> None:
    peer_file = many_codecarbon_runs(tmp_path / "many.csv", 1500)
    rng = random.Random(11)
    for trial in range(10):
        db = tmp_path / f"trial{trial}.db"
        Store(db).close()
        proc = subprocess.Popen([sys.executable, "-c", IMPORTER, str(db), str(peer_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=importer_env())
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = Store(db)
        ids = store.run_ids()
        assert len(ids) in (0, 1500)
        for rid in ids[:50]:  # a stored run has its devices, intervals and final state
            assert len(store.devices(rid)) == 2
            assert store.device_totals(rid)
            assert store.run(rid).ended_at is not None
        again = import_peer_log(store, "codecarbon", peer_file, tz=timezone.utc)
        assert len(again.imported) + len(again.skipped) == 1500
        assert len(store.run_ids()) == 1500


# ---------------------------------------------------------------------------- epochs, one rule

# 2024-01-01 00:00:00 UTC; every time below is hand-placed from it
T0 = 1_704_067_200.0


def intervals_of(store: Store, run_id: str) -> list[tuple[str, float, float, float]]:
    return sorted((i.device_id, i.t_start - T0, i.t_end - T0, i.energy_j)
                  for i in store.intervals(run_id))


def test_carbontracker_overlapping_truncated_epochs_keep_the_logged_power(
        store: Store, tmp_path: Path) -> None:
    # epoch 2 is logged as ending at 00:00:03 after 1.5 s, so it seems to start 0.5 s before
    # epoch 1's logged end (00:00:02): the times are truncated to the second
    std = tmp_path / "ovl_1.2_2024-01-01T000000Z_carbontracker.log"
    std.write_text(
        "2024-01-01 00:00:00 - carbontracker version 2.4.7\n"
        "2024-01-01 00:00:00 - Only predicted and actual consumptions are multiplied by a PUE "
        "coefficient of 1.58 (x).\n"
        "2024-01-01 00:00:00 - The following components were found: GPU with device(s) G0.\n"
        "2024-01-01 00:00:02 - Epoch 1:\n"
        "2024-01-01 00:00:02 - Duration: 0:00:01.50\n"
        "2024-01-01 00:00:02 - Average power usage (W) for gpu: 240.0\n"
        "2024-01-01 00:00:03 - Epoch 2:\n"
        "2024-01-01 00:00:03 - Duration: 0:00:01.50\n"
        "2024-01-01 00:00:03 - Average power usage (W) for gpu: 200.0\n"
        "2024-01-01 00:00:03 - Epoch 3:\n"
        "2024-01-01 00:00:03 - Duration: 0:00:00.80\n"
        "2024-01-01 00:00:03 - Average power usage (W) for gpu: None\n")
    (rid,) = import_peer_log(store, "carbontracker", std, tz=timezone.utc).imported
    # each epoch over [logged end - duration, logged end], at 240 W x 1.5 s and 200 W x 1.5 s
    assert intervals_of(store, rid) == [
        ("carbontracker:gpu:0", 0.5, 2.0, 360.0),
        ("carbontracker:gpu:0", 1.5, 3.0, 300.0),
    ]
    assert [(g["t_start"] - T0, g["t_end"] - T0) for g in store.gaps(rid)] == [
        (pytest.approx(2.2), 3.0)]
    run = store.run(rid)
    assert run.started_at == T0 + 0.5 and run.ended_at == T0 + 3.0
    # overlaps: epoch 2 with epoch 1 (2.0 - 1.5), epoch 3 with epoch 2 (3.0 - 2.2)
    assert run.info["peer_overlap_s"] == pytest.approx(0.5 + 0.8)
    # no interval holds a power that was not logged
    assert store.device_totals(rid)["carbontracker:gpu:0"][:3] == (660.0, 660.0, 3.0)


def test_eco2ai_overlapping_truncated_rows_and_a_zero_duration_row(
        store: Store, tmp_path: Path) -> None:
    path = tmp_path / "emission.csv"
    header = ("id,project_name,experiment_description,epoch,start_time,duration(s),"
              "power_consumption(kWh),CO2_emissions(kg),CPU_name,GPU_name,OS,region/country,"
              "cost\n")
    path.write_text(
        header
        + "r1,p,x,\"epoch: 1, \",2024-01-01 00:00:00,1.6,0.0001,0.00005,C,G,Linux,DE,0\n"
        + "r1,p,x,\"epoch: 2, \",2024-01-01 00:00:01,1.5,0.00005,0.000025,C,G,Linux,DE,0\n"
        + "r1,p,x,\"epoch: 3, \",2024-01-01 00:00:02,0,0.00001,0.000005,C,G,Linux,DE,0\n")
    (rid,) = import_peer_log(store, "eco2ai", path, tz=timezone.utc).imported
    # 0.0001 kWh = 360 J over [0, 1.6]; 0.00005 kWh = 180 J over [1, 2.5], plus the
    # zero-duration row's 0.00001 kWh = 36 J, which has no span of its own
    got = intervals_of(store, rid)
    assert [d for d, *_ in got] == ["eco2ai:total", "eco2ai:total"]
    assert [(a, b) for _, a, b, _ in got] == [(0.0, pytest.approx(1.6)), (1.0, 2.5)]
    assert [e for *_, e in got] == [pytest.approx(360.0), pytest.approx(216.0)]
    run = store.run(rid)
    assert run.info["peer_overlap_s"] == pytest.approx(0.6)
    assert run.info["peer_duration_s"] == pytest.approx(3.1)
    assert run.started_at == T0 and run.ended_at == pytest.approx(T0 + 2.5)


def test_codecarbon_truncated_stop_time_and_zero_duration(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_text(
        "timestamp,run_id,duration,cpu_energy,gpu_energy,ram_energy,energy_consumed,pue\n"
        "2024-01-01T00:00:10,a,2.5,0.0001,0,0.00002,0.00012,1.0\n"
        "2024-01-01T00:00:20,b,0,0.00001,0,0,0.00001,1.0\n")
    first, second = import_peer_log(store, "codecarbon", path, tz=timezone.utc).imported
    # the row's timestamp is the (truncated) stop time; the run spans the duration before it
    assert intervals_of(store, first) == [("codecarbon:cpu", 7.5, 10.0, pytest.approx(360.0)),
                                          ("codecarbon:ram", 7.5, 10.0, pytest.approx(72.0))]
    # a lone zero-duration span keeps its energy at its instant
    assert intervals_of(store, second) == [("codecarbon:cpu", 20.0, 20.0, pytest.approx(36.0)),
                                           ("codecarbon:ram", 20.0, 20.0, 0.0)]


def test_epoch_rule_by_hand() -> None:
    from wattprint.report.importers.common import PeerEpoch, epoch_intervals

    epochs = [
        PeerEpoch(T0 + 0.0, T0 + 0.0, {"d": 5.0}),          # zero span first: carried forward
        PeerEpoch(T0 + 0.0, T0 + 2.0, {"d": 20.0}),
        PeerEpoch(T0 + 1.5, T0 + 3.5, {"d": None}),         # a gap, overlapping 0.5 s
        PeerEpoch(T0 + 3.5, T0 + 3.5, {"d": 7.0}),          # zero span: into the previous
        PeerEpoch(T0 + 4.0, T0 + 5.0, {"d": 10.0}),
    ]
    intervals, gaps, overlap_s = epoch_intervals(epochs)
    assert [(i.t_start - T0, i.t_end - T0, i.energy_j) for i in intervals] == [
        (0.0, 2.0, 32.0), (4.0, 5.0, 10.0)]
    assert [(g.t_start - T0, g.t_end - T0) for g in gaps] == [(1.5, 3.5)]
    assert overlap_s == 0.5


def test_show_json_carries_the_peers_figures(home: Path) -> None:
    env = dict(os.environ)
    imported = wattprint("import", "codecarbon", str(CODECARBON), "--tz", "UTC", "--json",
                         env=env)
    assert imported.returncode == 0, imported.stderr
    first_row = csv_rows(CODECARBON)[0]
    run_id = json.loads(imported.stdout)["imported"][0]
    shown = wattprint("show", run_id, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    peer = json.loads(shown.stdout)["peer"]
    assert peer["tool"] == "codecarbon" and peer["version"] == first_row["codecarbon_version"]
    assert peer["energy_kwh"] == float(first_row["energy_consumed"])
    assert peer["co2e_kg"] == float(first_row["emissions"])
    assert peer["pue"] == float(first_row["pue"])
    assert peer["duration_s"] == float(first_row["duration"])
    assert peer["intensity_g_per_kwh"] == pytest.approx(
        float(first_row["emissions"]) * 1000 / float(first_row["energy_consumed"]), rel=1e-12)
    assert peer["run_id"] == first_row["run_id"] and peer["country"] == "DEU"


def test_runs_and_compare_name_the_tool_of_imported_runs(home: Path) -> None:
    env = {**os.environ, "COLUMNS": "120"}
    imported = wattprint("import", "eco2ai", str(ECO2AI), "--tz", "UTC", "--json", env=env)
    assert imported.returncode == 0, imported.stderr
    first, second = json.loads(imported.stdout)["imported"]
    listed = wattprint("runs", env=env)
    assert listed.returncode == 0, listed.stderr
    header = next(line for line in listed.stdout.splitlines() if " id " in f" {line} ")
    assert "tool" in header.split()
    assert sum(line.split().count("eco2ai") for line in listed.stdout.splitlines()) == 2
    compared = wattprint("compare", first, second, "--region", "DE", env=env)
    assert compared.returncode == 0, compared.stderr
    tool_row = next(line for line in compared.stdout.splitlines() if line.split()[:1] == ["tool"]
                    or "tool " in line[:8])
    assert tool_row.split().count("eco2ai") == 2
    as_json = wattprint("compare", first, second, "--region", "DE", "--json", env=env)
    assert [r["tool"] for r in json.loads(as_json.stdout)["runs"]] == ["eco2ai", "eco2ai"]
