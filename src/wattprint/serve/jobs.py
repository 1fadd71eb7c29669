"""Which distributed job a process of the node belongs to, for the agent's per-job counters.

A Prometheus server that scrapes the agent on every node of a cluster sums a
job over its nodes with one query, provided every node names the job alike.
The agent names it as the store does (:mod:`wattprint.distributed`):

1. from the process's own environment, ``/proc/<pid>/environ``, readable
   for the agent's own user's processes, or for all when it runs as root:
   ``WATTPRINT_JOB`` (the job ``wattprint run --job`` or a launcher set),
   else SLURM's ``SLURM_JOB_ID`` with its step and array task
   (``slurm:<job>.<step>``). Children inherit the environment, so every
   process of a SLURM task is in its job;
2. else from the run store: a process that is a tracked run's (a
   ``running`` run on this host with a job id: torchrun and MPI ranks that
   call ``track()``), or one of its descendants, is in that run's job.

A process of no job is in no job series. The answer is worked out once per
process (a pid and its start time), when the agent first lists it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from wattprint.distributed import detect_launch
from wattprint.procfs import stat_fields

log = logging.getLogger(__name__)

__all__ = ["JobLabels", "environ_job"]

_PPID = 1  # field index after the command name (the state letter is 0)
#: the variables that name a job in a process's environment
_JOB_VARIABLES = ("WATTPRINT_JOB", "SLURM_JOB_ID", "SLURM_JOBID")


def environ_job(pid: int, proc_root: Path | str = "/proc") -> str | None:
    """The job a process's environment names, or ``None`` (none, or unreadable)."""
    try:
        raw = Path(proc_root, str(pid), "environ").read_bytes()
    except OSError:  # another user's process, or gone
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            env[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    if not any(env.get(v) for v in _JOB_VARIABLES):
        return None
    launch = detect_launch(env)
    return launch.job_id if launch is not None else None


class JobLabels:
    """Tells the job of a process: its environment, else the tracked runs it descends from.

    Args:
        proc_root: the procfs root.
        tracked: ``pid -> job id`` of the tracked runs running on this node
            (read at most every ``refresh_s`` seconds).
        refresh_s: how long a read of ``tracked`` is kept.
        clock: monotonic seconds.
    """

    def __init__(self, proc_root: Path | str = "/proc",
                 tracked: Callable[[], Mapping[int, str]] | None = None,
                 refresh_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.proc_root = Path(proc_root)
        self._tracked = tracked
        self._refresh_s = refresh_s
        self._clock = clock
        self._cache: tuple[float, Mapping[int, str]] | None = None

    def _tracked_now(self) -> Mapping[int, str]:
        if self._tracked is None:
            return {}
        now = self._clock()
        if self._cache is None or now - self._cache[0] > self._refresh_s:
            try:
                self._cache = (now, self._tracked())
            except Exception:  # a store that cannot be read: environments still tell
                log.debug("cannot read the tracked runs' jobs", exc_info=True)
                self._cache = (now, {})
        return self._cache[1]

    def __call__(self, pid: int) -> str | None:
        """The job of process ``pid``, or ``None``."""
        job = environ_job(pid, self.proc_root)
        if job is not None:
            return job
        tracked = self._tracked_now()
        if not tracked:
            return None
        for _ in range(64):  # up the parent chain to a tracked run
            if pid in tracked:
                return tracked[pid]
            try:
                pid = int(stat_fields(pid, self.proc_root)[_PPID])
            except (OSError, IndexError, ValueError):
                return None
            if pid <= 1:
                return None
        return None
