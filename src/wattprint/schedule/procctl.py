"""Stopping and continuing a job's processes: SIGSTOP and SIGCONT.

A paused job should use no CPU or GPU time, yet lose none of its state, so
wattprint does not kill it: it sends ``SIGSTOP``, which the kernel acts on
itself (it cannot be caught, blocked or ignored), and ``SIGCONT`` to go on.
The job does not notice the pause, except that wall-clock time jumps. A
stopped process keeps its memory (host and GPU) and its network
connections; a multi-node job whose collectives time out may fail, which is
why a loop that can checkpoint may pause itself instead
(:mod:`wattprint.schedule.pausing`).

Which processes to stop:

* ``wattprint run`` starts a non-interactive child in **its own process
  group**, so :func:`stop_group` stops the whole group (the child and
  everything it started) with one ``killpg``, and :func:`continue_group`
  continues it.
* An **interactive** child shares wattprint's process group (the terminal
  must reach both), so ``killpg`` would stop wattprint too. There
  :func:`stop_tree` stops the child and each of its descendants one by one
  through psutil -- the root first, so it cannot start new children
  meanwhile -- and :func:`continue_processes` continues exactly those
  processes, root last.

:class:`ProcessPauser` picks between the two for a child. If wattprint itself
dies while the group is stopped, the kernel sends the orphaned, stopped
group ``SIGHUP`` and ``SIGCONT``, so a job is never left stopped for ever.
"""

from __future__ import annotations

import contextlib
import os
import signal as _signal
from collections.abc import Iterable

import psutil

__all__ = [
    "ProcessPauser",
    "continue_group",
    "continue_processes",
    "stop_group",
    "stop_tree",
]


def stop_group(pgid: int) -> None:
    """Pause every process of a process group (``SIGSTOP``).

    Args:
        pgid: the process group id (a child started in its own group has
            ``pgid == pid``).

    Raises:
        ProcessLookupError: the group has no process left.
        PermissionError: the group belongs to another user.
    """
    os.killpg(pgid, _signal.SIGSTOP)


def continue_group(pgid: int) -> None:
    """Continue every process of a process group (``SIGCONT``).

    Raises:
        ProcessLookupError: the group has no process left.
        PermissionError: the group belongs to another user.
    """
    os.killpg(pgid, _signal.SIGCONT)


def stop_tree(pid: int) -> list[psutil.Process]:
    """Pause a process and all its descendants, one by one (``SIGSTOP``).

    For a child that shares wattprint's process group, where ``killpg`` would
    stop wattprint too. The root is stopped first so it cannot start new
    children; then its descendants, listed after that.

    Args:
        pid: the root process.

    Returns:
        The processes stopped (give them to :func:`continue_processes`).

    Raises:
        ProcessLookupError: the root process no longer exists.
    """
    try:
        root = psutil.Process(pid)
        root.send_signal(_signal.SIGSTOP)
    except psutil.NoSuchProcess as exc:
        raise ProcessLookupError(f"process {pid} no longer exists") from exc
    stopped = [root]
    try:
        children = root.children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        try:
            child.send_signal(_signal.SIGSTOP)
            stopped.append(child)
        except psutil.Error:  # it ended in the meantime
            continue
    return stopped


def continue_processes(processes: Iterable[psutil.Process]) -> None:
    """Continue processes stopped by :func:`stop_tree` (``SIGCONT``), root last.

    A process that has ended, or whose pid was reused, is skipped (psutil
    checks the process's creation time before signalling).
    """
    for process in reversed(list(processes)):
        try:
            process.send_signal(_signal.SIGCONT)
        except psutil.Error:
            continue


class ProcessPauser:
    """Pauses and continues a child process and everything it started.

    A child in its own process group is paused with :func:`stop_group`; a
    child in wattprint's group (interactive) with :func:`stop_tree`.

    Args:
        pid: the child's process id.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            pgid = -1
        self.own_group = pgid == pid and pgid != os.getpgrp()
        self._stopped: list[psutil.Process] = []

    def pause(self) -> None:
        """Stop the child's processes.

        Raises:
            ProcessLookupError: the child has ended.
        """
        if self.own_group:
            stop_group(self.pid)
        else:
            self._stopped = stop_tree(self.pid)

    def resume(self) -> None:
        """Continue the child's processes (nothing happens if they have ended)."""
        if self.own_group:
            with contextlib.suppress(ProcessLookupError):
                continue_group(self.pid)
        else:
            continue_processes(self._stopped)
            self._stopped = []
