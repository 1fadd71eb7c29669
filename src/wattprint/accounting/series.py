"""Carbon-intensity values, where they came from, and intensity time series.

Carbon intensity is the mass of greenhouse gas emitted per unit of electricity,
in grams of CO2-equivalent per kilowatt-hour (gCO2e/kWh, the same number as
kg/MWh). The same grid at the same hour has several defensible intensities,
so every value wattprint returns carries a :class:`Provenance` that says
which one it is:

* **method** -- *average* (attributional): total emissions of the grid divided
  by total electricity, the right figure for "what share of the grid's
  emissions is mine". *marginal* (consequential): the emissions of the
  generators that respond when demand changes, the right figure for "what
  does running (or moving) this job change". Marginal figures are usually
  higher and move differently over the day; never mix the two silently.
* **basis** -- *lifecycle* counts the upstream emissions of fuels and plants
  (IPCC AR5 style factors: solar about 41 g/kWh, gas about 490 g/kWh);
  *direct* counts only combustion at the plant (renewables and nuclear are 0).
  They differ by 10-20 % for fossil grids and a lot for clean ones.
  *unknown* where the publisher does not say.
* the **source** and **dataset** it was read from, its **year**, its
  **licence** and a **citation**; **fallback** says why a value is not what was
  asked for (an API failed, a year or region was missing), and
  **filled_gaps** counts the steps of a series that were filled in.

An :class:`IntensitySeries` is a regular step function: the value
``g_per_kwh[i]`` holds from ``start_s[i]`` (UTC epoch seconds) for ``step_s``
seconds. It is the one series type of wattprint: accounting, the what-if
engine, the planner and live pausing all read it. A step may be *missing*
(NaN): the what-if engine skips start times whose window touches one, and
accounting refuses a series with missing steps (:func:`make_series` and
:func:`load_series` fill them; see the gap rule below).
:func:`series_intensity` turns a gap-free series into the time-weighted mean
intensity of any interval -- the number that multiplies an interval's energy.
Arrays in code become a series with :meth:`IntensitySeries.regular`.

User files become a series in :mod:`wattprint.accounting.seriesfile`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from wattprint.errors import IntensityError

if TYPE_CHECKING:  # numpy loads when arrays are first needed
    import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "BASES",
    "METHODS",
    "IntensitySeries",
    "IntensityValue",
    "IntensityValues",
    "Provenance",
    "make_series",
    "series_intensity",
]

#: Accounting methods: average (attributional) or marginal (consequential).
METHODS = ("average", "marginal")
#: Emission-factor bases: lifecycle (upstream included), direct (combustion only), unknown.
BASES = ("lifecycle", "direct", "unknown")

def _check_method(method: str) -> str:
    if method not in METHODS:
        raise IntensityError(
            f"unknown intensity method {method!r}: use 'average' (attributional) or "
            "'marginal' (consequential)"
        )
    return method


@dataclass(frozen=True)
class Provenance:
    """Where an intensity value came from, and how much to trust it.

    Attributes:
        source: who publishes the numbers (``"Ember, via Our World in Data"``).
        dataset: what exactly was read: a shipped table, an API endpoint or a
            user file, with the upstream reference where there is one.
        year: the data year, ``None`` for time series spanning years or when
            the publisher gives none.
        method: ``"average"`` or ``"marginal"`` (see the module docstring).
        basis: ``"lifecycle"``, ``"direct"`` or ``"unknown"``.
        licence: licence of the data (``"CC BY 4.0"``).
        citation: URL or citation to give with the number.
        region: the region code the value is for. It can differ from the code
            asked for when a fallback was used (then :attr:`fallback` says so).
        fallback: ``None`` when the value is what was asked for; else why it
            is not (``"Electricity Maps API timed out after 2.0 s; used the
            shipped annual value"``).
        filled_gaps: number of time steps of a series filled by the gap rule.
    """

    source: str
    dataset: str
    year: int | None
    method: str
    basis: str
    licence: str
    citation: str
    region: str = ""
    fallback: str | None = None
    filled_gaps: int = 0

    def with_fallback(self, reason: str) -> Provenance:
        """A copy with ``reason`` added to :attr:`fallback` (reasons joined by ``"; "``)."""
        text = reason if not self.fallback else f"{self.fallback}; {reason}"
        return replace(self, fallback=text)


@dataclass(frozen=True)
class IntensityValue:
    """One carbon intensity in gCO2e/kWh and its provenance."""

    g_per_kwh: float
    provenance: Provenance


@dataclass(frozen=True, eq=False)
class IntensityValues:
    """Intensities for many intervals at once (float64 gCO2e/kWh), sharing one provenance."""

    g_per_kwh: np.ndarray
    provenance: Provenance


def _frozen_f64(values: Any) -> np.ndarray:
    import numpy as np

    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class IntensitySeries:
    """A regular carbon-intensity time series (a step function).

    ``g_per_kwh[i]`` holds from ``start_s[i]`` for ``step_s`` seconds; NaN
    marks a missing step. The arrays are copied to read-only float64 on
    construction. Equality is identity (arrays do not compare to one bool).

    Attributes:
        region: region code, ``""`` when the series does not say.
        start_s: UTC epoch seconds of each step's start, strictly increasing,
            regular (``start_s[i] = start_s[0] + i * step_s``).
        step_s: the step in seconds (3600.0 for hourly).
        g_per_kwh: intensity of each step, gCO2e/kWh, same length (NaN: missing).
        method: ``"average"`` or ``"marginal"``.
        provenance: where the series came from; ``provenance.filled_gaps``
            counts the steps filled by the gap rule.

    Raises:
        IntensityError: on construction, if the arrays are empty, of
            different lengths, not regular, or hold negative or infinite values.
    """

    region: str
    start_s: np.ndarray
    step_s: float
    g_per_kwh: np.ndarray
    method: str
    provenance: Provenance

    def __post_init__(self) -> None:
        import numpy as np

        start = _frozen_f64(self.start_s)
        values = _frozen_f64(self.g_per_kwh)
        object.__setattr__(self, "start_s", start)
        object.__setattr__(self, "g_per_kwh", values)
        object.__setattr__(self, "step_s", float(self.step_s))
        _check_method(self.method)
        if start.ndim != 1 or values.ndim != 1 or len(start) == 0 or len(start) != len(values):
            raise IntensityError(
                f"intensity series for {self.region!r} needs two 1-D arrays of the same, "
                f"non-zero length (got {start.shape} and {values.shape})"
            )
        if not self.step_s > 0 or not math.isfinite(self.step_s):
            raise IntensityError(f"intensity series step must be positive, got {self.step_s}")
        expected = start[0] + self.step_s * np.arange(len(start))
        if not np.allclose(start, expected, rtol=0.0, atol=1e-3 * self.step_s):
            raise IntensityError(
                f"intensity series for {self.region!r} is not regular with step {self.step_s} s; "
                "build it with make_series(), which resamples onto a regular grid"
            )
        if np.any(np.isinf(values)) or np.any(values < 0):
            raise IntensityError(
                f"intensity series for {self.region!r} holds negative or infinite values"
            )

    @classmethod
    def regular(
        cls,
        first_start_s: float,
        step_s: float,
        g_per_kwh: Sequence[float] | np.ndarray,
        *,
        region: str = "",
        method: str = "average",
        provenance: Provenance | None = None,
    ) -> IntensitySeries:
        """A series from its first step's start, its step and its values (arrays in code).

        Args:
            first_start_s: start of the first step, UTC epoch seconds.
            step_s: the step in seconds.
            g_per_kwh: intensity of each step, gCO2e/kWh (NaN: missing).
            region: region code of the series.
            method: ``"average"`` or ``"marginal"``.
            provenance: where the numbers come from (default: "given in code",
                basis unknown).

        Returns:
            The series.

        Raises:
            IntensityError: as the constructor.
        """
        import numpy as np

        values = np.asarray(g_per_kwh, dtype=np.float64)
        if provenance is None:
            provenance = Provenance("given in code", "arrays", None, method, "unknown", "", "",
                                    region)
        return cls(
            region=region,
            start_s=first_start_s + float(step_s) * np.arange(values.size, dtype=np.float64),
            step_s=step_s,
            g_per_kwh=values,
            method=method,
            provenance=provenance,
        )

    @property
    def end_s(self) -> float:
        """End of the last step (UTC epoch seconds)."""
        return float(self.start_s[-1]) + self.step_s

    def __len__(self) -> int:
        return len(self.start_s)


def _regular_grid(times_s: np.ndarray, values: np.ndarray) -> tuple[float, float, np.ndarray, int]:
    """Put sorted, unique ``times_s`` on a regular grid; see the module gap rule.

    Returns ``(start_s, step_s, values_on_grid, filled)``; ``values`` may hold NaN
    for missing values.
    """
    import numpy as np

    if len(times_s) < 2:
        raise IntensityError("a series needs at least two timestamps to know its step")
    diffs = np.sort(np.diff(times_s))
    step = float(diffs[(len(diffs) - 1) // 2])  # the lower median: always an observed spacing
    t0 = float(times_s[0])
    slots = np.rint((times_s - t0) / step).astype(np.int64)
    n = int(slots[-1]) + 1
    if n > 2 * len(times_s):
        raise IntensityError(
            f"the timestamps span {n} steps of {step:g} s but there are only {len(times_s)} "
            "rows, so more than half would be filled in; check the timestamps (a wrong year "
            "or time zone?) or resample the data to one step"
        )
    known = np.isfinite(values)
    if not np.any(known):
        raise IntensityError("the series has no values, only missing cells")
    sums = np.bincount(slots[known], weights=values[known], minlength=n)
    counts = np.bincount(slots[known], minlength=n)
    grid = np.full(n, np.nan)
    has = counts > 0
    grid[has] = sums[has] / counts[has]
    filled = int(n - np.count_nonzero(has))
    if filled:
        idx = np.arange(n)
        # np.interp holds the edge values outside the known points.
        grid[~has] = np.interp(idx[~has], idx[has], grid[has])
    return t0, step, grid, filled


def make_series(
    times_s: Sequence[float] | np.ndarray,
    g_per_kwh: Sequence[float] | np.ndarray,
    *,
    region: str,
    method: str,
    provenance: Provenance,
) -> IntensitySeries:
    """Build a regular :class:`IntensitySeries` from timed values, filling gaps.

    Args:
        times_s: UTC epoch seconds of each value (start of its step), any order.
        g_per_kwh: intensities in gCO2e/kWh; NaN marks a missing value.
        region: region code of the series.
        method: ``"average"`` or ``"marginal"``.
        provenance: provenance of the values; ``filled_gaps`` is set here.

    Returns:
        The series on the median step, gaps filled by the module's gap rule.

    Raises:
        IntensityError: fewer than two timestamps, duplicate timestamps, no
            values, or negative values.
    """
    import numpy as np

    times = np.asarray(times_s, dtype=np.float64)
    values = np.asarray(g_per_kwh, dtype=np.float64)
    if times.shape != values.shape or times.ndim != 1:
        raise IntensityError("times and intensities must be 1-D and of the same length")
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    if np.any(np.diff(times) == 0):
        raise IntensityError("the series has duplicate timestamps")
    if np.any(values[np.isfinite(values)] < 0):
        raise IntensityError("the series has negative intensities")
    t0, step, grid, filled = _regular_grid(times, values)
    if filled:
        logger.debug("filled %d of %d steps of the %s series", filled, len(grid), region)
    return IntensitySeries(
        region=region,
        start_s=t0 + step * np.arange(len(grid)),
        step_s=step,
        g_per_kwh=grid,
        method=_check_method(method),
        provenance=replace(provenance, filled_gaps=provenance.filled_gaps + filled),
    )


def series_intensity(
    series: IntensitySeries,
    starts_s: np.ndarray | Sequence[float],
    ends_s: np.ndarray | Sequence[float],
) -> np.ndarray:
    """Time-weighted mean intensity of a series over each interval.

    For an interval ``[s, e)`` this is ``integral(g dt, s, e) / (e - s)`` of
    the series' step function; a zero-length interval gets the value of the
    step it falls in. Vectorised: one numpy pass over all intervals.

    Args:
        series: the series.
        starts_s: interval starts, UTC epoch seconds.
        ends_s: interval ends, same shape, each ``>= start``.

    Returns:
        float64 array of gCO2e/kWh, same shape as ``starts_s``.

    Raises:
        IntensityError: the shapes differ, an interval ends before it starts,
            an interval lies (partly) outside the series, or the series has
            missing steps.
    """
    import numpy as np

    starts = np.asarray(starts_s, dtype=np.float64)
    ends = np.asarray(ends_s, dtype=np.float64)
    if starts.shape != ends.shape:
        raise IntensityError(
            f"interval starts and ends differ in shape: {starts.shape} vs {ends.shape}"
        )
    if starts.size == 0:
        return np.zeros(starts.shape)
    if np.any(ends < starts):
        raise IntensityError("an interval ends before it starts")
    t0 = float(series.start_s[0])
    t_end = series.end_s
    tolerance = 1e-6 * series.step_s
    if np.any(starts < t0 - tolerance) or np.any(ends > t_end + tolerance):
        first = datetime.fromtimestamp(t0, timezone.utc).isoformat()
        last = datetime.fromtimestamp(t_end, timezone.utc).isoformat()
        raise IntensityError(
            f"intervals lie outside the {series.region or 'user'} series, which covers "
            f"{first} to {last}; use a series that covers the run, or an annual source"
        )
    g = series.g_per_kwh
    if np.isnan(g).any():
        raise IntensityError(
            f"the {series.region or 'user'} series has missing steps; fill them first "
            "(make_series and load_series do, by the gap rule)"
        )
    n = len(g)
    step = series.step_s
    cumulative = np.concatenate(([0.0], np.cumsum(g) * step))

    def integral(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.clip((t - t0) / step, 0.0, float(n))
        k = np.minimum(np.floor(x).astype(np.int64), n - 1)
        return cumulative[k] + g[k] * (x - k) * step, k

    at_end, _ = integral(ends)
    at_start, k_start = integral(starts)
    duration = ends - starts
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (at_end - at_start) / duration
    result: np.ndarray = np.where(duration > 0, mean, g[k_start])
    return result
