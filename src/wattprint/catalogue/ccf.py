"""CPU micro-architectures and Cloud Carbon Footprint's watts per vCPU for each.

Cloud Carbon Footprint (CCF, Thoughtworks; ``ccf-coefficients``, Apache-2.0)
publishes, per cloud and per CPU micro-architecture, the watts one vCPU draws
idle and at full load: averages of the SPECpower_ssj2008 results of servers
of that architecture. CCF has one table per cloud; wattprint consults the AWS
table first (the most architectures, updated 2026), then Azure, then GCP
(:data:`PROVIDER_ORDER`). The shipped copy is ``ccf_cpu_coefficients.csv``.

The architecture of a CPU comes from its model name (``Xeon Gold 6248`` →
Cascade Lake: the second digit of a Xeon Scalable number is its generation;
the last digit of an EPYC number is its generation; hypervisor names such as
``Intel Xeon Processor (Icelake)`` or ``AMD EPYC-Rome``), else, for a generic
``Intel Xeon CPU @ 2.20GHz`` or ``AMD EPYC Processor``, from the CPUID family
and model in ``/proc/cpuinfo`` (Intel's and AMD's published model numbers),
else from the Arm ``CPU part`` (Neoverse N1/V1/V2, which CCF counts as its
Graviton2/3/4 rows).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from wattprint.catalogue.data import rows
from wattprint.catalogue.names import normalise_cpu_name
from wattprint.hostinfo import CpuInfo

#: CCF coefficient tables, in the order they are consulted.
PROVIDER_ORDER = ("aws", "azure", "gcp")


@dataclass(frozen=True)
class CcfCoefficients:
    """CCF's idle and full-load watts per vCPU of one architecture.

    Attributes:
        provider: the CCF table they come from (``"aws"``, ``"azure"``, ``"gcp"``).
        architecture: the architecture as the table writes it.
        min_w_per_vcpu: watts per vCPU at 0 % utilisation.
        max_w_per_vcpu: watts per vCPU at 100 % utilisation.
    """

    provider: str
    architecture: str
    min_w_per_vcpu: float
    max_w_per_vcpu: float


@functools.lru_cache(maxsize=1)
def _ccf_rows() -> dict[str, dict[str, tuple[str, float, float]]]:
    """Table of provider -> lower-case architecture -> (architecture, min W, max W)."""
    table: dict[str, dict[str, tuple[str, float, float]]] = {}
    for row in rows("ccf_cpu_coefficients.csv"):
        table.setdefault(row["provider"], {})[row["architecture"].lower()] = (
            row["architecture"], float(row["min_w_per_vcpu"]), float(row["max_w_per_vcpu"]))
    return table


def ccf_coefficients(architecture: str) -> CcfCoefficients | None:
    """CCF's coefficients of an architecture, from the first table that has it.

    Args:
        architecture: an architecture as :func:`cpu_architecture` names it.

    Returns:
        The coefficients, or ``None`` if no CCF table has the architecture.
    """
    table = _ccf_rows()
    for provider in PROVIDER_ORDER:
        row = table.get(provider, {}).get(architecture.lower())
        if row is not None:
            return CcfCoefficients(provider, row[0], row[1], row[2])
    return None


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

#: Arm Ltd (implementer 0x41) CPU parts (Neoverse N1, V1, V2) -> CCF's
#: Graviton rows, which CCF uses for these cores.
_ARM_PART_ARCHITECTURES = {0xD0C: "Graviton2", 0xD40: "Graviton3", 0xD4F: "Graviton4"}


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
    if info.arm_part in _ARM_PART_ARCHITECTURES:
        return _ARM_PART_ARCHITECTURES[info.arm_part]
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
