"""What-if analysis: what a job would have emitted at another time or in another place.

The carbon intensity of grid electricity changes hour by hour: solar pushes it
down at midday, wind at night, gas and coal plants set it in the evening peak.
A job with *slack* (a deadline later than its run time) can use that. Dodge et
al. (2022, "Measuring the Carbon Intensity of AI in Cloud Instances") compare
the strategies computed here; their finding, which the tests check on real
2022 US data, is that short jobs gain most from a flexible start and long jobs
from pause and resume.

The model
---------
Time is cut into the slots of an intensity series
(:class:`~wattprint.accounting.series.IntensitySeries`; build one from arrays
with ``IntensitySeries.regular``): ``ci[s]`` g/kWh in slot
``s``, each slot ``step_s`` (Δ) long. A job is a power profile ``p`` of ``D``
steps (mean watts in each step; a constant power is ``p = const``). Running
step ``j`` of the job in slot ``s`` emits ``p[j] × Δ × ci[s]`` (joules times
g/kWh, divided by 3.6e6 J/kWh). A *window* of ``W`` steps is the slack: a job
that could start in slot ``t`` must finish by slot ``t + D + W`` (exclusive).
For every start ``t`` whose whole window fits in the series
(``t + D + W <= N``) the engine computes:

``baseline``
    the job runs in slots ``t .. t+D-1``.
``flexible-start``
    the job runs contiguously, starting at the best slot of ``[t, t+W]``.
``pause-resume``
    the job may stop and go on, keeping the order of its steps, and must be
    done by ``t + D + W``: it runs in the ``D`` slots of ``[t, t+D+W)`` that
    minimise its emissions. Pauses are the gaps between the chosen slots
    (a late first slot is a delayed start, not a pause).
``threshold``
    the job runs while ``ci <= threshold`` and pauses otherwise, until the
    deadline forces it to run its remaining steps back to back so that it
    finishes exactly at ``t + D + W``.
``region``
    the same job, same start times, in another region's series.

The algorithms
--------------
All are exact and vectorised with numpy; ``tests/schedule/naive.py`` holds
plain-loop references that the tests compare against.

* Baseline: ``C[u] = Σ_j p[j]·ci[u+j]``, a correlation (``np.correlate``).
* Flexible start: ``min(C[t .. t+W])`` for every ``t``, a sliding-window
  minimum computed with the van Herk / Gil-Werman block method in O(N)
  (block prefix and suffix minima; minima are exact, no rounding).
* Pause and resume, constant power: the sum of the ``D`` smallest values of
  every window ``ci[t .. t+D+W)``, a sliding-window order statistic; each
  window is partitioned (``np.partition``, O(D+W)) in chunks of rows of a
  strided view. Ties are broken towards the earlier slot: the chosen set is
  the first ``D`` slots of the window sorted by (intensity, time).
* Pause and resume, power profile: the order-preserving optimal assignment
  of the ``D`` profile steps to increasing slots. Step ``j`` can only sit in
  slot ``t + j + k`` with offset ``k`` in ``[0, W]`` (``j`` steps before it,
  ``D-1-j`` after), so a dynamic programme over (step, offset) is exact::

      f[0][k] = p[0]·ci[t+k]
      f[j][k] = p[j]·ci[t+j+k] + min(f[j-1][0..k])

  O(D·(W+1)) per start, vectorised over all starts. Among equal-cost
  predecessors the earliest offset is kept (and the earliest final offset).
* Threshold: with slack ``W``, each dirty slot skipped uses one unit of
  slack, and after the ``W``-th dirty slot of the window the job runs to the
  deadline. So the job runs in the clean slots up to the ``W``-th dirty slot
  and in every slot after it; if the window has fewer than ``W`` dirty slots
  it runs in the first ``D`` clean ones. Slot indices come from cumulative
  counts and one gather, then ``Σ_j p[j]·ci[slot_j]``.

Summaries
---------
The reduction of a strategy at start ``t`` is ``1 − strategy[t] / baseline[t]``
(0.25 means 25 % less). Over all start times a row reports its mean, median
and 90th percentile (``numpy.percentile`` with linear interpolation between
order statistics, Hyndman and Fan's type 7: one start time in ten does better
than ``p90_reduction``), and the mean number of pauses.

Gaps: a start time whose window ``[t, t+D+W)`` holds a missing (NaN) value is
left out, as is one whose baseline emissions are not positive. The default
threshold is the 30th percentile of the region's values in the analysed
period (so the job aims at the cleanest 30 % of hours).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from wattprint.accounting.series import IntensitySeries
from wattprint.errors import ConfigError, IntensityDataError, RegionError
from wattprint.units import J_PER_KWH, S_PER_H

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STRATEGIES: tuple[str, ...] = ("flexible-start", "pause-resume", "threshold", "region")
"""The strategy names, exactly as they appear in result rows."""

DEFAULT_THRESHOLD_PERCENTILE = 30.0
"""Percentile of a region's intensities used as threshold when none is given."""

# Largest number of array elements one vectorised chunk may hold; keeps memory
# bounded (tens of MB) on long series and long windows.
_CHUNK_ELEMENTS = 2_000_000
# Relative tolerance when a duration or a window must be a whole number of steps.
_STEP_TOLERANCE = 1e-9


class WhatIfRow(TypedDict):
    """One summary row: a strategy in a region for one window and duration."""

    region: str
    strategy: str
    window_h: float
    duration_h: float
    mean_reduction: float
    median_reduction: float
    p90_reduction: float
    mean_pauses: float


@dataclass(frozen=True)
class WhatIfResult:
    """The result of :func:`whatif`.

    Attributes:
        rows: one summary row per (region, strategy, window); reductions are
            fractions of the baseline (0.25 = 25 % less).
        inputs: the job, windows, thresholds, baseline region, period and the
            number of start times behind each row.
        provenance: per region, the series' method and provenance.
    """

    rows: list[WhatIfRow]
    inputs: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict: ``{"rows": [...], "inputs": ..., "provenance": ...}``."""
        return {
            "rows": [dict(row) for row in self.rows],
            "inputs": _jsonable(self.inputs),
            "provenance": _jsonable(self.provenance),
        }


# --------------------------------------------------------------------------- inputs


def validate_series(
    series: IntensitySeries, name: str = "series"
) -> tuple[FloatArray, float, FloatArray]:
    """Check a series and return its slot starts, step and values as float64 arrays.

    Args:
        series: the series.
        name: how to call it in error messages (e.g. its region).

    Returns:
        ``(start_s, step_s, g_per_kwh)``; missing values stay NaN.

    Raises:
        IntensityDataError: the arrays differ in length, are empty, the step
            is not positive, the starts are not regular, or a value is
            infinite.
    """
    start_s = np.asarray(series.start_s, dtype=np.float64).ravel()
    values = np.asarray(series.g_per_kwh, dtype=np.float64).ravel()
    step_s = float(series.step_s)
    if not math.isfinite(step_s) or step_s <= 0:
        raise IntensityDataError(f"{name}: step_s is {step_s}; give a positive slot length")
    if start_s.size != values.size:
        raise IntensityDataError(
            f"{name}: {start_s.size} slot starts but {values.size} values; give one value per slot"
        )
    if values.size == 0:
        raise IntensityDataError(f"{name}: the series is empty; give at least one value")
    if not np.isfinite(start_s).all():
        raise IntensityDataError(f"{name}: a slot start is not a finite number")
    if start_s.size > 1:
        deviation = np.abs(np.diff(start_s) - step_s)
        bad = np.flatnonzero(deviation > 1e-6 * step_s)
        if bad.size:
            i = int(bad[0])
            raise IntensityDataError(
                f"{name}: slots {i} and {i + 1} start {start_s[i + 1] - start_s[i]} s apart, "
                f"not step_s={step_s}; resample the series to a regular step"
            )
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values))[0])
        raise IntensityDataError(f"{name}: value {i} is infinite; give finite values or NaN")
    return start_s, step_s, values


def _steps(value_s: float, step_s: float, what: str) -> int:
    """Whole number of steps in ``value_s``; raise when it is not one."""
    ratio = value_s / step_s
    n = round(ratio)
    if value_s < 0 or abs(ratio - n) > _STEP_TOLERANCE * max(1.0, ratio):
        raise ConfigError(
            f"{what} of {value_s} s is not a whole number of series steps ({step_s} s); "
            f"give a multiple of {step_s} s"
        )
    return int(n)


def profile_from_intervals(
    starts_s: npt.ArrayLike,
    ends_s: npt.ArrayLike,
    energy_j: npt.ArrayLike,
    step_s: float,
) -> FloatArray:
    """Resample measured energy intervals to mean watts per step.

    Each interval's energy is spread evenly over ``[start, end)``; intervals
    may overlap (several devices) and are summed. Steps start at the earliest
    interval start and are ``step_s`` long; the last step is whole, so a run
    that ends inside it has a lower mean power there (energy is conserved:
    ``sum(result) * step_s == sum(energy_j)``). A zero-length interval puts
    its energy in the step that holds it.

    Args:
        starts_s: interval starts, seconds (any common origin).
        ends_s: interval ends, seconds.
        energy_j: energy of each interval, joules.
        step_s: the step of the intensity series, seconds.

    Returns:
        Mean power in each step, watts.

    Raises:
        ConfigError: the arrays differ in length or are empty, a value is not
            finite, an energy is negative, an interval ends before it starts,
            or ``step_s`` is not positive.
    """
    s = np.asarray(starts_s, dtype=np.float64).ravel()
    e = np.asarray(ends_s, dtype=np.float64).ravel()
    energy = np.asarray(energy_j, dtype=np.float64).ravel()
    if not (math.isfinite(step_s) and step_s > 0):
        raise ConfigError(f"step_s is {step_s}; give a positive step in seconds")
    if not (s.size == e.size == energy.size):
        raise ConfigError(
            f"profile intervals: {s.size} starts, {e.size} ends, {energy.size} energies; "
            "give one of each per interval"
        )
    if s.size == 0:
        raise ConfigError("profile intervals: none given; give at least one interval")
    if not (np.isfinite(s).all() and np.isfinite(e).all() and np.isfinite(energy).all()):
        raise ConfigError("profile intervals: a start, end or energy is not a finite number")
    if (energy < 0).any():
        raise ConfigError("profile intervals: an energy is negative; energies are joules >= 0")
    if (e < s).any():
        i = int(np.flatnonzero(e < s)[0])
        raise ConfigError(f"profile intervals: interval {i} ends before it starts")
    origin = float(s.min())
    s = s - origin
    e = e - origin
    span_s = float(e.max())
    n_steps = max(1, math.ceil(span_s / step_s - _STEP_TOLERANCE))
    edges = step_s * np.arange(n_steps + 1, dtype=np.float64)

    step_energy = np.zeros(n_steps, dtype=np.float64)
    spread = e > s
    if spread.any():
        # Energy delivered by time x: sum_i rate_i * (ramp(x - s_i) - ramp(x - e_i)),
        # ramp(y) = max(y, 0). Sorted breakpoints and cumulative sums evaluate it
        # at every edge in O((M + K) log M).
        rate = energy[spread] / (e[spread] - s[spread])
        points = np.concatenate([s[spread], e[spread]])
        weights = np.concatenate([rate, -rate])
        order = np.argsort(points, kind="stable")
        points = points[order]
        weights = weights[order]
        cum_w = np.concatenate([[0.0], np.cumsum(weights)])
        cum_wb = np.concatenate([[0.0], np.cumsum(weights * points)])
        k = np.searchsorted(points, edges, side="right")
        delivered = edges * cum_w[k] - cum_wb[k]
        delivered[-1] = float(energy[spread].sum())  # all of it by the last edge
        step_energy += np.diff(delivered)
    point = ~spread
    if point.any():
        idx = np.minimum((s[point] // step_s).astype(np.int64), n_steps - 1)
        np.add.at(step_energy, idx, energy[point])
    return np.asarray(step_energy / step_s, dtype=np.float64)


def job_profile_w(
    step_s: float,
    *,
    duration_s: float | None = None,
    power_w: float | None = None,
    profile_w: npt.ArrayLike | None = None,
    profile_step_s: float | None = None,
) -> FloatArray:
    """The job as mean watts per series step.

    A constant power over a duration that is not a whole number of steps
    gets a last step at the fraction of the power it fills (its energy is
    kept). A profile at another step is resampled with
    :func:`profile_from_intervals`.

    Args:
        step_s: the series step, seconds.
        duration_s: run time of a constant-power job, seconds.
        power_w: its power in watts; ``None`` means 1 W (reductions do not
            depend on a constant power).
        profile_w: mean watts per profile step, instead of duration and power.
        profile_step_s: the profile's step, seconds (default: ``step_s``).

    Returns:
        Mean watts in each of the job's steps.

    Raises:
        ConfigError: neither a duration nor a profile, both a profile and a
            power, a non-positive duration, a negative or empty profile, or
            a profile with no energy.
    """
    if profile_w is not None:
        if power_w is not None:
            raise ConfigError("give either power_w or profile_w, not both")
        prof = np.asarray(profile_w, dtype=np.float64).ravel()
        if prof.size == 0 or not np.isfinite(prof).all() or (prof < 0).any():
            raise ConfigError("profile_w must be a non-empty array of finite watts >= 0")
        pstep = step_s if profile_step_s is None else float(profile_step_s)
        if duration_s is not None and abs(duration_s - prof.size * pstep) > pstep * (
            1 + _STEP_TOLERANCE
        ):
            raise ConfigError(
                f"duration_s={duration_s} does not match the profile's "
                f"{prof.size} x {pstep} s; leave duration_s out or make them agree"
            )
        if abs(pstep - step_s) <= _STEP_TOLERANCE * step_s:
            out = prof.copy()
        else:
            starts = pstep * np.arange(prof.size, dtype=np.float64)
            out = profile_from_intervals(starts, starts + pstep, prof * pstep, step_s)
    else:
        if duration_s is None:
            raise ConfigError("give duration_s (with power_w) or profile_w to describe the job")
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ConfigError(f"duration_s is {duration_s}; give a positive run time in seconds")
        watts = 1.0 if power_w is None else float(power_w)
        if not (math.isfinite(watts) and watts > 0):
            raise ConfigError(f"power_w is {power_w}; give a positive power in watts")
        ratio = duration_s / step_s
        n = round(ratio)
        if abs(ratio - n) <= _STEP_TOLERANCE * max(1.0, ratio) and n >= 1:
            out = np.full(n, watts, dtype=np.float64)
        else:
            n = math.ceil(ratio)
            out = np.full(n, watts, dtype=np.float64)
            out[-1] = watts * (ratio - (n - 1))
    if float(out.sum()) <= 0:
        raise ConfigError("the job's profile has no energy; give a positive power")
    return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------- engine


def _engine_inputs(
    ci_g_per_kwh: npt.ArrayLike, profile_w: npt.ArrayLike, window_steps: int
) -> tuple[FloatArray, FloatArray, int, int]:
    """Validate engine inputs; return (ci, p, W, number of start times)."""
    ci = np.ascontiguousarray(ci_g_per_kwh, dtype=np.float64).ravel()
    p = np.ascontiguousarray(profile_w, dtype=np.float64).ravel()
    if not np.isfinite(ci).all():
        raise IntensityDataError(
            "the intensity array has NaN or infinite values; fill or drop the gaps "
            "(whatif() leaves out the start times they touch)"
        )
    if p.size == 0 or not np.isfinite(p).all():
        raise ConfigError("profile_w must be a non-empty array of finite watts")
    w = int(window_steps)
    if w < 0:
        raise ConfigError(f"window_steps is {window_steps}; give a whole number >= 0")
    n_starts = ci.size - p.size - w + 1
    if n_starts < 1:
        raise IntensityDataError(
            f"the series has {ci.size} slots but the job ({p.size} steps) and its window "
            f"({w} steps) need {p.size + w}; give a longer series or a shorter window"
        )
    return ci, p, w, n_starts


def _g_per_w_slot(step_s: float) -> float:
    """Grams per (watt × g/kWh) for one slot: Δ / 3.6e6 J/kWh."""
    if not (math.isfinite(step_s) and step_s > 0):
        raise ConfigError(f"step_s is {step_s}; give a positive step in seconds")
    return step_s / J_PER_KWH


def _is_constant(p: FloatArray) -> bool:
    return bool((p == p[0]).all())


def _chunks(n: int, per_row: int) -> Iterator[tuple[int, int]]:
    rows = max(1, _CHUNK_ELEMENTS // max(1, per_row))
    for a in range(0, n, rows):
        yield a, min(n, a + rows)


def _correlate(ci: FloatArray, p: FloatArray, n_out: int) -> FloatArray:
    """``out[u] = Σ_j p[j]·ci[u+j]`` for ``u < n_out``."""
    return np.asarray(np.correlate(ci[: n_out + p.size - 1], p, mode="valid"), dtype=np.float64)


def _sliding_min(x: FloatArray, k: int) -> FloatArray:
    """``out[i] = min(x[i:i+k])``, van Herk / Gil-Werman, O(len(x))."""
    if k == 1:
        return np.array(x, dtype=np.float64)
    n = x.size
    n_blocks = -(-n // k)
    padded = np.full(n_blocks * k, np.inf)
    padded[:n] = x
    blocks = padded.reshape(n_blocks, k)
    prefix = np.minimum.accumulate(blocks, axis=1).ravel()
    suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    m = n - k + 1
    return np.minimum(suffix[:m], prefix[k - 1 : k - 1 + m])


def baseline_co2e_g(
    ci_g_per_kwh: npt.ArrayLike, profile_w: npt.ArrayLike, step_s: float, window_steps: int = 0
) -> FloatArray:
    """Emissions of the job run at once, for every start time.

    Args:
        ci_g_per_kwh: intensity per slot, gCO2e/kWh (finite).
        profile_w: the job's mean watts per step.
        step_s: slot length, seconds.
        window_steps: slack in steps; only sets how many start times there
            are (``N − D − W + 1``), so that all strategies line up.

    Returns:
        gCO2e for each start time.

    Raises:
        IntensityDataError: a value is not finite, or the series is too short.
        ConfigError: an invalid profile, window or step.
    """
    ci, p, _, n_starts = _engine_inputs(ci_g_per_kwh, profile_w, window_steps)
    return _correlate(ci, p, n_starts) * _g_per_w_slot(step_s)


def flexible_start_co2e_g(
    ci_g_per_kwh: npt.ArrayLike, profile_w: npt.ArrayLike, step_s: float, window_steps: int
) -> FloatArray:
    """Emissions with the best contiguous start in ``[t, t + W]``, for every start ``t``.

    Args:
        ci_g_per_kwh: intensity per slot, gCO2e/kWh (finite).
        profile_w: the job's mean watts per step.
        step_s: slot length, seconds.
        window_steps: the slack ``W`` in steps.

    Returns:
        gCO2e for each start time.

    Raises:
        IntensityDataError: a value is not finite, or the series is too short.
        ConfigError: an invalid profile, window or step.
    """
    ci, p, w, n_starts = _engine_inputs(ci_g_per_kwh, profile_w, window_steps)
    sums = _correlate(ci, p, n_starts + w)
    return _sliding_min(sums, w + 1) * _g_per_w_slot(step_s)


def _sum_smallest(ci: FloatArray, d: int, w: int, n_starts: int) -> tuple[FloatArray, IntArray]:
    """Sum of the ``d`` smallest values of each window of ``d + w`` and the pauses."""
    length = d + w
    windows = sliding_window_view(ci[: n_starts + length - 1], length)
    sums = np.empty(n_starts, dtype=np.float64)
    pauses = np.empty(n_starts, dtype=np.int64)
    for a, b in _chunks(n_starts, length):
        win = windows[a:b]
        kth = np.partition(win, d - 1, axis=1)[:, d - 1 : d]
        less = win < kth
        equal = win == kth
        need = d - less.sum(axis=1, keepdims=True)
        # ties at the d-th value: keep the earliest slots
        chosen = less | (equal & (np.cumsum(equal, axis=1) <= need))
        sums[a:b] = np.where(chosen, win, 0.0).sum(axis=1)
        runs = chosen[:, 0].astype(np.int64) + (chosen[:, 1:] & ~chosen[:, :-1]).sum(axis=1)
        pauses[a:b] = runs - 1
    return sums, pauses


def _ordered_assignment(
    ci: FloatArray, p: FloatArray, w: int, n_starts: int
) -> tuple[FloatArray, IntArray]:
    """Order-preserving optimal assignment of a profile to slots, for every start.

    Arrays are offset-major, ``(W + 1, starts)``, so that the prefix minima over
    offsets run over contiguous rows; the choices are kept and walked back to
    count pauses.
    """
    d = p.size
    offsets = np.arange(w + 1, dtype=np.int32)[:, None]
    cost = np.empty(n_starts, dtype=np.float64)
    pauses = np.empty(n_starts, dtype=np.int64)
    for a, b in _chunks(n_starts, (w + 1) * d):
        rows = b - a
        cols = np.arange(rows)
        # f[k, t]: best cost of steps 0..j with step j in slot t + j + k
        f = p[0] * sliding_window_view(ci[a : b + w], rows, axis=0)
        back = np.empty((d, w + 1, rows), dtype=np.int32)
        improves = np.empty((w + 1, rows), dtype=bool)
        for j in range(1, d):
            best = np.minimum.accumulate(f, axis=0)
            improves[0] = True
            np.less(f[1:], best[:-1], out=improves[1:])
            # earliest offset holding the running minimum: the predecessor of step j
            np.maximum.accumulate(improves * offsets, axis=0, out=back[j])
            f = p[j] * sliding_window_view(ci[a + j : b + j + w], rows, axis=0) + best
        k = np.argmin(f, axis=0)
        cost[a:b] = f[k, cols]
        n_pauses = np.zeros(rows, dtype=np.int64)
        for j in range(d - 1, 0, -1):
            previous = back[j, k, cols]
            n_pauses += previous != k
            k = previous
        pauses[a:b] = n_pauses
    return cost, pauses


def pause_resume_co2e_g(
    ci_g_per_kwh: npt.ArrayLike, profile_w: npt.ArrayLike, step_s: float, window_steps: int
) -> tuple[FloatArray, IntArray]:
    """Emissions and pauses of the best order-keeping split of the job, for every start.

    With a constant power this is the sum of the ``D`` smallest intensities
    of ``[t, t+D+W)``; with a profile, an exact dynamic programme (see the
    module docstring).

    Args:
        ci_g_per_kwh: intensity per slot, gCO2e/kWh (finite).
        profile_w: the job's mean watts per step.
        step_s: slot length, seconds.
        window_steps: the slack ``W`` in steps.

    Returns:
        ``(gCO2e, pauses)`` for each start time.

    Raises:
        IntensityDataError: a value is not finite, or the series is too short.
        ConfigError: an invalid profile, window or step.
    """
    ci, p, w, n_starts = _engine_inputs(ci_g_per_kwh, profile_w, window_steps)
    factor = _g_per_w_slot(step_s)
    if w == 0:
        return _correlate(ci, p, n_starts) * factor, np.zeros(n_starts, dtype=np.int64)
    if _is_constant(p):
        sums, pauses = _sum_smallest(ci, p.size, w, n_starts)
        return sums * (p[0] * factor), pauses
    cost, pauses = _ordered_assignment(ci, p, w, n_starts)
    return cost * factor, pauses


def pause_resume_slots(
    ci_g_per_kwh: npt.ArrayLike, profile_w: npt.ArrayLike, window_steps: int
) -> IntArray:
    """The slots the pause-and-resume strategy picks for one start (slot 0).

    Args:
        ci_g_per_kwh: intensity of the slots from the start to the deadline
            (at least ``D + W`` values, finite).
        profile_w: the job's mean watts per step.
        window_steps: the slack ``W`` in steps.

    Returns:
        The ``D`` slot indices, increasing; step ``j`` runs in slot ``[j]``.
        Ties are broken as in :func:`pause_resume_co2e_g`.

    Raises:
        IntensityDataError: a value is not finite, or too few slots.
        ConfigError: an invalid profile or window.
    """
    ci, p, w, _ = _engine_inputs(ci_g_per_kwh, profile_w, window_steps)
    d = p.size
    if w == 0:
        return np.arange(d, dtype=np.int64)
    if _is_constant(p):
        order = np.argsort(ci[: d + w], kind="stable")[:d]
        return np.sort(order).astype(np.int64)
    offsets = np.arange(w + 1)
    f = p[0] * ci[: w + 1]
    back = np.zeros((d, w + 1), dtype=np.int64)
    for j in range(1, d):
        best = np.minimum.accumulate(f)
        improves = np.empty(f.shape, dtype=bool)
        improves[0] = True
        np.less(f[1:], best[:-1], out=improves[1:])
        back[j] = np.maximum.accumulate(np.where(improves, offsets, 0))
        f = p[j] * ci[j : j + w + 1] + best
    k = int(np.argmin(f))
    ks = np.empty(d, dtype=np.int64)
    for j in range(d - 1, -1, -1):
        ks[j] = k
        k = int(back[j, k])
    return np.arange(d, dtype=np.int64) + ks


def threshold_co2e_g(
    ci_g_per_kwh: npt.ArrayLike,
    profile_w: npt.ArrayLike,
    step_s: float,
    window_steps: int,
    threshold_g_per_kwh: float,
) -> tuple[FloatArray, IntArray]:
    """Emissions and pauses when the job runs only while ``ci <= threshold``.

    The job pauses in slots above the threshold until its slack is spent;
    then it runs its remaining steps back to back and ends exactly at the
    deadline ``t + D + W``.

    Args:
        ci_g_per_kwh: intensity per slot, gCO2e/kWh (finite).
        profile_w: the job's mean watts per step.
        step_s: slot length, seconds.
        window_steps: the slack ``W`` in steps.
        threshold_g_per_kwh: run while the intensity is at or below this.

    Returns:
        ``(gCO2e, pauses)`` for each start time.

    Raises:
        IntensityDataError: a value is not finite, or the series is too short.
        ConfigError: an invalid profile, window, step or threshold.
    """
    ci, p, w, n_starts = _engine_inputs(ci_g_per_kwh, profile_w, window_steps)
    if math.isnan(threshold_g_per_kwh):
        raise ConfigError("threshold_g_per_kwh is NaN; give a number of gCO2e/kWh")
    factor = _g_per_w_slot(step_s)
    d = p.size
    if w == 0:
        return _correlate(ci, p, n_starts) * factor, np.zeros(n_starts, dtype=np.int64)
    n = n_starts + d + w - 1
    clean = ci[:n] <= threshold_g_per_kwh
    cum_clean = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(clean, out=cum_clean[1:])
    cum_dirty = np.arange(n + 1, dtype=np.int64) - cum_clean
    clean_idx = np.append(np.flatnonzero(clean), 0)  # sentinel: never selected
    dirty_idx = np.append(np.flatnonzero(~clean), 0)
    steps = np.arange(d, dtype=np.int64)
    cost = np.empty(n_starts, dtype=np.float64)
    pauses = np.empty(n_starts, dtype=np.int64)
    for a, b in _chunks(n_starts, d * 3):
        t = np.arange(a, b, dtype=np.int64)
        n_dirty = cum_dirty[t + d + w] - cum_dirty[t]
        forced = n_dirty >= w
        # the w-th dirty slot at or after t: after it the deadline forces the run
        kth_dirty = dirty_idx[np.minimum(cum_dirty[t] + w - 1, dirty_idx.size - 1)]
        n_clean_first = np.where(forced, kth_dirty - t + 1 - w, d)
        clean_slot = clean_idx[np.minimum(cum_clean[t][:, None] + steps, clean_idx.size - 1)]
        slots = np.where(steps < n_clean_first[:, None], clean_slot, t[:, None] + w + steps)
        cost[a:b] = ci[slots] @ p
        pauses[a:b] = (np.diff(slots, axis=1) != 1).sum(axis=1)
    return cost * factor, pauses


# --------------------------------------------------------------------------- public API


def _jsonable(value: Any) -> Any:
    """Turn dataclasses, mappings, arrays and numpy scalars into JSON-able values."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def series_provenance(series: IntensitySeries) -> dict[str, Any]:
    """What a series says about itself: region, method and provenance, JSON-able.

    Args:
        series: the series.

    Returns:
        ``{"region": ..., "method": ..., "provenance": ...}`` (``None`` where absent).
    """
    return {
        "region": _jsonable(getattr(series, "region", None)),
        "method": _jsonable(getattr(series, "method", None)),
        "provenance": _jsonable(getattr(series, "provenance", None)),
    }


def _nan_free_starts(nan: npt.NDArray[np.bool_], span: int, n_starts: int) -> npt.NDArray[np.bool_]:
    """True for starts t whose slots [t, t + span) hold no NaN."""
    cum = np.zeros(nan.size + 1, dtype=np.int64)
    np.cumsum(nan, out=cum[1:])
    t = np.arange(n_starts)
    return np.asarray(cum[t + span] - cum[t] == 0)


def _row(
    region: str,
    strategy: str,
    window_s: float,
    duration_s: float,
    reduction: FloatArray,
    pauses: npt.NDArray[Any],
) -> WhatIfRow:
    return WhatIfRow(
        region=region,
        strategy=strategy,
        window_h=window_s / S_PER_H,
        duration_h=duration_s / S_PER_H,
        mean_reduction=float(np.mean(reduction)),
        median_reduction=float(np.median(reduction)),
        p90_reduction=float(np.percentile(reduction, 90)),
        mean_pauses=float(np.mean(pauses)),
    )


def _too_few_starts(region: str, duration_s: float, window_s: float) -> IntensityDataError:
    return IntensityDataError(
        f"{region}: no start time has a gap-free {duration_s / S_PER_H:g} h job plus "
        f"{window_s / S_PER_H:g} h window; give a longer series, a shorter window, or fill "
        "the gaps"
    )


def whatif(
    series: Mapping[str, IntensitySeries] | IntensitySeries,
    *,
    duration_s: float | None = None,
    power_w: float | None = None,
    profile_w: npt.ArrayLike | None = None,
    profile_step_s: float | None = None,
    windows_s: Sequence[float],
    strategies: Sequence[str] = STRATEGIES,
    threshold_g_per_kwh: float | None = None,
    baseline_region: str | None = None,
    period: tuple[float, float] | None = None,
) -> WhatIfResult:
    """Compare a job's emissions under scheduling strategies, over every start time.

    For each region and window, the time-shifting strategies (flexible start,
    pause and resume, threshold) are compared with running the job at once in
    that region. The ``region`` strategy compares running the job in each
    other region with running it in the baseline region at the same times;
    its rows have ``window_h`` 0. See the module docstring for the model.

    Args:
        series: one series, or a mapping of region name to series.
        duration_s: run time of a constant-power job, seconds.
        power_w: its power, watts (reductions do not depend on it).
        profile_w: a measured profile in mean watts per step, instead of
            ``duration_s`` and ``power_w`` (see :func:`profile_from_intervals`).
        profile_step_s: the profile's step (default: the series step).
        windows_s: slack windows to try, seconds; each a whole number of
            series steps.
        strategies: any of ``STRATEGIES``.
        threshold_g_per_kwh: threshold for the ``threshold`` strategy; default
            the 30th percentile of each region's values in the period.
        baseline_region: the region that ``region`` rows compare against
            (default: the first one given).
        period: ``(start_s, end_s)``, UTC epoch seconds: only slots inside
            ``[start_s, end_s)`` are used.

    Returns:
        The summary rows, inputs and provenance.

    Raises:
        ConfigError: an unknown strategy, a bad job description, a window that
            is not a whole number of steps, or an empty period.
        RegionError: ``baseline_region`` is not among the series.
        IntensityDataError: a malformed series, one too short for the job and
            a window, or series that cannot be aligned for ``region``.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ConfigError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    if not windows_s and any(s != "region" for s in strategies):
        raise ConfigError("windows_s is empty; give at least one window in seconds, e.g. 6 h")
    if isinstance(series, Mapping):
        named: dict[str, IntensitySeries] = dict(series)
    else:
        named = {str(getattr(series, "region", "") or "series"): series}
    if not named:
        raise ConfigError("no series given; give one series or a mapping of region to series")
    regions = list(named)
    base_region = regions[0] if baseline_region is None else baseline_region
    if base_region not in named:
        close = difflib.get_close_matches(base_region, regions, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RegionError(
            f"baseline region {base_region!r} is not among the series given "
            f"({', '.join(regions)}){hint}"
        )
    if period is not None and not period[0] < period[1]:
        raise ConfigError(f"period {period} is empty; give (start_s, end_s) with start < end")

    arrays: dict[str, tuple[FloatArray, float, FloatArray]] = {}
    for region, s in named.items():
        start_s, step_s, values = validate_series(s, region)
        if period is not None:
            keep = (start_s >= period[0]) & (start_s + step_s <= period[1])
            start_s, values = start_s[keep], values[keep]
            if start_s.size == 0:
                raise IntensityDataError(
                    f"{region}: no slot lies inside the period {period}; choose a period "
                    "the series covers"
                )
        arrays[region] = (start_s, step_s, values)

    rows: list[WhatIfRow] = []
    thresholds: dict[str, float] = {}
    start_counts: dict[str, dict[str, int]] = {}
    shift = [s for s in strategies if s != "region"]
    first_step = arrays[regions[0]][1]
    job = job_profile_w(
        first_step,
        duration_s=duration_s,
        power_w=power_w,
        profile_w=profile_w,
        profile_step_s=profile_step_s,
    )
    job_duration_s = (
        float(duration_s)
        if duration_s is not None
        else np.asarray(profile_w).size * (profile_step_s or first_step)
    )

    for region in regions if shift else []:
        start_s, step_s, values = arrays[region]
        p = job
        if step_s != first_step:
            p = job_profile_w(
                step_s,
                duration_s=duration_s,
                power_w=power_w,
                profile_w=profile_w,
                profile_step_s=profile_step_s,
            )
        nan = np.isnan(values)
        ci = np.where(nan, 0.0, values)
        if threshold_g_per_kwh is None:
            if nan.all():
                raise _too_few_starts(region, job_duration_s, 0.0)
            thr = float(np.percentile(values[~nan], DEFAULT_THRESHOLD_PERCENTILE))
        else:
            thr = float(threshold_g_per_kwh)
        if "threshold" in shift:
            thresholds[region] = thr
        start_counts[region] = {}
        for window_s in windows_s:
            w = _steps(float(window_s), step_s, "window")
            d = p.size
            n_starts = ci.size - d - w + 1
            if n_starts < 1:
                raise _too_few_starts(region, job_duration_s, float(window_s))
            base = baseline_co2e_g(ci, p, step_s, w)
            ok = _nan_free_starts(nan, d + w, n_starts) & (base > 0)
            if not ok.any():
                raise _too_few_starts(region, job_duration_s, float(window_s))
            start_counts[region][f"{float(window_s) / S_PER_H:g}"] = int(ok.sum())
            base_ok = base[ok]
            for strategy in shift:
                if strategy == "flexible-start":
                    emitted = flexible_start_co2e_g(ci, p, step_s, w)
                    n_pauses: npt.NDArray[Any] = np.zeros(n_starts, dtype=np.int64)
                elif strategy == "pause-resume":
                    emitted, n_pauses = pause_resume_co2e_g(ci, p, step_s, w)
                else:
                    emitted, n_pauses = threshold_co2e_g(ci, p, step_s, w, thr)
                reduction = 1.0 - emitted[ok] / base_ok
                rows.append(
                    _row(region, strategy, float(window_s), job_duration_s, reduction, n_pauses[ok])
                )

    notes: list[str] = []
    if "region" in strategies:
        if len(regions) < 2:
            notes.append("region: only one series given, nothing to compare")
            logger.info("what-if: 'region' needs two or more series; skipped")
        else:
            rows.extend(_region_rows(arrays, base_region, job, first_step, job_duration_s))

    inputs: dict[str, Any] = {
        "duration_s": job_duration_s,
        "power_w": power_w,
        "profile_steps": int(job.size) if profile_w is not None else None,
        "energy_kwh": float(job.sum()) * first_step / J_PER_KWH,
        "windows_s": [float(x) for x in windows_s],
        "strategies": list(strategies),
        "threshold_g_per_kwh": thresholds,
        "threshold_rule": (
            "given"
            if threshold_g_per_kwh is not None
            else f"percentile {DEFAULT_THRESHOLD_PERCENTILE:g} of each region's values"
        ),
        "baseline_region": base_region,
        "period": list(period) if period is not None else None,
        "p90_definition": "90th percentile, linear interpolation (numpy default, type 7)",
        "start_times": start_counts,
        "notes": notes,
    }
    provenance = {region: series_provenance(s) for region, s in named.items()}
    return WhatIfResult(rows=rows, inputs=inputs, provenance=provenance)


def _region_rows(
    arrays: Mapping[str, tuple[FloatArray, float, FloatArray]],
    base_region: str,
    job: FloatArray,
    step_s: float,
    duration_s: float,
) -> list[WhatIfRow]:
    """Rows of the ``region`` strategy: each region against the baseline, same times."""
    base_start, base_step, _ = arrays[base_region]
    for region, (start_s, s_step, _) in arrays.items():
        offset = (start_s[0] - base_start[0]) / base_step
        if s_step != base_step or abs(offset - round(offset)) > 1e-6:
            raise IntensityDataError(
                f"{region} and {base_region} are on different time grids (step {s_step} s "
                f"vs {base_step} s); resample them to one grid to compare regions"
            )
    first = max(a[0][0] for a in arrays.values())
    end = min(a[0][-1] + base_step for a in arrays.values())
    n = round((end - first) / base_step)
    d = job.size
    if n - d + 1 < 1:
        raise IntensityDataError(
            f"the series overlap for {max(n, 0)} slots, fewer than the job's {d}; "
            "give series that cover the same period"
        )

    def common(region: str) -> FloatArray:
        start_s, _, values = arrays[region]
        i = round((first - start_s[0]) / base_step)
        return values[i : i + n]

    base_values = common(base_region)
    base_nan = np.isnan(base_values)
    base = baseline_co2e_g(np.where(base_nan, 0.0, base_values), job, step_s)
    base_ok = _nan_free_starts(base_nan, d, base.size) & (base > 0)
    rows: list[WhatIfRow] = []
    for region in arrays:
        if region == base_region:
            continue
        values = common(region)
        nan = np.isnan(values)
        other = baseline_co2e_g(np.where(nan, 0.0, values), job, step_s)
        ok = base_ok & _nan_free_starts(nan, d, other.size)
        if not ok.any():
            raise _too_few_starts(region, duration_s, 0.0)
        reduction = 1.0 - other[ok] / base[ok]
        rows.append(_row(region, "region", 0.0, duration_s, reduction, np.zeros(int(ok.sum()))))
    return rows


def series_for_regions(regions: Sequence[str]) -> dict[str, IntensitySeries]:
    """Hourly intensity series of the named regions, from wattprint's shipped data.

    A convenience for ``whatif(series_for_regions(["CISO", "ERCO"]), ...)``;
    it imports ``wattprint.accounting.intensity`` only when called.

    Args:
        regions: region codes.

    Returns:
        Region code to its hourly series.

    Raises:
        RegionError: a region has no hourly series (raised by the intensity
            module).
        IntensityError: the hourly data cannot be read.
    """
    hourly = importlib.import_module("wattprint.accounting.hourly")
    return {region: hourly.hourly_series(region) for region in regions}
