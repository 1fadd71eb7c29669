"""Power models for machines whose CPU or memory has no power sensor.

Virtual machines, containers without access to ``/sys/class/powercap``,
Arm servers and most laptops outside Linux give no energy counter for the
CPU or DRAM. For those, wattprint *estimates* power from utilisation, and
says so: every device here has ``measured=False`` and a
:attr:`~wattprint.sensors.base.DeviceInfo.model` string naming the model and
its parameters. Measured sensors always win; this sensor only covers the
kinds nobody measures (no CPU model next to RAPL ``package`` or ``psys``
domains, no RAM model next to RAPL ``dram`` or ``psys``).

CPU: a linear curve per vCPU
    Power grows roughly linearly with utilisation between an idle floor and a
    full-load ceiling (the SPECpower_ssj2008 results show this for servers).
    With ``n`` vCPUs charged and utilisation ``u`` (0..1)::

        P_cpu = n × (min_w + u × (max_w − min_w))        [W]

    ``min_w``/``max_w`` are watts **per vCPU**, found in this order:

    1. **Cloud Carbon Footprint (CCF) coefficients by micro-architecture**
       (SPECpower averages; Apache-2.0). The architecture comes from the
       CPU model name (``Xeon Gold 6248`` → Cascade Lake: second digit of a
       Xeon Scalable number is its generation; last digit of an EPYC number
       is its generation; hypervisor names such as ``Intel Xeon Processor
       (Icelake)`` or ``AMD EPYC-Rome``), else, for a generic ``Intel Xeon
       CPU @ 2.20GHz`` or ``AMD EPYC Processor``, from the CPUID family and
       model in ``/proc/cpuinfo``, else from the Arm ``CPU part`` (Neoverse
       N1/V1/V2 → CCF's Graviton2/3/4). CCF publishes one table per cloud;
       the AWS table is used first (the most architectures, updated 2026),
       then Azure, then GCP.
    2. **The CPU's TDP** (Green Algorithms table, CC BY 4.0, then
       codecarbon's, MIT): ``max_w = TDP / hardware threads per package``,
       ``min_w = f × max_w`` with ``f`` the mean idle/full-load ratio of the
       CCF architectures (about 0.26; see ``constants.json``). Threads per
       package are the table's cores × threads per core from
       ``/proc/cpuinfo``, else ``siblings`` from ``/proc/cpuinfo``. In a
       VM that shows few vCPUs of a large CPU and whose CPU is not in the
       Green Algorithms table, this overestimates; the architecture path
       (1) avoids it for every server CPU it recognises.
    3. **CCF's average** over all architectures of the AWS table.

    The tables and the architecture rules are the hardware catalogue's
    (:mod:`wattprint.catalogue.ccf`, :mod:`wattprint.catalogue.cpus`); this
    module only applies them.

    Utilisation is the busy share of CPU time between two reads:
    ``user + nice + system + irq + softirq`` over those plus ``idle + iowait
    + steal`` (steal is time the hypervisor gave to other guests), from the
    ``cpuN`` lines of ``/proc/stat`` for the CPUs in the affinity mask —
    one file read, no subprocess. Inside a container with a CPU quota (see
    :mod:`wattprint.sensors.cgroup`) ``/proc/stat`` describes the host, so
    utilisation is instead the cgroup's own CPU time over the elapsed time
    × the charged vCPUs: a container allowed 2 vCPUs that keeps 1 busy is at
    50 %.

RAM: watts per GB in use
    ``P_ram = GB in use × W/GB`` with 0.3725 W/GB from Green Algorithms
    (CC BY 4.0; Cloud Carbon Footprint uses 0.392 W/GB in
    ``ccfcoef/constants.py``). GB are the 2^30-byte gigabytes memory is sold
    in. In use is MemTotal − MemAvailable of ``/proc/meminfo``, or, under a
    cgroup memory limit, the cgroup's usage less its inactive page cache,
    never above the limit.

Coverage from the first moment
    The CPU counters' baseline is taken when the sensor opens, and each
    watts value is the mean over the span since the previous counter read
    (``extra["power_reading"] = "mean-since-previous-read"``). A read made
    before one jiffy has passed since the baseline has no utilisation yet and
    leaves the CPU out; the sampler then counts the CPU from that first read
    on and charges the first value over the first interval, so identical
    jobs are covered from their start whatever the jiffy phase.

The ``extra`` of each device records ``scope`` (``host`` or ``cgroup``),
the basis of the coefficients and the charged vCPUs or memory limit, so
reports can show what was assumed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wattprint.catalogue.ccf import ccf_coefficients, cpu_architecture
from wattprint.catalogue.cpus import CpuTdp, lookup_cpu_tdp
from wattprint.catalogue.data import constant, hardware_constants
from wattprint.errors import SensorUnavailable
from wattprint.hostinfo import CpuInfo, read_cpuinfo
from wattprint.sensors import cgroup
from wattprint.sensors.base import (
    EXTRA_POWER_READING,
    MEAN_SINCE_PREVIOUS_READ,
    DeviceInfo,
    Reading,
    SkippedSensor,
)
from wattprint.sensors.context import SensorContext

log = logging.getLogger(__name__)

#: Bytes in one GB of memory as memory is sold (GiB).
BYTES_PER_GB = float(1 << 30)

CPU_DEVICE_ID = "model:cpu"
RAM_DEVICE_ID = "model:ram"


# ---------------------------------------------------------------- the curve


@dataclass(frozen=True)
class CpuPowerCurve:
    """Idle and full-load watts per vCPU of a CPU, and where they came from.

    Attributes:
        min_w_per_vcpu: watts per vCPU at 0 % utilisation.
        max_w_per_vcpu: watts per vCPU at 100 % utilisation.
        basis: ``"ccf-architecture"``, ``"tdp"`` or ``"ccf-average"``.
        description: the coefficients in words (``"CCF coefficients (aws),
            Cascade Lake"``).
    """

    min_w_per_vcpu: float
    max_w_per_vcpu: float
    basis: str
    description: str


def cpu_power_curve(model_name: str | None, info: CpuInfo | None = None,
                    threads_per_package: float | None = None) -> CpuPowerCurve:
    """Choose the per-vCPU power curve of a CPU (see the module docstring).

    Args:
        model_name: CPU model name; ``None`` if unknown.
        info: ``/proc/cpuinfo`` fields of the CPU, for CPUID-based
            architecture detection and threads per core.
        threads_per_package: hardware threads of one package as this machine
            sees them, used by the TDP rule when the table has no core count.

    Returns:
        The curve, from CCF by architecture, else TDP, else CCF's average.
    """
    arch = cpu_architecture(model_name, info)
    ccf = ccf_coefficients(arch) if arch is not None else None
    if ccf is not None:
        return CpuPowerCurve(ccf.min_w_per_vcpu, ccf.max_w_per_vcpu, "ccf-architecture",
                             f"CCF coefficients ({ccf.provider}), {ccf.architecture}")
    tdp = lookup_cpu_tdp(model_name) if model_name else None
    if tdp is not None:
        threads = _threads_per_package(tdp, info, threads_per_package)
        if threads:
            max_w = tdp.tdp_w / threads
            fraction = constant("cpu_idle_fraction_of_max")
            return CpuPowerCurve(
                fraction * max_w, max_w, "tdp",
                f"TDP {tdp.tdp_w:g} W / {threads:g} threads ({tdp.name}; {tdp.source}), "
                f"idle {fraction:.2f} x max (CCF mean)")
    return CpuPowerCurve(constant("ccf_average_min_w_per_vcpu"),
                         constant("ccf_average_max_w_per_vcpu"), "ccf-average",
                         "CCF average coefficients (aws)")


def _threads_per_package(tdp: CpuTdp, info: CpuInfo | None,
                         threads_per_package: float | None) -> float | None:
    if tdp.cores:
        per_core = 1.0
        if info and info.siblings and info.cores_per_package:
            per_core = max(1.0, info.siblings / info.cores_per_package)
        return tdp.cores * per_core
    if info and info.siblings:
        return float(info.siblings)
    return threads_per_package if threads_per_package and threads_per_package > 0 else None


def cpu_power_w(n_vcpu: float, utilization: float, curve: CpuPowerCurve) -> float:
    """Estimated CPU power: ``n × (min + u × (max − min))`` watts.

    Args:
        n_vcpu: vCPUs charged (may be fractional under a CPU quota).
        utilization: busy share of those vCPUs, clipped to 0..1.
        curve: per-vCPU idle and full-load watts.

    Returns:
        Watts.
    """
    u = min(1.0, max(0.0, utilization))
    return n_vcpu * (curve.min_w_per_vcpu + u * (curve.max_w_per_vcpu - curve.min_w_per_vcpu))


def ram_power_w(used_bytes: float, w_per_gb: float) -> float:
    """Estimated memory power: GB in use (2^30 bytes) × watts per GB."""
    return max(0.0, used_bytes) / BYTES_PER_GB * w_per_gb


# ---------------------------------------------------------------- host counters


#: seconds between reads of memory in use by the RAM model
RAM_REFRESH_S = 1.0
#: shortest span CPU utilisation is measured over (10 jiffies)
UTIL_REFRESH_S = 0.1


def read_proc_stat(proc_root: Path, aggregate_only: bool = False
                   ) -> dict[str, tuple[float, float]] | None:
    """Busy and total jiffies per line of ``<proc_root>/stat``.

    Args:
        proc_root: root of procfs.
        aggregate_only: parse only the first (all-CPU) line; the per-CPU lines
            and the long interrupt line are not split (a per-tick saving).

    Returns:
        ``{"cpu": (busy, total), "cpu0": ..., ...}``, busy = user + nice +
        system + irq + softirq, total = busy + idle + iowait + steal; ``None``
        if the file cannot be read.
    """
    try:
        text = (proc_root / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    times: dict[str, tuple[float, float]] = {}
    start = 0
    while True:
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        start = end + 1
        if not line.startswith("cpu"):
            break  # the cpu lines come first; the rest (intr, ctxt...) is not needed
        label, *fields = line.split()
        values = [float(v) for v in fields[:8]] + [0.0] * (8 - len(fields[:8]))
        user, nice, system, idle, iowait, irq, softirq, steal = values
        busy = user + nice + system + irq + softirq
        times[label] = (busy, busy + idle + iowait + steal)
        if aggregate_only or end < 0:
            break
    return times


def _meminfo_used_bytes(proc_root: Path) -> int | None:
    try:
        text = (proc_root / "meminfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[key] = int(parts[0]) * 1024  # values are in kB (KiB)
    if "MemTotal" not in fields or "MemAvailable" not in fields:
        return None
    return max(0, fields["MemTotal"] - fields["MemAvailable"])


# ---------------------------------------------------------------- the sensor


@dataclass
class _Snapshot:
    """Counters of the previous read, for utilisation deltas."""

    time_s: float
    busy: float
    total: float
    utilization: float | None = None
    cpus: frozenset[str] = field(default_factory=frozenset)


class ModelSensor:
    """Estimated CPU and/or RAM power (watts) from utilisation and coefficients.

    Args:
        ctx: where to read ``/proc`` and ``/sys`` from, and the CPU model
            override (:attr:`SensorContext.cpu_model`).
        kinds: device kinds to model, ``"cpu"`` and/or ``"ram"``.
        clock: monotonic clock in seconds (tests pass a fake one).
        affinity: CPUs the process may run on; ``None`` reads the real mask.
        ram_w_per_gb: watts per GB of memory in use; ``None`` for the
            shipped default (``constants.json``).

    Raises:
        SensorUnavailable: ``kinds`` is empty.
    """

    name = "model"

    def __init__(self, ctx: SensorContext | None = None, *,
                 kinds: Collection[str] = ("cpu", "ram"),
                 clock: Callable[[], float] = time.monotonic,
                 affinity: Collection[int] | None = None,
                 ram_w_per_gb: float | None = None) -> None:
        self._ctx = ctx or SensorContext()
        self._kinds = frozenset(kinds) & {"cpu", "ram"}
        if not self._kinds:
            raise SensorUnavailable("no CPU or memory left to model: both are measured")
        self._clock = clock
        proc_root, sysfs_root = self._ctx.proc_root, self._ctx.sysfs_root
        self._cgroup = cgroup.read_cgroup(sysfs_root, proc_root)
        self._devices: list[DeviceInfo] = []
        self._snapshot: _Snapshot | None = None
        if "cpu" in self._kinds:
            self._open_cpu(proc_root, affinity)
        if "ram" in self._kinds:
            self._ram_w_per_gb = (ram_w_per_gb if ram_w_per_gb is not None
                                  else constant("ram_power_w_per_gb"))
            self._open_ram()

    # -- CPU

    def _open_cpu(self, proc_root: Path, affinity: Collection[int] | None) -> None:
        stat = read_proc_stat(proc_root)
        per_cpu = sorted(label for label in (stat or {}) if label != "cpu")
        host_cpus = len(per_cpu) or os.cpu_count() or 1
        mask = frozenset(affinity) if affinity is not None else cgroup.affinity_cpus()
        self.n_vcpu = cgroup.effective_vcpus(host_cpus, mask, self._cgroup.cpu_quota_vcpus)
        quota = self._cgroup.cpu_quota_vcpus
        self._cpu_scope = "host"
        if (quota is not None and quota <= self.n_vcpu
                and cgroup.cpu_usage_s(self._cgroup) is not None):
            self._cpu_scope = "cgroup"
        wanted = frozenset(f"cpu{i}" for i in mask) if mask else frozenset()
        self._stat_lines = wanted & set(per_cpu) if wanted else frozenset()
        if self._stat_lines == frozenset(per_cpu):
            self._stat_lines = frozenset()  # every CPU: the aggregate line is the same
        info = read_cpuinfo(proc_root)
        name = self._ctx.cpu_model or info.model_name
        threads = host_cpus / info.sockets
        self.curve = cpu_power_curve(name, None if self._ctx.cpu_model else info, threads)
        self._snapshot = self._cpu_counters()
        util_source = ("cgroup cpu usage" if self._cpu_scope == "cgroup" else "/proc/stat")
        self._devices.append(DeviceInfo(
            id=CPU_DEVICE_ID, kind="cpu", name=f"{name or 'unknown CPU'} (model)",
            source="model", measured=False, counter=False,
            model=(f"{self.curve.description}: {self.curve.min_w_per_vcpu:.2f}-"
                   f"{self.curve.max_w_per_vcpu:.2f} W/vCPU x {self.n_vcpu:g} vCPU"),
            extra={"basis": self.curve.basis, "scope": self._cpu_scope,
                   "vcpus": f"{self.n_vcpu:g}", "utilization": util_source,
                   "idle_w": f"{self.curve.min_w_per_vcpu * self.n_vcpu:.6g}",
                   EXTRA_POWER_READING: MEAN_SINCE_PREVIOUS_READ},
        ))

    def _cpu_counters(self) -> _Snapshot | None:
        now = self._clock()
        if self._cpu_scope == "cgroup":
            used = cgroup.cpu_usage_s(self._cgroup)
            return None if used is None else _Snapshot(now, used, 0.0)
        if not self._stat_lines:
            fast = self._aggregate_stat()
            if fast is not None:
                return _Snapshot(now, fast[0], fast[1], cpus=frozenset(["cpu"]))
        stat = read_proc_stat(self._ctx.proc_root, aggregate_only=not self._stat_lines)
        if stat is not None:
            labels = sorted(label for label in self._stat_lines if label in stat) or ["cpu"]
            if all(label in stat for label in labels):
                busy = sum(stat[label][0] for label in labels)
                total = sum(stat[label][1] for label in labels)
                return _Snapshot(now, busy, total, cpus=frozenset(labels))
        import psutil  # off Linux only: /proc/stat is read directly above

        t = psutil.cpu_times()
        busy = float(t.user + getattr(t, "nice", 0.0) + t.system + getattr(t, "irq", 0.0)
                     + getattr(t, "softirq", 0.0))
        total = busy + float(t.idle + getattr(t, "iowait", 0.0) + getattr(t, "steal", 0.0))
        return _Snapshot(now, busy, total)

    def _aggregate_stat(self) -> tuple[float, float] | None:
        """Busy and total jiffies of all CPUs from a kept-open /proc/stat (per-tick path)."""
        fd: int | None = getattr(self, "_stat_fd", None)
        try:
            if fd is None:
                fd = os.open(self._ctx.proc_root / "stat", os.O_RDONLY)
                self._stat_fd: int | None = fd
            head = os.pread(fd, 512, 0)
            fields = head[: head.index(b"\n")].split()
            user, nice, system, idle, iowait, irq, softirq, steal = (
                float(v) for v in fields[1:9])
        except (OSError, ValueError):
            return None
        busy = user + nice + system + irq + softirq
        return busy, busy + idle + iowait + steal

    def _utilization(self) -> float | None:
        """Busy share since the previous read; the previous value if no time passed.

        CPU time advances in 10 ms jiffies, so a share over a shorter span is
        rounding noise: the counters are re-read at most every
        :data:`UTIL_REFRESH_S`, and faster reads return the latest share.
        """
        before = self._snapshot
        if (before is not None and before.utilization is not None
                and self._clock() - before.time_s < UTIL_REFRESH_S):
            return before.utilization
        now = self._cpu_counters()
        if now is None or before is None:
            self._snapshot = now
            return None
        if now.cpus != before.cpus:  # a CPU went offline: restart the delta
            now.utilization = before.utilization
            self._snapshot = now
            return before.utilization
        if self._cpu_scope == "cgroup":
            elapsed = now.time_s - before.time_s
            span = elapsed * self.n_vcpu
        else:
            span = now.total - before.total
        if span <= 0:
            return before.utilization
        util = min(1.0, max(0.0, (now.busy - before.busy) / span))
        now.utilization = util
        self._snapshot = now
        return util

    # -- RAM

    def _open_ram(self) -> None:
        limit = self._cgroup.memory_limit_bytes
        self._ram_scope = ("cgroup" if limit is not None
                           and cgroup.memory_used_bytes(self._cgroup) is not None else "host")
        extra = {"scope": self._ram_scope}
        if self._ram_scope == "cgroup" and limit is not None:
            extra["limit_bytes"] = str(limit)
        source = str(hardware_constants()["ram_power_w_per_gb"]["source"]).split(" (")[0]
        self._devices.append(DeviceInfo(
            id=RAM_DEVICE_ID, kind="ram", name="memory (model)", source="model",
            measured=False, counter=False,
            model=f"{self._ram_w_per_gb:g} W/GB x GB in use ({source})",
            extra=extra,
        ))

    def _ram_used_bytes(self) -> int | None:
        # Memory in use changes slowly; reading it at most once a second keeps
        # fast sampling (down to 10 ms) cheap.
        now = self._clock()
        cached: tuple[float, int | None] | None = getattr(self, "_ram_cache", None)
        if cached is not None and now - cached[0] < RAM_REFRESH_S:
            return cached[1]
        used = self._read_ram_used_bytes()
        self._ram_cache = (now, used)
        return used

    def _read_ram_used_bytes(self) -> int | None:
        if self._ram_scope == "cgroup":
            used = cgroup.memory_used_bytes(self._cgroup)
            if used is None:
                return None
            return cgroup.charged_memory_bytes(used, self._cgroup.memory_limit_bytes)
        used = _meminfo_used_bytes(self._ctx.proc_root)
        if used is None:
            import psutil

            vm = psutil.virtual_memory()
            used = int(vm.total - vm.available)
        return used

    # -- the Sensor protocol

    def devices(self) -> list[DeviceInfo]:
        """The modelled devices: ``model:cpu`` and/or ``model:ram``."""
        return list(self._devices)

    def read(self) -> Mapping[str, Reading]:
        """Estimated watts of each modelled device; a device that fails is left out."""
        readings: dict[str, Reading] = {}
        if "cpu" in self._kinds:
            util = self._utilization()
            if util is not None:
                readings[CPU_DEVICE_ID] = Reading(power_w=cpu_power_w(self.n_vcpu, util,
                                                                      self.curve))
        if "ram" in self._kinds:
            used = self._ram_used_bytes()
            if used is not None:
                readings[RAM_DEVICE_ID] = Reading(power_w=ram_power_w(used, self._ram_w_per_gb))
        return readings

    def close(self) -> None:
        """Close the kept-open /proc/stat; idempotent."""
        fd = getattr(self, "_stat_fd", None)
        if fd is not None:
            self._stat_fd = None
            with contextlib.suppress(OSError):
                os.close(fd)


def open_sensor(ctx: SensorContext, covered_kinds: frozenset[str],
                notes: list[SkippedSensor]) -> ModelSensor:
    """Open the model for the kinds no measured sensor covers (detect's factory).

    Args:
        ctx: where to look.
        covered_kinds: device kinds already measured (``cpu``, ``dram``, ``psys``...).
        notes: receives a per-domain note for a kind left to a measured sensor.

    Returns:
        The sensor, modelling CPU unless ``cpu``/``psys`` is measured and RAM
        unless ``dram``/``psys`` is measured.

    Raises:
        SensorUnavailable: both CPU and memory are already measured.
    """
    cpu_covered = bool(covered_kinds & {"cpu", "psys"})
    ram_covered = bool(covered_kinds & {"dram", "psys", "ram"})
    if cpu_covered and ram_covered:
        raise SensorUnavailable("CPU and memory are measured by hardware sensors; no model needed")
    if cpu_covered:
        notes.append(SkippedSensor("model", "cpu: measured by a hardware sensor", whole=False))
    if ram_covered:
        notes.append(SkippedSensor("model", "ram: measured by a hardware sensor", whole=False))
    kinds = [kind for kind, covered in (("cpu", cpu_covered), ("ram", ram_covered))
             if not covered]
    return ModelSensor(ctx, kinds=kinds)
