"""Network energy intensity: the energy of moving data, kWh per GB, by kind of link.

Sending a gigabyte costs energy in every network element it crosses: the
access link (a home router and fixed line, a Wi-Fi hop, a mobile base
station) and the metro and core networks behind it. Studies divide a
network's yearly electricity by the data it carried, so a figure holds for
its year and region and falls every year as traffic grows faster than power
(Aslan et al. 2018 found a halving about every two years). Fixed access draws
much the same power idle or busy, so its per-GB figure is an average, not the
marginal cost of one more byte; mobile access scales more with traffic.

The factors, each with its source (``NETWORK_LINKS``):

* ``wired`` and ``wifi``, **0.03 kWh/GB**: fixed-line networks (access,
  metro and core), the European Commission's 2020 ICT impact study
  (Montevecchi, Stickler, Hintemann and Hinterholzer, "Energy-efficient Cloud
  Computing Technologies and Policies for an Eco-friendly Cloud Market",
  Borderstep Institute / Environment Agency Austria for the European
  Commission, 2020), as summarised in Scope3's data-transfer methodology
  (https://methodology.scope3.com/data_transfer). A Wi-Fi hop rides on the
  same fixed line; its router draws about the same whether or not data flows,
  so the per-GB figure is the fixed-line one.
* ``4g``, **0.14 kWh/GB**: mobile networks, the same EC 2020 study.
* ``5g``, **0.06 kWh/GB**: a bottom-up evaluation of mobile radio access
  networks ("Power consumption evaluation of mobile radio access networks
  using a bottom-up approach") puts 4G base stations at 10 kbit/J
  (0.23 kWh/GB) and 5G at 3-4 times better, about 0.06 kWh/GB (same summary).
* ``datacenter``, **0.001 kWh/GB**: data moved between data centres over
  hyperscale providers' own fibre, the Cloud Carbon Footprint methodology's
  networking coefficient (https://www.cloudcarbonfootprint.org/docs/methodology).
* ``internet-2015``, **0.06 kWh/GB**: Aslan, Mayers, Koomey and France
  (2018), "Electricity Intensity of Internet Data Transmission: Untangling the
  Estimates", *Journal of Industrial Ecology* 22(4):785-798,
  doi:10.1111/jiec.12630 (core and fixed-line access networks, 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

from wattprint.errors import ConfigError

#: Cloud Carbon Footprint networking coefficient, kWh per GB transferred
NETWORK_KWH_PER_GB = 0.001
#: Aslan et al. 2018, fixed-line internet transmission in 2015, kWh per GB
NETWORK_KWH_PER_GB_INTERNET_2015 = 0.06

NETWORK_SOURCE = ("Cloud Carbon Footprint methodology, networking coefficient "
                  "(https://www.cloudcarbonfootprint.org/docs/methodology)")

_EC_2020 = ("European Commission ICT impact study 2020 (Montevecchi et al., Energy-efficient "
            "Cloud Computing Technologies and Policies for an Eco-friendly Cloud Market), "
            "via https://methodology.scope3.com/data_transfer")

#: bytes in a GB (decimal, as network volumes are counted)
BYTES_PER_GB = 1e9


@dataclass(frozen=True)
class NetworkLink:
    """A kind of network link and its energy intensity.

    Attributes:
        name: the link's key (``wired``, ``wifi``, ``4g``, ``5g``...).
        kwh_per_gb: energy per GB carried, kWh.
        source: where the figure comes from.
    """

    name: str
    kwh_per_gb: float
    source: str


NETWORK_LINKS: dict[str, NetworkLink] = {
    "wired": NetworkLink("wired", 0.03, f"fixed-line networks: {_EC_2020}"),
    "wifi": NetworkLink("wifi", 0.03, f"fixed-line networks (a Wi-Fi hop rides on a fixed "
                                      f"line): {_EC_2020}"),
    "4g": NetworkLink("4g", 0.14, f"mobile networks: {_EC_2020}"),
    "5g": NetworkLink("5g", 0.06, "5G radio access, 3-4x the 4G figure of 10 kbit/J: 'Power "
                                  "consumption evaluation of mobile radio access networks "
                                  "using a bottom-up approach', via "
                                  "https://methodology.scope3.com/data_transfer"),
    "datacenter": NetworkLink("datacenter", NETWORK_KWH_PER_GB, NETWORK_SOURCE),
    "internet-2015": NetworkLink(
        "internet-2015", NETWORK_KWH_PER_GB_INTERNET_2015,
        "Aslan et al. 2018, J. Industrial Ecology 22(4):785-798, doi:10.1111/jiec.12630"),
}

_ALIASES = {"ethernet": "wired", "fixed": "wired", "wi-fi": "wifi", "lte": "4g",
            "mobile": "4g", "cloud": "datacenter"}


def network_link(name: str) -> NetworkLink:
    """The link of that name (case-insensitive; ``wi-fi``, ``lte``, ``ethernet`` accepted).

    Raises:
        ConfigError: an unknown link, with the known ones.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    link = NETWORK_LINKS.get(key)
    if link is None:
        raise ConfigError(f"unknown network link {name!r}; known: {', '.join(NETWORK_LINKS)}")
    return link


def transfer_energy_j(n_bytes: float, link: str | NetworkLink) -> float:
    """Energy to carry ``n_bytes`` over ``link``, joules: bytes / 1e9 × kWh/GB × 3.6e6."""
    chosen = network_link(link) if isinstance(link, str) else link
    return n_bytes / BYTES_PER_GB * chosen.kwh_per_gb * 3_600_000.0


__all__ = ["BYTES_PER_GB", "NETWORK_KWH_PER_GB", "NETWORK_KWH_PER_GB_INTERNET_2015",
           "NETWORK_LINKS", "NETWORK_SOURCE", "NetworkLink", "network_link",
           "transfer_energy_j"]
