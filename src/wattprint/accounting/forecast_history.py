"""The history a forecast starts from: the shipped series, extended by the live values kept since.

The shipped hourly series are past years; a forecast for today bridges the
months between with the typical-year replay, which knows the season but not
this week's weather (:mod:`wattprint.accounting.forecast`). Every accounting
with a live API keeps the values it was given
(:mod:`wattprint.accounting.keeping`; kept series whose ``origin`` is
``{"kind": "live"}``). :func:`with_kept_live` puts those values after the
shipped series, so that a forecast's recent lags are real where they can be:

* only kept **live** values are used (never a kept plan, which may hold a
  forecast), of the same region, method and basis as the shipped series (a
  different basis is left out, and a note says so);
* each kept interval is spread over the hour steps it overlaps, time-weighted;
  an hour counts when at least half of it is covered;
* only hours after the shipped series' end are used ("newer");
* the hours between the shipped end and the newest live hour that no live
  value covers take the typical-year replay, as before; a note counts both.

:func:`forecast_history` is the same for ``plan`` and live pausing, with
what they tell the user: ``shipped 2025 + 312 kept live hours``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wattprint.accounting.kept import KeptSeries, list_kept
from wattprint.accounting.series import IntensitySeries
from wattprint.errors import IntensityError, RegionError

__all__ = ["ForecastHistory", "forecast_history", "live_hours", "with_kept_live"]


def _same_region(a: str, b: str) -> bool:
    from wattprint.accounting.intensity import canonical_region

    if a.strip().casefold() == b.strip().casefold():
        return True
    try:
        return canonical_region(a) == canonical_region(b)
    except RegionError:
        return False


def live_hours(kept: list[KeptSeries], start_s: float, step_s: float
               ) -> dict[int, float]:
    """Step index (on the grid ``start_s + k * step_s``) -> time-weighted mean of the kept values.

    Only steps at least half covered by the kept intervals are returned.
    """
    total: dict[int, float] = {}
    covered: dict[int, float] = {}
    for k in kept:
        for a, b, g in zip(k.start_s, k.end_s, k.g_per_kwh, strict=True):
            a, b, g = float(a), float(b), float(g)
            if not (b > a and math.isfinite(g)):
                continue
            first = math.floor((a - start_s) / step_s)
            last = math.ceil((b - start_s) / step_s)
            for i in range(first, last):
                lo = max(a, start_s + i * step_s)
                hi = min(b, start_s + (i + 1) * step_s)
                if hi > lo:
                    total[i] = total.get(i, 0.0) + g * (hi - lo)
                    covered[i] = covered.get(i, 0.0) + (hi - lo)
    return {i: total[i] / covered[i] for i in covered if covered[i] >= 0.5 * step_s}


@dataclass(frozen=True)
class ForecastHistory:
    """The history a forecast starts from, and how it was made.

    Attributes:
        series: the history (the shipped series, extended when live values were kept).
        shipped_year: calendar year (UTC) of the shipped series' first hour.
        live_hours: hours of kept live values put after the shipped series.
        live_values: whether kept live values were looked for at all
            (``False`` with ``--no-live-values``).
        notes: what the user should know (values left out, replayed hours).
    """

    series: IntensitySeries
    shipped_year: int
    live_hours: int
    live_values: bool
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """What the history is made of: ``"shipped 2025 + 312 kept live hours"``.

        ``"shipped 2025"`` when no live value was kept; ``"shipped 2025, kept
        live values not used"`` when they were not looked for.
        """
        text = f"shipped {self.shipped_year}"
        if self.live_hours:
            return f"{text} + {self.live_hours} kept live hours"
        return text if self.live_values else f"{text}, kept live values not used"


def forecast_history(shipped: IntensitySeries, home: Path | str | None
                     ) -> ForecastHistory:
    """The shipped series with the live values kept under ``home`` (none when ``home`` is ``None``).

    Raises:
        IntensityError: as :func:`with_kept_live`.
    """
    from wattprint.accounting.replay import series_year

    year = series_year(shipped)
    if home is None:
        return ForecastHistory(shipped, year, 0, False)
    history, notes, n = _extend(shipped, home)
    return ForecastHistory(history, year, n, True, tuple(notes))


def with_kept_live(shipped: IntensitySeries, home: Path | str
                   ) -> tuple[IntensitySeries, list[str]]:
    """The shipped series extended by the live values kept under ``home`` after its end.

    Args:
        shipped: the shipped hourly series of a region.
        home: the wattprint home holding the kept series.

    Returns:
        ``(history, notes)``: ``shipped`` itself and no notes when no newer
        live value of the same region, method and basis is kept.

    Raises:
        IntensityError: the replay cannot bridge the gap (a shipped series
            shorter than a year).
    """
    history, notes, _ = _extend(shipped, home)
    return history, notes


def _extend(shipped: IntensitySeries, home: Path | str
            ) -> tuple[IntensitySeries, list[str], int]:
    """:func:`with_kept_live`, and the number of kept live hours put after the shipped series."""
    mine: list[KeptSeries] = []
    other_basis: set[str] = set()
    for k in list_kept(home):
        if k.origin.get("kind") != "live" or k.method != shipped.method:
            continue
        if not _same_region(k.region, shipped.region):
            continue
        if k.provenance.basis != shipped.provenance.basis:
            other_basis.add(k.provenance.basis)
            continue
        mine.append(k)
    notes = []
    if other_basis:
        notes.append(
            f"live values kept for {shipped.region} on the {', '.join(sorted(other_basis))} "
            f"basis were left out: the shipped series is {shipped.provenance.basis}")
    t0, step = float(shipped.start_s[0]), shipped.step_s
    n = len(shipped)
    hours = {i: v for i, v in live_hours(mine, t0, step).items() if i >= n}
    if not hours:
        return shipped, notes, 0
    end = max(hours) + 1
    from wattprint.accounting.replay import series_year, typical_year_window

    try:
        bridge = np.array(typical_year_window(shipped, shipped.end_s, t0 + end * step)
                          .g_per_kwh[: end - n], dtype=np.float64)
    except IntensityError as exc:
        raise IntensityError(f"cannot put the kept live values after the shipped series: "
                             f"{exc}") from exc
    for i, v in hours.items():
        bridge[i - n] = v
    values = np.concatenate([np.asarray(shipped.g_per_kwh, dtype=np.float64), bridge])
    sources = sorted({str(k.origin.get("api") or k.provenance.source) for k in mine})
    last = t0 + end * step
    from wattprint.time import iso_utc

    note = (f"history extended by {len(hours)} hours of live values kept from "
            f"{', '.join(sources)} (to {str(iso_utc(last))[:16]}Z)")
    if end - n > len(hours):
        note += (f"; the other {end - n - len(hours)} hours after the shipped series take "
                 f"the same date and time (UTC) in {series_year(shipped)} (typical year)")
    notes.append(note)
    history = IntensitySeries.regular(t0, step, values, region=shipped.region,
                                      method=shipped.method,
                                      provenance=shipped.provenance.with_fallback(note))
    return history, notes, len(hours)
