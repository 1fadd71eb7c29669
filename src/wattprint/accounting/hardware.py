"""Embodied carbon charged per device-hour: the amortisation rule over the hardware catalogue.

Manufacturing a device emits carbon once; life-cycle accounting spreads it
over the hours the device is used. Charged per device-hour::

    embodied per hour = embodied_kg / (lifetime_years × 8760 × utilization)

(:func:`embodied_per_device_hour_kg`). With the BLOOM study's defaults
(150 kgCO2e per GPU card, 2,500 kgCO2e per 8-GPU node without its GPUs, a
6-year lifetime, 85 % utilisation) an hour of an A100 card carries
150 / (6 × 8760 × 0.85) ≈ 3.36 gCO2e, plus 2500 / 8 / (6 × 8760 × 0.85) ≈ 7.0 g
for its share of the node (:meth:`Catalogue.gpu_embodied_per_hour_kg`).

The facts themselves (TDP, idle power, embodied carbon, lifetimes, with their
sources) are the hardware catalogue's, :mod:`wattprint.catalogue`; this module
adds the amortisation to its :class:`~wattprint.catalogue.lookup.Catalogue`
and keeps the catalogue's names importable from here
(``from wattprint.accounting import hardware; hardware.gpu("A100")``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from wattprint.accounting.footprint import Assumption, EmbodiedParams
from wattprint.catalogue import lookup
from wattprint.catalogue.cpus import CpuSpec
from wattprint.catalogue.embodied import Assumptions, ServerSpec
from wattprint.catalogue.gpus import GpuSpec
from wattprint.catalogue.instances import CCF_LIFESPAN_YEARS, CCF_SOURCE, InstanceEmbodied
from wattprint.catalogue.names import normalise_gpu_name
from wattprint.errors import ConfigError
from wattprint.units import H_PER_YEAR

__all__ = [
    "Assumptions",
    "Catalogue",
    "CpuSpec",
    "GpuSpec",
    "HostShare",
    "ServerSpec",
    "cpu",
    "default_catalogue",
    "embodied_per_device_hour_kg",
    "gpu",
    "host_share",
    "list_gpus",
    "normalise_gpu_name",
]


def embodied_per_device_hour_kg(embodied_kg: float, lifetime_years: float,
                                utilization: float) -> float:
    """Embodied carbon charged per hour a device is used.

    ``embodied_kg / (lifetime_years × 8760 × utilization)``: the device's
    manufacturing carbon spread evenly over the hours it is in use during
    its life (8760 hours a year, 365 days, as the life-cycle studies count).

    Args:
        embodied_kg: manufacturing carbon of the device, kgCO2e.
        lifetime_years: years in service before replacement.
        utilization: share of those hours the device is in use, 0 < u <= 1.

    Returns:
        kgCO2e per device-hour.

    Raises:
        ConfigError: a negative embodied value, a lifetime <= 0 or a
            utilisation outside (0, 1].
    """
    if embodied_kg < 0:
        raise ConfigError(f"embodied carbon {embodied_kg} kg is negative; give a value >= 0")
    if lifetime_years <= 0:
        raise ConfigError(f"lifetime {lifetime_years} years must be > 0")
    if not 0 < utilization <= 1:
        raise ConfigError(f"utilization {utilization} must be in (0, 1], e.g. 0.85 for 85 %")
    return embodied_kg / (lifetime_years * H_PER_YEAR * utilization)


@dataclass(frozen=True)
class HostShare:
    """The share of a server's embodied carbon charged to a VM or container.

    Attributes:
        share: fraction of the server, 0 < share <= 1.
        basis: how it was found, for the provenance.
    """

    share: float
    basis: str


def host_share(*, vcpus: float | None, host_vcpus: float | None,
               memory_gb: float | None = None, host_memory_gb: float | None = None,
               host_source: str = "") -> HostShare:
    """The share of its host a VM or container is charged (Cloud Carbon Footprint's rule).

    Cloud Carbon Footprint charges an instance the embodied carbon of its
    host scaled by the instance's share of it, in vCPUs. The same here:
    ``vcpus / host_vcpus`` when both are known and the run had fewer vCPUs
    than the host; else ``memory_gb / host_memory_gb`` likewise; else the
    whole server (share 1, a bare-metal run or a host of unknown size).

    Args:
        vcpus: vCPUs the run could use (its cgroup limit or CPU mask, else the
            logical CPUs it saw).
        host_vcpus: vCPUs of the physical host, or ``None`` if unknown.
        memory_gb: memory the run could use, GB.
        host_memory_gb: memory of the host, GB.
        host_source: where the host figures come from.

    Returns:
        The share and how it was found.
    """
    where = f" ({host_source})" if host_source else ""
    if vcpus and host_vcpus and 0 < vcpus < host_vcpus:
        return HostShare(vcpus / host_vcpus,
                         f"vCPU share: {vcpus:g} of {host_vcpus:g} host vCPUs{where}")
    if memory_gb and host_memory_gb and 0 < memory_gb < host_memory_gb:
        return HostShare(memory_gb / host_memory_gb,
                         f"memory share: {memory_gb:g} of {host_memory_gb:g} GB{where}")
    if host_vcpus is None and host_memory_gb is None:
        return HostShare(1.0, "whole server: the host's size is not known (set "
                              "[hardware] host_vcpus for a VM)")
    return HostShare(1.0, "whole server: the run could use all of it")


def instance_embodied_params(instance: InstanceEmbodied, run_vcpus: float | None,
                             node_share: float, notes: list[Assumption]) -> EmbodiedParams:
    """Embodied amortisation by cloud instance type, Cloud Carbon Footprint's method.

    The instance's whole host (``host_embodied_kg``, GPUs included) is charged
    per hour over CCF's 4-year life (no utilisation factor: CCF has none),
    times the instance's vCPU share of the host and ``node_share`` (the run's
    share under process attribution)::

        embodied_kg = host_kg / (4 × 8,760 h) × hours × vcpus / host_vcpus × node_share

    Args:
        instance: the instance type's CCF figures.
        run_vcpus: the run's own vCPUs, used when the table has none for the type.
        node_share: the run's share of the instance (1 under machine attribution).
        notes: the footprint's assumptions; the share and its basis are added.

    Returns:
        The amortisation parameters (one node: the host).
    """
    share, basis = instance.share(run_vcpus)
    label = f"by instance type (CCF): {instance.provider} {instance.instance_type}"
    notes.append(Assumption("embodied_share", share, "fraction of the server",
                            f"{label}: {basis}"))
    return EmbodiedParams(CCF_LIFESPAN_YEARS, 1.0, instance.host_embodied_kg,
                          node_share=node_share * share,
                          source=f"{label}: whole host {instance.host_embodied_kg:g} kgCO2e, GPUs "
                                 f"included; {CCF_SOURCE}")


class Catalogue(lookup.Catalogue):
    """The hardware catalogue with the amortisation of embodied carbon per hour of use.

    Everything of :class:`wattprint.catalogue.lookup.Catalogue` (lookups,
    overrides), plus the per-hour charges under this catalogue's lifetime and
    utilisation.
    """

    def embodied_per_hour_kg(self, embodied_kg: float) -> float:
        """:func:`embodied_per_device_hour_kg` with this catalogue's lifetime and utilisation."""
        a = self.assumptions
        return embodied_per_device_hour_kg(embodied_kg, a.lifetime_years, a.utilization)

    def gpu_embodied_per_hour_kg(self, name: str) -> float:
        """Embodied carbon per GPU-hour of a card, its share of the server included.

        ``(card embodied + server embodied / GPUs per server)`` amortised:
        BLOOM's accounting of a GPU-hour.

        Args:
            name: card name.

        Returns:
            kgCO2e per GPU-hour.

        Raises:
            HardwareError: the card is unknown.
        """
        a = self.assumptions
        per_gpu = self.gpu(name).embodied_kg + a.server_embodied_kg / a.gpus_per_server
        return self.embodied_per_hour_kg(per_gpu)


@functools.lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The catalogue of the shipped data, loaded once.

    Returns:
        A catalogue with BLOOM's amortisation defaults.
    """
    return Catalogue.shipped()


def gpu(name: str) -> GpuSpec:
    """Look up a GPU card in the default catalogue (see :meth:`Catalogue.gpu`).

    Raises:
        HardwareError: unknown or ambiguous name.
    """
    return default_catalogue().gpu(name)


def cpu(name: str) -> CpuSpec:
    """Look up a CPU model in the default catalogue (see :meth:`Catalogue.cpu`).

    Raises:
        HardwareError: unknown model.
    """
    return default_catalogue().cpu(name)


def list_gpus() -> list[GpuSpec]:
    """Every card of the default catalogue, sorted by name."""
    return default_catalogue().list_gpus()
