"""CPU thermal design power (TDP) by model name.

TDP is the sustained power one CPU package is designed to dissipate. Two
shipped tables give it, consulted in this order:

1. **Green Algorithms** ``TDP_cpu.csv`` (Lannelongue, Grealey, Inouye 2021;
   CC BY 4.0), with cores per package for most rows;
2. **codecarbon** 3.3.2 ``cpu_power.csv`` (MIT), about 4,900 models, TDP only.

The CPU power model divides a TDP by the package's hardware threads to get
watts per vCPU when the CPU's architecture has no Cloud Carbon Footprint
coefficients (:mod:`wattprint.catalogue.ccf`); accounting uses it for the idle
power of a measured CPU package.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from wattprint.catalogue.data import rows
from wattprint.catalogue.names import normalise_cpu_name


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


@dataclass(frozen=True)
class CpuSpec:
    """One CPU model of the catalogue.

    Attributes:
        name: model name as the source table writes it.
        tdp_w: thermal design power of one package, W.
        cores: physical cores per package, where known.
        threads: hardware threads per package, where known (no shipped table
            has them; set by override).
        architecture: micro-architecture (``"Cascade Lake"``), where known.
        sources: field name -> where the value comes from.
    """

    name: str
    tdp_w: float
    cores: int | None
    threads: int | None
    architecture: str | None
    sources: Mapping[str, str]


@functools.lru_cache(maxsize=1)
def _cpu_tables() -> tuple[dict[str, CpuTdp], ...]:
    """(Green Algorithms, codecarbon): normalised name -> CpuTdp, first row wins."""
    ga: dict[str, CpuTdp] = {}
    for row in rows("cpu_tdp_green_algorithms.csv"):
        key = normalise_cpu_name(row["name"])
        ga.setdefault(key, CpuTdp(
            row["name"], float(row["tdp_w"]), int(row["cores"]) if row["cores"] else None,
            f"Green Algorithms TDP_cpu.csv (CC BY 4.0), {row['source']}".rstrip(", ")))
    cc: dict[str, CpuTdp] = {}
    for row in rows("cpu_tdp_codecarbon.csv"):
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
