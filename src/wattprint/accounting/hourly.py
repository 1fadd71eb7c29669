"""Hourly carbon intensity: the shipped hourly series and any series as a source.

The shipped series are whole UTC years of hourly average intensity per grid
region, each stored as a compact ``.npz`` table (one file per licence):

========  ==========  =========  ====================================================
region    years       basis      source
========  ==========  =========  ====================================================
8 US BAs  2022        lifecycle  EIA-930 via SustainDC (MIT)
DE        2025        lifecycle  SMARD.de, Bundesnetzagentur (CC BY 4.0); also direct
FR        2021-2022   lifecycle  RTE eCO2mix via dreamRs/uPlot-r (MIT); also direct
GB        2023        direct     NESO Carbon Intensity API (CC BY 4.0)
========  ==========  =========  ====================================================

The **basis** differs and matters: DE, FR and the US are production-based
(imports not counted) generation mixes times IPCC AR5 median factors, on a
*lifecycle* basis by default (DE and FR also ship the *direct* combustion
basis); GB is NESO's own national figure, *direct* CO2 only, with imports
and embedded generation -- a lifecycle figure for GB would be higher. A
comparison across regions states each basis and warns when they differ
(:func:`basis_note`); ``hourly_series("DE", basis="direct")`` gives the
like-for-like series to compare with GB. :func:`hourly_series` returns one
as an :class:`~wattprint.accounting.series.IntensitySeries` with its
provenance; :func:`hourly_catalogue` lists them for ``wattprint regions
--hourly``.
:class:`SeriesIntensity` turns any series (shipped, a user's CSV/Parquet
file, a live API's history) into an intensity source for accounting; outside
the series' span it can replay the same time of year ("typical year", see
:mod:`wattprint.accounting.replay`). :class:`HourlyIntensity` is the shipped
series by region, falling back to another source (the annual tables) for
regions without one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import numpy as np

from wattprint.accounting.intensity import (
    BA_ZONES,
    DATASETS,
    IntensitySource,
    canonical_region,
    interval_arrays,
    single_value,
)
from wattprint.accounting.replay import replay_intervals, series_year
from wattprint.accounting.series import (
    IntensitySeries,
    IntensityValue,
    IntensityValues,
    Provenance,
    make_series,
    series_intensity,
)
from wattprint.errors import IntensityError, RegionError

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _hourly_table() -> dict[str, IntensitySeries]:
    path = resources.files("wattprint") / "data" / "intensity" / "hourly_us_eia_2022.npz"
    with path.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        bas = [str(b) for b in npz["ba"]]
        zones = [str(z) for z in npz["zone"]]
        start_s = float(npz["start_s"])
        step_s = float(npz["step_s"])
        table = npz["g_per_kwh_x10"]
    ds = DATASETS["eia"]
    result: dict[str, IntensitySeries] = {}
    times = start_s + step_s * np.arange(table.shape[1])
    for i, (ba, zone) in enumerate(zip(bas, zones, strict=True)):
        raw = table[i].astype(np.float64)
        values = np.where(raw < 0, np.nan, raw / 10.0)
        provenance = Provenance(
            source=ds.source,
            dataset=f"{ds.file} ({ba}; missing and low-generation hours interpolated)",
            year=2022,
            method="average",
            basis=ds.basis,
            licence=ds.licence,
            citation=ds.citation,
            region=zone,
        )
        result[zone] = make_series(
            times, values, region=zone, method="average", provenance=provenance
        )
    return result


@dataclass(frozen=True)
class _HourlyDataset:
    """One shipped European hourly file and what to say about it."""

    region: str
    file: str
    source: str
    licence: str
    citation: str
    detail: str
    primary_basis: str


_EUROPE = (
    _HourlyDataset(
        region="DE",
        file="hourly_de_smard_2025.npz",
        source="Bundesnetzagentur | SMARD.de (realised generation by fuel), data changed "
        "by wattprint",
        licence="CC BY 4.0",
        citation="Bundesnetzagentur | SMARD.de, https://www.smard.de",
        detail="generation mix x IPCC AR5 medians, production-based (no imports); "
        "lignite understated by the one IPCC coal factor",
        primary_basis="lifecycle",
    ),
    _HourlyDataset(
        region="FR",
        file="hourly_fr_eco2mix_2021_2022.npz",
        source="RTE eCO2mix (ODRE open data) via dreamRs/uPlot-r, data modified by wattprint",
        licence="MIT (c) 2022 Victor Perrier; RTE data Licence Ouverte 2.0",
        citation="Source: RTE, eCO2mix (ODRE open data), https://opendata.reseaux-energies.fr",
        detail="generation mix x IPCC AR5 medians, production-based (no imports); half-hour "
        "snapshots at HH:00, not hourly means",
        primary_basis="lifecycle",
    ),
    _HourlyDataset(
        region="GB",
        file="hourly_gb_neso_2023.npz",
        source="NESO Carbon Intensity API (carbonintensity.org.uk), reformatted by wattprint",
        licence="CC BY 4.0",
        citation="Carbon intensity data: NESO Carbon Intensity API (carbonintensity.org.uk), "
        "CC BY 4.0",
        detail="NESO national actual, hourly mean of the half-hours; direct CO2 incl. imports "
        "and embedded generation",
        primary_basis="direct",
    ),
)


@functools.lru_cache(maxsize=1)
def _europe_table() -> dict[tuple[str, str, str], IntensitySeries]:
    """(region, basis, kind) -> series of the European files; kind is actual or forecast."""
    result: dict[tuple[str, str, str], IntensitySeries] = {}
    for ds in _EUROPE:
        path = resources.files("wattprint") / "data" / "intensity" / ds.file
        with path.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            zones = [str(z) for z in npz["zone"]]
            bases = [str(b) for b in npz["basis"]]
            kinds = [str(k) for k in npz["kind"]]
            start_s = float(npz["start_s"])
            step_s = float(npz["step_s"])
            table = npz["g_per_kwh_x10"]
        times = start_s + step_s * np.arange(table.shape[1])
        first = series_year_of(start_s)
        last = series_year_of(start_s + step_s * (table.shape[1] - 1))
        years = str(first) if first == last else f"{first}-{last}"
        for i, (zone, basis, kind) in enumerate(zip(zones, bases, kinds, strict=True)):
            raw = table[i].astype(np.float64)
            values = np.where(raw < 0, np.nan, raw / 10.0)
            what = "NESO forecast, hourly mean" if kind == "forecast" else ds.detail
            provenance = Provenance(
                source=ds.source,
                dataset=f"{ds.file} ({zone} {years}, {basis}; {what}; missing hours "
                "interpolated)",
                year=first if first == last else None,
                method="average",
                basis=basis,
                licence=ds.licence,
                citation=ds.citation,
                region=zone,
            )
            result[(zone, basis, kind)] = make_series(
                times, values, region=zone, method="average", provenance=provenance
            )
    return result


def series_year_of(t_s: float) -> int:
    """Calendar year (UTC) of an epoch time."""
    return int(np.datetime64(int(t_s), "s").astype("datetime64[Y]").astype(np.int64)) + 1970


@dataclass(frozen=True)
class HourlyInfo:
    """One shipped hourly series, as listed by ``wattprint regions --hourly``.

    Attributes:
        region: canonical region code (``"DE"``, ``"US-CAL-CISO"``).
        years: the UTC years covered (``"2021-2022"``).
        basis: the default basis (``"lifecycle"`` or ``"direct"``).
        bases: every basis shipped for the region.
        source: who publishes the numbers.
        licence: licence of the shipped file.
        hours: number of hourly steps.
        filled_gaps: hours filled by interpolation (default basis).
    """

    region: str
    years: str
    basis: str
    bases: tuple[str, ...]
    source: str
    licence: str
    hours: int
    filled_gaps: int


def _years_text(series: IntensitySeries) -> str:
    first = series_year_of(float(series.start_s[0]))
    last = series_year_of(float(series.start_s[-1]))
    return str(first) if first == last else f"{first}-{last}"


def hourly_catalogue() -> list[HourlyInfo]:
    """Every shipped hourly series with its years, basis and source, by region code."""
    infos: list[HourlyInfo] = []
    for zone, series in _hourly_table().items():
        p = series.provenance
        infos.append(HourlyInfo(zone, _years_text(series), p.basis, (p.basis,), p.source,
                                p.licence, len(series), p.filled_gaps))
    europe = _europe_table()
    for ds in _EUROPE:
        series = europe[(ds.region, ds.primary_basis, "actual")]
        infos.append(HourlyInfo(ds.region, _years_text(series), ds.primary_basis,
                                tuple(_bases_of(ds.region)), ds.source, ds.licence,
                                len(series), series.provenance.filled_gaps))
    return sorted(infos, key=lambda info: info.region)


def hourly_regions() -> list[str]:
    """Region codes that have a shipped hourly series (US zones, ``DE``, ``FR``, ``GB``).

    Each US zone also answers to its EIA balancing-authority code (``CISO`` for
    ``US-CAL-CISO``); the countries to any spelling :func:`canonical_region` knows
    (``DEU``, ``Germany``, ``UK``).
    """
    return sorted({*_hourly_table(), *(zone for zone, _, _ in _europe_table())})


def _zone_key(region: str) -> str:
    key = region.strip().upper()
    if key.startswith("EM:"):
        key = key[3:]
    return BA_ZONES.get(key, key)


def hourly_series(region: str, *, basis: str | None = None) -> IntensitySeries:
    """The shipped hourly average-intensity series of a region.

    US balancing authorities (2022): hourly EIA-930 generation by fuel times
    IPCC AR5 lifecycle factors (production-based: imports are not counted),
    hour-starting stamps (EIA labels hours by their end, so treat the
    boundary as +/- 1 h). DE (2025) and FR (2021-2022): generation by fuel
    times IPCC AR5 medians, production-based, lifecycle by default or
    ``basis="direct"``. GB (2023): NESO's national actual intensity, direct
    CO2 including imports, the mean of each hour's two half-hours. All UTC.
    Missing hours (and hours flagged as reporting gaps) are filled by linear
    interpolation and counted in ``provenance.filled_gaps``; the basis is
    ``provenance.basis``.

    Args:
        region: ``US-CAL-CISO``, ``US-TEX-ERCO``, ``US-MIDA-PJM``,
            ``US-MIDW-MISO``, ``US-NY-NYIS``, ``US-NW-BPAT``, ``US-SE-SOCO``,
            ``US-SW-AZPS`` or the bare EIA code (``CISO``, ``ERCO``, ``PJM``,
            ``MISO``, ``NYIS``, ``BPAT``, ``SOCO``, ``AZPS``); ``DE``, ``FR``,
            ``GB`` or another spelling of them (``DEU``, ``UK``); case-insensitive.
        basis: ``"lifecycle"`` or ``"direct"``; ``None`` for the region's default.

    Returns:
        The series, read-only and shared between calls.

    Raises:
        RegionError: the region is unknown or has no shipped hourly series,
            or not on the basis asked for.
    """
    table = _hourly_table()
    zone = _zone_key(region)
    if zone in table:
        series = table[zone]
    else:
        code = canonical_region(region)  # raises RegionError with suggestions if unknown
        europe = _europe_table()
        ds = next((d for d in _EUROPE if d.region == code), None)
        if ds is None:
            available = ", ".join(
                [*(f"{z} ({ba})" for ba, z in sorted(BA_ZONES.items())),
                 *(d.region for d in _EUROPE)]
            )
            raise RegionError(
                f"no shipped hourly series for {code}; hourly series exist for {available}. "
                "Use the annual value (AnnualIntensity) or load your own series with "
                "load_series()"
            )
        key = (code, basis or ds.primary_basis, "actual")
        if key not in europe:
            raise series_none(code, key[1], _bases_of(code))
        series = europe[key]
    if basis is not None and series.provenance.basis != basis:
        raise series_none(series.region, basis, _bases_of(series.region))
    return series


def _bases_of(region: str) -> list[str]:
    if region in _hourly_table():
        return [_hourly_table()[region].provenance.basis]
    return sorted({b for (z, b, k) in _europe_table() if z == region and k == "actual"})


def series_none(region: str, basis: str, bases: Iterable[str]) -> RegionError:
    """The error for a region whose shipped series is not on ``basis``."""
    return RegionError(
        f"the shipped hourly series for {region} is not on the {basis!r} basis; "
        f"it has {', '.join(bases)}"
    )


def neso_forecast_series() -> IntensitySeries:
    """NESO's own forecast for GB 2023 (hourly means of the half-hours), for evaluation."""
    return _europe_table()[("GB", "direct", "forecast")]


def basis_note(series: Iterable[IntensitySeries]) -> str | None:
    """A note when series of different bases meet in one comparison, else ``None``.

    Lifecycle figures include upstream emissions of fuels and plants; direct
    ones only combustion, so a lifecycle series looks dirtier than a direct
    one of the same grid.
    """
    by_basis: dict[str, list[str]] = {}
    for s in series:
        by_basis.setdefault(s.provenance.basis, []).append(s.region or "?")
    if len(by_basis) < 2:
        return None
    parts = "; ".join(f"{basis}: {', '.join(regions)}" for basis, regions in
                      sorted(by_basis.items()))
    return (
        f"the series compared are on different bases ({parts}); lifecycle figures include "
        "upstream emissions and read higher than direct ones of the same grid, so compare "
        "the regions' levels with care"
    )


class SeriesIntensity:
    """An :class:`IntensitySeries` as an :class:`IntensitySource`.

    Args:
        series: the series (e.g. from :func:`load_series` or :func:`hourly_series`).
        replay_year: if true, intervals outside the series are mapped to the
            same time of year (UTC) in the series' year -- a "typical year"
            approximation that keeps the daily and seasonal shape but not the
            weekday (:mod:`wattprint.accounting.replay`); the provenance's
            ``fallback`` says how many intervals were replayed. If false, such
            intervals are an error.
    """

    name = "series"

    def __init__(self, series: IntensitySeries, *, replay_year: bool = False) -> None:
        self.series = series
        self.method = series.method
        self.replay_year = replay_year

    def _check_region(self, region: str) -> None:
        mine = self.series.region
        if not mine or region.strip().casefold() == mine.casefold():
            return
        try:
            same = canonical_region(region) == canonical_region(mine)
        except RegionError:
            same = False
        if not same:
            raise IntensityError(
                f"this series is for region {mine!r}, not {region!r}; load a series for "
                f"{region!r} or account with region {mine!r}"
            )

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray) -> IntensityValues:
        """Time-weighted mean intensity of the series over each interval.

        Raises:
            IntensityError: the series is for another region, or intervals lie
                outside it (and ``replay_year`` is false).
        """
        self._check_region(region)
        starts, ends = interval_arrays(starts_s, ends_s)
        provenance = self.series.provenance
        if self.replay_year and starts.size:
            starts, ends, replayed = replay_intervals(self.series, starts, ends)
            if replayed:
                year = series_year(self.series)
                provenance = provenance.with_fallback(
                    f"{replayed} of {starts.size} intervals lie outside the series; mapped to "
                    f"the same time of year in {year} (typical-year replay)"
                )
        return IntensityValues(series_intensity(self.series, starts, ends), provenance)

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        """Time-weighted mean intensity of the series over one interval.

        Raises:
            IntensityError: as :meth:`intensities`.
        """
        return single_value(self.intensities(region, np.array([start_s]), np.array([end_s])))


class HourlyIntensity:
    """The shipped hourly series (:func:`hourly_series`) as an :class:`IntensitySource`.

    Args:
        replay_year: map intervals outside 2022 to the same time of year in
            2022 (default true; see :class:`SeriesIntensity`).
        fallback: source for regions without a shipped hourly series (e.g.
            ``AnnualIntensity()``); ``None`` makes them a :class:`RegionError`.
    """

    name = "hourly"
    method = "average"

    def __init__(
        self, *, replay_year: bool = True, fallback: IntensitySource | None = None
    ) -> None:
        self.replay_year = replay_year
        self.fallback = fallback

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray) -> IntensityValues:
        """Hourly-resolved intensities of each interval.

        Raises:
            RegionError: no hourly series for the region and no fallback.
            IntensityError: intervals outside 2022 with ``replay_year`` false.
        """
        try:
            series = hourly_series(region)
        except RegionError as exc:
            if self.fallback is None:
                raise
            values = self.fallback.intensities(region, starts_s, ends_s)
            reason = f"no hourly series for {region}; used the {self.fallback.name} source"
            logger.debug("%s (%s)", reason, exc)
            return IntensityValues(values.g_per_kwh, values.provenance.with_fallback(reason))
        source = SeriesIntensity(series, replay_year=self.replay_year)
        return source.intensities(series.region, starts_s, ends_s)

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        """Hourly-resolved intensity of one interval.

        Raises:
            RegionError: as :meth:`intensities`.
            IntensityError: as :meth:`intensities`.
        """
        return single_value(self.intensities(region, np.array([start_s]), np.array([end_s])))




def comparable_series(
    series: dict[str, IntensitySeries],
) -> tuple[dict[str, IntensitySeries], list[str]]:
    """Series of several regions put on one time span, with notes on what that took.

    The shipped series cover different years (US 2022, DE 2025, FR 2021-2022,
    GB 2023). To compare regions at the same times, each series not covering
    the first one's span is replayed onto it (typical-year replay: the same
    date and time of its own year, :func:`~wattprint.accounting.replay.typical_year_window`);
    a note says so, and another when the bases differ (:func:`basis_note`).

    Args:
        series: region -> series, the first one setting the span.

    Returns:
        ``(series, notes)``: the aligned series (unchanged ones are the same objects).
    """
    from wattprint.accounting.replay import typical_year_window

    notes: list[str] = []
    if not series:
        return series, notes
    first = next(iter(series.values()))
    start, end = float(first.start_s[0]), first.end_s
    aligned: dict[str, IntensitySeries] = {}
    for region, s in series.items():
        covers = float(s.start_s[0]) <= start and end <= s.end_s and s.step_s == first.step_s
        if covers or len(s) < 2:
            aligned[region] = s
            continue
        try:
            aligned[region] = typical_year_window(s, start, end)
        except IntensityError:
            aligned[region] = s  # the engine names the mismatch
            continue
        notes.append(
            f"{region}: its series ({_years_text(s)}) replayed onto "
            f"{_years_text(first)} (same date and time, UTC) to compare regions at the same "
            "times; weather and weekdays differ between years"
        )
    note = basis_note(series.values())
    if note:
        notes.append(note)
    return aligned, notes
