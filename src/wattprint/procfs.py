"""Per-process counters from ``/proc/<pid>/stat``, parsed in one place.

Linux exposes each process's scheduler counters as one line of
space-separated fields in ``/proc/<pid>/stat`` (``man 5 proc``). The second
field is the command name in parentheses, which may itself hold spaces and
parentheses, so the fields are split after the *last* ``)``. Counted from
there (the state letter is index 0):

* 11, 12 ``utime``, ``stime`` — CPU time of the process, user and system;
* 13, 14 ``cutime``, ``cstime`` — CPU time of its reaped children;
* 19 ``starttime`` — when the process started, since boot.

All are in clock ticks (``sysconf(_SC_CLK_TCK)``, 100 on Linux). Reading the
file directly costs a few microseconds, far less than psutil, which parses
more than needed; psutil stays the fallback off Linux, in the callers.

Every function takes the procfs root, so a container can point at a mounted
host ``/proc`` and tests at a directory of their own.
"""

from __future__ import annotations

import os
from typing import NamedTuple

#: Clock ticks per second of the ``/proc`` counters.
CLK_TCK: int = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

_UTIME, _STIME, _CUTIME, _CSTIME, _STARTTIME = 11, 12, 13, 14, 19


def stat_fields(pid: int, proc_root: str | os.PathLike[str] = "/proc") -> list[bytes]:
    """The fields of ``<proc_root>/<pid>/stat`` after the command name.

    Args:
        pid: the process.
        proc_root: root of procfs.

    Returns:
        The fields, the state letter first.

    Raises:
        OSError: the file cannot be read (``FileNotFoundError``: no such
            process, or no procfs at ``proc_root``).
    """
    with open(f"{os.fspath(proc_root)}/{pid}/stat", "rb") as fh:
        data = fh.read()
    return data[data.rfind(b")") + 2:].split()


def pid_cpu_s(pid: int, proc_root: str | os.PathLike[str] = "/proc") -> float | None:
    """CPU seconds of a process and its reaped children (utime + stime + cutime + cstime).

    Args:
        pid: the process.
        proc_root: root of procfs.

    Returns:
        Seconds, or ``None`` if the process is gone or its line unreadable.
    """
    try:
        fields = stat_fields(pid, proc_root)
        ticks = (int(fields[_UTIME]) + int(fields[_STIME]) + int(fields[_CUTIME])
                 + int(fields[_CSTIME]))
    except (OSError, IndexError, ValueError):
        return None
    return ticks / CLK_TCK


def pid_start_s(pid: int, proc_root: str | os.PathLike[str] = "/proc") -> float:
    """When a process started, in seconds since boot (its identity beside the reusable pid).

    Args:
        pid: the process.
        proc_root: root of procfs.

    Returns:
        Seconds since boot.

    Raises:
        OSError: the file cannot be read (``FileNotFoundError``: no such process).
        ValueError: the line has no start time.
    """
    fields = stat_fields(pid, proc_root)
    try:
        return int(fields[_STARTTIME]) / CLK_TCK
    except IndexError as exc:
        raise ValueError(f"{os.fspath(proc_root)}/{pid}/stat has no start time") from exc


def boot_id(proc_root: str | os.PathLike[str] = "/proc") -> str | None:
    """This boot's random id (``sys/kernel/random/boot_id``), new at every boot.

    Two records with the same host name but different boot ids were written
    by different boots (or different machines), so the pid of one says
    nothing about the other.

    Args:
        proc_root: root of procfs.

    Returns:
        The id, or ``None`` where the kernel does not expose it.
    """
    try:
        with open(f"{os.fspath(proc_root)}/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def pid_namespace(pid: int | str = "self",
                  proc_root: str | os.PathLike[str] = "/proc") -> int | None:
    """The inode of a process's pid namespace (``<pid>/ns/pid``).

    Pids are only meaningful inside one pid namespace: a container sees its
    own pid 1, 2, ... which a process outside it cannot look up.

    Args:
        pid: the process (``"self"``: this one).
        proc_root: root of procfs.

    Returns:
        The namespace inode, or ``None`` where it cannot be read.
    """
    try:
        return os.stat(f"{os.fspath(proc_root)}/{pid}/ns/pid").st_ino
    except OSError:
        return None


class ProcStat(NamedTuple):
    """One process's ``/proc/<pid>/stat`` fields that attribution needs, in clock ticks.

    ``comm`` is the kernel's name of the process (the one ``/proc/<pid>/comm``
    shows, at most 15 bytes); it never holds the command line, which programs
    may rewrite to anything (setproctitle titles with URLs and passwords).
    """

    comm: str
    cpu_ticks: int  # utime + stime: the process's own CPU time
    children_ticks: int  # cutime + cstime: its reaped children's
    start_ticks: int  # when it started, after boot

    @property
    def cpu_s(self) -> float:
        """The process's own CPU seconds (user + system)."""
        return self.cpu_ticks / CLK_TCK

    @property
    def started_s(self) -> float:
        """When the process started, in seconds after boot."""
        return self.start_ticks / CLK_TCK


def read_proc_stat(pid: int, proc_root: str | os.PathLike[str] = "/proc") -> ProcStat | None:
    """The CPU times, start time and kernel name of a process, or ``None`` if it is gone.

    Args:
        pid: the process.
        proc_root: root of procfs.
    """
    try:
        with open(f"{os.fspath(proc_root)}/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    close = data.rfind(b")")
    fields = data[close + 2:].split()
    try:
        return ProcStat(data[data.find(b"(") + 1:close].decode("utf-8", "replace"),
                        int(fields[_UTIME]) + int(fields[_STIME]),
                        int(fields[_CUTIME]) + int(fields[_CSTIME]), int(fields[_STARTTIME]))
    except (IndexError, ValueError):
        return None
