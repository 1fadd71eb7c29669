"""Typical-year replay: one year of intensity data standing in for any other year.

The shipped hourly series cover one or two years (2021-2025). Accounting a run of 2025,
planning a job for tomorrow, or pausing a job now all need the intensity of
hours that series does not hold. *Typical-year replay* answers with the value
at the **same date and time (UTC) in the series' year**: 14:00 UTC on 3 May
2025 reads 14:00 UTC on 3 May 2022.

What it keeps and what it loses:

* kept: the daily shape (the solar dip at midday, the evening peak) and the
  seasonal one (more wind in winter, more cooling load in summer);
* lost: the weather of the actual day, the weekday (3 May 2022 was a
  Tuesday, 3 May 2025 a Saturday), and every change to the grid since the
  series' year. A replayed value is a typical value, never a forecast, and
  every result built on one says so in its provenance (``fallback``).

The calendar rule: a time keeps its offset from 1 January of its own year,
except that 29 February maps to 28 February of a year that has none, and
every day from 1 March on keeps its date across leap and common years (so
1 March 2024 reads 1 March 2022, one day further from New Year). A span
that crosses New Year wraps to the start of the series' year.

This module is the one place that does the mapping. Accounting uses it
through :class:`~wattprint.accounting.hourly.SeriesIntensity`
(``replay_year=True``) for stored intervals; the scheduler uses it for the
live pausing signal (:class:`wattprint.schedule.signals.SeriesSignal`) and
for plans (:func:`typical_year_window`).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from wattprint.accounting.series import IntensitySeries
from wattprint.errors import IntensityError

__all__ = [
    "replay_intervals",
    "replay_time_s",
    "replay_times_s",
    "same_time_in_year",
    "series_year",
    "typical_year_window",
]

_DAY_S = 86400.0
#: Seconds from 1 January to 29 February in a leap year (and to 1 March otherwise).
_FEB_29_S = 59 * _DAY_S


def _years(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar year (UTC) of each time, and the epoch seconds at its start."""
    years = np.floor(t).astype(np.int64).astype("datetime64[s]").astype("datetime64[Y]")
    start: np.ndarray = years.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    year: np.ndarray = years.astype(np.int64) + 1970
    return year, start


def _is_leap(year: np.ndarray) -> np.ndarray:
    leap: np.ndarray = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return leap


def same_time_in_year(t_s: np.ndarray, year: int) -> np.ndarray:
    """The same date and time (UTC) as each of ``t_s`` in another year.

    Args:
        t_s: UTC epoch seconds.
        year: the target year.

    Returns:
        UTC epoch seconds in ``year``, same shape (29 February becomes
        28 February when ``year`` is not a leap year).
    """
    t = np.asarray(t_s, dtype=np.float64)
    target = np.array([year], dtype=np.int64)
    target_start = datetime(year, 1, 1, tzinfo=timezone.utc).timestamp()
    own_year, own_start = _years(t)
    offset = t - own_start
    late = offset >= _FEB_29_S
    offset = offset - np.where(_is_leap(own_year) & ~_is_leap(target) & late, _DAY_S, 0.0)
    offset = offset + np.where(~_is_leap(own_year) & _is_leap(target) & late, _DAY_S, 0.0)
    mapped: np.ndarray = target_start + offset
    return mapped


def replay_time_s(t_s: float, year: int) -> float:
    """The same date and time (UTC) as ``t_s`` in ``year``; see :func:`same_time_in_year`."""
    return float(same_time_in_year(np.array([t_s]), year)[0])


def series_year(series: IntensitySeries) -> int:
    """The year a replay reads: the last calendar year (UTC) the series covers whole.

    A series of 2021-2022 replays 2022, its most recent year; a series
    that covers no whole year replays the year of its first step.
    """
    first = datetime.fromtimestamp(float(series.start_s[0]), timezone.utc).year
    last = datetime.fromtimestamp(series.end_s, timezone.utc).year
    for year in range(last, first - 1, -1):
        start = datetime(year, 1, 1, tzinfo=timezone.utc).timestamp()
        end = datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp()
        if float(series.start_s[0]) <= start and end <= series.end_s + 1e-6:
            return year
    return first


def replay_times_s(series: IntensitySeries, t_s: np.ndarray) -> np.ndarray:
    """Each time the series holds stays; every other one moves into the series' year.

    Args:
        series: the series replayed.
        t_s: UTC epoch seconds.

    Returns:
        The times to read the series at (a time may still fall outside a
        series that does not cover its whole year).
    """
    t = np.asarray(t_s, dtype=np.float64)
    inside = (t >= float(series.start_s[0])) & (t < series.end_s)
    times: np.ndarray = np.where(inside, t, same_time_in_year(t, series_year(series)))
    return times


def replay_intervals(
    series: IntensitySeries, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Move intervals outside the series to the same date and time in the series' year.

    An interval keeps its length; one that would run past the end of the
    series is moved back to end with it (and one before its start, forward).

    Args:
        series: the series replayed.
        starts: interval starts, UTC epoch seconds.
        ends: interval ends.

    Returns:
        ``(starts, ends, moved)``: the intervals to read, and how many moved.

    Raises:
        IntensityError: an interval outside the series is longer than the series.
    """
    t0 = float(series.start_s[0])
    outside = (starts < t0) | (ends > series.end_s)
    count = int(np.count_nonzero(outside))
    if not count:
        return starts, ends, 0
    duration = ends - starts
    if np.any(duration[outside] > series.end_s - t0):
        raise IntensityError(
            "an interval is longer than the whole series; split it or use an annual source"
        )
    mapped = np.maximum(same_time_in_year(starts, series_year(series)), t0)
    mapped -= np.maximum(mapped + duration - series.end_s, 0.0)
    new_starts = np.where(outside, mapped, starts)
    return new_starts, new_starts + duration, count


def _utc(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def typical_year_window(series: IntensitySeries, start_s: float, end_s: float) -> IntensitySeries:
    """A series over ``[start_s, end_s)`` made of the same times of year in ``series``.

    Each step of the window (on the series' grid, the first one holding
    ``start_s``) takes the value at the same date and time (UTC) in the
    series' year: the shipped 2022 series then stands in for a forecast of
    any year. A window across New Year wraps to the start of the series' year.

    Args:
        series: a series of one whole year (e.g. the shipped 2022 hourly data).
        start_s: start of the window, UTC epoch seconds.
        end_s: end of the window.

    Returns:
        The window, in real time, with the series' region and method; its
        provenance's ``fallback`` says it is a replay.

    Raises:
        IntensityError: a step of the window has no value in the series.
    """
    t0, step = float(series.start_s[0]), series.step_s
    first = t0 + math.floor((start_s - t0) / step) * step
    n = max(1, math.ceil((end_s - first) / step - 1e-9))
    slots = first + step * np.arange(n, dtype=np.float64)
    times = replay_times_s(series, slots)
    index = np.floor((times - t0) / step).astype(np.int64)
    outside = (times < t0) | (times >= series.end_s)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise IntensityError(
            f"the {series.region or 'intensity'} series covers {_utc(t0)} to "
            f"{_utc(series.end_s)}, not {_utc(float(slots[k]))}; give a series that covers "
            "the job's run (times are UTC)"
        )
    values = series.g_per_kwh[np.minimum(index, len(series) - 1)]
    if np.isnan(values).any():
        k = int(np.flatnonzero(np.isnan(values))[0])
        raise IntensityError(
            f"the {series.region or 'intensity'} series has no value for {_utc(float(slots[k]))}"
        )
    year = series_year(series)
    note = (
        f"typical-year replay: each slot takes the value at the same date and time (UTC) "
        f"in {year}"
    )
    return IntensitySeries.regular(
        first,
        step,
        values,
        region=series.region,
        method=series.method,
        provenance=series.provenance.with_fallback(note),
    )
