from __future__ import annotations

import os
import subprocess
import sys
import time

from wattprint.attribution import ProcessTree, _children, _stat_cpu_s


def test_tree_counts_a_live_child_and_then_its_reaped_time() -> None:
    tree = ProcessTree(os.getpid(), refresh_s=0.0)
    before = tree.cpu_s(0.0)
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n" \
           "import sys; sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while (_stat_cpu_s(child.pid) or 0) < 0.45 and time.monotonic() < deadline:
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
        assert _stat_cpu_s(child.pid) is not None
    finally:
        child.kill()
        child.wait()
    assert _stat_cpu_s(child.pid) is None
