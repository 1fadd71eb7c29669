"""Which share of a device's energy belongs to the tracked processes.

Rules (each device records the rule used, and reports show it):

* ``cpu-time-share`` — CPU packages, DRAM and CPU/RAM models: the tracked
  process tree's CPU time (user + system, live processes plus reaped
  children) divided by the machine's busy CPU time over the same interval,
  clipped to [0, 1]. On an otherwise idle machine the tracked processes are
  charged the whole package, idle power included; on a busy shared machine
  they are charged in proportion to the CPU they actually used.
* ``nvml-process-utilization`` — GPUs whose driver reports per-process
  utilisation: the tracked pids' share of the device's activity (SM
  utilisation, else used memory). For an interval where the driver reports
  no process on the device, the next rule applies.
* ``mig-slice-share`` — MIG instances: the visible instances' share of the
  parent GPU's compute slices (NVML gives no energy per instance).
* ``whole-device`` — GPUs (or other devices) without per-process accounting:
  a device the process may use is charged whole.

``machine`` attribution (the default) reports whole-device energy as the
run's total; ``process`` attribution reports the attributed share. Both are
stored for every interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psutil

log = logging.getLogger(__name__)

CPU_TIME_SHARE = "cpu-time-share"
NVML_PROCESS = "nvml-process-utilization"
MIG_SLICE_SHARE = "mig-slice-share"
WHOLE_DEVICE = "whole-device"

#: device kinds whose share follows CPU time
CPU_KINDS = frozenset({"cpu", "dram", "ram", "psys", "node"})


def machine_busy_s() -> float:
    """Cumulative busy CPU seconds of the machine, all CPUs.

    user + nice + system + irq + softirq; ``guest`` is already inside
    ``user`` on Linux, and ``steal`` is time the hypervisor gave to others.
    """
    t = psutil.cpu_times()
    return float(
        t.user + getattr(t, "nice", 0.0) + t.system + getattr(t, "irq", 0.0)
        + getattr(t, "softirq", 0.0)
    )


class ProcessTree:
    """CPU time of a process and all its descendants, and the machine's busy time.

    The tree is re-listed at most every ``refresh_s`` seconds (listing
    /proc is the costly part); CPU times of known members are read every
    call. Reaped children are counted through their parent's
    ``children_user``/``children_system`` times, so short-lived workers are
    not lost.
    """

    def __init__(self, root_pid: int, refresh_s: float = 1.0) -> None:
        self.root_pid = root_pid
        self.refresh_s = refresh_s
        self._members: dict[int, psutil.Process] = {}
        self._listed_at = -1e18
        self._high_s = 0.0
        try:
            self._root: psutil.Process | None = psutil.Process(root_pid)
        except psutil.Error:
            self._root = None

    def pids(self) -> frozenset[int]:
        """The pids currently known in the tree."""
        return frozenset(self._members)

    def _relist(self, now: float) -> None:
        self._listed_at = now
        if self._root is None:
            return
        members = {self._root.pid: self._root}
        try:
            for child in self._root.children(recursive=True):
                members[child.pid] = self._members.get(child.pid, child)
        except psutil.Error:
            pass
        self._members = members

    def cpu_s(self, now: float) -> float:
        """Cumulative CPU seconds of the tree (monotone non-decreasing)."""
        if now - self._listed_at >= self.refresh_s:
            self._relist(now)
        total = 0.0
        for pid, proc in list(self._members.items()):
            try:
                t = proc.cpu_times()
            except psutil.Error:
                self._members.pop(pid, None)
                continue
            total += t.user + t.system + t.children_user + t.children_system
        # A child that exited but is not yet reaped drops out for a moment;
        # once reaped, its time reappears in its parent's children_* fields.
        # Holding the high-water mark keeps the sum monotone without counting twice.
        self._high_s = max(self._high_s, total)
        return self._high_s


class CpuShare:
    """Interval-by-interval share of CPU busy time used by a process tree.

    The denominator is the machine's busy time, or, in a container whose CPU
    power is modelled for the container alone, the container cgroup's CPU
    time (``busy_fn``), so the share matches what the power covers.
    """

    def __init__(self, tree: ProcessTree,
                 busy_fn: Callable[[], float | None] | None = None) -> None:
        self.tree = tree
        self._busy_fn = busy_fn or machine_busy_s
        self._prev_tree: float | None = None
        self._prev_busy: float | None = None

    def sample(self, now: float) -> float | None:
        """Share since the previous call (None on the first call or when unknowable)."""
        try:
            busy = self._busy_fn()
        except (psutil.Error, OSError):
            return None
        if busy is None:
            return None
        tree = self.tree.cpu_s(now)
        prev_tree, prev_busy = self._prev_tree, self._prev_busy
        self._prev_tree, self._prev_busy = tree, busy
        if prev_tree is None or prev_busy is None:
            return None
        d_busy = busy - prev_busy
        d_tree = tree - prev_tree
        if d_busy <= 0:
            return 0.0 if d_tree <= 0 else 1.0
        return max(0.0, min(1.0, d_tree / d_busy))
