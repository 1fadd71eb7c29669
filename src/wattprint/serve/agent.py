"""The node agent: this machine's energy and carbon, for Prometheus and for applications.

``wattprint agent`` runs one long-lived :class:`~wattprint.sampling.Sampler`
over every sensor of the machine (RAPL packages and DRAM, GPUs, power
models) and keeps running totals in memory. Nothing is written to the store;
the agent only reads it, to list runs.

What it counts
    * **devices** -- each device's energy (joules, from its counter or by
      integrating its power), its power over the last interval (watts), and
      the carbon of that energy at the grid intensity of the moment.
    * **processes** -- the energy of the CPU-side devices (``cpu``, ``dram``,
      ``ram``, ``psys``, ``node``) is shared between processes by their
      share of the machine's busy CPU time, the ``cpu-time-share`` rule of
      :mod:`wattprint.attribution`: every ``process_interval_s`` (default
      5 s) the agent reads each process's user + system CPU time from
      ``/proc`` (through psutil) and charges it ``E_cpu * dt_p / dt_busy``
      of the CPU-side energy ``E_cpu`` measured since the previous listing.
      The part no listed process used (idle, kernel work, processes that
      came and went between two listings) is counted as *unattributed*. GPU
      energy is reported per device only.
    * **cgroups and containers** -- each process's cgroup is read once from
      ``/proc/<pid>/cgroup``; a cgroup's energy is the sum of its processes'.
      The container id is the 64-hex-digit id in the cgroup path (Docker,
      containerd/CRI, CRI-O and Podman all put it there).

Processes and cgroups that are gone stay listed for ``process_ttl_s``
(default 5 minutes) and are then forgotten; ``/metrics`` shows the
``max_metric_processes`` processes that used the most energy (and more than
none), so that pid churn cannot blow up Prometheus' series count.

What it exposes (one HTTP server, stdlib ``ThreadingHTTPServer``)
    ``/metrics`` (Prometheus text format, via ``prometheus-client``),
    ``/v1/devices``, ``/v1/processes``, ``/v1/processes/{pid}``, ``/v1/runs``
    (JSON, described in ``openapi.yaml`` next to this module) and
    ``/healthz``.

Security
    The agent binds the loopback interface by default. Any other address
    needs a bearer token (``--token-file``), or the agent refuses to start;
    with a token every endpoint but ``/healthz`` requires
    ``Authorization: Bearer <token>``, compared in constant time
    (:func:`hmac.compare_digest`). The token is never logged or exposed, and
    nothing secret is: process names, not command lines or environments,
    appear in the metrics. The agent needs no privilege beyond reading the
    energy counters (see the RAPL udev rule in ``docs/agent.md``).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wattprint.accounting.intensity import AnnualIntensity, IntensitySource
from wattprint.accounting.location import resolve_region
from wattprint.attribution import CPU_KINDS, CPU_TIME_SHARE, machine_busy_s
from wattprint.config import Settings, load_settings
from wattprint.errors import ConfigError, WattprintError
from wattprint.sampling import Gap, Sampler
from wattprint.sensors.base import DeviceInfo, ProcessBreakdownSource, Sensor, SkippedSensor
from wattprint.sensors.cgroup import own_cgroups
from wattprint.store import IntervalRecord, Store
from wattprint.units import J_PER_KWH

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BIND",
    "DEFAULT_PORT",
    "Agent",
    "NodeMonitor",
    "check_bind",
    "container_id",
    "is_loopback",
    "read_token_file",
]

DEFAULT_BIND = "127.0.0.1"
#: Default TCP port of the agent.
DEFAULT_PORT = 9464

_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")
_MAX_LIMIT = 10_000


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- binding and tokens


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is reachable from this machine only.

    A name counts as loopback only if every address it resolves to is one.
    """
    name = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    if name.lower() == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    addresses = {str(info[4][0]).split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the agent beyond this machine without a token.

    Raises:
        ConfigError: ``host`` is not a loopback address and no token is set.
    """
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"binding the agent to {host} would expose this machine's energy data to the "
            "network without authentication; give --token-file FILE (a file holding a secret "
            "token, e.g. from `openssl rand -hex 32`), or bind 127.0.0.1"
        )


def read_token_file(path: Path | str) -> str:
    """The bearer token stored in ``path`` (surrounding whitespace removed).

    Warns when the file can be read by other users.

    Raises:
        ConfigError: the file cannot be read, is empty or holds a token with
            whitespace or non-ASCII characters.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        mode = p.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token file {p}: {exc}") from exc
    token = text.strip()
    if not token:
        raise ConfigError(f"the token file {p} is empty; write a secret token into it")
    if not token.isascii() or any(c.isspace() for c in token):
        raise ConfigError(
            f"the token in {p} contains whitespace or non-ASCII characters; "
            "use one line of letters and digits (e.g. `openssl rand -hex 32`)")
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("the token file %s can be read by other users; `chmod 600` it", p)
    return token


# --------------------------------------------------------------------------- cgroups


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
    alive: bool = True
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
    ) -> None:
        self.region = region
        self._gpu_breakdown = gpu_breakdown
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
        """List processes, share the CPU-side energy since the last listing, expire old ones."""
        now = self._wall()
        busy = self._busy()
        seen: dict[int, tuple[float, str, float]] = {}
        for proc in psutil.process_iter(["name", "create_time", "cpu_times"]):
            try:
                info = proc.info
                times = info.get("cpu_times")
                created = info.get("create_time")
                if times is None or created is None:
                    continue
                seen[proc.pid] = (float(created), str(info.get("name") or ""),
                                  float(times.user + times.system))
            except (psutil.Error, AttributeError):
                continue
        new_cgroups: dict[int, str | None] = {}
        with self._lock:
            known = self._processes
            first = self._prev_listing is None
            for pid, (created, _, _) in seen.items():
                old = known.get(pid)
                if old is None or abs(old.create_time - created) > 0.01:
                    new_cgroups[pid] = None
        for pid in new_cgroups:  # file reads outside the lock
            new_cgroups[pid] = _cgroup_of(self._proc_root, pid)
        breakdown: Mapping[str, Mapping[int, float]] = {}
        if self._gpu_breakdown is not None:
            try:
                breakdown = self._gpu_breakdown()
            except Exception:  # per-process GPU accounting is optional
                log.debug("GPU process breakdown failed", exc_info=True)
        with self._lock:
            self._apply_listing(now, busy, seen, new_cgroups, first)
            self._share_gpu_energy(breakdown, first)

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
                proc.energy_j += pj
                proc.co2e_g += pg
                proc.gpu_energy_j += pj
                shared_j += pj
                shared_g += pg
                if proc.cgroup is not None and proc.cgroup in self._cgroups:
                    cg = self._cgroups[proc.cgroup]
                    cg.energy_j += pj
                    cg.co2e_g += pg
            self.unattributed_j += max(0.0, energy_j - shared_j)
            self.unattributed_g += max(0.0, co2e_g - shared_g)
        self._pending_gpu = {}

    def _apply_listing(self, now: float, busy: float, seen: dict[int, tuple[float, str, float]],
                       new_cgroups: dict[int, str | None], first: bool) -> None:
        prev_listing = self._prev_listing
        deltas: dict[int, float] = {}
        for pid, (created, name, cpu_s) in seen.items():
            proc = self._processes.get(pid)
            if pid in new_cgroups or proc is None:
                if proc is not None:  # pid reused: the old process is gone
                    proc.alive = False
                cgroup = new_cgroups.get(pid)
                proc = _Process(pid, created, name, cgroup,
                                container_id(cgroup) if cgroup else None, cpu_s, now, now)
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
            total_s = sum(deltas.values())
            scale = 1.0 / d_busy if total_s <= d_busy else 1.0 / total_s
            shared_j = shared_g = 0.0
            for pid, dt_s in deltas.items():
                if dt_s <= 0:
                    continue
                share = dt_s * scale
                proc = self._processes[pid]
                pj, pg = energy_j * share, co2e_g * share
                proc.energy_j += pj
                proc.co2e_g += pg
                proc.cpu_used_s += dt_s
                shared_j += pj
                shared_g += pg
                if proc.cgroup is not None:
                    cg = self._cgroups[proc.cgroup]
                    cg.energy_j += pj
                    cg.co2e_g += pg
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
                 "intervals": d.intervals, "gaps": d.gaps, "updated_at": _iso(d.updated_at)}
                for d in self._devices.values()
            ]

    @staticmethod
    def _process_doc(p: _Process) -> dict[str, Any]:
        return {"pid": p.pid, "name": p.name, "alive": p.alive, "cgroup": p.cgroup,
                "container_id": p.container_id, "cpu_s": p.cpu_used_s,
                "energy_j": p.energy_j, "gpu_energy_j": p.gpu_energy_j, "co2e_g": p.co2e_g,
                "first_seen": _iso(p.first_seen), "last_seen": _iso(p.last_seen)}

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
        """Cgroups with their energy, most first."""
        with self._lock:
            return [{"cgroup": c.path, "container_id": c.container_id, "energy_j": c.energy_j,
                     "co2e_g": c.co2e_g}
                    for c in sorted(self._cgroups.values(), key=lambda c: -c.energy_j)]

    def unattributed(self) -> tuple[float, float]:
        """CPU-side energy (J) and carbon (g) charged to no listed process."""
        with self._lock:
            return self.unattributed_j, self.unattributed_g


# --------------------------------------------------------------------------- Prometheus


class _Collector(Collector):
    """Builds the metric families from a :class:`NodeMonitor` at each scrape."""

    def __init__(self, monitor: NodeMonitor, version: str, max_processes: int) -> None:
        self.monitor = monitor
        self.version = version
        self.max_processes = max_processes

    def collect(self) -> Iterator[Metric]:
        m = self.monitor
        dev_labels = ["device", "kind", "source", "measured"]
        energy = CounterMetricFamily(
            "wattprint_device_energy_joules", "Energy used by each device since the agent started.",
            labels=dev_labels)
        power = GaugeMetricFamily(
            "wattprint_device_power_watts", "Mean power of each device over the last interval.",
            labels=dev_labels)
        co2e = CounterMetricFamily(
            "wattprint_co2e_grams",
            "Operational carbon of each device's energy at the grid intensity of the moment.",
            labels=dev_labels)
        gaps = CounterMetricFamily(
            "wattprint_device_read_gaps", "Spans in which a device could not be read.",
            labels=["device"])
        for d in m.devices_snapshot():
            values = [d["id"], d["kind"], d["source"], "true" if d["measured"] else "false"]
            energy.add_metric(values, d["energy_j"])
            co2e.add_metric(values, d["co2e_g"])
            if d["power_w"] is not None:
                power.add_metric(values, d["power_w"])
            gaps.add_metric([d["id"]], d["gaps"])
        yield from (energy, power, co2e, gaps)

        p_energy = CounterMetricFamily(
            "wattprint_process_energy_joules",
            "CPU-side energy charged to each process by its share of busy CPU time.",
            labels=["pid", "name", "container_id"])
        p_co2e = CounterMetricFamily(
            "wattprint_process_co2e_grams", "Operational carbon of each process's energy.",
            labels=["pid", "name", "container_id"])
        for p in m.processes_snapshot(self.max_processes):
            if p["energy_j"] <= 0:  # most processes never get a share: keep series few
                break
            values = [str(p["pid"]), p["name"], p["container_id"] or ""]
            p_energy.add_metric(values, p["energy_j"])
            p_co2e.add_metric(values, p["co2e_g"])
        yield from (p_energy, p_co2e)

        c_energy = CounterMetricFamily(
            "wattprint_cgroup_energy_joules",
            "CPU-side energy of the processes of each cgroup (container).",
            labels=["cgroup", "container_id"])
        c_co2e = CounterMetricFamily(
            "wattprint_cgroup_co2e_grams", "Operational carbon of each cgroup's energy.",
            labels=["cgroup", "container_id"])
        for c in m.cgroups_snapshot():
            values = [c["cgroup"], c["container_id"] or ""]
            c_energy.add_metric(values, c["energy_j"])
            c_co2e.add_metric(values, c["co2e_g"])
        yield from (c_energy, c_co2e)

        un_j, _ = m.unattributed()
        unattributed = CounterMetricFamily(
            "wattprint_unattributed_energy_joules",
            "CPU-side energy charged to no listed process (idle, kernel, short-lived work).")
        unattributed.add_metric([], un_j)
        yield unattributed

        cur = m.intensity()
        intensity = GaugeMetricFamily(
            "wattprint_grid_intensity_grams_per_kilowatt_hour",
            "Carbon intensity of the grid used for the carbon counters (gCO2e/kWh).",
            labels=["region", "method", "source"])
        intensity.add_metric([cur["region"], cur["method"], cur["source"]], cur["g_per_kwh"])
        yield intensity

        info = GaugeMetricFamily("wattprint_agent_info", "The agent's version and region.",
                                 labels=["version", "region"])
        info.add_metric([self.version, m.region], 1.0)
        yield info


# --------------------------------------------------------------------------- HTTP


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _int_param(query: Mapping[str, list[str]], name: str, default: int, low: int,
               high: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise _HTTPError(400, f"query parameter {name} must be an integer") from None
    if not low <= value <= high:
        raise _HTTPError(400, f"query parameter {name} must be between {low} and {high}")
    return value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wattprint-agent"
    sys_version = ""
    timeout = 30
    # headers and body go out in two writes; without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK hold the body back ~40 ms
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        """The ``Server`` header: no Python version, nothing to fingerprint."""
        return self.server_version

    # -- plumbing -------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str,
              extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: Any, extra: Mapping[str, str] | None = None) -> None:
        body = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
        self._send(status, body, "application/json", extra)

    def _error(self, status: int, message: str, extra: Mapping[str, str] | None = None) -> None:
        self._json(status, {"error": message}, extra)

    def _authorised(self) -> bool:
        token = self.server.agent.token
        if token is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"),
                                   token.encode("utf-8"))

    # -- methods ---------------------------------------------------------------
    def do_GET(self) -> None:
        """Route a GET request."""
        try:
            self._route()
        except _HTTPError as exc:
            self._error(exc.status, exc.message)
        except (WattprintError, sqlite3.Error) as exc:
            log.warning("the agent cannot read the run store: %s", exc)
            self._error(503, f"the run store cannot be read: {exc}")
        except Exception:
            log.exception("the agent failed to answer %s", urlsplit(self.path).path)
            self._error(500, "internal error; see the agent's log")

    def do_HEAD(self) -> None:
        """Answer HEAD like GET, without a body."""
        self.do_GET()

    def _not_allowed(self) -> None:
        self._error(405, f"method {self.command} is not allowed; the API is read-only (GET)",
                    {"Allow": "GET, HEAD"})

    def __getattr__(self, name: str) -> Any:
        # The stdlib answers 501 for a method without a do_<METHOD>; the API
        # is read-only, so every other method is 405 Method Not Allowed.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _route(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        try:
            query = parse_qs(parts.query, keep_blank_values=True, max_num_fields=32)
        except ValueError:
            raise _HTTPError(400, "too many query parameters") from None
        agent = self.server.agent
        if path == "/healthz":
            self._json(200, agent.health())
            return
        known = path in ("/metrics", "/v1/devices", "/v1/processes", "/v1/runs") or (
            path.startswith("/v1/processes/"))
        if not known:
            raise _HTTPError(404, f"no such endpoint {path}; see the agent's openapi.yaml")
        if not self._authorised():
            self._error(401, "missing or wrong bearer token; send 'Authorization: Bearer "
                             "<token>' with the token of the agent's --token-file",
                        {"WWW-Authenticate": 'Bearer realm="wattprint"'})
            return
        if path == "/metrics":
            self._send(200, agent.metrics_text(), CONTENT_TYPE_LATEST)
        elif path == "/v1/devices":
            self._json(200, agent.devices_doc())
        elif path == "/v1/processes":
            limit = _int_param(query, "limit", _MAX_LIMIT, 1, _MAX_LIMIT)
            self._json(200, agent.processes_doc(limit))
        elif path.startswith("/v1/processes/"):
            text = path[len("/v1/processes/"):]
            if not text.isdigit() or not text.isascii() or len(text) > 10:
                raise _HTTPError(400, "the pid must be a positive integer")
            doc = agent.process_doc(int(text))
            if doc is None:
                raise _HTTPError(404, f"the agent has not listed a process {text}; it lists "
                                      f"processes every {agent.process_interval_s:g} s")
            self._json(200, doc)
        else:  # /v1/runs
            limit = _int_param(query, "limit", 50, 1, 1000)
            project = query.get("project", [None])[-1]
            self._json(200, agent.runs_doc(project or None, limit))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], agent: Agent) -> None:
        self.agent = agent
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


# --------------------------------------------------------------------------- the agent


class Agent:
    """The node agent: a sampler, the monitor, and the HTTP server.

    Args:
        bind: address to listen on (default loopback).
        port: TCP port; 0 picks a free one (see :attr:`port` after start).
        token: bearer token; required for a non-loopback ``bind``.
        settings: effective settings (default: resolved as for the CLI).
        sensor_objects: opened sensors (default: detected from settings).
        intensity: intensity source (default: the shipped annual averages).
        proc_root: procfs root.
        process_interval_s: seconds between process listings.
        process_ttl_s: how long exited processes stay listed.
        max_metric_processes: processes shown in ``/metrics`` (most energy first).

    Raises:
        ConfigError: a non-loopback ``bind`` without a token, or bad settings.
    """

    def __init__(
        self,
        *,
        bind: str = DEFAULT_BIND,
        port: int = DEFAULT_PORT,
        token: str | None = None,
        settings: Settings | None = None,
        sensor_objects: Sequence[Sensor] | None = None,
        intensity: IntensitySource | None = None,
        proc_root: Path = Path("/proc"),
        process_interval_s: float = 5.0,
        process_ttl_s: float = 300.0,
        max_metric_processes: int = 200,
    ) -> None:
        check_bind(bind, token)
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is out of range; use 1-65535 (0 picks a free port)")
        if process_interval_s < 0.05:
            raise ConfigError("the process interval must be at least 0.05 s")
        self.bind = bind
        self.port = port
        self.token = token
        self.settings = settings or load_settings()
        self.process_interval_s = process_interval_s
        self._sensor_objects = list(sensor_objects) if sensor_objects is not None else None
        self._intensity = intensity or AnnualIntensity()
        self._proc_root = proc_root
        self._ttl_s = process_ttl_s
        self._max_metric_processes = max_metric_processes
        self.sensors: list[Sensor] = []
        self.skipped: list[SkippedSensor] = []
        self.monitor: NodeMonitor | None = None
        self._sampler: Sampler | None = None
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._registry: CollectorRegistry | None = None
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._version = _version()

    @property
    def url(self) -> str:
        """Base URL the agent answers on."""
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}"

    def start(self) -> Agent:
        """Open the sensors, start sampling, bind and start serving (in threads).

        Returns:
            ``self``.

        Raises:
            ConfigError: the address cannot be bound.
            RegionError: the configured region is unknown.
            SensorError: a sensor asked for by name is unavailable.
        """
        from wattprint.run import open_sensors

        region = resolve_region(self.settings.region, config_region=self.settings.region).code
        if self._sensor_objects is not None:
            self.sensors = self._sensor_objects
        else:
            self.sensors, self.skipped = open_sensors(self.settings)
        for note in self.skipped:
            log.info("sensor %s skipped: %s", note.sensor, note.reason)
        if not self.sensors:
            log.warning("the agent found no energy sensor; it reports no energy. "
                        "Run `wattprint sensors` to see why.")
        devices = {d.id: d for s in self.sensors for d in s.devices()}
        breakdowns = [s for s in self.sensors if isinstance(s, ProcessBreakdownSource)]

        def gpu_breakdown() -> dict[str, Mapping[int, float]]:
            merged: dict[str, Mapping[int, float]] = {}
            for source in breakdowns:
                merged.update(source.process_breakdown())
            return merged

        self.monitor = NodeMonitor(devices, region=region, intensity=self._intensity,
                                   proc_root=self._proc_root, process_ttl_s=self._ttl_s,
                                   gpu_breakdown=gpu_breakdown if breakdowns else None)
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(self.monitor, self._version,
                                           self._max_metric_processes))
        try:
            self._server = _Server((self.bind, self.port), self)
        except OSError as exc:
            self._close_sensors()
            raise ConfigError(f"the agent cannot listen on {self.bind}:{self.port}: {exc}; "
                              "choose another --port or --bind") from exc
        self.port = int(self._server.server_address[1])
        self._sampler = Sampler(self.sensors, self.monitor.on_intervals,
                                interval_s=self.settings.interval_s)
        self._sampler.start()
        self.monitor.refresh_processes()  # the baseline of the first share
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="wattprint-agent-http",
                             daemon=True),
            threading.Thread(target=self._process_loop, name="wattprint-agent-processes",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("wattprint agent listening on %s (%s)", self.url,
                 "token required" if self.token else "no token")
        return self

    def _process_loop(self) -> None:
        while not self._stop.wait(self.process_interval_s):
            assert self.monitor is not None
            try:
                self.monitor.refresh_processes()
            except Exception:  # never stop listing because of one bad pass
                log.debug("process listing failed", exc_info=True)

    def stop(self) -> None:
        """Stop serving and sampling, close sensors and the store; idempotent."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        self._close_sensors()
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _close_sensors(self) -> None:
        for sensor in self.sensors:
            try:
                sensor.close()
            except Exception:
                log.debug("closing %s failed", sensor.name, exc_info=True)

    # -- documents ------------------------------------------------------------
    def _monitor(self) -> NodeMonitor:
        if self.monitor is None:
            raise WattprintError("the agent is not started; call start() first")
        return self.monitor

    def health(self) -> dict[str, Any]:
        """The ``/healthz`` document."""
        m = self._monitor()
        return {"status": "ok", "uptime_s": time.time() - m.started_at,
                "devices": len(m.devices_snapshot())}

    def metrics_text(self) -> bytes:
        """The Prometheus exposition of ``/metrics``."""
        assert self._registry is not None
        return generate_latest(self._registry)

    def devices_doc(self) -> dict[str, Any]:
        """The ``/v1/devices`` document."""
        m = self._monitor()
        return {"intensity": m.intensity(), "devices": m.devices_snapshot()}

    def processes_doc(self, limit: int) -> dict[str, Any]:
        """The ``/v1/processes`` document."""
        m = self._monitor()
        un_j, un_g = m.unattributed()
        return {"share_rule": CPU_TIME_SHARE, "devices": m.cpu_device_ids,
                "process_interval_s": self.process_interval_s,
                "unattributed_energy_j": un_j, "unattributed_co2e_g": un_g,
                "processes": m.processes_snapshot(limit)}

    def process_doc(self, pid: int) -> dict[str, Any] | None:
        """The ``/v1/processes/{pid}`` document, or ``None`` for an unknown pid."""
        doc = self._monitor().process(pid)
        if doc is None:
            return None
        return doc | {"share_rule": CPU_TIME_SHARE}

    def _open_store(self) -> Store | None:
        with self._store_lock:
            if self._store is None:
                if not self.settings.db_path.is_file():
                    return None
                self._store = Store(self.settings.db_path)
            return self._store

    def runs_doc(self, project: str | None, limit: int) -> dict[str, Any]:
        """The ``/v1/runs`` document: stored runs, newest first (read from the store)."""
        store = self._open_store()
        if store is None:
            return {"runs": []}
        runs = []
        for run in store.runs(project, limit):
            totals = store.device_totals(run.id)
            energy_j = sum(t[0] for t in totals.values())
            attributed_j = sum(t[1] for t in totals.values())
            runs.append({
                "id": run.id, "project": run.project, "name": run.name, "phase": run.phase,
                "status": run.status, "started_at": _iso(run.started_at),
                "ended_at": _iso(run.ended_at), "duration_s": run.duration_s,
                "host": run.host, "pid": run.pid, "region": run.region, "tool": run.tool,
                "attribution": run.attribution,
                "energy_j": attributed_j if run.attribution == "process" else energy_j,
                "device_energy_j": energy_j, "attributed_energy_j": attributed_j,
                "units": store.units(run.id),
            })
        return {"runs": runs}


def _version() -> str:
    from wattprint._version import __version__

    return __version__
