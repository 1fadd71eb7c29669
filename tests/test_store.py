from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store.pgserver import PgServer, pg_server, store_target
from wattprint.errors import RunNotFound, StoreError
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.store import SCHEMA_VERSION, Store

__all__ = ["pg_server", "store_target"]  # the backend fixtures, used below

CHILD = Path(__file__).parent / "helpers" / "tracked_child.py"


def test_schema_version_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    assert store.schema_version() == SCHEMA_VERSION == 4
    mode = sqlite3.connect(tmp_path / "w.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    Store(tmp_path / "w.db").close()
    con = sqlite3.connect(tmp_path / "w.db")
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this wattprint"):
        Store(tmp_path / "w.db")


def test_round_trip_of_a_run(store_target: Path | str) -> None:
    store = Store(store_target)
    rid = store.create_run(project="p", phase="training", attribution="machine",
                           interval_s=1.0, started_at=100.0, name="n")
    store.add_devices(rid, [DeviceRecord("rapl:package-0", "cpu", "pkg", "rapl", True, True,
                                         None, "cpu-time-share")])
    store.append_intervals(rid, [IntervalRecord("rapl:package-0", 100.0, 101.0, 30.0, 12.0),
                                 IntervalRecord("rapl:package-0", 101.0, 102.0, 50.0, 20.0),
                                 IntervalRecord("rapl:package-0", 102.0, 103.0, 7.0, 7.0, True)])
    store.add_units(rid, "sample", 10)
    store.add_units(rid, "sample", 5)
    store.finish_run(rid, status="finished", ended_at=103.0, exit_code=0)
    run = store.run(rid[:6])
    assert (run.status, run.duration_s, run.exit_code) == ("finished", 3.0, 0)
    # paused interval excluded from totals
    assert store.device_totals(rid) == {"rapl:package-0": (80.0, 32.0, 2.0, 2)}
    assert store.units(rid) == {"sample": 15.0}
    assert store.resolve_id("last") == rid


def test_unknown_run_and_ambiguous_prefix(store_target: Path | str) -> None:
    store = Store(store_target)
    with pytest.raises(RunNotFound, match="wattprint runs"):
        store.run("nope")
    for rid in ("abc1", "abc2"):
        store.create_run(project="p", phase="t", attribution="machine", interval_s=1,
                         started_at=1.0, run_id=rid)
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.run("abc")
    store.close()


def test_sigkill_keeps_all_but_the_last_interval_and_shows_interrupted(home: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(CHILD), "sleep", "60", "0.05"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    rid = proc.stdout.readline().strip()
    store = Store(home / "wattprint.db")
    deadline = time.monotonic() + 20
    while len(store.intervals(rid)) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = len(store.intervals(rid))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    run = store.run(rid)
    kept = store.intervals(rid)
    assert run.status == "interrupted"
    assert len(kept) >= seen >= 10
    # every stored interval is complete: contiguous, 1 J each (one counter step per tick)
    assert all(i.energy_j == 1.0 for i in kept)
    assert all(a.t_end == pytest.approx(b.t_start) for a, b in itertools.pairwise(kept))
    assert run.ended_at == pytest.approx(kept[-1].t_end)


@pytest.fixture(params=["sqlite", "postgresql"])
def home_store(request: pytest.FixtureRequest, home: Path,
               monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """The store that tracked children write to: the home's SQLite file, or ``WATTPRINT_STORE``."""
    if request.param == "sqlite":
        return home / "wattprint.db"
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.new_database()
    monkeypatch.setenv("WATTPRINT_STORE", url)
    return url


def test_sixteen_processes_write_runs_at_once(home_store: Path | str,
                                             request: pytest.FixtureRequest) -> None:
    # Run in a fresh pytest process: after some earlier tests of the suite (an in-process
    # framework fit among them) the children started here recorded no interval; the
    # cause is not found yet, so this test does not depend on what ran before it.
    if not os.environ.get("WATTPRINT_TEST_ISOLATED"):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"{__file__}::{request.node.name}"],
            env={**os.environ, "WATTPRINT_TEST_ISOLATED": "1"}, capture_output=True, text=True,
            timeout=600)
        assert done.returncode == 0, done.stdout[-3000:]
        return
    procs = [subprocess.Popen([sys.executable, str(CHILD), "metrics", "1.0", "0.01", f"p{i}"],
                              stdout=subprocess.PIPE, text=True) for i in range(16)]
    ids = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        ids.append(out.strip())
    store = Store(home_store)
    assert len(store.runs()) == 16
    for rid in ids:
        run = store.run(rid)
        assert run.status == "finished"
        intervals = store.intervals(rid)
        assert len(intervals) > 0
        # one scripted joule per tick: energy equals the interval count exactly
        assert sum(i.energy_j for i in intervals) == float(len(intervals))
        assert [m["value"] for m in store.metrics(rid)] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
        assert store.units(rid) == {"sample": 50.0}
