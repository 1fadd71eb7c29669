"""A run is ``interrupted`` only when its process is provably gone; reads never write."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wattprint import procfs
from wattprint.store import Store
from wattprint.store.liveness import Identity, is_gone

CHILD = Path(__file__).parents[1] / "helpers" / "tracked_child.py"


def stored_status(db: Path, rid: str) -> str:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return str(con.execute("SELECT status FROM runs WHERE id = ?", (rid,)).fetchone()[0])


def wait_for_intervals(store: Store, rid: str, n: int) -> None:
    deadline = time.monotonic() + 20
    while len(store.intervals(rid)) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def test_boot_id_and_pid_namespace_are_read(tmp_path: Path) -> None:
    (tmp_path / "sys/kernel/random").mkdir(parents=True)
    (tmp_path / "sys/kernel/random/boot_id").write_text("5f1c-boot\n")
    assert procfs.boot_id(tmp_path) == "5f1c-boot"
    assert procfs.boot_id(tmp_path / "none") is None
    assert procfs.pid_namespace("self", tmp_path) is None
    if Path("/proc/self/ns/pid").exists():
        assert procfs.pid_namespace() == os.stat("/proc/self/ns/pid").st_ino


def test_only_a_run_of_this_boot_and_namespace_can_be_judged_gone() -> None:
    here = Identity("node1", "boot-a", 4026531836)
    gone_pid = 2**22 + 12345  # above pid_max: no such process
    row = {"host": "node1", "boot_id": "boot-a", "pid_ns": 4026531836, "pid": gone_pid,
           "pid_started_at": 10.0}
    assert is_gone(row, here)
    assert not is_gone(row | {"host": "node2"}, here)
    assert not is_gone(row | {"boot_id": "boot-b"}, here)
    assert not is_gone(row | {"pid_ns": 4026532000}, here)
    assert not is_gone(row | {"boot_id": None, "pid_ns": None}, here)  # written before 0.2
    me = row | {"pid": os.getpid(), "pid_started_at": procfs.pid_start_s(os.getpid())}
    assert not is_gone(me, here)
    assert is_gone(me | {"pid_started_at": me["pid_started_at"] - 5.0}, here)  # pid reused


def test_reading_shows_a_killed_run_interrupted_without_writing(home: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(CHILD), "sleep", "60", "0.05"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    rid = proc.stdout.readline().strip()
    db = home / "wattprint.db"
    store = Store(db)
    wait_for_intervals(store, rid, 3)
    assert store.run(rid).status == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert store.run(rid).status == "interrupted"
    assert [r.status for r in store.runs()] == ["interrupted"]
    assert stored_status(db, rid) == "running"  # reads never write
    assert Store.for_run(db).run(rid).status == "interrupted"  # the write path does
    assert stored_status(db, rid) == "interrupted"


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs `unshare --pid --fork --mount-proc` as root")
def test_a_run_in_another_pid_namespace_stays_running(home: Path) -> None:
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare --pid is not permitted here: {probe.stderr.decode().strip()}")
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable,
                             str(CHILD), "sleep", "60", "0.05"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    try:
        rid = proc.stdout.readline().strip()
        db = home / "wattprint.db"
        store = Store(db)
        wait_for_intervals(store, rid, 3)
        with contextlib.closing(sqlite3.connect(db)) as con:
            host, pid, ns = con.execute("SELECT host, pid, pid_ns FROM runs WHERE id = ?",
                                        (rid,)).fetchone()
        assert host == os.uname().nodename and ns != procfs.pid_namespace()
        assert pid <= 3  # a pid of its own namespace, meaningless out here
        assert store.run(rid).status == "running"
        Store.for_run(db).close()  # the write path leaves it alone too
        assert stored_status(db, rid) == "running"
        cli = subprocess.run([sys.executable, "-m", "wattprint", "runs", "--json"],
                             capture_output=True, text=True, check=True, env=os.environ)
        assert [r["status"] for r in json.loads(cli.stdout)["runs"]] == ["running"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
