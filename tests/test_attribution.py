from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wattprint.attribution import CpuShare, ProcessTree, _children
from wattprint.procfs import CLK_TCK, pid_cpu_s, pid_start_s


def test_tree_counts_a_live_child_and_then_its_reaped_time() -> None:
    tree = ProcessTree(os.getpid(), refresh_s=0.0)
    before = tree.cpu_s(0.0)
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n" \
           "import sys; sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while (pid_cpu_s(child.pid) or 0) < 0.45 and time.monotonic() < deadline:
            time.sleep(0.05)
        live = tree.cpu_s(1.0)
        assert child.pid in tree.pids()
        assert live - before >= 0.44  # the child's 0.45 s, less one 10 ms tick of rounding
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    reaped = tree.cpu_s(2.0)
    assert child.pid not in tree.pids()
    assert reaped >= live  # the child's time moved to our cutime/cstime: nothing lost


def test_children_lists_and_stat_parsing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        kids = _children(os.getpid())
        assert kids is None or child.pid in kids  # None: kernel without children lists
        assert pid_cpu_s(child.pid) is not None
    finally:
        child.kill()
        child.wait()
    assert pid_cpu_s(child.pid) is None


def _stat_line(pid: int, comm: str, utime: int, stime: int, cutime: int, cstime: int,
               start: int) -> str:
    # fields 1..22 of man 5 proc: pid (comm) state ppid ... utime(14) stime cutime cstime ...
    # starttime(22); the others are zeros here
    after = ["S", "1"] + ["0"] * 9 + [str(utime), str(stime), str(cutime), str(cstime)]
    after += ["0"] * 4 + [str(start)] + ["0"] * 10
    return f"{pid} ({comm}) " + " ".join(after) + "\n"


def fake_proc(tmp_path: Path) -> Path:
    """A procfs with a tree 4242 -> 4243 -> 4244 (thread 4242 and 4250 of 4242)."""
    root = tmp_path / "proc"
    lines = {
        4242: ("python", 100, 20, 5, 5, 7_000),
        4243: ("my worker) (x", 300, 100, 0, 0, 7_100),  # a name with ") (" in it
        4244: ("leaf", 50, 50, 0, 0, 7_200),
    }
    for pid, (comm, *counts) in lines.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "stat").write_text(_stat_line(pid, str(comm), *map(int, counts)))
    children = {(4242, 4242): "4243 ", (4242, 4250): "", (4243, 4243): "4244", (4244, 4244): ""}
    for (pid, tid), kids in children.items():
        task = root / str(pid) / "task" / str(tid)
        task.mkdir(parents=True)
        (task / "children").write_text(kids)
    (root / "stat").write_text("cpu  1000 0 500 9000 0 0 0 0 0 0\ncpu0 1000 0 500 9000 0 0 0 0\n")
    return root


def test_procfs_parses_counters_after_a_command_name_with_parentheses(tmp_path: Path) -> None:
    root = fake_proc(tmp_path)
    assert pid_cpu_s(4243, root) == (300 + 100) / CLK_TCK
    assert pid_cpu_s(4242, root) == (100 + 20 + 5 + 5) / CLK_TCK
    assert pid_start_s(4243, root) == 7_100 / CLK_TCK
    assert pid_cpu_s(9999, root) is None
    with pytest.raises(FileNotFoundError):
        pid_start_s(9999, root)


def test_process_tree_reads_the_given_proc_root(tmp_path: Path) -> None:
    root = fake_proc(tmp_path)
    tree = ProcessTree(4242, proc_root=str(root))
    # the whole tree: 130 + 400 + 100 ticks
    assert tree.cpu_s(0.0) == (130 + 400 + 100) / CLK_TCK
    assert tree.pids() == frozenset({4242, 4243, 4244})
    # the machine's busy time comes from the same root: user 1000 + system 500 ticks
    share = CpuShare(tree)
    assert share.sample(0.0) is None
    (root / "4244" / "stat").write_text(_stat_line(4244, "leaf", 50, 150, 0, 0, 7_200))
    (root / "stat").write_text("cpu  1100 0 600 9000 0 0 0 0 0 0\n")
    # the tree used 100 of the machine's 200 new busy ticks
    assert share.sample(1.0) == 0.5


def test_own_process_in_another_proc_root_is_read_from_there(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    (root / str(os.getpid()) / "task" / str(os.getpid())).mkdir(parents=True)
    (root / str(os.getpid()) / "task" / str(os.getpid()) / "children").write_text("")
    (root / str(os.getpid()) / "stat").write_text(
        _stat_line(os.getpid(), "python", 7, 3, 0, 0, 1))
    assert ProcessTree(os.getpid(), proc_root=str(root)).cpu_s(0.0) == 10 / CLK_TCK
