"""Embodied-carbon facts and the amortisation defaults, with their sources.

Manufacturing a device emits carbon once; life-cycle accounting spreads it
over the hours the device is used (the rule itself is accounting:
:func:`wattprint.accounting.hardware.embodied_per_device_hour_kg`). The facts
it needs are here, all from ``constants.json``:

* the BLOOM study's defaults (Luccioni, Viguier, Ligozat 2023, JMLR 24(253)):
  **150 kgCO2e per GPU card**, **2,500 kgCO2e per server node without its
  GPUs** (an 8-GPU HPE Apollo 6500 Gen10 Plus), a **6-year** lifetime and
  **85 %** utilisation. The build script checks that they reproduce the
  paper's 11.2 t for BLOOM's 1,082,990 GPU-hours;
* the idle power of a card without a published value, as a fraction of its
  TDP: BLOOM's A100, 50 W / 400 W;
* per-GB factors: RAM 1.34 kgCO2e/GB (Green Algorithms after Gröger et al.
  2021: die impact / density + module base / 32 GB); SSD 18 kgCO2e/TB
  (LLMCarbon, 0.018 kg/GB);
* Cloud Carbon Footprint's commodity rack server (Teads, Dell R740 base),
  1,000 kgCO2e.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wattprint.catalogue.data import hardware_constants


@dataclass(frozen=True)
class ServerSpec:
    """A server chassis: everything but its GPUs.

    Attributes:
        name: what it is.
        embodied_kg: manufacturing carbon without GPUs, kgCO2e.
        gpus: GPU slots the embodied value is shared by, where it applies.
        source: where the value comes from.
    """

    name: str
    embodied_kg: float
    gpus: int | None
    source: str


@dataclass(frozen=True)
class Assumptions:
    """Catalogue-wide defaults, the BLOOM study's unless overridden.

    Attributes:
        lifetime_years: years a device is in service.
        utilization: share of its lifetime a device is in use (0..1].
        gpu_embodied_kg: embodied carbon of a GPU card with no own value.
        server_embodied_kg: embodied carbon of a GPU server node without GPUs.
        gpus_per_server: GPUs sharing that node.
        gpu_idle_fraction_of_tdp: idle power of a card with no published
            value, as a fraction of its TDP.
        ram_embodied_kg_per_gb: embodied carbon of memory, kgCO2e per GB.
        ssd_embodied_kg_per_tb: embodied carbon of SSD storage, kgCO2e per TB.
        sources: field name -> where the value comes from.
        host_vcpus: vCPUs of the physical host a VM or container runs on, when
            the user knows it (``[hardware] host_vcpus``); no default is
            published, so ``None``.
        host_memory_gb: memory of that host, GB, likewise.
        instance_type: the cloud instance type the runs are on (``[hardware]
            instance_type``, e.g. ``m5.large``): embodied carbon is then charged
            by Cloud Carbon Footprint's figure for it
            (:mod:`wattprint.catalogue.instances`).
    """

    lifetime_years: float
    utilization: float
    gpu_embodied_kg: float
    server_embodied_kg: float
    gpus_per_server: int
    gpu_idle_fraction_of_tdp: float
    ram_embodied_kg_per_gb: float
    ssd_embodied_kg_per_tb: float
    sources: Mapping[str, str] = field(default_factory=dict)
    host_vcpus: float | None = None
    host_memory_gb: float | None = None
    instance_type: str | None = None


#: Assumptions field -> key in the shipped ``constants.json``.
_CONSTANT_KEYS = {
    "lifetime_years": "lifetime_years",
    "utilization": "utilization",
    "gpu_embodied_kg": "gpu_embodied_kg",
    "server_embodied_kg": "server_embodied_kg",
    "gpus_per_server": "gpus_per_node",
    "gpu_idle_fraction_of_tdp": "gpu_idle_fraction_of_tdp",
    "ram_embodied_kg_per_gb": "ram_embodied_kg_per_gb",
    "ssd_embodied_kg_per_tb": "ssd_embodied_kg_per_tb",
}


def shipped_assumptions() -> Assumptions:
    """The defaults of ``constants.json``, each with its source and method."""
    constants = hardware_constants()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, key in _CONSTANT_KEYS.items():
        entry = constants[key]
        values[name] = int(entry["value"]) if name == "gpus_per_server" else float(entry["value"])
        sources[name] = f"{entry['source']}; {entry['method']}"
    return Assumptions(**values, sources=sources)


def servers(assumptions: Assumptions) -> list[ServerSpec]:
    """Server chassis: the GPU node of ``assumptions`` first, then CCF's rack server.

    Args:
        assumptions: the defaults giving the GPU node's carbon and GPU count.

    Returns:
        BLOOM's GPU node (as possibly overridden) and CCF's commodity rack server.
    """
    ccf = hardware_constants()["ccf_server_embodied_kg"]
    return [
        ServerSpec("GPU server node without GPUs (BLOOM: HPE Apollo 6500 Gen10 Plus)",
                   assumptions.server_embodied_kg, assumptions.gpus_per_server,
                   assumptions.sources.get("server_embodied_kg", "")),
        ServerSpec("commodity rack server (CCF: Dell R740 base, Teads)",
                   float(ccf["value"]), None, f"{ccf['source']}; {ccf['method']}"),
    ]
