"""What the bloat costs each time an environment or image is provisioned.

Every deployment pulls the image (or downloads and installs the packages)
and keeps it on the node's disk while it runs, so every byte that the
workload never uses is paid for again on each provisioning:

* **bytes** -- what is transferred and stored (for an image, the compressed
  layers are transferred: the unused share of the files is scaled by the
  image's compression ratio);
* **time** -- bytes × 8 / bandwidth, at a bandwidth the user states
  (``--bandwidth-mbps``, megabits per second, default 1,000);
* **energy** -- network: bytes × a network energy intensity; storage: bytes ×
  a storage power per byte × the hours the copy is kept (``--keep-days``);
* **carbon** -- energy × the grid intensity of the region (the shipped
  annual average of ``--region``, resolved like every other command).

The factors and their sources (the network ones live in :mod:`wattprint.catalogue.network`,
beside the per-link factors of federated learning):

* network, **0.001 kWh/GB** (default): the Cloud Carbon Footprint
  methodology's coefficient for data moved between data centres over
  hyperscale providers' own fibre -- the smallest published figure, and the
  right order for a pull from a registry in the same cloud (Cloud Carbon
  Footprint, "Methodology: Networking", https://www.cloudcarbonfootprint.org/docs/methodology).
  For a pull over the public internet, Aslan, Mayers, Koomey and France
  (2018), "Electricity Intensity of Internet Data Transmission: Untangling the
  Estimates", *Journal of Industrial Ecology* 22(4):785-798,
  doi:10.1111/jiec.12630, give **0.06 kWh/GB** for 2015 (core and fixed-line
  access networks), halving about every two years since;
  ``--network-kwh-per-gb 0.06`` uses it.
* storage, **1.2 Wh per TB-hour** (SSD; 0.65 for HDD): Cloud Carbon
  Footprint, "Methodology: Storage" (6 W per 5 TB drive, 2020 projections of
  the 2016 U.S. Data Center Energy Usage Report), i.e. 1.2e-6 kWh per GB-hour.

The MMLB study this audit follows (Zhang et al., "Machine Learning Systems
are Bloated and Vulnerable", arXiv:2212.09437, ACM SIGMETRICS 2024) reports
that debloating speeds container provisioning by up to 3.7 times; the time
here is transfer time only, a lower bound of that cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from wattprint.catalogue.network import (
    NETWORK_KWH_PER_GB,
    NETWORK_KWH_PER_GB_INTERNET_2015,
    NETWORK_SOURCE,
)

#: Cloud Carbon Footprint SSD storage coefficient: 1.2 Wh per TB-hour, as kWh per GB-hour
STORAGE_KWH_PER_GB_H = 1.2e-6
#: how long a pulled copy is kept on a node by default (30 days), h
KEEP_H = 720.0
#: default bandwidth, megabits per second
BANDWIDTH_MBPS = 1000.0

STORAGE_SOURCE = ("Cloud Carbon Footprint methodology, SSD storage 1.2 Wh/TBh "
                  "(https://www.cloudcarbonfootprint.org/docs/methodology)")


@dataclass(frozen=True)
class CostFactors:
    """The factors of a provisioning cost.

    Attributes:
        intensity_g_per_kwh: grid carbon intensity, gCO2e/kWh.
        region: the region the intensity is for.
        intensity_source: where the intensity comes from.
        bandwidth_mbps: transfer bandwidth, megabits per second.
        network_kwh_per_gb: network energy per GB transferred.
        storage_kwh_per_gb_h: storage energy per GB kept for one hour.
        keep_h: hours a provisioned copy is kept.
        network_source: citation of the network factor.
        storage_source: citation of the storage factor.
    """

    intensity_g_per_kwh: float
    region: str = ""
    intensity_source: str = ""
    bandwidth_mbps: float = BANDWIDTH_MBPS
    network_kwh_per_gb: float = NETWORK_KWH_PER_GB
    storage_kwh_per_gb_h: float = STORAGE_KWH_PER_GB_H
    keep_h: float = KEEP_H
    network_source: str = NETWORK_SOURCE
    storage_source: str = STORAGE_SOURCE

    def __post_init__(self) -> None:
        for name in ("intensity_g_per_kwh", "network_kwh_per_gb", "storage_kwh_per_gb_h",
                     "keep_h"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.bandwidth_mbps <= 0:
            raise ValueError("bandwidth_mbps must be > 0")

    def to_dict(self) -> dict[str, Any]:
        """The factors as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class ProvisioningCost:
    """What provisioning some bytes once costs.

    Attributes:
        size_bytes: bytes transferred and stored.
        transfer_s: transfer time at the stated bandwidth, s.
        network_energy_kwh: energy of the transfer, kWh.
        storage_energy_kwh: energy of keeping the bytes for ``keep_h``, kWh.
        energy_kwh: the sum of both, kWh.
        co2e_g: the carbon of that energy, gCO2e.
    """

    size_bytes: float
    transfer_s: float
    network_energy_kwh: float
    storage_energy_kwh: float
    energy_kwh: float
    co2e_g: float

    def to_dict(self) -> dict[str, float]:
        """The cost as JSON-ready data."""
        return asdict(self)


def provisioning_cost(size_bytes: float, factors: CostFactors) -> ProvisioningCost:
    """The cost of transferring and keeping ``size_bytes`` once.

    Args:
        size_bytes: bytes (decimal: 1 GB = 1e9 bytes).
        factors: bandwidth, energy intensities and grid intensity.

    Returns:
        Time, energy and carbon of one provisioning.
    """
    gb = size_bytes / 1e9
    transfer_s = size_bytes * 8 / (factors.bandwidth_mbps * 1e6)
    network_kwh = gb * factors.network_kwh_per_gb
    storage_kwh = gb * factors.storage_kwh_per_gb_h * factors.keep_h
    energy_kwh = network_kwh + storage_kwh
    return ProvisioningCost(size_bytes, transfer_s, network_kwh, storage_kwh, energy_kwh,
                            energy_kwh * factors.intensity_g_per_kwh)


def cost_section(total_bytes: float, unused_bytes: float, factors: CostFactors) -> dict[str, Any]:
    """The ``costs`` part of an audit document: everything, and what debloating saves.

    Args:
        total_bytes: bytes provisioned as the environment or image is now.
        unused_bytes: bytes that removing the unused packages and files saves.
        factors: the cost factors.
    """
    return {"factors": factors.to_dict(),
            "per_provisioning": provisioning_cost(total_bytes, factors).to_dict(),
            "saved_per_provisioning": provisioning_cost(unused_bytes, factors).to_dict()}


__all__ = ["BANDWIDTH_MBPS", "KEEP_H", "NETWORK_KWH_PER_GB", "NETWORK_KWH_PER_GB_INTERNET_2015",
           "STORAGE_KWH_PER_GB_H", "CostFactors", "ProvisioningCost", "cost_section",
           "provisioning_cost"]
