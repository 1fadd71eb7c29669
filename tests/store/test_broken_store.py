"""A broken store never breaks the job and loses nothing (read-only, full, locked, corrupted,
newer schema): the job's output and exit code are untouched, one warning line, the spool is
added by the next command, every interval arrives."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattprint.records import IntervalRecord
from wattprint.store import Store

CHILD = Path(__file__).parent / "broken_child.py"
WARNING = "wattprint cannot write its store"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def env_for(home: Path, tmp: Path) -> dict[str, str]:
    env = dict(os.environ, WATTPRINT_HOME=str(home), TMPDIR=str(tmp))
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def run_job(home: Path, tmp: Path, result: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHILD), str(result), "0.4"], env=env_for(home, tmp),
                          capture_output=True, text=True, timeout=60)


def runs_json(home: Path, tmp: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "wattprint", "runs", "--json"],
                          env=env_for(home, tmp), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def check_job(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 3
    assert proc.stdout == "hello\n"
    assert "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if WARNING in line] == [
        proc.stderr.strip()], proc.stderr


def check_ingested(db: Path, result: Path) -> None:
    measured = json.loads(result.read_text())
    store = Store(db)
    run = store.run(measured["id"])
    assert (run.status, run.exit_code) == ("finished", None)
    kept = store.intervals(measured["id"])
    # the scripted counter gives 1 J per interval: every interval measured is stored once
    assert len(kept) == measured["intervals"] >= 5
    assert sum(i.energy_j for i in kept) == measured["energy_j"] == len(kept)
    assert all(a.t_end == pytest.approx(b.t_start) for a, b in itertools.pairwise(kept))
    assert [m["name"] for m in store.metrics(measured["id"])] == ["loss"]
    assert [(p["name"], p["t_end"] is not None) for p in store.phases(measured["id"])] == [
        ("eval", True)]
    assert store.devices(measured["id"])[0].device_id == "fake:cpu-0"
    assert not list((db.parent / "spool").glob("*.jsonl"))


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def make_store(home: Path) -> Path:
    Store(home / "wattprint.db").close()
    return home / "wattprint.db"


@pytest.mark.skipif(not IS_ROOT, reason="mounting a read-only filesystem needs root")
def test_read_only_home(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with tmpfs(tmp_path / "mnt", "4m") as home:
        db = make_store(home)
        subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
        proc = run_job(home, tmp, tmp_path / "r.json")
        check_job(proc)
        spooled = Path(json.loads((tmp_path / "r.json").read_text())["spool"])
        assert spooled.parent == tmp / "wattprint-spool-0"
        # a read-only store can still be read, and reading adds nothing
        assert runs_json(home, tmp) == {"runs": []}
        subprocess.run(["mount", "-o", "remount,rw", str(home)], check=True)
        assert len(runs_json(home, tmp)["runs"]) == 1  # type: ignore[arg-type]
        check_ingested(db, tmp_path / "r.json")
        assert not spooled.exists()


@pytest.mark.skipif(not IS_ROOT, reason="mounting a small filesystem needs root")
def test_full_filesystem(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with tmpfs(tmp_path / "mnt", "1m") as home:
        db = make_store(home)
        filler = home / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        proc = run_job(home, tmp, tmp_path / "r.json")
        check_job(proc)
        filler.unlink()
        assert len(runs_json(home, tmp)["runs"]) == 1  # type: ignore[arg-type]
        check_ingested(db, tmp_path / "r.json")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("damage", ["random-bytes", "truncated", "newer-schema"])
def test_corrupted_or_newer_store_is_never_overwritten(tmp_path: Path, damage: str) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    tmp.mkdir()
    db = make_store(home)
    good = db.read_bytes()
    if damage == "random-bytes":
        db.write_bytes(os.urandom(8192))
    elif damage == "truncated":
        db.write_bytes(good[:100])
    else:
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
            con.commit()
    before = digest(db)
    proc = run_job(home, tmp, tmp_path / "r.json")
    check_job(proc)
    assert digest(db) == before
    assert list((home / "spool").glob("*.jsonl"))
    # the user repairs the store (here: moves the damaged file aside, or upgrades)
    db.rename(home / "damaged.db")
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert len(runs_json(home, tmp)["runs"]) == 1  # type: ignore[arg-type]
    check_ingested(db, tmp_path / "r.json")


def test_locked_store_spools_then_is_ingested(tmp_path: Path) -> None:
    db = make_store(tmp_path / "home")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    store = Store.for_run(db, timeout_s=0.1)
    rid = store.create_run(project="p", phase="training", attribution="machine",
                           interval_s=1.0, started_at=100.0)
    store.append_intervals(rid, [IntervalRecord("cpu", 100.0, 101.0, 5.0, 5.0),
                                 IntervalRecord("cpu", 101.0, 102.0, 7.0, 7.0)])
    store.add_gap(rid, "cpu", 102.0, 103.0, "read failed")
    assert [i.energy_j for i in store.intervals(rid)] == [5.0, 7.0]
    store.finish_run(rid, status="finished", ended_at=103.0, exit_code=0)
    holder.execute("ROLLBACK")
    holder.close()
    after = Store(db)
    assert after.run(rid).status == "finished"
    assert after.device_totals(rid) == {"cpu": (12.0, 12.0, 2.0, 2)}
    assert after.gaps(rid) == [{"device_id": "cpu", "t_start": 102.0, "t_end": 103.0,
                                "reason": "read failed"}]
    # a second open adds nothing twice
    assert Store(db).device_totals(rid) == {"cpu": (12.0, 12.0, 2.0, 2)}


def test_store_failing_mid_run_keeps_gaps_and_phases(tmp_path: Path) -> None:
    db = make_store(tmp_path / "home")
    store = Store.for_run(db, timeout_s=0.1)
    rid = store.create_run(project="p", phase="training", attribution="machine",
                           interval_s=1.0, started_at=100.0)
    row = store.open_phase(rid, "train", 0, 100.0)
    store.append_intervals(rid, [IntervalRecord("cpu", 100.0, 101.0, 1.0, 1.0)])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the store fails from here on
    store.append_intervals(rid, [IntervalRecord("cpu", 101.0, 102.0, 2.0, 2.0)])
    store.add_gap(rid, "cpu", 102.0, 103.0, "sensor hung")
    inner = store.open_phase(rid, "eval", 1, 102.5)
    store.close_phase(inner, 102.8)
    store.close_phase(row, 103.0)
    store.finish_run(rid, status="finished", ended_at=103.0)
    assert store.spool_path is not None
    holder.execute("ROLLBACK")
    holder.close()
    after = Store(db)
    assert [i.energy_j for i in after.intervals(rid)] == [1.0, 2.0]
    assert [g["reason"] for g in after.gaps(rid)] == ["sensor hung"]
    assert after.phases(rid) == [
        {"name": "train", "depth": 0, "t_start": 100.0, "t_end": 103.0},
        {"name": "eval", "depth": 1, "t_start": 102.5, "t_end": 102.8}]


def test_spool_is_bounded_and_keeps_the_energy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = home / "wattprint.db"
    db.write_bytes(b"not a database, and never overwritten" * 10)
    store = Store.for_run(db, max_spool_bytes=4096)
    rid = store.create_run(project="p", phase="training", attribution="machine",
                           interval_s=1.0, started_at=0.0)
    for k in range(1000):  # ~80 bytes each: far beyond the bound
        store.append_intervals(rid, [IntervalRecord("cpu", float(k), k + 1.0, 2.0, 1.0)])
        store.log_metric(rid, "loss", 1.0, k, float(k))
    store.finish_run(rid, status="finished", ended_at=1000.0)
    assert store.spool_path is not None and store.spool_path.stat().st_size < 4096 + 1024
    db.rename(home / "damaged.db")
    after = Store(db)
    kept = after.intervals(rid)
    assert sum(i.energy_j for i in kept) == 2000.0
    assert sum(i.attributed_j for i in kept) == 1000.0
    assert (kept[0].t_start, kept[-1].t_end) == (0.0, 1000.0)
    assert after.run(rid).info["spool_dropped_writes"] == 1000 - len(after.metrics(rid))
