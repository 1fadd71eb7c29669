"""Nothing stored can break a reader: a corrupted-store matrix across every reading command,
``store check`` / ``store recover`` / ``delete``, and reading a read-only store."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.errors import StoreError
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.store import Store
from wattprint.store.checks import check, recover

GOOD, BAD = "aaaa0000good0001", "bbbb0000bad00002"
DAMAGES = ["random-bytes", "truncated", "bad-json", "dropped-table", "huge-energy", "year-one"]
READERS = [["runs", "--json"], ["show", GOOD, "--json"], ["export", "-f", "json"],
           ["export"], ["report", "--project", "p", "-f", "json"], ["report", GOOD]]


def add_run(store: Store, rid: str, started_at: float, energy_j: float) -> None:
    store.create_run(project="p", phase="training", attribution="machine", interval_s=1.0,
                     started_at=started_at, run_id=rid, pid=2**22 + 7)
    store.add_devices(rid, [DeviceRecord("cpu", "cpu", "CPU", "rapl", True, True, None,
                                         "cpu-time-share")])
    store.append_intervals(rid, [IntervalRecord("cpu", started_at, started_at + 10.0,
                                                energy_j, energy_j)])
    store.finish_run(rid, status="finished", ended_at=started_at + 10.0, exit_code=0)


def build(db: Path) -> None:
    store = Store(db)
    add_run(store, GOOD, 1_700_000_000.0, 3600.0)
    add_run(store, BAD, 1_700_000_100.0, 7200.0)
    store.close()
    with contextlib.closing(sqlite3.connect(db)) as con:  # fold the WAL into the file
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def damage(db: Path, how: str) -> None:
    if how == "random-bytes":
        db.write_bytes(os.urandom(db.stat().st_size))
        return
    if how == "truncated":
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
        return
    sql = {
        "bad-json": f"UPDATE runs SET info = '{{not json' WHERE id = '{BAD}'",
        "dropped-table": "DROP TABLE intervals",
        "huge-energy": f"UPDATE intervals SET energy_j = 1e308 WHERE run_id = '{BAD}'",
        "year-one": f"UPDATE runs SET started_at = -62135596800 WHERE id = '{BAD}'",
    }[how]
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute(sql)
        con.commit()


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    src = Path(__file__).resolve().parents[2] / "src"
    env = dict(os.environ, WATTPRINT_HOME=str(home),
               PYTHONPATH=f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("how", DAMAGES)
def test_every_reader_gives_a_clean_error_or_skips_the_bad_run(home: Path, how: str) -> None:
    db = home / "wattprint.db"
    build(db)
    damage(db, how)
    for args in READERS:
        proc = cli(home, *args)
        assert "Traceback" not in proc.stderr, (args, proc.stderr)
        assert "NaN" not in proc.stdout and "Infinity" not in proc.stdout
        if how in ("random-bytes", "truncated", "dropped-table"):
            assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
            assert "wattprint store" in proc.stderr, (args, proc.stderr)
        else:  # one bad run: reported and skipped, the good one is read
            assert proc.returncode == 0, (args, proc.stderr)
            assert GOOD in proc.stdout or (args[0] in ("export", "report") and proc.stdout)
            assert BAD not in proc.stdout
    if how in ("bad-json", "huge-energy", "year-one"):
        shown = cli(home, "show", BAD)
        assert shown.returncode == 2 and f"wattprint delete {BAD}" in shown.stderr
        listed = cli(home, "runs", "--json")
        assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [GOOD]
        assert f"skipped: run {BAD}" in listed.stderr


@pytest.mark.parametrize("how", DAMAGES)
def test_store_check_names_the_problem_and_the_repair(home: Path, how: str) -> None:
    db = home / "wattprint.db"
    build(db)
    damage(db, how)
    before = db.read_bytes()
    proc = cli(home, "store", "check")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    expected = {"random-bytes": "store recover", "truncated": "store recover",
                "dropped-table": "tables missing: intervals",
                "bad-json": f"run {BAD} ", "huge-energy": f"run {BAD} ",
                "year-one": f"run {BAD} "}[how]
    assert expected in proc.stdout
    assert db.read_bytes() == before  # checking never writes


def test_recover_copies_the_readable_runs(home: Path, tmp_path: Path) -> None:
    db = home / "wattprint.db"
    build(db)
    damage(db, "bad-json")
    report = recover(db, tmp_path / "new.db")
    assert report.copied == {"runs": 2, "devices": 2, "intervals": 2, "gaps": 0, "metrics": 0,
                             "phases": 0, "units": 0, "pauses": 0, "idle": 0, "tags": 0,
                             "predictions": 0}
    new = Store(tmp_path / "new.db")
    assert new.run(BAD).info == {"unreadable_info": "{not json"}
    assert new.device_totals(GOOD) == {"cpu": (3600.0, 3600.0, 10.0, 1)}
    assert check(tmp_path / "new.db").ok
    with pytest.raises(StoreError, match="exists"):
        recover(db, tmp_path / "new.db")


def test_recover_skips_unreadable_rows(home: Path, tmp_path: Path) -> None:
    db = home / "wattprint.db"
    store = Store(db)
    for k in range(300):
        add_run(store, f"run{k:04d}", 1_700_000_000.0 + k, 1.0)
    store.close()
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if not con.execute("SELECT 1 FROM pragma_compile_options WHERE compile_options ="
                           " 'ENABLE_DBSTAT_VTAB'").fetchone():
            pytest.skip("this SQLite has no dbstat table to find a page of the runs table")
        size = con.execute("PRAGMA page_size").fetchone()[0]
        leaves = [r[0] for r in con.execute(
            "SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = 'leaf'"
            " ORDER BY pageno")]
    assert len(leaves) >= 3
    data = bytearray(db.read_bytes())
    page = leaves[len(leaves) // 2] - 1
    data[page * size: (page + 1) * size] = b"\xff" * size  # one damaged leaf of runs
    db.write_bytes(bytes(data))
    assert not check(db).ok
    report = recover(db, tmp_path / "new.db")
    new = Store(tmp_path / "new.db")
    kept = new.run_ids()
    assert 0 < len(kept) < 300 and report.copied["runs"] == len(kept)
    for rid in kept:  # what came over is whole enough to read
        new.run(rid)


def test_delete_by_id_and_project_asks_unless_yes(home: Path) -> None:
    db = home / "wattprint.db"
    build(db)
    store = Store(db)
    store.create_run(project="other", phase="t", attribution="machine", interval_s=1.0,
                     started_at=1_700_000_500.0, run_id="cccc0000other003")
    store.close()
    refused = cli(home, "delete", BAD[:6])
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert cli(home, "delete", BAD[:6], "--yes").returncode == 0
    assert cli(home, "delete", "--project", "other", "--yes").returncode == 0
    assert Store(db).run_ids() == [GOOD]
    assert len(Store(db).intervals(BAD)) == 0
    assert cli(home, "delete", "nosuchrun", "--yes").returncode == 2


def test_a_read_only_store_is_read_without_migrating(tmp_path: Path) -> None:
    db = tmp_path / "ro" / "wattprint.db"
    build(db)
    with contextlib.closing(sqlite3.connect(db)) as con:  # a schema-1 store: no new columns
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        con.commit()
    store = Store(db, read_only=True)
    assert [r.id for r in store.runs()] == [BAD, GOOD]
    assert store.schema_version() == 1
    with pytest.raises(StoreError, match="read-only"):
        store.delete_run(GOOD)
