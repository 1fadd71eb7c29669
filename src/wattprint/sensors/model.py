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

The ``extra`` of each device records ``scope`` (``host`` or ``cgroup``),
the basis of the coefficients and the charged vCPUs or memory limit, so
reports can show what was assumed.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattprint.errors import SensorUnavailable
from wattprint.sensors import cgroup
from wattprint.sensors.base import DeviceInfo, Reading, SkippedSensor
from wattprint.sensors.context import SensorContext

log = logging.getLogger(__name__)

#: Bytes in one GB of memory as memory is sold (GiB).
BYTES_PER_GB = float(1 << 30)

#: CCF coefficient tables, in the order they are consulted.
PROVIDER_ORDER = ("aws", "azure", "gcp")

CPU_DEVICE_ID = "model:cpu"
RAM_DEVICE_ID = "model:ram"


# ---------------------------------------------------------------- shipped data


_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_text(name: str) -> str:
    """Text of a shipped hardware table (``wattprint/data/hardware/<name>``).

    Args:
        name: file name, e.g. ``"constants.json"``.

    Returns:
        The file's text.
    """
    local = _DATA_DIR / "hardware" / name
    if local.is_file():  # the usual install: plain files (importlib.resources costs ~10 ms)
        return local.read_text(encoding="utf-8")
    from importlib import resources

    package = resources.files("wattprint")
    return (package / "data" / "hardware" / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def hardware_constants() -> Mapping[str, Mapping[str, Any]]:
    """The single constants of ``constants.json``: key -> value, unit, source...

    Returns:
        Each constant's ``value``, ``unit``, ``source``, ``licence`` and
        ``method`` (how the build script obtained it).
    """
    data: dict[str, dict[str, Any]] = json.loads(data_text("constants.json"))
    return data


def constant(key: str) -> float:
    """The value of one shipped constant, e.g. ``constant("ram_power_w_per_gb")``."""
    return float(hardware_constants()[key]["value"])


@functools.lru_cache(maxsize=1)
def _ccf_rows() -> dict[str, dict[str, tuple[str, float, float]]]:
    """Table of provider -> lower-case architecture -> (architecture, min W, max W)."""
    table: dict[str, dict[str, tuple[str, float, float]]] = {}
    for row in csv.DictReader(io.StringIO(data_text("ccf_cpu_coefficients.csv"))):
        table.setdefault(row["provider"], {})[row["architecture"].lower()] = (
            row["architecture"], float(row["min_w_per_vcpu"]), float(row["max_w_per_vcpu"]))
    return table


@dataclass(frozen=True)
class CpuTdp:
    """A CPU model's thermal design power from a shipped table.

    Attributes:
        name: the model as the table writes it.
        tdp_w: thermal design power of one package, in watts.
        cores: physical cores per package, where the table gives them.
        source: table and upstream reference.
    """

    name: str
    tdp_w: float
    cores: int | None
    source: str


_DROP_WORDS = re.compile(
    r"\((?:r|tm|c)\)|[®™]|@.*$|\b(?:\d+|dual|quad|six|eight|twelve|sixteen)[- ]core\b"
    r"|\b(?:intel|amd|cpu|processor)\b"
)


def normalise_cpu_name(name: str) -> str:
    """A CPU model name reduced to comparable lower-case tokens.

    Drops vendor names, trademark marks, "CPU"/"Processor", the clock after
    ``@`` and "N-Core"; punctuation becomes spaces (``+`` is kept, as in
    ``8480+``). ``"Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz"`` and
    ``"Intel Xeon E5-2690 v4"`` both become ``"xeon e5 2690 v4"``.

    Args:
        name: a model name as ``/proc/cpuinfo`` or a table writes it.

    Returns:
        The normalised name (may be empty).
    """
    text = _DROP_WORDS.sub(" ", name.lower())
    return " ".join(re.sub(r"[^a-z0-9+]+", " ", text).split())


@functools.lru_cache(maxsize=1)
def _cpu_tables() -> tuple[dict[str, CpuTdp], ...]:
    """(Green Algorithms, codecarbon): normalised name -> CpuTdp, first row wins."""
    ga: dict[str, CpuTdp] = {}
    for row in csv.DictReader(io.StringIO(data_text("cpu_tdp_green_algorithms.csv"))):
        key = normalise_cpu_name(row["name"])
        ga.setdefault(key, CpuTdp(
            row["name"], float(row["tdp_w"]), int(row["cores"]) if row["cores"] else None,
            f"Green Algorithms TDP_cpu.csv (CC BY 4.0), {row['source']}".rstrip(", ")))
    cc: dict[str, CpuTdp] = {}
    for row in csv.DictReader(io.StringIO(data_text("cpu_tdp_codecarbon.csv"))):
        key = normalise_cpu_name(row["name"])
        cc.setdefault(key, CpuTdp(row["name"], float(row["tdp_w"]), None,
                                  "codecarbon 3.3.2 cpu_power.csv (MIT)"))
    return ga, cc


def lookup_cpu_tdp(model_name: str) -> CpuTdp | None:
    """Find a CPU model's TDP in the shipped tables.

    An exact match of the normalised name wins (Green Algorithms before
    codecarbon); otherwise the table entry with the most tokens, all of them
    in the query and one of them a model number, e.g. ``"Xeon Gold 6248"``
    for ``"Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz (KVM)"``.

    Args:
        model_name: a CPU model name in any of the usual spellings.

    Returns:
        The entry, or ``None`` if no table knows the model.
    """
    query = normalise_cpu_name(model_name)
    if not query:
        return None
    tables = _cpu_tables()
    for table in tables:
        if query in table:
            return table[query]
    tokens = set(query.split())
    best: CpuTdp | None = None
    best_size = 0
    for table in tables:
        for key, entry in table.items():
            parts = key.split()
            if (len(parts) > best_size and tokens.issuperset(parts)
                    and any(ch.isdigit() for ch in key)):
                best, best_size = entry, len(parts)
    return best


def suggest_cpu_names(model_name: str, count: int = 5) -> list[str]:
    """Names in the CPU tables closest to ``model_name``, for error messages."""
    names: dict[str, str] = {}
    for table in _cpu_tables():
        for key, entry in table.items():
            names.setdefault(key, entry.name)
    close = difflib.get_close_matches(normalise_cpu_name(model_name), list(names), n=count,
                                      cutoff=0.6)
    return [names[key] for key in close]


# ---------------------------------------------------------------- architecture

_SCALABLE = r"\bxeon (?:platinum|gold|silver|bronze) \d"
#: Name patterns (on normalised names) -> CCF architecture. Order matters.
_ARCH_PATTERNS: tuple[tuple[str, str], ...] = (
    # code names, as hypervisors (QEMU/KVM CPU models) and some vendors write them
    (r"sapphire ?rapids", "Sapphire Rapids"),
    (r"emerald ?rapids", "Emerald Rapids"),
    (r"granite ?rapids", "Granite Rapids"),
    (r"cascade ?lake|cooper ?lake", "Cascade Lake"),
    (r"ice ?lake", "Ice Lake"),
    (r"sky ?lake", "Skylake"),
    (r"coffee ?lake", "Coffee Lake"),
    (r"broadwell", "Broadwell"),
    (r"haswell", "Haswell"),
    (r"ivy ?bridge", "Ivy Bridge"),
    (r"sandy ?bridge", "Sandy Bridge"),
    (r"\bepyc (?:v\d )?naples\b", "EPYC 1st Gen"),
    (r"\bepyc (?:v\d )?rome\b", "EPYC 2nd Gen"),
    (r"\bepyc (?:v\d )?milan\b", "EPYC 3rd Gen"),
    (r"\bepyc (?:v\d )?(?:genoa|bergamo)\b", "EPYC 4th Gen"),
    (r"\bepyc (?:v\d )?turin\b", "EPYC 5th Gen"),
    (r"\bgraviton ?2\b", "Graviton2"),
    (r"\bgraviton ?3e\b", "Graviton3E"),
    (r"\bgraviton ?3\b", "Graviton3"),
    (r"\bgraviton ?4\b", "Graviton4"),
    # Xeon Scalable: the second digit of the number is the generation;
    # 3rd-gen "H"/"HL" parts are Cooper Lake, a Cascade Lake derivative
    (_SCALABLE + r"1\d\d", "Skylake"),
    (_SCALABLE + r"2\d\d", "Cascade Lake"),
    (_SCALABLE + r"3\d\dhl?\b", "Cascade Lake"),
    (_SCALABLE + r"3\d\d", "Ice Lake"),
    (_SCALABLE + r"4\d\d", "Sapphire Rapids"),
    (_SCALABLE + r"5\d\d", "Emerald Rapids"),
    (r"\bxeon 6\d\d\dp\b", "Granite Rapids"),
    # Xeon E5/E7 v2, v3, v4; an E5 without a version is Sandy Bridge
    (r"\bxeon e[57] \d{4}[a-z]* v2\b", "Ivy Bridge"),
    (r"\bxeon e[57] \d{4}[a-z]* v3\b", "Haswell"),
    (r"\bxeon e[57] \d{4}[a-z]* v4\b", "Broadwell"),
    (r"\bxeon e5 \d{4}[a-z]*(?! v\d)\b", "Sandy Bridge"),
    (r"\bxeon e 2[12]\d\d", "Coffee Lake"),
    # 8th and 9th generation Core desktop parts
    (r"\bcore i[3579] [89]\d{3}", "Coffee Lake"),
    # EPYC: the last digit of the number is the generation (7B13, 9R14 too)
    (r"\bepyc \d[0-9a-z]{2}1\b", "EPYC 1st Gen"),
    (r"\bepyc \d[0-9a-z]{2}2\b", "EPYC 2nd Gen"),
    (r"\bepyc \d[0-9a-z]{2}3\b", "EPYC 3rd Gen"),
    (r"\bepyc \d[0-9a-z]{2}4\b", "EPYC 4th Gen"),
    (r"\bepyc \d[0-9a-z]{2}5\b", "EPYC 5th Gen"),
)


@functools.cache
def _arch_by_name() -> tuple[tuple[re.Pattern[str], str], ...]:
    """The patterns compiled once, when first needed (not at import: start-up cost)."""
    return tuple((re.compile(pattern), arch) for pattern, arch in _ARCH_PATTERNS)

#: Intel family 6 CPUID models of Xeon server parts -> architecture.
_INTEL_XEON_MODELS = {
    45: "Sandy Bridge", 62: "Ivy Bridge", 63: "Haswell", 79: "Broadwell", 86: "Broadwell",
    106: "Ice Lake", 108: "Ice Lake", 143: "Sapphire Rapids", 207: "Emerald Rapids",
    173: "Granite Rapids",
}

#: Arm Ltd (implementer 0x41) CPU parts -> CCF's Graviton rows, which CCF
#: uses for these cores.
_ARM_PARTS = {0xD0C: ("Neoverse-N1", "Graviton2"), 0xD40: ("Neoverse-V1", "Graviton3"),
              0xD4F: ("Neoverse-V2", "Graviton4")}


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the CPU (the first processor's fields).

    Attributes:
        model_name: ``model name`` (x86), or ``Arm <core>`` built from the Arm
            ``CPU part``; ``None`` if absent.
        vendor: ``vendor_id`` (``GenuineIntel``, ``AuthenticAMD``) or ``None``.
        family: CPUID ``cpu family``.
        model: CPUID ``model``.
        stepping: CPUID ``stepping``.
        arm_part: Arm ``CPU part`` (e.g. ``0xd0c``) where the implementer is Arm Ltd.
        sockets: distinct ``physical id`` values (1 when absent).
        siblings: logical CPUs per package (``siblings``).
        cores_per_package: ``cpu cores``.
    """

    model_name: str | None = None
    vendor: str | None = None
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    arm_part: int | None = None
    sockets: int = 1
    siblings: int | None = None
    cores_per_package: int | None = None


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def read_cpuinfo(proc_root: Path) -> CpuInfo:
    """Parse ``<proc_root>/cpuinfo``; missing fields stay ``None``.

    Args:
        proc_root: root of procfs.

    Returns:
        The fields of the first processor and the number of sockets; an
        empty :class:`CpuInfo` if the file cannot be read.
    """
    try:
        text = (proc_root / "cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo()
    first: dict[str, str] = {}
    sockets: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "physical id":
            sockets.add(value)
        first.setdefault(key, value)
    arm_part: int | None = None
    model_name = first.get("model name")
    if first.get("cpu implementer", "").lower() == "0x41":
        arm_part = _int(first.get("cpu part"), 16)
        if arm_part in _ARM_PARTS:
            model_name = f"Arm {_ARM_PARTS[arm_part][0]}"
    return CpuInfo(
        model_name=model_name,
        vendor=first.get("vendor_id"),
        family=_int(first.get("cpu family")),
        model=_int(first.get("model")),
        stepping=_int(first.get("stepping")),
        arm_part=arm_part,
        sockets=max(1, len(sockets)),
        siblings=_int(first.get("siblings")),
        cores_per_package=_int(first.get("cpu cores")),
    )


def cpu_architecture(model_name: str | None, info: CpuInfo | None = None) -> str | None:
    """The CCF micro-architecture of a CPU, from its name, else its CPUID.

    Args:
        model_name: CPU model name (any spelling).
        info: ``/proc/cpuinfo`` fields of the same CPU, used when the name is
            generic (``Intel Xeon CPU @ 2.20GHz``, ``AMD EPYC Processor``).

    Returns:
        An architecture of the CCF tables (``"Cascade Lake"``,
        ``"EPYC 3rd Gen"``, ``"Graviton2"``...) or ``None``.
    """
    name = normalise_cpu_name(model_name or "")
    for pattern, arch in _arch_by_name():
        if pattern.search(name):
            return arch
    if info is None:
        return None
    if info.arm_part in _ARM_PARTS:
        return _ARM_PARTS[info.arm_part][1]
    if info.vendor == "GenuineIntel" and info.family == 6 and "xeon" in name:
        if info.model == 85:  # Skylake-SP; steppings 5-7 Cascade Lake, 10-11 Cooper Lake
            return "Skylake" if (info.stepping or 0) < 5 else "Cascade Lake"
        return _INTEL_XEON_MODELS.get(info.model or -1)
    if info.vendor == "AuthenticAMD" and "epyc" in name and info.model is not None:
        if info.family == 23:
            return {1: "EPYC 1st Gen", 49: "EPYC 2nd Gen"}.get(info.model)
        if info.family == 25:
            if info.model < 16:
                return "EPYC 3rd Gen"
            if info.model < 32 or 160 <= info.model < 176:
                return "EPYC 4th Gen"
            return None
        if info.family == 26:
            return "EPYC 5th Gen"
    return None


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
    if arch is not None:
        table = _ccf_rows()
        for provider in PROVIDER_ORDER:
            row = table.get(provider, {}).get(arch.lower())
            if row is not None:
                return CpuPowerCurve(row[1], row[2], "ccf-architecture",
                                     f"CCF coefficients ({provider}), {row[0]}")
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
                   "idle_w": f"{self.curve.min_w_per_vcpu * self.n_vcpu:.6g}"},
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
