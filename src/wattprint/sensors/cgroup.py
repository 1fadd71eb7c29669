"""Container limits: how many CPUs and how much memory this process may use.

A process in a container sees the host's ``/proc/stat`` and ``/proc/meminfo``
(they are not namespaced), so a power model that trusted them would charge a
2-vCPU container for a 128-thread host. Linux control groups (cgroups) hold
the real limits, and this module reads them, as plain functions of a sysfs
root and a procfs root so tests (and containers with the host's /sys mounted
elsewhere) can point them anywhere.

Where the limits are
    ``<proc>/self/cgroup`` names the process's cgroup. A line
    ``0::/path`` is the unified **cgroup v2** hierarchy, mounted at
    ``<sys>/fs/cgroup``; lines ``N:cpu,cpuacct:/path`` name **cgroup v1**
    controllers, each mounted at ``<sys>/fs/cgroup/<controllers>``. Inside a
    container with its own cgroup namespace the path is ``/`` and the mount
    *is* the container's cgroup; without a namespace the path may not exist
    under the mount, and the mount root is used instead (as Docker mounts it).
    Limits can be set on any ancestor (a systemd slice, the pod of a
    Kubernetes container), so every level from the process's cgroup up to the
    mount root is read and the smallest limit wins.

The files
    ======================  ===========================  ========================
    what                    cgroup v2                    cgroup v1
    ======================  ===========================  ========================
    CPU quota               ``cpu.max`` "quota period"   ``cpu.cfs_quota_us`` /
                            or "max period"              ``cpu.cfs_period_us``
                                                         (quota -1: no limit)
    CPU time used           ``cpu.stat`` ``usage_usec``  ``cpuacct.usage`` (ns)
    memory limit            ``memory.max`` (or "max")    ``memory.limit_in_bytes``
    memory used             ``memory.current``           ``memory.usage_in_bytes``
    ======================  ===========================  ========================

    A quota of ``q`` µs per period ``p`` lets the cgroup run ``q / p`` CPUs'
    worth of time: that is its number of effective vCPUs. Memory used counts
    the page cache; the inactive part of it (``inactive_file`` in
    ``memory.stat``, ``total_inactive_file`` in v1) is reclaimable and is
    subtracted, as ``docker stats`` does.

What is charged
    vCPUs charged = min(host logical CPUs, CPUs in the affinity mask
    (:func:`os.sched_getaffinity`, which reflects cpusets), quota / period);
    memory charged = min(used, limit). See :func:`effective_vcpus` and
    :func:`charged_memory_bytes`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

#: Limits at or above this many bytes mean "no limit" (cgroup v1 writes
#: ``9223372036854771712``, the largest page-aligned 64-bit value).
UNLIMITED_BYTES = 1 << 60


@dataclass(frozen=True)
class CgroupInfo:
    """The cgroup of a process and the limits that apply to it.

    Attributes:
        version: ``2`` (unified), ``1`` (legacy controllers) or ``None`` when
            no cgroup information could be read (not Linux, or no /proc).
        path: the cgroup path from ``/proc/<pid>/cgroup`` (of the ``cpu``
            controller for v1), e.g. ``"/docker/3f2a..."``; ``None`` if unknown.
        cpu_dir: directory holding the CPU quota files, or ``None``.
        cpu_usage_file: file with the cgroup's cumulative CPU time
            (``cpu.stat`` or ``cpuacct.usage``), or ``None``.
        memory_dir: directory holding the memory files, or ``None``.
        cpu_quota_vcpus: smallest quota / period on the way to the root, in
            vCPUs; ``None`` when no level sets a quota.
        memory_limit_bytes: smallest memory limit on the way to the root;
            ``None`` when unlimited.
    """

    version: int | None
    path: str | None = None
    cpu_dir: Path | None = None
    cpu_usage_file: Path | None = None
    memory_dir: Path | None = None
    cpu_quota_vcpus: float | None = None
    memory_limit_bytes: int | None = None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


#: One line of ``/proc/<pid>/cgroup``: the controllers of a hierarchy (empty
#: for the unified v2 hierarchy) and the process's path in it.
CgroupEntry = tuple[tuple[str, ...], str]


def own_cgroups(proc_root: Path, pid: str = "self") -> list[CgroupEntry]:
    """Parse ``<proc_root>/<pid>/cgroup``.

    Args:
        proc_root: root of procfs (``/proc`` on a real machine).
        pid: ``"self"`` or a process id.

    Returns:
        One ``(controllers, path)`` per hierarchy, e.g.
        ``(("cpu", "cpuacct"), "/docker/3f2a")`` for v1 or ``((), "/user.slice")``
        for v2; empty if the file is unreadable.
    """
    text = _read_text(proc_root / pid / "cgroup")
    if text is None:
        return []
    entries: list[CgroupEntry] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers = tuple(c for c in parts[1].split(",") if c)
        entries.append((controllers, parts[2]))
    return entries


def _resolve_dir(mount: Path, cgroup_path: str) -> Path | None:
    """The directory of ``cgroup_path`` under ``mount``, or the mount root."""
    if not mount.is_dir():
        return None
    candidate = mount / cgroup_path.lstrip("/")
    return candidate if candidate.is_dir() else mount


def _levels(start: Path, mount: Path) -> list[Path]:
    """``start`` and its ancestors up to and including ``mount``."""
    levels = [start]
    current = start
    while current != mount and mount in current.parents:
        current = current.parent
        levels.append(current)
    return levels


def _v1_dir(cgroup_root: Path, entries: list[CgroupEntry],
            controller: str) -> tuple[Path, Path] | None:
    """(mount, cgroup directory) of a v1 ``controller``, or ``None``."""
    for controllers, path in entries:
        if controller not in controllers:
            continue
        # mounted as "cpu,cpuacct" (with "cpu" and "cpuacct" as symlinks on most distros)
        for name in (",".join(controllers), controller):
            mount = cgroup_root / name
            directory = _resolve_dir(mount, path)
            if directory is not None:
                return mount, directory
    return None


def _parse_bytes(text: str | None) -> int | None:
    if text is None or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value < 0 or value >= UNLIMITED_BYTES else value


def _v2_quota(text: str | None) -> float | None:
    """``cpu.max`` "quota period" in vCPUs; ``None`` for "max" or unreadable."""
    if not text:
        return None
    fields = text.split()
    if fields[0] == "max":
        return None
    try:
        quota = float(fields[0])
        period = float(fields[1]) if len(fields) > 1 else 100_000.0
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(quota_text: str | None, period_text: str | None) -> float | None:
    """``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in vCPUs; ``None`` for -1."""
    try:
        quota = float(quota_text) if quota_text else -1.0
        period = float(period_text) if period_text else 100_000.0
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


_N = TypeVar("_N", int, float)


def _smallest(values: list[_N | None]) -> _N | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def read_cgroup(sysfs_root: Path, proc_root: Path, pid: str = "self") -> CgroupInfo:
    """Find the process's cgroup and the CPU and memory limits that apply.

    Args:
        sysfs_root: root of sysfs (``/sys``); cgroups are under ``fs/cgroup``.
        proc_root: root of procfs (``/proc``).
        pid: ``"self"`` or a process id.

    Returns:
        The cgroup and its limits; ``CgroupInfo(version=None)`` when nothing
        could be read. Never raises for missing or unreadable files.
    """
    entries = own_cgroups(proc_root, pid)
    root = sysfs_root / "fs" / "cgroup"
    if any("cpu" in c or "memory" in c for c, _ in entries):
        return _read_v1(root, entries)
    for controllers, path in entries:
        if not controllers:
            return _read_v2(root, path)
    return CgroupInfo(version=None)


def _read_v2(mount: Path, path: str) -> CgroupInfo:
    directory = _resolve_dir(mount, path)
    if directory is None:
        return CgroupInfo(version=2, path=path)
    levels = _levels(directory, mount)
    quota = _smallest([_v2_quota(_read_text(level / "cpu.max")) for level in levels])
    memory_limit = _smallest([_parse_bytes(_read_text(level / "memory.max"))
                              for level in levels])
    usage_file = directory / "cpu.stat"
    return CgroupInfo(
        version=2,
        path=path,
        cpu_dir=directory,
        cpu_usage_file=usage_file if usage_file.is_file() else None,
        memory_dir=directory,
        cpu_quota_vcpus=quota,
        memory_limit_bytes=memory_limit,
    )


def _read_v1(root: Path, entries: list[CgroupEntry]) -> CgroupInfo:
    quota: float | None = None
    cpu_dir: Path | None = None
    cpu = _v1_dir(root, entries, "cpu")
    if cpu is not None:
        mount, cpu_dir = cpu
        quota = _smallest([
            _v1_quota(_read_text(level / "cpu.cfs_quota_us"),
                      _read_text(level / "cpu.cfs_period_us"))
            for level in _levels(cpu_dir, mount)
        ])
    usage_file: Path | None = None
    acct = _v1_dir(root, entries, "cpuacct")
    if acct is not None and (acct[1] / "cpuacct.usage").is_file():
        usage_file = acct[1] / "cpuacct.usage"
    memory_dir: Path | None = None
    memory_limit: int | None = None
    memory = _v1_dir(root, entries, "memory")
    if memory is not None:
        mount, memory_dir = memory
        memory_limit = _smallest([
            _parse_bytes(_read_text(level / "memory.limit_in_bytes"))
            for level in _levels(memory_dir, mount)
        ])
    paths = {c: path for controllers, path in entries for c in controllers}
    return CgroupInfo(
        version=1,
        path=paths.get("cpu", paths.get("memory")),
        cpu_dir=cpu_dir,
        cpu_usage_file=usage_file,
        memory_dir=memory_dir,
        cpu_quota_vcpus=quota,
        memory_limit_bytes=memory_limit,
    )


def _stat_value(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def cpu_usage_s(info: CgroupInfo) -> float | None:
    """Cumulative CPU seconds used by the whole cgroup (all its processes).

    Args:
        info: from :func:`read_cgroup`.

    Returns:
        Seconds of CPU time since the cgroup was created, or ``None`` when the
        counter is absent or unreadable.
    """
    path = info.cpu_usage_file
    if path is None:
        return None
    text = _read_text(path)
    if text is None:
        return None
    if info.version == 2:
        usage_us = _stat_value(text, "usage_usec")
        return None if usage_us is None else usage_us / 1e6
    try:
        return int(text) / 1e9
    except ValueError:
        return None


def memory_used_bytes(info: CgroupInfo) -> int | None:
    """Memory the cgroup uses now, less reclaimable inactive page cache.

    Args:
        info: from :func:`read_cgroup`.

    Returns:
        Bytes in use, or ``None`` when the counter is absent or unreadable.
    """
    directory = info.memory_dir
    if directory is None:
        return None
    if info.version == 2:
        used, stat_key = _parse_bytes(_read_text(directory / "memory.current")), "inactive_file"
    else:
        used = _parse_bytes(_read_text(directory / "memory.usage_in_bytes"))
        stat_key = "total_inactive_file"
    if used is None:
        return None
    stat = _read_text(directory / "memory.stat")
    inactive = _stat_value(stat, stat_key) if stat else None
    return max(0, used - (inactive or 0))


def affinity_cpus(pid: int = 0) -> frozenset[int] | None:
    """CPUs this process may run on (its affinity mask, which reflects cpusets).

    Args:
        pid: process id; 0 is the calling process.

    Returns:
        The CPU ids, or ``None`` where the platform has no affinity call.
    """
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return frozenset(getter(pid))
    except OSError:
        return None


def effective_vcpus(host_logical_cpus: int, affinity: Collection[int] | None,
                    quota_vcpus: float | None) -> float:
    """Number of vCPUs a process is charged for.

    Args:
        host_logical_cpus: logical CPUs of the host (or VM).
        affinity: CPUs in the process's affinity mask, or ``None`` if unknown.
        quota_vcpus: cgroup CPU quota in vCPUs (quota / period), or ``None``.

    Returns:
        min(host logical CPUs, affinity size, quota); an empty or unknown
        affinity and a missing quota are ignored, and the host count is taken
        as at least 1.
    """
    bounds: list[float] = [float(max(host_logical_cpus, 1))]
    if affinity:
        bounds.append(float(len(affinity)))
    if quota_vcpus is not None and quota_vcpus > 0:
        bounds.append(quota_vcpus)
    return min(bounds)


def charged_memory_bytes(used_bytes: int, limit_bytes: int | None) -> int:
    """Memory a process is charged for: what is used, never more than the limit.

    Args:
        used_bytes: memory in use (of the cgroup, or of the host).
        limit_bytes: cgroup memory limit, or ``None`` for no limit.

    Returns:
        min(used, limit), never negative.
    """
    used = max(0, used_bytes)
    return used if limit_bytes is None else min(used, limit_bytes)
