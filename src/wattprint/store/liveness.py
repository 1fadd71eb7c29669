"""Is a stored ``running`` run still running? Judged only on proof.

A run records who wrote it: host name, boot id, pid namespace, pid and the
pid's start time. Its process is *provably gone* only when all of these
describe this very machine, boot and pid namespace, and that pid is now
absent or started at another time (the kernel reuses pids). A run written
in another container (another pid namespace), another boot or on another
machine that happens to share the host name cannot be judged from here, so
it stays ``running``.

Reading never writes: :func:`is_gone` only judges, readers show the judged
status, and :meth:`wattprint.store.Store.mark_interrupted` (called when a
store is opened to record a run) writes the verdict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from wattprint import procfs

__all__ = ["Identity", "is_gone", "pid_started_at", "this_process"]


def pid_started_at(pid: int, proc_root: str = "/proc") -> float | None:
    """When a process started (its identity beside the pid, which the kernel reuses).

    Seconds since boot from /proc/<pid>/stat on Linux (no psutil import on the
    start path), else psutil's creation time; ``None`` if the process is gone.
    """
    try:
        return procfs.pid_start_s(pid, proc_root)
    except FileNotFoundError:
        if os.path.isdir(f"{proc_root}/self"):
            return None  # Linux, and the process is gone
    except (OSError, ValueError):
        pass
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


@dataclass(frozen=True)
class Identity:
    """Where a process lives: host name, boot and pid namespace."""

    host: str
    boot_id: str | None
    pid_ns: int | None


@cache
def this_process() -> Identity:
    """The identity of this process's machine, boot and pid namespace."""
    return Identity(os.uname().nodename, procfs.boot_id(), procfs.pid_namespace())


def is_gone(row: Mapping[str, Any], here: Identity | None = None,
            proc_root: str = "/proc") -> bool:
    """Whether the process that wrote a ``running`` run has provably ended.

    Args:
        row: the run's ``host``, ``boot_id``, ``pid_ns``, ``pid`` and
            ``pid_started_at``.
        here: this process's identity (default: :func:`this_process`).
        proc_root: root of procfs.

    Returns:
        ``True`` only if the run was written on this machine, boot and pid
        namespace and its process is absent or another one now holds its pid.
    """
    here = here or this_process()
    boot, ns = row["boot_id"], row["pid_ns"]
    if row["host"] != here.host or boot is None or ns is None:
        return False  # another machine, or written before identities were recorded
    if boot != here.boot_id or int(ns) != here.pid_ns:
        return False  # another boot or container: its pids are not ours to look up
    started = pid_started_at(int(row["pid"]), proc_root)
    if started is None:
        return True
    recorded = row["pid_started_at"]
    return recorded is not None and abs(started - float(recorded)) >= 1.0
