"""Node monitoring: running energy and carbon totals of a machine, its processes and cgroups.

The node agent feeds a :class:`NodeMonitor` with its sampler's intervals and
asks it to list the machine's processes every few seconds. The monitor holds
no HTTP, no Prometheus and no store: it turns readings into totals, and
:mod:`wattprint.serve.metrics` and :mod:`wattprint.serve.http` show them.

What it counts
    * **devices** -- each device's energy (joules, from its counter or by
      integrating its power), its power over the last interval (watts), and
      the carbon of that energy at the grid intensity of the moment.
    * **processes, CPU side** -- the energy of the CPU-side devices (``cpu``,
      ``dram``, ``ram``, ``psys``, ``node``) measured since the previous
      listing is shared between processes by the ``cpu-time-share`` rule of
      :mod:`wattprint.attribution` (:func:`~wattprint.attribution.cpu_time_shares`):
      each process is charged ``E_cpu * dt_p / dt_busy``, its user + system
      CPU seconds over the machine's busy CPU seconds since that listing.
    * **processes, GPU side** -- each GPU's energy since the previous listing
      is shared by the driver's per-process accounting (NVML's SM
      utilisation samples, else memory in use), where the sensor gives it.
      A process's ``energy_j`` holds both parts; ``gpu_energy_j`` the GPU part.
    * **unattributed** -- what no listed process was charged, CPU side and
      GPU side together: idle power, kernel work, processes that came and
      went between two listings, GPUs without per-process accounting (MIG,
      no reported process), processes in another pid namespace, and all
      energy before the first listing.
    * **kernel threads** -- processes the kernel runs for itself (``kworker``,
      ``ksoftirqd``, ``kswapd``, ...) have no user memory; ``/proc/<pid>/stat``
      marks them with the ``PF_KTHREAD`` flag (0x00200000 in its ``flags``
      field), and they are children of ``kthreadd`` (pid 2, which is one
      itself). Either marks a kernel thread; the name alone never does (any
      program may call itself ``kworker``). They are charged like other
      processes but exported as one series (:mod:`wattprint.serve.series`).
    * **cgroups and containers** -- each process's cgroup is read once from
      ``/proc/<pid>/cgroup``; a cgroup's energy is the sum of its processes'
      (CPU and GPU side). The container id is the 64-hex-digit id in the
      cgroup path (Docker, containerd/CRI, CRI-O and Podman all put it there).
    * **jobs** -- each process's distributed job is asked once, when it is
      first listed (``job_of``, :class:`wattprint.serve.jobs.JobLabels`);
      a job's energy is the sum of its processes' (CPU and GPU side), kept
      in bounded series (:class:`~wattprint.serve.series.JobSeries`).

Processes are identified by pid and start time (pids are reused). Their
names are the kernel's ``comm`` only (:class:`~wattprint.procfs.ProcStat`),
never the command line, which may hold secrets. Processes and cgroups that are
gone stay listed for ``process_ttl_s`` (default 5 minutes) and are then
forgotten.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from wattprint.accounting.intensity import IntensitySource
from wattprint.attribution import CPU_KINDS, cpu_time_shares, machine_busy_s
from wattprint.errors import WattprintError
from wattprint.procfs import read_proc_stat, stat_fields
from wattprint.sampling import Gap
from wattprint.sensors.base import DeviceInfo
from wattprint.sensors.cgroup import own_cgroups
from wattprint.serve.series import GroupKey, JobSeries, ProcessSeries
from wattprint.store import IntervalRecord
from wattprint.units import J_PER_KWH

log = logging.getLogger(__name__)

__all__ = ["NodeMonitor", "ProcessSample", "container_id", "is_kernel_thread",
           "read_processes"]

#: ``PF_KTHREAD`` in the ``flags`` field of ``/proc/<pid>/stat``: a kernel thread.
PF_KTHREAD = 0x00200000
#: The pid of ``kthreadd``, parent of every kernel thread.
KTHREADD_PID = 2
_PPID, _FLAGS = 1, 6  # field indexes after the command name (the state letter is 0)

_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")


def iso(t: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string with milliseconds (``None`` stays ``None``)."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- reading /proc


class ProcessSample(NamedTuple):
    """One process as one listing saw it."""

    started_at: float  # epoch seconds: with the pid, the process's identity
    name: str  # the kernel's comm, never the command line
    cpu_s: float  # user + system CPU seconds so far
    kernel: bool = False  # a kernel thread (:func:`is_kernel_thread`)


def _boot_time_s(proc_root: str) -> float:
    """When the machine booted (epoch seconds), from the ``btime`` line of /proc/stat."""
    try:
        with open(f"{proc_root}/stat", "rb") as fh:
            for line in fh:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    import psutil

    return float(psutil.boot_time())


def is_kernel_thread(pid: int, proc_root: str | Path = "/proc") -> bool:
    """Whether a process is a kernel thread: ``PF_KTHREAD`` set, or ``kthreadd`` or its child.

    A process that is gone or unreadable counts as not one.
    """
    if pid == KTHREADD_PID:
        return True
    try:
        fields = stat_fields(pid, proc_root)
        return bool(int(fields[_FLAGS]) & PF_KTHREAD) or int(fields[_PPID]) == KTHREADD_PID
    except (OSError, IndexError, ValueError):
        return False


def read_processes(proc_root: str | Path = "/proc") -> dict[int, ProcessSample]:
    """Every process of the machine with its start time, name and CPU seconds.

    Read from ``/proc/<pid>/stat`` (:func:`wattprint.procfs.read_proc_stat`,
    :func:`is_kernel_thread`); processes that end while being listed are skipped.
    """
    root = str(proc_root)
    boot_s = _boot_time_s(root)
    out: dict[int, ProcessSample] = {}
    try:
        entries = os.listdir(root)
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = read_proc_stat(int(entry), root)
        if stat is not None:
            out[int(entry)] = ProcessSample(boot_s + stat.started_s, stat.comm, stat.cpu_s,
                                            is_kernel_thread(int(entry), root))
    return out


def container_id(cgroup_path: str) -> str | None:
    """The container id in a cgroup path, or ``None`` outside containers.

    Docker (``/docker/<id>``, ``docker-<id>.scope``), containerd/CRI
    (``cri-containerd-<id>.scope``), CRI-O (``crio-<id>.scope``) and Podman
    (``libpod-<id>.scope``) all name the container by a 64-hex-digit id; the
    last one in the path is the innermost container.
    """
    found = _CONTAINER_ID.findall(cgroup_path)
    return str(found[-1]) if found else None


def _cgroup_of(proc_root: Path, pid: int) -> str | None:
    """The cgroup path of a process: the v2 one, else the v1 ``cpu`` controller's."""
    entries = own_cgroups(proc_root, str(pid))
    for controllers, path in entries:
        if not controllers:
            return path
    for controllers, path in entries:
        if "cpu" in controllers or "cpuacct" in controllers:
            return path
    return entries[0][1] if entries else None


# --------------------------------------------------------------------------- the monitor


@dataclass
class _Device:
    info: DeviceInfo
    energy_j: float = 0.0
    co2e_g: float = 0.0
    power_w: float | None = None
    intervals: int = 0
    gaps: int = 0
    updated_at: float | None = None


@dataclass
class _Process:
    pid: int
    create_time: float
    name: str
    cgroup: str | None
    container_id: str | None
    cpu_s: float
    first_seen: float
    last_seen: float
    kernel: bool = False
    alive: bool = True
    job: str | None = None
    energy_j: float = 0.0
    co2e_g: float = 0.0
    cpu_used_s: float = 0.0
    gpu_energy_j: float = 0.0


@dataclass
class _Cgroup:
    path: str
    container_id: str | None
    energy_j: float = 0.0
    co2e_g: float = 0.0
    last_seen: float = 0.0


@dataclass(frozen=True)
class _Intensity:
    g_per_kwh: float
    source: str
    method: str
    region: str


class NodeMonitor:
    """Running energy and carbon totals of a machine, its processes and cgroups.

    Feed it the sampler's intervals (:meth:`on_intervals` is a sampler sink)
    and call :meth:`refresh_processes` every few seconds; read it with the
    ``*_snapshot`` methods from any thread.

    Args:
        devices: the devices the sampler reads, by id.
        region: canonical region code for carbon.
        intensity: where intensities come from (asked once per hour of data).
        proc_root: procfs root, for cgroups (a container with the host's
            /proc mounted elsewhere points it there).
        process_ttl_s: how long exited processes and empty cgroups stay listed.
        wall: UTC wall clock, epoch seconds.
        busy_s: the machine's cumulative busy CPU seconds.
        gpu_breakdown: each GPU's activity since the last call split by pid
            (:class:`~wattprint.sensors.base.ProcessBreakdownSource`); without
            it, GPU energy is reported per device only.
        list_processes: the machine's processes by pid (default: read from
            the host's ``/proc``, :func:`read_processes`).
        top_processes: process groups with a series of their own
            (:mod:`wattprint.serve.series`); the rest are ``kernel`` and ``other``.
        pid_label: group processes by pid too (a series per process).
        job_of: the distributed job of a process by pid, or ``None``
            (:class:`~wattprint.serve.jobs.JobLabels`); without it, no job series.
        top_jobs: jobs with a series of their own; the rest are ``other``.

    Raises:
        RegionError: the intensity source does not know ``region``.
        IntensityError: it cannot answer for now.
    """

    def __init__(
        self,
        devices: Mapping[str, DeviceInfo],
        *,
        region: str,
        intensity: IntensitySource,
        proc_root: Path = Path("/proc"),
        process_ttl_s: float = 300.0,
        wall: Callable[[], float] = time.time,
        busy_s: Callable[[], float] = machine_busy_s,
        gpu_breakdown: Callable[[], Mapping[str, Mapping[int, float]]] | None = None,
        list_processes: Callable[[], Mapping[int, ProcessSample]] = read_processes,
        top_processes: int = 20,
        pid_label: bool = False,
        job_of: Callable[[int], str | None] | None = None,
        top_jobs: int = 20,
    ) -> None:
        self.region = region
        self._gpu_breakdown = gpu_breakdown
        self._list_processes = list_processes
        self._pending_gpu: dict[str, list[float]] = {}
        self._source = intensity
        self._proc_root = proc_root
        self._ttl_s = process_ttl_s
        self._wall = wall
        self._busy = busy_s
        self._lock = threading.Lock()
        self._devices = {d: _Device(info) for d, info in devices.items()}
        self.cpu_device_ids = sorted(d for d, i in devices.items() if i.kind in CPU_KINDS)
        self._processes: dict[int, _Process] = {}
        self._cgroups: dict[str, _Cgroup] = {}
        self.pid_label = pid_label
        self._series = ProcessSeries(top_processes, idle_s=process_ttl_s)
        self._job_of = job_of
        self._jobs = JobSeries(top_jobs, idle_s=process_ttl_s)
        self._now = wall()
        self._pending_j = 0.0
        self._pending_g = 0.0
        self.unattributed_j = 0.0
        self.unattributed_g = 0.0
        self._prev_busy_s: float | None = None
        self._prev_listing: float | None = None
        self._hour: int | None = None
        self._warned_intensity = False
        self.started_at = wall()
        self.ticks = 0
        self.listings = 0
        now = self.started_at
        self._current = self._lookup(now)

    # -- intensity ------------------------------------------------------------
    def _lookup(self, t: float) -> _Intensity:
        hour = int(t // 3600)
        value = self._source.intensity(self.region, hour * 3600.0, hour * 3600.0 + 3600.0)
        self._hour = hour
        return _Intensity(value.g_per_kwh, value.provenance.source, value.provenance.method,
                          self.region)

    def _intensity_at(self, t: float) -> float:
        if int(t // 3600) != self._hour:
            try:
                self._current = self._lookup(t)
            except WattprintError as exc:  # keep the last value; say so once
                self._hour = int(t // 3600)
                if not self._warned_intensity:
                    self._warned_intensity = True
                    log.warning("carbon intensity lookup failed, the last value is kept: %s",
                                exc)
        return self._current.g_per_kwh

    # -- sampler sink ----------------------------------------------------------
    def on_intervals(self, intervals: Sequence[IntervalRecord], gaps: Sequence[Gap]) -> None:
        """Add one sampler tick's intervals and gaps (a sampler sink)."""
        with self._lock:
            self.ticks += 1
            for rec in intervals:
                dev = self._devices.get(rec.device_id)
                if dev is None:
                    continue
                g_per_kwh = self._intensity_at(rec.t_start)
                co2e = rec.energy_j / J_PER_KWH * g_per_kwh
                dev.energy_j += rec.energy_j
                dev.co2e_g += co2e
                dev.intervals += 1
                dt = rec.t_end - rec.t_start
                dev.power_w = rec.energy_j / dt if dt > 0 else dev.power_w
                dev.updated_at = rec.t_end
                if dev.info.kind in CPU_KINDS:
                    self._pending_j += rec.energy_j
                    self._pending_g += co2e
                else:
                    pending = self._pending_gpu.setdefault(rec.device_id, [0.0, 0.0])
                    pending[0] += rec.energy_j
                    pending[1] += co2e
            for gap in gaps:
                dev = self._devices.get(gap.device_id)
                if dev is not None:
                    dev.gaps += 1

    # -- processes ---------------------------------------------------------------
    def refresh_processes(self) -> None:
        """List processes, share the energy since the last listing, expire old ones."""
        now = self._wall()
        busy = self._busy()
        seen = self._list_processes()
        new_cgroups: dict[int, str | None] = {}
        with self._lock:
            known = self._processes
            first = self._prev_listing is None
            for pid, sample in seen.items():
                old = known.get(pid)
                if old is None or abs(old.create_time - sample.started_at) > 0.01:
                    new_cgroups[pid] = None
        new_jobs: dict[int, str | None] = {}
        for pid in new_cgroups:  # file reads outside the lock
            new_cgroups[pid] = _cgroup_of(self._proc_root, pid)
            if self._job_of is not None:
                try:
                    new_jobs[pid] = self._job_of(pid)
                except Exception:  # a job label is optional; energy is still charged
                    log.debug("job of pid %d not found", pid, exc_info=True)
        breakdown: Mapping[str, Mapping[int, float]] = {}
        if self._gpu_breakdown is not None:
            try:
                breakdown = self._gpu_breakdown()
            except Exception:  # per-process GPU accounting is optional
                log.debug("GPU process breakdown failed", exc_info=True)
        with self._lock:
            self._now = now
            self._apply_listing(now, busy, seen, new_cgroups, first, new_jobs)
            self._share_gpu_energy(breakdown, first)
            self._series.end_listing(now)
            self._jobs.end_listing(now)

    def _charge(self, proc: _Process, energy_j: float, co2e_g: float) -> None:
        proc.energy_j += energy_j
        proc.co2e_g += co2e_g
        key = None if proc.kernel else GroupKey(
            proc.name, proc.container_id or "", proc.pid if self.pid_label else None)
        self._series.charge(key, energy_j, co2e_g, self._now)
        if proc.job is not None:
            self._jobs.charge_job(proc.job, energy_j, co2e_g, self._now)
        if proc.cgroup is not None and proc.cgroup in self._cgroups:
            cg = self._cgroups[proc.cgroup]
            cg.energy_j += energy_j
            cg.co2e_g += co2e_g

    def _share_gpu_energy(self, breakdown: Mapping[str, Mapping[int, float]],
                          first: bool) -> None:
        """Charge each GPU's energy since the last listing to its processes by their share.

        Energy of a GPU without a breakdown (idle, MIG, no per-process
        accounting), of processes the agent cannot see (another pid
        namespace), and before the first listing stays unattributed.
        """
        for device_id, (energy_j, co2e_g) in self._pending_gpu.items():
            shares = {} if first else breakdown.get(device_id, {})
            shared_j = shared_g = 0.0
            for pid, share in shares.items():
                proc = self._processes.get(pid)
                if proc is None or not proc.alive:
                    continue
                pj, pg = energy_j * share, co2e_g * share
                self._charge(proc, pj, pg)
                proc.gpu_energy_j += pj
                shared_j += pj
                shared_g += pg
            self.unattributed_j += max(0.0, energy_j - shared_j)
            self.unattributed_g += max(0.0, co2e_g - shared_g)
        self._pending_gpu = {}

    def _apply_listing(self, now: float, busy: float, seen: Mapping[int, ProcessSample],
                       new_cgroups: dict[int, str | None], first: bool,
                       new_jobs: Mapping[int, str | None] | None = None) -> None:
        prev_listing = self._prev_listing
        deltas: dict[int, float] = {}
        for pid, (created, name, cpu_s, kernel) in seen.items():
            proc = self._processes.get(pid)
            if pid in new_cgroups or proc is None:
                if proc is not None:  # pid reused: the old process is gone
                    proc.alive = False
                cgroup = new_cgroups.get(pid)
                proc = _Process(pid, created, name, cgroup,
                                container_id(cgroup) if cgroup else None, cpu_s, now, now,
                                kernel, job=(new_jobs or {}).get(pid))
                self._processes[pid] = proc
                # born since the last listing: all its CPU time is in this window
                if prev_listing is not None and created >= prev_listing:
                    deltas[pid] = cpu_s
            else:
                deltas[pid] = max(0.0, cpu_s - proc.cpu_s)
                proc.cpu_s = cpu_s
                proc.name = name
            proc.alive = True
            proc.last_seen = now
            if proc.cgroup is not None:
                cg = self._cgroups.get(proc.cgroup)
                if cg is None:
                    cg = self._cgroups[proc.cgroup] = _Cgroup(proc.cgroup, proc.container_id)
                cg.last_seen = now
        for pid, proc in self._processes.items():
            if pid not in seen:
                proc.alive = False
        energy_j, co2e_g = self._pending_j, self._pending_g
        d_busy = busy - self._prev_busy_s if self._prev_busy_s is not None else 0.0
        if first or d_busy <= 0:
            # nothing to share against yet: energy before the first listing is unattributed
            if first:
                self.unattributed_j += energy_j
                self.unattributed_g += co2e_g
                self._pending_j = self._pending_g = 0.0
        else:
            shared_j = shared_g = 0.0
            for pid, share in cpu_time_shares(deltas, d_busy).items():
                proc = self._processes[pid]
                pj, pg = energy_j * share, co2e_g * share
                self._charge(proc, pj, pg)
                proc.cpu_used_s += deltas[pid]
                shared_j += pj
                shared_g += pg
            self.unattributed_j += max(0.0, energy_j - shared_j)
            self.unattributed_g += max(0.0, co2e_g - shared_g)
            self._pending_j = self._pending_g = 0.0
        self._prev_busy_s = busy
        self._prev_listing = now
        self.listings += 1
        self._expire(now)

    def _expire(self, now: float) -> None:
        for pid in [p for p, proc in self._processes.items()
                    if not proc.alive and now - proc.last_seen > self._ttl_s]:
            del self._processes[pid]
        live_cgroups = {p.cgroup for p in self._processes.values() if p.alive}
        for path in [c for c, cg in self._cgroups.items()
                     if c not in live_cgroups and now - cg.last_seen > self._ttl_s]:
            del self._cgroups[path]

    # -- reading -----------------------------------------------------------------
    def intensity(self) -> dict[str, Any]:
        """The current intensity: ``g_per_kwh``, ``source``, ``method``, ``region``."""
        with self._lock:
            cur = self._current
        return {"g_per_kwh": cur.g_per_kwh, "source": cur.source, "method": cur.method,
                "region": cur.region}

    def devices_snapshot(self) -> list[dict[str, Any]]:
        """Each device's totals, JSON-ready."""
        with self._lock:
            return [
                {"id": d.info.id, "kind": d.info.kind, "name": d.info.name,
                 "source": d.info.source, "measured": d.info.measured, "model": d.info.model,
                 "energy_j": d.energy_j, "co2e_g": d.co2e_g, "power_w": d.power_w,
                 "intervals": d.intervals, "gaps": d.gaps, "updated_at": iso(d.updated_at)}
                for d in self._devices.values()
            ]

    @staticmethod
    def _process_doc(p: _Process) -> dict[str, Any]:
        return {"pid": p.pid, "name": p.name, "alive": p.alive, "cgroup": p.cgroup,
                "container_id": p.container_id, "cpu_s": p.cpu_used_s,
                "energy_j": p.energy_j, "gpu_energy_j": p.gpu_energy_j, "co2e_g": p.co2e_g,
                "first_seen": iso(p.first_seen), "last_seen": iso(p.last_seen)}

    def processes_snapshot(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Processes, most energy first, JSON-ready."""
        with self._lock:
            procs = sorted(self._processes.values(), key=lambda p: (-p.energy_j, p.pid))
            if limit is not None:
                procs = procs[:limit]
            return [self._process_doc(p) for p in procs]

    def process(self, pid: int) -> dict[str, Any] | None:
        """One process by pid, or ``None`` if the agent has not listed it."""
        with self._lock:
            p = self._processes.get(pid)
            return None if p is None else self._process_doc(p)

    def cgroups_snapshot(self) -> list[dict[str, Any]]:
        """Cgroups with their energy (CPU and GPU side), most first."""
        with self._lock:
            return [{"cgroup": c.path, "container_id": c.container_id, "energy_j": c.energy_j,
                     "co2e_g": c.co2e_g}
                    for c in sorted(self._cgroups.values(), key=lambda c: -c.energy_j)]

    def process_series(self) -> list[dict[str, Any]]:
        """The bounded per-process series (:meth:`ProcessSeries.snapshot`)."""
        with self._lock:
            return self._series.snapshot()

    def job_series(self) -> list[dict[str, Any]]:
        """The bounded per-job series (:meth:`JobSeries.snapshot`)."""
        with self._lock:
            return self._jobs.snapshot()

    def jobs_charged(self) -> tuple[float, float]:
        """Energy (J) and carbon (g) charged to processes of any job since the start."""
        with self._lock:
            return self._jobs.charged()

    def attributed(self) -> tuple[float, float]:
        """Energy (J) and carbon (g) charged to processes since the start, gone ones too."""
        with self._lock:
            return self._series.charged()

    def unattributed(self) -> tuple[float, float]:
        """Energy (J) and carbon (g) charged to no listed process, CPU and GPU side."""
        with self._lock:
            return self.unattributed_j, self.unattributed_g
