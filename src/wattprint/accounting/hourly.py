"""Hourly carbon intensity: the shipped hourly series and any series as a source.

The shipped series are whole years of hourly average intensity per grid
region (EIA Form 930 for eight US balancing authorities, 2022), stored as a
compact ``.npz`` table; :func:`hourly_series` returns one as an
:class:`~wattprint.accounting.series.IntensitySeries` with its provenance.
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


def hourly_regions() -> list[str]:
    """Region codes (Electricity Maps keys) that have a shipped hourly series.

    Each also answers to its EIA balancing-authority code (``CISO`` for
    ``US-CAL-CISO``).
    """
    return sorted(_hourly_table())


def hourly_series(region: str) -> IntensitySeries:
    """The shipped hourly 2022 average-intensity series of a US balancing authority.

    Hourly EIA-930 generation by fuel times IPCC AR5 lifecycle factors
    (production-based: imports are not counted), UTC, hour-starting stamps
    (EIA labels hours by their end, so treat the boundary as +/- 1 h).
    Missing hours and hours flagged as reporting gaps are filled by linear
    interpolation and counted in ``provenance.filled_gaps``.

    Args:
        region: ``US-CAL-CISO``, ``US-TEX-ERCO``, ``US-MIDA-PJM``,
            ``US-MIDW-MISO``, ``US-NY-NYIS``, ``US-NW-BPAT``, ``US-SE-SOCO``,
            ``US-SW-AZPS`` or the bare EIA code (``CISO``, ``ERCO``, ``PJM``,
            ``MISO``, ``NYIS``, ``BPAT``, ``SOCO``, ``AZPS``); case-insensitive.

    Returns:
        The series (8,760 hourly steps of 2022), read-only and shared between calls.

    Raises:
        RegionError: the region is unknown or has no shipped hourly series.
    """
    table = _hourly_table()
    key = region.strip().upper()
    if key.startswith("EM:"):
        key = key[3:]
    zone = BA_ZONES.get(key, key)
    if zone in table:
        return table[zone]
    code = canonical_region(region)  # raises RegionError with suggestions if unknown
    available = ", ".join(f"{z} ({ba})" for ba, z in sorted(BA_ZONES.items()))
    raise RegionError(
        f"no shipped hourly series for {code}; hourly series exist for {available}. "
        "Use the annual value (AnnualIntensity) or load your own series with load_series()"
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


