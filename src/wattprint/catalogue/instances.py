"""Cloud instance types and the embodied carbon Cloud Carbon Footprint charges them.

A cloud VM shares a physical host with other tenants. Cloud Carbon Footprint
(CCF, Thoughtworks, Apache-2.0) publishes, for every AWS, Azure and GCP
instance type, the embodied (manufacturing) carbon of the *whole host* it
runs on: a 1,000 kgCO2e rack server (Teads, Dell R740 base) plus the memory,
storage, CPUs and GPUs the family's largest instance adds. CCF charges an
instance its vCPU share of that host, spread over a 4-year life::

    embodied_kg = host_kg × hours / (4 × 8,760) × vcpus / host_vcpus

where ``host_vcpus`` is the largest instance of the family (the whole host).
The GPUs of a GPU instance are inside ``host_kg``; they are not charged again.

The shipped table ``ccf_instance_embodied.csv`` is built by
``scripts/build_cloud_instances.py``, which derives the vCPU counts from the
type names (CCF's tables do not carry them). Names are matched without case,
spaces or underscores, and an Azure ``Standard_`` prefix is ignored, so the
metadata services' spellings (``Standard_D4s_v3``) find the table's
(``D4s v3``); a GCP machine-type path (``projects/1/machineTypes/e2-standard-4``)
is reduced to its last part.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from wattprint.catalogue.data import rows
from wattprint.errors import HardwareError

#: CCF's expected life of cloud hardware, years (its embodied-emissions method).
CCF_LIFESPAN_YEARS = 4.0

CCF_SOURCE = ("Cloud Carbon Footprint ccf-coefficients (Thoughtworks, Apache-2.0): embodied "
              "per instance type (whole host, Teads / Dell R740 method), 4-year life, "
              "vCPU share of the family's largest instance")


@dataclass(frozen=True)
class InstanceEmbodied:
    """One cloud instance type as CCF charges its embodied carbon.

    Attributes:
        provider: ``aws``, ``azure`` or ``gcp``.
        instance_type: the type as CCF's table writes it.
        family: its family (the instances that share a host).
        vcpus: the instance's vCPUs, ``None`` when the name does not give them.
        host_vcpus: vCPUs of the family's largest instance (the host), or ``None``.
        host_embodied_kg: embodied carbon of the whole host, kgCO2e.
    """

    provider: str
    instance_type: str
    family: str
    vcpus: float | None
    host_vcpus: float | None
    host_embodied_kg: float

    def share(self, run_vcpus: float | None = None) -> tuple[float, str]:
        """The share of the host charged, and how it was obtained.

        The instance's vCPUs over the host's; where the table has no vCPU count
        for the type, the run's own vCPUs (``run_vcpus``); where neither is
        known, the whole host.
        """
        vcpus = self.vcpus if self.vcpus is not None else run_vcpus
        if vcpus and self.host_vcpus and 0 < vcpus <= self.host_vcpus:
            how = "" if self.vcpus is not None else " (the run's vCPUs)"
            return vcpus / self.host_vcpus, (f"{vcpus:g}{how} of {self.host_vcpus:g} vCPUs "
                                             f"of the {self.family} host")
        return 1.0, "vCPUs unknown: the whole host"


def _key(name: str) -> str:
    key = name.strip().rsplit("/", 1)[-1].casefold()
    key = key.removeprefix("standard_").removeprefix("standard ")
    return key.replace(" ", "").replace("_", "")


def _float(text: str) -> float | None:
    return float(text) if text else None


@functools.lru_cache(maxsize=1)
def _table() -> dict[tuple[str, str], InstanceEmbodied]:
    table: dict[tuple[str, str], InstanceEmbodied] = {}
    for row in rows("ccf_instance_embodied.csv"):
        entry = InstanceEmbodied(row["provider"], row["type"], row["family"],
                                 _float(row["vcpus"]), _float(row["host_vcpus"]),
                                 float(row["host_embodied_kg"]))
        table.setdefault((row["provider"], _key(row["type"])), entry)
    return table


def instance_embodied(instance_type: str, provider: str | None = None) -> InstanceEmbodied:
    """CCF's embodied figure for a cloud instance type.

    Args:
        instance_type: e.g. ``m5.large``, ``e2-standard-4``, ``Standard_D4s_v3``;
            ``aws:m5.large`` names the provider too.
        provider: ``aws``, ``azure`` or ``gcp`` when known (else every table is
            searched, AWS first).

    Raises:
        HardwareError: no table has the type, or a provider is unknown.
    """
    if provider is None and ":" in instance_type:
        provider, _, instance_type = instance_type.partition(":")
    providers = ("aws", "azure", "gcp") if not provider else (provider.strip().casefold(),)
    table = _table()
    key = _key(instance_type)
    for p in providers:
        found = table.get((p, key))
        if found is not None:
            return found
    raise HardwareError(f"instance type {instance_type!r} is not in Cloud Carbon Footprint's "
                        "tables (AWS, Azure, GCP); its embodied carbon is charged by host share")


__all__ = ["CCF_LIFESPAN_YEARS", "CCF_SOURCE", "InstanceEmbodied", "instance_embodied"]
