"""Carbon-intensity sources: shipped annual tables, hourly series, user series.

Carbon is derived, never stored: an interval's energy (kWh) times the carbon
intensity of the grid that supplied it (gCO2e/kWh) is its operational carbon.
An :class:`IntensitySource` answers "what intensity applied in region R during
``[start_s, end_s)``", for one interval or many at once, and every answer
carries a :class:`~wattprint.accounting.series.Provenance` (source, data set,
year, average or marginal, lifecycle or direct basis, licence, fallback).

Sources in this module (live API clients are in :mod:`wattprint.accounting.live`):

* :class:`AnnualIntensity` -- shipped annual tables, average or marginal. Time
  inside the year is ignored: an annual average is the right default when
  nothing better is known, but it hides the daily and seasonal swing (a
  factor of two or more on grids with much solar or wind).
* :class:`~wattprint.accounting.hourly.HourlyIntensity` -- the shipped hourly
  2022 series of eight US balancing authorities (EIA-930), for time-resolved accounting and what-if
  studies.
* :class:`~wattprint.accounting.hourly.SeriesIntensity` -- any
  :class:`IntensitySeries`, e.g. a user file read by
  :func:`~wattprint.accounting.seriesfile.load_series`.

**Region codes** (case-insensitive). An unprefixed code is looked up in this
order and the first table that has it wins:

1. countries -- ISO 3166-1 alpha-2 or alpha-3 or the English name
   (``DE``, ``DEU``, ``Germany``); ``WORLD`` is the world average. Data: Ember
   via Our World in Data, lifecycle, production-based, every year 1990-2025.
2. sub-national -- ISO 3166-2 codes for US states (``US-CA``, eGRID2023,
   direct), Canadian provinces (``CA-QC``, 2023 generation mix x per-source
   lifecycle factors) and Chinese provinces (``CN-GD``, MEE/NBS 2023, CO2
   only); Nordic bidding zones as Electricity Maps keys (``SE-SE3``, ``NO-NO1``;
   also ``SE3``). Data: codecarbon 3.3.2.
3. cloud regions -- ``aws:us-east-1``, ``azure:westeurope`` (``azure:West
   Europe`` works too), ``gcp:europe-west1``. GCP from Google's own yearly
   region data (2019-2025); AWS and Azure (and GCP regions Google does not
   list) from the Cloud Carbon Footprint coefficients (static, mixed vintage).
4. Electricity Maps zones -- any other zone key (``US-CAL-CISO``, ``AU-NSW``,
   ``IN-NO``, ``JP-TK``), yearly 2021-2025, consumption-based lifecycle. The
   prefix ``em:`` reaches an Electricity Maps zone that an earlier table
   shadows (``em:DE``). These figures are under the ODbL and shipped as a
   separate file. The eight US balancing authorities with hourly data also
   answer to their EIA codes (``CISO``, ``ERCO``, ``PJM``, ``MISO``, ``NYIS``,
   ``BPAT``, ``SOCO``, ``AZPS``).

**Marginal** annual factors are the UNFCCC/IFI harmonised *operating margin*
per country (2021, CO2 only; CC BY-SA, shipped as a separate file): the
emission rate of the fossil plants that follow demand. A sub-national, zone
or cloud region gets its country's factor (``provenance.fallback`` says so);
where no marginal factor exists the average is returned with
``method="average"`` and a fallback note -- never silently.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from wattprint.accounting.series import (
    IntensitySeries,
    IntensityValue,
    IntensityValues,
    Provenance,
    series_intensity,
)
from wattprint.catalogue.data import csv_rows
from wattprint.errors import IntensityError, RegionError

if TYPE_CHECKING:  # numpy loads when arrays are first needed
    import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "WORLD",
    "AnnualIntensity",
    "IntensitySeries",
    "IntensitySource",
    "IntensityValue",
    "IntensityValues",
    "Provenance",
    "annual_intensity",
    "canonical_region",
    "series_intensity",
]

#: Code of the world average, the default when no region is known.
WORLD = "WORLD"

#: Region kinds, in lookup order.
KINDS = ("world", "country", "subnational", "cloud", "zone")

_CLOUD_PREFIXES = ("aws:", "azure:", "gcp:")
_EM_PREFIX = "em:"


@runtime_checkable
class IntensitySource(Protocol):
    """Anything that gives the carbon intensity of a region over time intervals.

    Attributes:
        name: short name of the source (``"annual"``, ``"hourly"``,
            ``"electricitymaps"``).
        method: ``"average"`` or ``"marginal"``: what its values are.
    """

    name: str
    method: str

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        """Intensity over ``[start_s, end_s)`` (UTC epoch seconds) in gCO2e/kWh.

        Raises:
            RegionError: the source does not know ``region``.
            IntensityError: the source cannot answer for that time.
        """
        ...

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray) -> IntensityValues:
        """Intensities of many intervals at once (vectorised :meth:`intensity`).

        Raises:
            RegionError: the source does not know ``region``.
            IntensityError: the source cannot answer for those times.
        """
        ...


def single_value(values: IntensityValues) -> IntensityValue:
    return IntensityValue(float(values.g_per_kwh[0]), values.provenance)


# --------------------------------------------------------------------------- shipped tables


@dataclass(frozen=True)
class _Dataset:
    source: str
    file: str
    method: str
    basis: str
    licence: str
    citation: str


DATASETS = {
    "owid": _Dataset(
        source="Ember, with major processing by Our World in Data",
        file="countries_owid_ember.csv",
        method="average",
        basis="lifecycle",
        licence="CC BY 4.0",
        citation="Ember (2026); Our World in Data, "
        "https://ourworldindata.org/grapher/carbon-intensity-electricity",
    ),
    "codecarbon": _Dataset(
        source="codecarbon 3.3.2 data",
        file="subnational_codecarbon.csv",
        method="average",
        basis="lifecycle",
        licence="MIT (c) 2019 Mila, BCG Gamma, CometML, Haverford College",
        citation="https://github.com/mlco2/codecarbon",
    ),
    "google": _Dataset(
        source="Google Cloud region carbon data",
        file="cloud_google.csv",
        method="average",
        basis="direct",
        licence="Apache-2.0 (Google LLC)",
        citation="https://cloud.google.com/sustainability/region-carbon",
    ),
    "ccf": _Dataset(
        source="Cloud Carbon Footprint coefficients",
        file="cloud_ccf.csv",
        method="average",
        basis="unknown",
        licence="Apache-2.0 (Cloud Carbon Footprint)",
        citation="https://github.com/cloud-carbon-footprint/ccf-coefficients",
    ),
    "electricitymaps": _Dataset(
        source="Electricity Maps, yearly data via CO2.js",
        file="electricitymaps_yearly.csv",
        method="average",
        basis="lifecycle",
        licence="ODbL 1.0 (see data/licenses/ODbL-1.0.txt)",
        citation="Electricity Maps, https://www.electricitymaps.com",
    ),
    "ifi": _Dataset(
        source="UNFCCC / IFI TWG harmonised grid emission factors v3.1 (2021), via CO2.js",
        file="marginal_unfccc_ifi_2021.csv",
        method="marginal",
        basis="direct",
        licence="CC BY-SA 4.0 (see data/licenses/CC-BY-SA-4.0.txt)",
        citation="IFI TWG, Harmonized IFI Default Grid Factors 2021 v3.1, "
        "https://unfccc.int/documents/461676",
    ),
    "eia": _Dataset(
        source="U.S. EIA Hourly Electric Grid Monitor (EIA-930), via SustainDC",
        file="hourly_us_eia_2022.npz",
        method="average",
        basis="lifecycle",
        licence="MIT (c) 2024 Hewlett Packard Enterprise; EIA data public domain",
        citation="Naug et al., SustainDC, NeurIPS 37 (2024); "
        "https://github.com/HewlettPackard/dc-rl",
    ),
}


class _Value(NamedTuple):
    # a named tuple, not a dataclass: the country table makes some 6,000 of them at
    # every CLI start that prints a footprint, and a tuple is built three times faster
    year: int | None
    g_per_kwh: float
    basis: str
    note: str = ""


@dataclass(frozen=True)
class _Region:
    code: str
    name: str
    kind: str
    dataset: str
    country: str | None
    parsed: tuple[_Value, ...]  # oldest first; empty until first use when ``raw`` is given
    aliases: tuple[str, ...] = ()
    # (year, gCO2e/kWh) as text: a country's 36 years are parsed when it is first used,
    # not the 6,000 rows of every country at each CLI start
    raw: tuple[tuple[str, str], ...] = ()

    @property
    def values(self) -> tuple[_Value, ...]:
        if not self.parsed and self.raw:
            values = sorted((_Value(int(y), float(g), "lifecycle") for y, g in self.raw),
                            key=lambda v: v.year or 0)
            object.__setattr__(self, "parsed", tuple(values))  # a cache; same result each time
        return self.parsed

    def newest(self) -> _Value:
        return self.values[-1]


_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "intensity"


def _data_text(name: str) -> str:
    local = _DATA_DIR / name
    if local.is_file():  # the usual install: plain files (importlib.resources costs ~10 ms)
        return local.read_text(encoding="utf-8")
    return (resources.files("wattprint") / "data" / "intensity" / name).read_text(encoding="utf-8")


def _rows(name: str) -> list[dict[str, str]]:
    return csv_rows(_data_text(name))


def _key(code: str) -> str:
    """Normalised lookup key: case-folded, trimmed; no spaces in cloud region names."""
    key = code.strip().casefold()
    if key.startswith((*_CLOUD_PREFIXES, _EM_PREFIX)):
        prefix, _, rest = key.partition(":")
        key = f"{prefix}:{rest.replace(' ', '').strip()}"
    return key


@dataclass
class _Catalogue:
    regions: dict[str, _Region]  # canonical code -> region, in lookup order
    aliases: dict[str, str]  # _key(alias) -> canonical code
    zones: dict[str, _Region]  # every Electricity Maps zone, by zone key
    marginal: dict[str, tuple[float, str]]  # ISO alpha-2 -> (operating margin, country)

    def add(self, region: _Region) -> None:
        if region.code in self.regions:
            return
        self.regions[region.code] = region
        for alias in (region.code, *region.aliases):
            self.aliases.setdefault(_key(alias), region.code)


def _grouped(rows: Iterable[dict[str, str]], key: str) -> dict[str, list[dict[str, str]]]:
    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return groups


#: EIA balancing-authority codes of the hourly series -> Electricity Maps zone keys.
BA_ZONES = {
    "AZPS": "US-SW-AZPS",
    "BPAT": "US-NW-BPAT",
    "CISO": "US-CAL-CISO",
    "ERCO": "US-TEX-ERCO",
    "MISO": "US-MIDW-MISO",
    "NYIS": "US-NY-NYIS",
    "PJM": "US-MIDA-PJM",
    "SOCO": "US-SE-SOCO",
}


def _add_countries(cat: _Catalogue) -> None:
    """1. countries and the world (OWID / Ember)."""
    rows_by_iso2: dict[str, list[list[str]]] = {}
    reader = csv.reader(io.StringIO(_data_text("countries_owid_ember.csv")))
    header = next(reader)
    col = {name: i for i, name in enumerate(header)}
    i_iso2, i_iso3, i_name = col["iso2"], col["iso3"], col["name"]
    i_year, i_g = col["year"], col["g_per_kwh"]
    for row in reader:
        if row:
            rows_by_iso2.setdefault(row[i_iso2], []).append(row)
    for iso2, rows in rows_by_iso2.items():
        first = rows[0]
        raw = tuple((r[i_year], r[i_g]) for r in rows)
        kind = "world" if iso2 == WORLD else "country"
        aliases = (first[i_iso3], first[i_name]) + (("UK",) if iso2 == "GB" else ())
        cat.add(
            _Region(
                iso2,
                first[i_name],
                kind,
                "owid",
                iso2 if kind == "country" else None,
                (),
                aliases,
                raw,
            )
        )


def _add_subnational(cat: _Catalogue) -> None:
    """2. sub-national (codecarbon)."""
    for r in _rows("subnational_codecarbon.csv"):
        code = r["code"]
        note = f"{r['source_file']}: {r['note']}"
        aliases = (code.split("-", 1)[1],) if code.startswith(("SE-SE", "NO-NO")) else ()
        value = _Value(int(r["year"]), float(r["g_per_kwh"]), r["basis"], note)
        cat.add(
            _Region(code, r["name"], "subnational", "codecarbon", r["country"], (value,), aliases)
        )


def _add_cloud(cat: _Catalogue) -> None:
    """3. cloud regions: Google's own GCP data first, then CCF for the rest."""
    countries = {
        (r["provider"], r["region"]): r["country"]
        for r in _rows("cloud_locations_green_algorithms.csv")
    }
    for gcp_region, rows in _grouped(_rows("cloud_google.csv"), "region").items():
        values = tuple(
            _Value(int(r["year"]), float(r["g_per_kwh"]), r["basis"])
            for r in sorted(rows, key=lambda r: int(r["year"]))
        )
        name = f"Google Cloud {gcp_region} ({rows[-1]['location'] or 'location not given'})"
        cat.add(
            _Region(
                f"gcp:{gcp_region}",
                name,
                "cloud",
                "google",
                countries.get(("gcp", gcp_region)),
                values,
            )
        )
    providers = {"aws": "AWS", "azure": "Azure", "gcp": "Google Cloud"}
    for r in _rows("cloud_ccf.csv"):
        provider = r["provider"]
        note = f"upstream: {r['upstream_source']}" + (f"; {r['note']}" if r["note"] else "")
        value = _Value(None, float(r["g_per_kwh"]), "unknown", note)
        country = r["country"] or countries.get((provider, r["code"]))
        name = f"{providers[provider]} {r['region']} ({r['location']})"
        cat.add(_Region(f"{provider}:{r['code']}", name, "cloud", "ccf", country or None, (value,)))


def _add_zones(cat: _Catalogue) -> None:
    """4. Electricity Maps zones (ODbL); em:<zone> always reaches them."""
    ba_of_zone = {zone: ba for ba, zone in BA_ZONES.items()}
    for zone, rows in _grouped(_rows("electricitymaps_yearly.csv"), "zone").items():
        values = tuple(
            _Value(int(r["year"]), float(r["g_per_kwh"]), "lifecycle")
            for r in sorted(rows, key=lambda r: int(r["year"]))
        )
        prefix = zone.split("-", 1)[0]
        country = prefix if len(prefix) == 2 else None
        name = rows[-1]["name"] + (f", {rows[-1]['country']}" if rows[-1]["country"] else "")
        ba = ba_of_zone.get(zone)
        aliases = (_EM_PREFIX + zone, *((ba,) if ba else ()))
        entry = _Region(zone, name, "zone", "electricitymaps", country, values, aliases)
        cat.zones[zone] = entry
        if zone in cat.regions:
            entry = replace(entry, code=_EM_PREFIX + zone, aliases=())
        cat.add(entry)


def _add_marginal(cat: _Catalogue) -> None:
    """Marginal operating-margin factors (CC BY-SA)."""
    for r in _rows("marginal_unfccc_ifi_2021.csv"):
        cat.marginal[r["iso2"]] = (float(r["operating_margin_g_per_kwh"]), r["country"])


#: The tables in lookup order. They are read one at a time, only as far as a lookup
#: needs: a country (or the world default) is found in the first, so the summary of a
#: run reads one table of the seven (the CLI prints it after every job).
_STAGES = (_add_countries, _add_subnational, _add_cloud, _add_zones, _add_marginal)
_LOCK = threading.RLock()
_BUILT = _Catalogue({}, {}, {}, {})
_stages_done = 0


def _catalogue(stages: int = len(_STAGES)) -> _Catalogue:
    """The region catalogue with at least its first ``stages`` tables read (all by default)."""
    global _stages_done
    if _stages_done >= stages:
        return _BUILT
    with _LOCK:  # the CLI warms the tables in a thread while the job runs
        while _stages_done < stages:
            _STAGES[_stages_done](_BUILT)
            _stages_done += 1
    return _BUILT


def _suggestions(code: str, n: int = 5) -> list[str]:
    cat = _catalogue()
    key = _key(code)
    close = difflib.get_close_matches(key, list(cat.aliases), n=n * 3, cutoff=0.6)
    seen: list[str] = []
    for alias in close:
        canonical = cat.aliases[alias]
        if canonical not in seen:
            seen.append(canonical)
    return seen[:n]


def _unknown_region(code: str) -> RegionError:
    cat = _catalogue()
    hints = [f"{c} ({cat.regions[c].name})" for c in _suggestions(code)]
    near = f"; did you mean {', '.join(hints)}?" if hints else ""
    return RegionError(
        f"unknown region {code!r}{near} Use an ISO country code (DE, DEU), a state or province "
        "(US-CA, CA-QC), a cloud region (aws:us-east-1, gcp:europe-west1, azure:westeurope) "
        "or an Electricity Maps zone (US-CAL-CISO); list them with `wattprint regions` "
        "or wattprint.accounting.location.list_regions()"
    )


def canonical_region(code: str) -> str:
    """The canonical code of a region, from any accepted spelling.

    ``"deu"``, ``"Germany"`` and ``"de"`` give ``"DE"``; ``"Azure:West Europe"``
    gives ``"azure:westeurope"``; ``"ciso"`` gives ``"US-CAL-CISO"``.

    Raises:
        RegionError: no shipped table knows the code; the message suggests the
            nearest known codes.
    """
    key = _key(code)
    for stages in range(1, len(_STAGES) + 1):  # stop at the first table that knows it
        found = _catalogue(stages).aliases.get(key)
        if found is not None:
            return found
    raise _unknown_region(code)


def _region(code: str) -> _Region:
    code = canonical_region(code)  # reads the tables as far as the one that has it
    return _BUILT.regions[code]


def _provenance(region: _Region, value: _Value, *, fallback: str | None = None) -> Provenance:
    ds = DATASETS[region.dataset]
    dataset = ds.file + (f" ({value.note})" if value.note else "")
    return Provenance(
        source=ds.source,
        dataset=dataset,
        year=value.year,
        method=ds.method,
        basis=value.basis,
        licence=ds.licence,
        citation=ds.citation,
        region=region.code,
        fallback=fallback,
    )


def _pick_year(region: _Region, year: int | None) -> tuple[_Value, str | None]:
    if year is None:
        return region.newest(), None
    dated = [v for v in region.values if v.year is not None]
    if not dated:
        return region.newest(), f"{region.code} has no dated value; used the undated factor"
    exact = [v for v in dated if v.year == year]
    if exact:
        return exact[0], None
    earlier = [v for v in dated if v.year is not None and v.year < year]
    chosen = earlier[-1] if earlier else dated[0]
    return chosen, f"no {year} value for {region.code}; used {chosen.year}"


def annual_intensity(
    region: str, *, method: str = "average", year: int | None = None
) -> IntensityValue:
    """Annual intensity of a region from the shipped tables.

    Args:
        region: any accepted region code (see the module docstring).
        method: ``"average"`` or ``"marginal"`` (country operating margin).
        year: data year; ``None`` for the newest. A missing year falls back to
            the nearest earlier year (else the earliest), noted in the provenance.

    Returns:
        The intensity in gCO2e/kWh with its provenance.

    Raises:
        RegionError: unknown region (with suggestions).
        IntensityError: unknown method.
    """
    if method not in ("average", "marginal"):
        raise IntensityError(f"unknown intensity method {method!r}: use 'average' or 'marginal'")
    reg = _region(region)
    value, note = _pick_year(reg, year)
    if method == "average":
        return IntensityValue(value.g_per_kwh, _provenance(reg, value, fallback=note))
    return _marginal(reg, value, year)


def _marginal(reg: _Region, average: _Value, year: int | None) -> IntensityValue:
    cat = _catalogue()
    country = reg.country
    if country is None or country not in cat.marginal:
        why = (
            f"no marginal factor for {reg.code}"
            + (f" or its country {country}" if country else "")
            + f"; used the annual average ({reg.code}, {average.year or 'undated'})"
        )
        return IntensityValue(average.g_per_kwh, _provenance(reg, average, fallback=why))
    g, country_name = cat.marginal[country]
    notes = []
    if reg.code != country:
        notes.append(
            f"no marginal factor for {reg.code}; used the operating margin of "
            f"{country_name} ({country})"
        )
    if year is not None and year != 2021:
        notes.append(f"marginal factors exist for 2021 only; used 2021 for {year}")
    ds = DATASETS["ifi"]
    provenance = Provenance(
        source=ds.source,
        dataset=ds.file + " (operating margin)",
        year=2021,
        method="marginal",
        basis=ds.basis,
        licence=ds.licence,
        citation=ds.citation,
        region=country,
        fallback="; ".join(notes) or None,
    )
    return IntensityValue(g, provenance)


def interval_arrays(starts_s: np.ndarray, ends_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    starts = np.asarray(starts_s, dtype=np.float64)
    ends = np.asarray(ends_s, dtype=np.float64)
    if starts.shape != ends.shape:
        raise IntensityError(
            f"interval starts and ends differ in shape: {starts.shape} vs {ends.shape}"
        )
    return starts, ends


class AnnualIntensity:
    """Shipped annual tables as an :class:`IntensitySource` (time inside the year ignored).

    Args:
        method: ``"average"`` or ``"marginal"``.
        year: data year to use; ``None`` for the newest each table has.
    """

    name = "annual"

    def __init__(self, *, method: str = "average", year: int | None = None) -> None:
        if method not in ("average", "marginal"):
            raise IntensityError(
                f"unknown intensity method {method!r}: use 'average' or 'marginal'"
            )
        self.method = method
        self.year = year

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        """Annual intensity of ``region``; see :func:`annual_intensity`.

        Raises:
            RegionError: unknown region (with suggestions).
        """
        return annual_intensity(region, method=self.method, year=self.year)

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray) -> IntensityValues:
        """The annual intensity repeated for every interval.

        Raises:
            RegionError: unknown region (with suggestions).
            IntensityError: starts and ends differ in shape.
        """
        import numpy as np

        starts, _ = interval_arrays(starts_s, ends_s)
        value = annual_intensity(region, method=self.method, year=self.year)
        return IntensityValues(np.full(starts.shape, value.g_per_kwh), value.provenance)


def _region_infos() -> list[tuple[_Region, bool]]:
    """Every catalogued region with whether it has an hourly series (for location.py)."""
    hourly = set(BA_ZONES.values())
    return [(r, r.code in hourly) for r in _catalogue().regions.values()]


def _dataset_label(region: _Region) -> str:
    ds = DATASETS[region.dataset]
    return f"{ds.source} ({ds.licence.split(' (')[0]})"


def _region_names() -> Mapping[str, str]:
    return {code: r.name for code, r in _catalogue().regions.items()}
