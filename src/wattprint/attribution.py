"""Which share of a device's energy belongs to the tracked processes.

Rules (each device records the rule it is meant to follow, and every
interval counts the rule actually applied, fallbacks included; reports show
both):

* ``cpu-time-share`` — CPU packages, DRAM and CPU/RAM models: the tracked
  process tree's CPU time (user + system, live processes plus reaped
  children) divided by the machine's busy CPU time over the same interval,
  clipped to [0, 1]. CPU times tick in 10 ms jiffies, so at sampling
  intervals under 0.5 s the share is measured over 0.5 s windows and each
  interval takes the latest window's share. On an otherwise idle machine the tracked processes are
  charged the whole package, idle power included; on a busy shared machine
  they are charged in proportion to the CPU they actually used.
* ``cpu-time-share-unknown`` — an interval of such a device whose CPU-time
  share could not be measured (before the first 0.5 s window closed, or with
  unreadable counters): the device is charged whole for it.
* ``nvml-process-utilization`` — GPUs whose driver reports per-process
  utilisation: the tracked pids' share of the device's SM-utilisation
  samples. The driver produces samples at its own pace (every 1/6 s to 1 s);
  between two of them the last share is kept, so sampling faster than the
  driver never switches basis.
* ``nvml-process-memory`` — GPUs whose driver gives no utilisation samples
  (yet): the tracked pids' share of the GPU memory in use.
* ``mig-slice-share`` — MIG GPUs: the GPU-instance slices on which a tracked
  process runs, else (no process reported) the visible instances' slices,
  over the parent GPU's slices (NVML gives no energy per instance).
* ``whole-device`` — GPUs (or other devices) without per-process accounting,
  or whose driver reports no process in an interval: charged whole.
* ``whole-device-foreign-pids`` — charged whole because the driver's pids
  live in another pid namespace (a container seeing host pids): none can be
  matched with the tracked ones, and "none is ours" would be a silent zero.

``machine`` attribution (the default) reports whole-device energy as the
run's total; ``process`` attribution reports the attributed share. Both are
stored for every interval.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from wattprint.procfs import CLK_TCK, pid_cpu_s
from wattprint.records import (
    CPU_TIME_SHARE,
    CPU_TIME_SHARE_UNKNOWN,
    MIG_SLICE_SHARE,
    NVML_PROCESS,
    NVML_PROCESS_MEMORY,
    SHARE_RULES,
    WHOLE_DEVICE,
    WHOLE_DEVICE_FOREIGN_PIDS,
)

log = logging.getLogger(__name__)

__all__ = [
    "CPU_KINDS",
    "CPU_TIME_SHARE",
    "CPU_TIME_SHARE_UNKNOWN",
    "MIG_SLICE_SHARE",
    "NVML_PROCESS",
    "NVML_PROCESS_MEMORY",
    "SHARE_RULES",
    "WHOLE_DEVICE",
    "WHOLE_DEVICE_FOREIGN_PIDS",
    "CpuShare",
    "ProcessTree",
    "RuleCounter",
    "machine_busy_s",
]

#: device kinds whose share follows CPU time
CPU_KINDS = frozenset({"cpu", "dram", "ram", "psys", "node"})


def machine_busy_s(proc_root: str = "/proc") -> float:
    """Cumulative busy CPU seconds of the machine, all CPUs.

    user + nice + system + irq + softirq from the first line of /proc/stat;
    ``guest`` is already inside ``user`` on Linux, and ``steal`` is time the
    hypervisor gave to others. Falls back to psutil off Linux.

    Raises:
        OSError: the counters cannot be read.
    """
    try:
        with open(f"{proc_root}/stat", "rb") as fh:
            first = fh.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in first[1:8])
        return (user + nice + system + irq + softirq) / CLK_TCK
    except (OSError, ValueError):
        import psutil

        try:
            t = psutil.cpu_times()
        except psutil.Error as exc:
            raise OSError(str(exc)) from exc
        return float(t.user + getattr(t, "nice", 0.0) + t.system + getattr(t, "irq", 0.0)
                     + getattr(t, "softirq", 0.0))


_K = TypeVar("_K")


def cpu_time_shares(cpu_used_s: Mapping[_K, float], busy_s: float) -> dict[_K, float]:
    """Each process's share of CPU-side energy by the ``cpu-time-share`` rule.

    A process's share is the CPU seconds it used over the machine's busy CPU
    seconds in the same span. The two are read at slightly different
    instants and tick in jiffies, so the processes' sum can exceed the
    machine's busy time; the shares are then scaled to sum to one. What the
    shares leave over is energy no listed process used (idle, kernel work,
    processes that came and went unseen).

    Args:
        cpu_used_s: CPU seconds each process used in the span.
        busy_s: the machine's busy CPU seconds in the same span.

    Returns:
        The shares (0..1, summing to at most 1) of the processes that used
        CPU time; empty when ``busy_s`` is not positive.
    """
    if busy_s <= 0:
        return {}
    total_s = sum(cpu_used_s.values())
    scale = 1.0 / busy_s if total_s <= busy_s else 1.0 / total_s
    return {key: used_s * scale for key, used_s in cpu_used_s.items() if used_s > 0}


def _children(pid: int, proc_root: str = "/proc") -> list[int] | None:
    """Direct children of ``pid`` from /proc/<pid>/task/<tid>/children; ``None`` if unsupported."""
    try:
        tids = os.listdir(f"{proc_root}/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tids:
        try:
            with open(f"{proc_root}/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(c) for c in fh.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"{proc_root}/{pid}/task/{tid}"):
                continue  # the thread ended meanwhile
            return None  # kernel without CONFIG_PROC_CHILDREN
        except OSError:
            continue
    return out


class ProcessTree:
    """CPU time of a process and all its descendants.

    The tree is re-listed at most every ``refresh_s`` seconds from the
    kernel's ``/proc/<pid>/task/<tid>/children`` lists (psutil's full /proc
    scan where the kernel lacks them); CPU times of known members are read
    from ``/proc/<pid>/stat`` on each call, the tracking process's own through
    :func:`os.times`. Reaped children are counted through their parent's
    ``cutime``/``cstime``, so short-lived workers are not lost.

    Args:
        root_pid: the root of the tree.
        refresh_s: how often the members are re-listed, seconds.
        proc_root: root of procfs (a mounted host ``/proc`` in a container, a
            fake tree in tests). With another root than ``/proc`` the tracking
            process's own time is read from there too, not from :func:`os.times`.
    """

    def __init__(self, root_pid: int, refresh_s: float = 1.0, proc_root: str = "/proc") -> None:
        self.root_pid = root_pid
        self.refresh_s = refresh_s
        self.proc_root = proc_root
        self._members: set[int] = {root_pid}
        self._listed_at = -1e18
        self._high_s = 0.0
        self._own = root_pid == os.getpid() and proc_root == "/proc"

    def pids(self) -> frozenset[int]:
        """The pids currently known in the tree."""
        return frozenset(self._members)

    def _relist(self, now: float) -> None:
        self._listed_at = now
        members = {self.root_pid}
        frontier = [self.root_pid]
        while frontier:
            pid = frontier.pop()
            kids = _children(pid, self.proc_root)
            if kids is None:  # no children lists here: one full scan through psutil
                members = self._psutil_members()
                break
            for kid in kids:
                if kid not in members:
                    members.add(kid)
                    frontier.append(kid)
        self._members = members

    def _psutil_members(self) -> set[int]:
        import psutil

        try:
            root = psutil.Process(self.root_pid)
            return {self.root_pid, *(c.pid for c in root.children(recursive=True))}
        except psutil.Error:
            return {self.root_pid}

    def cpu_s(self, now: float) -> float:
        """Cumulative CPU seconds of the tree (monotone non-decreasing)."""
        if now - self._listed_at >= self.refresh_s:
            self._relist(now)
        total = 0.0
        for pid in list(self._members):
            if pid == self.root_pid and self._own:
                t = os.times()
                total += t.user + t.system + t.children_user + t.children_system
                continue
            value = pid_cpu_s(pid, self.proc_root)
            if value is None:
                self._members.discard(pid)
                continue
            total += value
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
                 busy_fn: Callable[[], float | None] | None = None,
                 min_period_s: float = 0.0) -> None:
        self.tree = tree
        self._busy_fn = busy_fn or (lambda: machine_busy_s(tree.proc_root))
        self.min_period_s = min_period_s
        self._sampled_at = -1e18
        self._last: float | None = None
        self._prev_tree: float | None = None
        self._prev_busy: float | None = None

    def sample(self, now: float) -> float | None:
        """Share since the previous measurement (None on the first call or when unknowable).

        Measured at most every ``min_period_s``; in between the latest share is
        returned. CPU times tick in 10 ms jiffies, so shares over shorter
        spans would be mostly rounding noise.
        """
        if now - self._sampled_at < self.min_period_s:
            return self._last
        self._sampled_at = now
        self._last = self._measure(now)
        return self._last

    def _measure(self, now: float) -> float | None:
        try:
            busy = self._busy_fn()
        except OSError:
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


class RuleCounter:
    """Counts, per device, the intervals and seconds each share rule was applied to.

    What the run stores (in its info, under ``share_rules``) so reports can say
    how often a device fell back from its intended rule.
    """

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, list[float]]] = {}

    def add(self, device_id: str, rule: str, seconds: float) -> None:
        """Count one interval of ``seconds`` of ``device_id`` under ``rule``."""
        by_rule = self._counts.setdefault(device_id, {})
        entry = by_rule.get(rule)
        if entry is None:
            by_rule[rule] = [1.0, seconds]
        else:
            entry[0] += 1
            entry[1] += seconds

    def as_dict(self) -> dict[str, dict[str, dict[str, float | int]]]:
        """``{device id: {rule: {"intervals": n, "seconds": s}}}``, JSON-ready."""
        return {device: {rule: {"intervals": int(n), "seconds": s}
                         for rule, (n, s) in sorted(rules.items())}
                for device, rules in self._counts.items()}
