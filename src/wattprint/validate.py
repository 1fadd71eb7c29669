"""Validation of every number that enters wattprint, in one place.

A footprint is a product of factors (power × hours × PUE × intensity), so a
single NaN, infinity or absurd value in one input silently poisons every
number derived from it, and, once written as JSON, makes the output
unreadable (``NaN`` and ``Infinity`` are not JSON). Every edge that takes a
number — CLI options, configuration, the Python API (:func:`estimate`,
:class:`AccountingOptions`) and the peer-log importers — checks it here,
against the documented ranges below, and refuses it with one
:class:`~wattprint.errors.ConfigError` line that names the input and what
is allowed.

The ranges (also in docs/limits.md):

==========================  ====================================  ===========================
quantity                    allowed                               why
==========================  ====================================  ===========================
PUE                         1 to 5                                1 = no overhead; the worst
                                                                  surveyed data centres ~2.5
hours, GPU-hours            > 0, at most 1,000,000 h (~114 y)     a job, not a geological era
power (whole job)           > 0, at most 1 GW                     the largest AI campuses
power per GPU               > 0, at most 10 kW                    ~10× today's largest cards
GPU counts                  1 to 1,000,000
intensity                   0 to 5,000 gCO2e/kWh                  coal is ~1,000
energy                      0 to 10^16 J (~2.8 TWh)                BLOOM trained on ~1.6e12 J
durations, windows          > 0, at most 366 days
plan horizon                at most 366 days ahead
series steps                at most 1,000,000 per series          a year at 32 s
``runs --limit``            1 to 1,000,000
idle measurement            0 to 3,600 s
agent process interval      0.1 to 86,400 s
data years                  1990 to the current year + 1          the shipped tables
==========================  ====================================  ===========================

:func:`json_safe` is the last line of defence for output: it replaces any
non-finite float left in a document by ``None`` and says where.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from wattprint.errors import ConfigError

PUE_MIN = 1.0
PUE_MAX = 5.0
HOURS_MAX = 1_000_000.0
POWER_MAX_W = 1e9
GPU_POWER_MAX_W = 10_000.0
COUNT_MAX = 1_000_000
INTENSITY_MAX_G_PER_KWH = 5_000.0
ENERGY_MAX_J = 1e16
DURATION_MAX_S = 366 * 86_400.0
HORIZON_MAX_S = 366 * 86_400.0
SERIES_STEPS_MAX = 1_000_000
LIMIT_MAX = 1_000_000
IDLE_MAX_S = 3_600.0
PROCESS_INTERVAL_MIN_S = 0.1
PROCESS_INTERVAL_MAX_S = 86_400.0
YEAR_MIN = 1990
#: seconds since the epoch up to which stored and imported times are accepted (year 2200)
TIME_MAX_S = 7_258_118_400.0


def year_max() -> int:
    """The newest data year accepted: the current year plus one."""
    return time.gmtime().tm_year + 1


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, not {value!r}")
    return number


def finite(value: Any, name: str) -> float:
    """``value`` as a finite float.

    Raises:
        ConfigError: not a number, NaN or infinite.
    """
    return _number(value, name)


def in_range(value: Any, name: str, low: float, high: float, *, unit: str = "",
             low_open: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``).

    Args:
        value: the number (or text of one).
        name: how the user gave it (``--pue``, ``pue``, ``row 4 energy``), for the message.
        low: smallest allowed value.
        high: largest allowed value.
        unit: unit shown in the message (``h``, ``W``).
        low_open: whether ``low`` itself is refused (a positive quantity).

    Raises:
        ConfigError: not finite, or outside the range; the message gives the range.
    """
    sep = " " if unit else ""
    lower = f"more than {low:g}" if low_open else f"at least {low:g}"
    try:
        number = _number(value, name)
    except ConfigError as exc:  # say the range too, so the fix is in the message
        raise ConfigError(f"{exc}; give a number {lower} and at most {high:g}{sep}{unit}") from None
    too_low = number <= low if low_open else number < low
    if too_low or number > high:
        raise ConfigError(f"{name} = {value!r} is out of range: it must be {lower} and at most "
                          f"{high:g}{sep}{unit}")
    return number


def positive(value: Any, name: str, high: float, *, unit: str = "") -> float:
    """A finite number in ``(0, high]``."""
    return in_range(value, name, 0.0, high, unit=unit, low_open=True)


def integer(value: Any, name: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (a float with no fraction is accepted).

    Raises:
        ConfigError: not an integer, or outside the range.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, int):
        number = value
    else:
        as_float = _number(value, name)
        if not as_float.is_integer():
            raise ConfigError(f"{name} must be a whole number, not {value!r}")
        number = int(as_float)
    if not low <= number <= high:
        raise ConfigError(f"{name} = {value!r} is out of range: it must be between {low} and "
                          f"{high}")
    return number


def pue(value: Any, name: str = "--pue") -> float | None:
    """A PUE in [1, 5], or ``None`` (the documented default applies)."""
    if value is None or value == "":
        return None
    number = _number(value, name)
    if not PUE_MIN <= number <= PUE_MAX:
        raise ConfigError(f"{name} = {value!r} is out of range: it must be between "
                          f"{PUE_MIN:g} and {PUE_MAX:g} (1.0 = no overhead)")
    return number


def hours(value: Any, name: str = "--hours") -> float:
    """Hours (or GPU-hours) in ``(0, 1,000,000]``."""
    return positive(value, name, HOURS_MAX, unit="h")


def power_w(value: Any, name: str = "--power-w", *, per_gpu: bool = False) -> float:
    """A power in watts in ``(0, 1 GW]`` (``(0, 10 kW]`` per GPU)."""
    return positive(value, name, GPU_POWER_MAX_W if per_gpu else POWER_MAX_W, unit="W")


def count(value: Any, name: str = "--gpus") -> int:
    """A device count in ``[1, 1,000,000]``."""
    return integer(value, name, 1, COUNT_MAX)


def intensity_g_per_kwh(value: Any, name: str = "--intensity") -> float:
    """A grid intensity in ``[0, 5,000]`` gCO2e/kWh."""
    return in_range(value, name, 0.0, INTENSITY_MAX_G_PER_KWH, unit="gCO2e/kWh")


def energy_j(value: Any, name: str = "energy") -> float:
    """An energy in ``[0, 10^16]`` J."""
    return in_range(value, name, 0.0, ENERGY_MAX_J, unit="J")


def duration_s(value: Any, name: str = "--duration", *, max_s: float = DURATION_MAX_S) -> float:
    """A duration (or window) in seconds, in ``(0, max_s]`` (default 366 days)."""
    number = _number(value, name)
    if number <= 0:
        raise ConfigError(f"{name} must be longer than zero, e.g. 6h")
    if number > max_s:
        raise ConfigError(f"{name} is {number / 86_400:.4g} days; at most {max_s / 86_400:g} "
                          "days is supported")
    return number


def horizon_s(start_s: float, end_s: float, name: str = "--deadline") -> float:
    """The span ``end_s - start_s`` of a plan, capped at 366 days.

    Raises:
        ConfigError: the span is not finite or over the cap.
    """
    span = _number(end_s, name) - _number(start_s, name)
    if span > HORIZON_MAX_S:
        raise ConfigError(f"{name} is {span / 86_400:.4g} days ahead; plans reach at most "
                          f"{HORIZON_MAX_S / 86_400:g} days ahead")
    return span


def series_steps(span_s: float, step_s: float, name: str = "series") -> int:
    """The number of steps of ``step_s`` in ``span_s``, refused over 1,000,000.

    Raises:
        ConfigError: the step is not positive or there would be too many steps.
    """
    step = _number(step_s, f"{name} step")
    span = _number(span_s, f"{name} span")
    if step <= 0:
        raise ConfigError(f"{name}: the time step must be positive, not {step_s!r} s")
    steps = math.ceil(span / step) if span > 0 else 0
    if steps > SERIES_STEPS_MAX:
        raise ConfigError(
            f"{name}: a step of {step:g} s over {span / 86_400:.4g} days makes {steps:,} steps; "
            f"at most {SERIES_STEPS_MAX:,} are supported: resample the series to a coarser step"
        )
    return steps


def limit(value: Any, name: str = "--limit") -> int:
    """A result limit in ``[1, 1,000,000]``."""
    return integer(value, name, 1, LIMIT_MAX)


def idle_s(value: Any, name: str = "--measure-idle") -> float:
    """Seconds of idle measurement in ``[0, 3,600]``."""
    return in_range(value, name, 0.0, IDLE_MAX_S, unit="s")


def process_interval_s(value: Any, name: str = "--process-interval") -> float:
    """Seconds between process listings in ``[0.1, 86,400]``."""
    return in_range(value, name, PROCESS_INTERVAL_MIN_S, PROCESS_INTERVAL_MAX_S, unit="s")


def year(value: Any, name: str = "--year") -> int | None:
    """A data year in ``[1990, current year + 1]``, or ``None`` (the newest)."""
    if value is None:
        return None
    return integer(value, name, YEAR_MIN, year_max())


def timestamp_s(value: Any, name: str = "time") -> float:
    """Seconds since the epoch, in ``[0, year 2200)``."""
    return in_range(value, name, 0.0, TIME_MAX_S, unit="s since 1970")


def fraction(value: Any, name: str, *, low_open: bool = True) -> float:
    """A fraction in ``(0, 1]`` (``[0, 1]`` with ``low_open=False``)."""
    return in_range(value, name, 0.0, 1.0, low_open=low_open)


def json_safe(data: Any, path: str = "$") -> tuple[Any, list[str]]:
    """``data`` with every non-finite float replaced by ``None``, and where each was.

    JSON has no NaN or Infinity; Python's :mod:`json` writes them anyway
    unless told not to, and most readers then refuse the whole document.

    Returns:
        The cleaned copy (mappings become dicts, sequences lists) and the
        JSON paths (``$.footprint.pue``) of the values replaced.
    """
    replaced: list[str] = []
    return _clean(data, path, replaced), replaced


def _clean(data: Any, path: str, replaced: list[str]) -> Any:
    if isinstance(data, float):
        if math.isfinite(data):
            return data
        replaced.append(path)
        return None
    if isinstance(data, Mapping):
        return {k: _clean(v, f"{path}.{k}", replaced) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_clean(v, f"{path}[{i}]", replaced) for i, v in enumerate(data)]
    if isinstance(data, Sequence) or not hasattr(data, "dtype"):
        return data
    # a numpy scalar: plain float/int so json can write it
    item = data.item() if hasattr(data, "item") else data
    return _clean(item, path, replaced) if isinstance(item, float) else item


__all__ = [
    "COUNT_MAX", "DURATION_MAX_S", "ENERGY_MAX_J", "GPU_POWER_MAX_W", "HORIZON_MAX_S",
    "HOURS_MAX", "IDLE_MAX_S", "INTENSITY_MAX_G_PER_KWH", "LIMIT_MAX", "POWER_MAX_W",
    "PROCESS_INTERVAL_MAX_S", "PROCESS_INTERVAL_MIN_S", "PUE_MAX", "PUE_MIN",
    "SERIES_STEPS_MAX", "TIME_MAX_S", "YEAR_MIN", "count", "duration_s", "energy_j", "finite",
    "fraction", "horizon_s", "hours", "idle_s", "in_range", "integer", "intensity_g_per_kwh",
    "json_safe", "limit", "positive", "power_w", "process_interval_s", "pue", "series_steps",
    "timestamp_s", "year", "year_max",
]
