"""Live carbon-aware pausing: stop a running job while the grid is dirty, never past its deadline.

A job with slack can wait out the dirty hours of the grid. The what-if engine
(:mod:`wattprint.schedule.whatif`) says how much that would have saved; this
module does it to a job that is running now. A :class:`PauseController`
watches a carbon-intensity signal on a background thread and:

* **pauses** the job while the intensity is *above* a threshold, and
* **resumes** it when the intensity is *at or below* the threshold,
* but **never past the deadline**: it resumes the job for good at the latest
  moment at which the remaining work still fits (the rule below).

The signal
----------
An :class:`IntensitySignal` answers "what is the intensity now" and, for a
percentile threshold, "what values lie ahead". Three come with wattprint:

* :class:`SeriesSignal` over a series -- a user file read by
  :func:`~wattprint.accounting.series.load_series`, or the shipped hourly 2022
  US series (:func:`~wattprint.accounting.intensity.hourly_series`), which
  stands in for the current year by *typical-year replay*: the intensity at
  the same date and time (UTC) of 2022 (29 February maps to 28 February). The
  daily and seasonal shape is kept; the weather of the day is not. The
  controller wakes at every slot boundary, so a pause starts and ends on the
  series' own grid.
* :class:`LiveSignal` over a live client (Electricity Maps, WattTime, UK
  Carbon Intensity API; :mod:`wattprint.accounting.live`), polled at a modest
  rate (every 5 minutes by default: none of these APIs updates faster, and
  their answers are cached that long). Clients are built ``strict``, so a
  failed request is a *missing signal*, never a silent fallback value.

The threshold
-------------
Either a fixed threshold in gCO2e/kWh (``--pause-above 300``), or a
percentile: ``--pause-percentile 30`` sets the threshold to the 30th
percentile of the signal's values over the job's horizon (``numpy.percentile``,
linear interpolation), so the job aims to run in the cleanest 30 % of that
time. The horizon is ``[start, deadline)``; without a deadline,
``[start, start + expected duration)``; without either, the next 24 hours.
A live signal takes the values from the API's forecast.

The deadline rule
-----------------
With a deadline ``T`` and an expected run time ``D`` (the time the job needs
when it is not paused), a job started at ``S`` has ``slack = T − S − D``.
The job is done by ``T`` exactly when its total paused time is at most the
slack, so **the total paused time may not exceed** ``T − S − D``: once a pause
has used up what is left of it, the job is resumed for good and never paused
again. This is the latest safe moment: at that instant the remaining work
``D − (running time so far)`` ends exactly at ``T``.

Without an expected run time nothing is known about the remaining work, and
the deadline is read as *the latest time the job may still be paused*: the
job is resumed for good at ``T`` and then runs to its end. Without a deadline
pauses are unbounded (the Python API allows that; the CLI asks for one).

The controller wakes up in time for the forced resume whatever the poll
interval, and it never waits on a slow signal past it: a signal that has not
answered in ``signal_timeout_s`` (or by the forced resume) counts as missing.

A missing signal
----------------
When the signal cannot be read (a request failed or timed out, the series
has no value for now) the job **keeps running**: a paused job is resumed.
The first such gap is logged as one warning (later ones at info level), and
every gap is recorded (:attr:`PauseController.gaps`; ``wattprint run``
writes them to the run's ``info.pausing.signal_gaps`` in the store). Pausing
goes on when the signal comes back.

Pausing a process
-----------------
``wattprint run`` starts a non-interactive child in its own process group,
so :func:`stop_group` sends ``SIGSTOP`` to the whole group (the child and
everything it started) and :func:`continue_group` sends ``SIGCONT``. An
interactive child shares wattprint's process group (the terminal must reach
both), so ``killpg`` would stop wattprint too; there :func:`stop_tree` stops
the child and each of its descendants one by one through psutil (the root
first, so it cannot start new children meanwhile) and
:func:`continue_processes` continues exactly those processes. ``SIGSTOP``
cannot be caught or ignored; the job does not notice the pause except that
wall-clock time jumps. If wattprint itself dies while the group is stopped,
the kernel sends the orphaned, stopped group ``SIGHUP`` and ``SIGCONT``.

Energy during pauses
--------------------
While the job is paused the tracker marks the sampler's intervals as paused
(:meth:`wattprint.run.Tracker.set_paused`): they stay in the store, flagged,
and are excluded from the run's energy; each pause is a row of the store's
``pauses`` table with its reason (``intensity 412 g/kWh > 300``). Pause
boundaries are exact to one sampling interval.

Training loops that checkpoint
------------------------------
A stopped process keeps its memory (host and GPU) and its network
connections; a multi-node job whose collectives time out may fail. A loop
that can checkpoint can pause itself instead: :func:`should_pause` says
whether the grid is dirty now and the deadline allows a pause (cheap: the
signal is read at most once per poll interval), and :func:`wait_until_clean`
blocks until it is clean again (or the deadline forces a resume), recording
the wait as a pause::

    controller = cooperative_pausing(run, prepare_pausing(options))
    for step in range(steps):
        if should_pause(controller):
            save_checkpoint()
            wait_until_clean(controller)
        train_step()
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import signal as _signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import psutil

from wattprint.errors import ConfigError, IntensityError, RegionError, WattprintError
from wattprint.schedule.whatif import Series, SeriesLike, validate_series

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_HORIZON_S",
    "DEFAULT_LIVE_POLL_S",
    "DEFAULT_POLL_S",
    "DEFAULT_SIGNAL_TIMEOUT_S",
    "IntensitySignal",
    "LiveSignal",
    "PausableRun",
    "PauseController",
    "PauseEvent",
    "PauseOptions",
    "PauseSetup",
    "PauseSpan",
    "ProcessPauser",
    "SeriesSignal",
    "SignalGap",
    "attach_pausing",
    "continue_group",
    "continue_processes",
    "cooperative_pausing",
    "live_client",
    "prepare_pausing",
    "replay_time_s",
    "should_pause",
    "stop_group",
    "stop_tree",
    "typical_year_window",
    "wait_until_clean",
]

FloatArray = npt.NDArray[np.float64]

#: Seconds between two reads of a series signal (it also wakes at slot boundaries).
DEFAULT_POLL_S = 60.0
#: Seconds between two reads of a live signal (the APIs update at most this often).
DEFAULT_LIVE_POLL_S = 300.0
#: Seconds a signal read may take before it counts as missing.
DEFAULT_SIGNAL_TIMEOUT_S = 10.0
#: Horizon of a percentile threshold when neither a deadline nor a run time is known.
DEFAULT_HORIZON_S = 86_400.0

# Wake this long after a slot boundary, so the new slot is the one read.
_BOUNDARY_MARGIN_S = 1e-3


# --------------------------------------------------------------------------- signals


@runtime_checkable
class IntensitySignal(Protocol):
    """A carbon-intensity signal the controller polls.

    Attributes:
        description: what the signal is, for messages and the run's record.
    """

    description: str

    def current(self, now_s: float) -> float:
        """The intensity at ``now_s`` (UTC epoch seconds), gCO2e/kWh.

        Raises:
            IntensityError: no value for that time (a missing signal).
        """
        ...

    def values(self, start_s: float, end_s: float) -> FloatArray:
        """The values expected over ``[start_s, end_s)``, for a percentile threshold.

        Raises:
            IntensityError: no values for that span.
        """
        ...

    def next_change_s(self, now_s: float) -> float | None:
        """When the value may next change (a slot boundary), or ``None`` if unknown."""
        ...


def replay_time_s(t_s: float, year: int) -> float:
    """The same date and time (UTC) as ``t_s`` in another year: typical-year replay.

    29 February maps to 28 February when ``year`` is not a leap year.

    Args:
        t_s: UTC epoch seconds.
        year: the target year.

    Returns:
        UTC epoch seconds in ``year``.
    """
    moment = datetime.fromtimestamp(t_s, timezone.utc)
    day = moment.day
    if moment.month == 2 and day == 29 and not _is_leap(year):
        day = 28
    return moment.replace(year=year, day=day).timestamp()


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SeriesSignal:
    """A regular intensity series as a signal (a user file, or the shipped hourly data).

    Args:
        series: the series (an ``IntensitySeries`` or any :class:`SeriesLike`).
        replay_year: map times outside the series to the same date and time
            (UTC) of the series' first year (typical-year replay; for the
            shipped 2022 data).
        description: how to name it (default: from the series' provenance).

    Raises:
        IntensityDataError: the series is malformed.
    """

    def __init__(
        self, series: SeriesLike, *, replay_year: bool = False, description: str | None = None
    ) -> None:
        region = str(getattr(series, "region", "") or "")
        self.series = series
        self.region = region
        self._start_s, self.step_s, self._values = validate_series(series, region or "series")
        self._end_s = float(self._start_s[0]) + self._values.size * self.step_s
        self.replay_year = replay_year
        #: calendar year (UTC) of the series' first slot: the target of replay
        self.year = datetime.fromtimestamp(float(self._start_s[0]), timezone.utc).year
        self.description = description or _describe_series(series)
        if replay_year:
            self.description += f", typical-year replay of {self.year}"

    @property
    def start_s(self) -> float:
        """Start of the series' first slot, UTC epoch seconds."""
        return float(self._start_s[0])

    @property
    def end_s(self) -> float:
        """End of the series' last slot, UTC epoch seconds."""
        return self._end_s

    def covers(self, t_s: float) -> bool:
        """Whether the series itself (without replay) holds ``t_s``."""
        return self.start_s <= t_s < self._end_s

    def _index(self, t_s: float) -> int:
        t = t_s
        if not self.covers(t) and self.replay_year:
            t = replay_time_s(t, self.year)
        if not self.covers(t):
            raise IntensityError(
                f"the {self.description} covers {_iso(self.start_s)} to {_iso(self._end_s)}, "
                f"not {_iso(t_s)}; give a series that covers the job's run (times are UTC)"
            )
        return min(int((t - self.start_s) // self.step_s), self._values.size - 1)

    def current(self, now_s: float) -> float:
        """The value of the slot that holds ``now_s``.

        Raises:
            IntensityError: the series (after replay) has no value for ``now_s``.
        """
        value = float(self._values[self._index(now_s)])
        if not math.isfinite(value):
            raise IntensityError(f"the {self.description} has no value for {_iso(now_s)}")
        return value

    def values(self, start_s: float, end_s: float) -> FloatArray:
        """Values of the slots that overlap ``[start_s, end_s)``, in time order.

        Raises:
            IntensityError: none of those slots has a value.
        """
        points = self._slot_points(start_s, end_s)
        found = []
        for t in points:
            try:
                found.append(float(self._values[self._index(t)]))
            except IntensityError:
                continue
        out = np.asarray(found, dtype=np.float64)
        out = out[np.isfinite(out)]
        if out.size == 0:
            raise IntensityError(
                f"the {self.description} has no values between {_iso(start_s)} and "
                f"{_iso(end_s)}; give a series that covers the job's horizon"
            )
        return out

    def _slot_points(self, start_s: float, end_s: float) -> list[float]:
        """``start_s`` and every slot boundary after it, before ``end_s``."""
        points = [start_s]
        k = math.floor((start_s - self.start_s) / self.step_s) + 1
        t = self.start_s + k * self.step_s
        while t < end_s:
            points.append(t)
            k += 1
            t = self.start_s + k * self.step_s
        return points

    def next_change_s(self, now_s: float) -> float | None:
        """The next slot boundary after ``now_s`` (the grid is the same under replay)."""
        k = math.floor((now_s - self.start_s) / self.step_s) + 1
        return self.start_s + k * self.step_s


def _describe_series(series: SeriesLike) -> str:
    provenance = getattr(series, "provenance", None)
    region = str(getattr(series, "region", "") or "")
    source = str(getattr(provenance, "source", "") or "")
    dataset = str(getattr(provenance, "dataset", "") or "")
    what = f"{source} {dataset}".strip() or "intensity series"
    return f"{what} ({region})" if region else what


@runtime_checkable
class ForecastClient(Protocol):
    """What :class:`LiveSignal` needs of a live client (:mod:`wattprint.accounting.live`)."""

    @property
    def title(self) -> str:
        """The API's name, for messages."""
        ...

    def latest(self, region: str) -> Any:
        """The latest intensity: an object with ``g_per_kwh``."""
        ...

    def forecast(self, region: str) -> Any:
        """A forecast series: an object with ``start_s``, ``step_s`` and ``g_per_kwh``."""
        ...


class LiveSignal:
    """A live intensity API as a signal.

    Args:
        client: a live client, built with ``strict=True`` so that a failure
            raises (see :func:`live_client`).
        region: the region (zone) to ask for.
    """

    def __init__(self, client: ForecastClient, region: str) -> None:
        self.client = client
        self.region = region
        self.description = f"{client.title} ({region})"

    def current(self, now_s: float) -> float:
        """The API's latest value.

        Raises:
            IntensityError: the API failed (strict client) or gave no number.
        """
        value = float(self.client.latest(self.region).g_per_kwh)
        if not (math.isfinite(value) and value >= 0):
            raise IntensityError(f"the {self.description} gave {value!r}, not an intensity")
        return value

    def values(self, start_s: float, end_s: float) -> FloatArray:
        """Forecast values of the slots that overlap ``[start_s, end_s)``.

        Raises:
            IntensityError: the forecast failed or does not reach that span.
        """
        forecast = self.client.forecast(self.region)
        starts = np.asarray(forecast.start_s, dtype=np.float64)
        values = np.asarray(forecast.g_per_kwh, dtype=np.float64)
        step = float(forecast.step_s)
        keep = (starts + step > start_s) & (starts < end_s) & np.isfinite(values)
        if not keep.any():
            raise IntensityError(
                f"the {self.description} forecast has no values between {_iso(start_s)} and "
                f"{_iso(end_s)}; give --pause-above instead of a percentile"
            )
        if float(starts[-1]) + step < end_s:
            logger.info(
                "the %s forecast ends at %s, before the horizon's end; the percentile uses "
                "the forecast only",
                self.description,
                _iso(float(starts[-1]) + step),
            )
        return np.asarray(values[keep], dtype=np.float64)

    def next_change_s(self, now_s: float) -> float | None:
        """Unknown for a live API: the controller polls."""
        return None


def typical_year_window(series: SeriesLike, start_s: float, end_s: float) -> Series:
    """A series over ``[start_s, end_s)`` made of the same times of year in ``series``.

    Each slot of the window (on the series' grid, the first one holding
    ``start_s``) takes the value of the same date and time (UTC) in the
    series' year: the shipped 2022 series then stands in for a forecast of
    any year. A window across New Year wraps to the start of the series' year.

    Args:
        series: a series of one whole year (e.g. the shipped 2022 hourly data).
        start_s: start of the window, UTC epoch seconds.
        end_s: end of the window.

    Returns:
        The window, in real time, with the series' region and method; its
        provenance says it is a replay.

    Raises:
        IntensityError: a slot of the window has no counterpart in the series.
        IntensityDataError: the series is malformed.
    """
    signal = SeriesSignal(series, replay_year=True)
    first = signal.start_s + math.floor((start_s - signal.start_s) / signal.step_s) * signal.step_s
    n = max(1, math.ceil((end_s - first) / signal.step_s - 1e-9))
    values = [signal.current(first + k * signal.step_s) for k in range(n)]
    provenance = getattr(series, "provenance", None)
    note = (
        f"typical-year replay: each slot takes the value at the same date and time (UTC) "
        f"in {signal.year}"
    )
    with_fallback = getattr(provenance, "with_fallback", None)
    replayed = (
        with_fallback(note) if callable(with_fallback) else {"source": provenance, "note": note}
    )
    return Series.regular(
        first,
        signal.step_s,
        values,
        region=signal.region,
        method=str(getattr(series, "method", "") or ""),
        provenance=replayed,
    )


# --------------------------------------------------------------------------- live clients


def live_client(
    region: str, source: str | None = None, *, environ: Mapping[str, str] | None = None
) -> ForecastClient:
    """A strict live client for ``region`` (failures raise instead of falling back).

    Without ``source`` the first that applies is used: the UK Carbon Intensity
    API for ``GB`` (no key needed), Electricity Maps when
    ``WATTPRINT_ELECTRICITYMAPS_TOKEN`` is set, WattTime when
    ``WATTPRINT_WATTTIME_USERNAME`` and ``_PASSWORD`` are set (the region is
    then a WattTime region, e.g. ``CAISO_NORTH``).

    Args:
        region: region or zone code.
        source: ``"electricitymaps"``, ``"watttime"`` or ``"ukgrid"``.
        environ: environment to read credentials from (default ``os.environ``).

    Returns:
        The client.

    Raises:
        ConfigError: an unknown source, or no source applies.
        RegionError: the UK API was asked for a region outside Great Britain.
    """
    from wattprint.accounting.intensity import canonical_region
    from wattprint.accounting.live import (
        LIVE_SOURCES,
        ElectricityMapsClient,
        UKCarbonIntensityClient,
        WattTimeClient,
    )

    env = os.environ if environ is None else environ
    if source is None:
        try:
            code = canonical_region(region)
        except RegionError:
            code = region.strip().upper()
        if code == "GB":
            source = UKCarbonIntensityClient.name
        elif env.get("WATTPRINT_ELECTRICITYMAPS_TOKEN"):
            source = ElectricityMapsClient.name
        elif env.get("WATTPRINT_WATTTIME_USERNAME") and env.get("WATTPRINT_WATTTIME_PASSWORD"):
            source = WattTimeClient.name
        else:
            raise ConfigError(
                f"no live intensity source for {region}: set WATTPRINT_ELECTRICITYMAPS_TOKEN "
                "(Electricity Maps) or WATTPRINT_WATTTIME_USERNAME and _PASSWORD (WattTime); "
                "the UK Carbon Intensity API needs no key but covers GB only. Or use "
                "--intensity FILE or the shipped hourly series (leave out --live)"
            )
    if source not in LIVE_SOURCES:
        raise ConfigError(
            f"unknown live source {source!r}; choose from {', '.join(sorted(LIVE_SOURCES))}"
        )
    client: ForecastClient
    if source == UKCarbonIntensityClient.name:
        uk = UKCarbonIntensityClient(strict=True)
        uk._zone(region)  # raises RegionError outside Great Britain
        client = uk
    elif source == ElectricityMapsClient.name:
        client = ElectricityMapsClient(strict=True, environ=env)
    else:
        client = WattTimeClient(strict=True, environ=env)
    return client


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class PauseEvent:
    """Something the controller did or saw.

    Attributes:
        kind: ``"pause"``, ``"resume"``, ``"release"`` (resumed for good, or
            pausing given up at the deadline), ``"signal-missing"`` or
            ``"signal-back"``.
        t_s: when, UTC epoch seconds.
        reason: why, in words (``"intensity 412 g/kWh > 300"``).
        intensity_g_per_kwh: the intensity read, if one was.
    """

    kind: str
    t_s: float
    reason: str
    intensity_g_per_kwh: float | None = None


@dataclass
class PauseSpan:
    """One pause: from ``t_start_s`` to ``t_end_s`` (``None`` while it lasts)."""

    t_start_s: float
    t_end_s: float | None
    reason: str
    end_reason: str = ""

    def duration_s(self, now_s: float) -> float:
        """Length of the pause, up to ``now_s`` while it lasts."""
        return (self.t_end_s if self.t_end_s is not None else now_s) - self.t_start_s


@dataclass
class SignalGap:
    """A span with no usable signal (the job ran through it)."""

    t_start_s: float
    t_end_s: float | None
    reason: str


# --------------------------------------------------------------------------- controller

PauseCallback = Callable[[str], None]
EventCallback = Callable[[PauseEvent], None]


class PauseController:
    """Pauses and resumes a job by the grid's carbon intensity, keeping its deadline.

    Give exactly one of ``threshold_g_per_kwh`` and ``percentile``. Use
    :meth:`start` for a background thread that calls ``pause`` and ``resume``
    (process control), or :func:`should_pause` and :func:`wait_until_clean`
    from the job's own loop. See the module docstring for the rules.

    Args:
        signal: the intensity signal.
        threshold_g_per_kwh: pause while the intensity is above this.
        percentile: instead, the threshold is this percentile (0-100) of the
            signal's values over the job's horizon, computed at the first
            check (a failure to compute it is a missing signal until it works).
        deadline_s: UTC epoch seconds by which the job must be done (with
            ``expected_duration_s``) or may no longer be paused (without).
        expected_duration_s: the job's run time when not paused, seconds.
        start_s: when the job started (default: now).
        pause: called with the reason to pause the job; if it raises, the job
            counts as running.
        resume: called with the reason to resume the job.
        on_event: called with every :class:`PauseEvent` (e.g. to record it).
        poll_s: seconds between reads of the signal (default 60 s).
        signal_timeout_s: a read that takes longer counts as missing.
        horizon_s: length of the percentile's horizon when there is no
            deadline and no expected duration (default 24 h).
        threshold_rule: how a given threshold was chosen, for the record
            (default ``"given"``).
        clock: UTC epoch seconds (injectable for tests).
        sleep: waits a number of seconds in :func:`wait_until_clean`
            (injectable for tests; default: an interruptible wait).

    Raises:
        ConfigError: both or neither threshold rule, or a value out of range.
    """

    def __init__(
        self,
        signal: IntensitySignal,
        *,
        threshold_g_per_kwh: float | None = None,
        percentile: float | None = None,
        deadline_s: float | None = None,
        expected_duration_s: float | None = None,
        start_s: float | None = None,
        pause: PauseCallback | None = None,
        resume: PauseCallback | None = None,
        on_event: EventCallback | None = None,
        poll_s: float = DEFAULT_POLL_S,
        signal_timeout_s: float = DEFAULT_SIGNAL_TIMEOUT_S,
        horizon_s: float = DEFAULT_HORIZON_S,
        threshold_rule: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        _check_threshold_rule(threshold_g_per_kwh, percentile)
        for name, value in (
            ("poll_s", poll_s),
            ("signal_timeout_s", signal_timeout_s),
            ("horizon_s", horizon_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} is {value}; give a positive number of seconds")
        if expected_duration_s is not None and not (
            math.isfinite(expected_duration_s) and expected_duration_s > 0
        ):
            raise ConfigError(
                f"expected duration is {expected_duration_s} s; give the job's positive run time"
            )
        if deadline_s is not None and not math.isfinite(deadline_s):
            raise ConfigError("the deadline is not a finite time; give a time such as 12h")
        self.signal = signal
        self.percentile = percentile
        self.deadline_s = deadline_s
        self.expected_duration_s = expected_duration_s
        self.poll_s = float(poll_s)
        self.signal_timeout_s = float(signal_timeout_s)
        self.horizon_s = float(horizon_s)
        self._clock = clock
        self._sleep = sleep
        self.start_s = clock() if start_s is None else float(start_s)
        self._pause_cb = pause
        self._resume_cb = resume
        self._on_event = on_event
        self._threshold = None if threshold_g_per_kwh is None else float(threshold_g_per_kwh)
        self._threshold_rule = threshold_rule
        self._horizon_values = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: threading.Thread | None = None
        self._pending_since = 0.0
        self._warned = False
        self._released = False
        self._span: PauseSpan | None = None
        self._closed_paused_s = 0.0
        self._cached: tuple[float, float | None] | None = None  # (read at, value or None)
        self.spans: list[PauseSpan] = []
        self.gaps: list[SignalGap] = []
        self.events: list[PauseEvent] = []
        self.last_intensity_g_per_kwh: float | None = None
        self.released_at_s: float | None = None
        if self.pause_budget_s <= 0:
            logger.warning(
                "the deadline leaves no slack for the expected run time (%.0f s); the job "
                "will not be paused",
                expected_duration_s or 0.0,
            )

    # ------------------------------------------------------------------ state

    @property
    def threshold_g_per_kwh(self) -> float | None:
        """The threshold in gCO2e/kWh (``None`` until a percentile is resolved)."""
        return self._threshold

    @property
    def threshold_rule(self) -> str:
        """How the threshold was chosen, in words."""
        if self._threshold_rule is not None:
            return self._threshold_rule
        if self.percentile is None:
            return "given"
        return f"percentile {self.percentile:g} of the signal over the job's horizon"

    @property
    def paused(self) -> bool:
        """Whether the job is paused now."""
        return self._span is not None

    @property
    def released(self) -> bool:
        """Whether the job was resumed for good (deadline) or the controller stopped."""
        return self._released

    @property
    def pause_budget_s(self) -> float:
        """The total paused time allowed: ``deadline − start − expected``, or infinite."""
        if self.deadline_s is None or self.expected_duration_s is None:
            return math.inf
        return max(0.0, self.deadline_s - self.start_s - self.expected_duration_s)

    def paused_s(self, now_s: float | None = None) -> float:
        """Total time paused so far, seconds."""
        with self._lock:
            now = self._clock() if now_s is None else now_s
            current = self._span.duration_s(now) if self._span is not None else 0.0
            return self._closed_paused_s + current

    def latest_resume_s(self, now_s: float | None = None) -> float:
        """The latest time the job may be paused until (``inf`` when unbounded).

        For a pause that starts (or lasts) at ``now_s``: the deadline, or the
        moment the pause budget runs out, whichever is first.
        """
        with self._lock:
            now = self._clock() if now_s is None else now_s
            since = self._span.t_start_s if self._span is not None else now
            by_budget = since + self.pause_budget_s - self._closed_paused_s
            by_deadline = self.deadline_s if self.deadline_s is not None else math.inf
            return min(by_budget, by_deadline)

    def horizon(self) -> tuple[float, float]:
        """The span a percentile threshold is computed over, UTC epoch seconds."""
        if self.deadline_s is not None:
            return self.start_s, max(self.deadline_s, self.start_s + 1.0)
        if self.expected_duration_s is not None:
            return self.start_s, self.start_s + self.expected_duration_s
        return self.start_s, self.start_s + self.horizon_s

    def resolve_threshold(self) -> float:
        """The threshold, computing a percentile one from the signal if needed.

        Returns:
            The threshold in gCO2e/kWh.

        Raises:
            IntensityError: the signal has no values over the horizon.
        """
        with self._lock:
            if self._threshold is None:
                self._set_threshold(self._percentile_threshold())
            assert self._threshold is not None
            return self._threshold

    def _percentile_threshold(self) -> float:
        """The percentile of the signal over the horizon (reads the signal; takes no lock)."""
        assert self.percentile is not None
        start, end = self.horizon()
        values = self.signal.values(start, end)
        self._horizon_values = int(values.size)
        return float(np.percentile(values, self.percentile))

    def _set_threshold(self, threshold: float) -> None:
        self._threshold = threshold
        logger.info(
            "pause threshold: %.1f g/kWh, percentile %g of %d values",
            threshold,
            self.percentile,
            self._horizon_values,
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able record of the rules and what happened (for the run's info)."""
        with self._lock:
            now = self._clock()
            return {
                "signal": self.signal.description,
                "threshold_g_per_kwh": self._threshold,
                "threshold_rule": self.threshold_rule,
                "deadline_s": self.deadline_s,
                "expected_duration_s": self.expected_duration_s,
                "start_s": self.start_s,
                "pause_budget_s": None if math.isinf(self.pause_budget_s) else self.pause_budget_s,
                "paused_s": self.paused_s(now),
                "pauses": len(self.spans),
                "released_at_s": self.released_at_s,
                "signal_gaps": [[g.t_start_s, g.t_end_s, g.reason] for g in self.gaps],
            }

    # ------------------------------------------------------------------ reading the signal

    def _call(self, fn: Callable[[], float], timeout_s: float) -> tuple[float | None, str]:
        """Run ``fn`` in a helper thread for at most ``timeout_s``.

        Returns ``(value, "")`` or ``(None, why)``. A call still running from an
        earlier time-out is not repeated.
        """
        now = self._clock()
        if self._pending is not None:
            if self._pending.is_alive():
                waited = now - self._pending_since
                return None, f"the {self.signal.description} has not answered for {waited:.0f} s"
            self._pending = None
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = fn()
            except Exception as exc:  # any failure of the source is a missing signal
                box["error"] = exc

        thread = threading.Thread(target=work, name="wattprint-intensity", daemon=True)
        thread.start()
        give_up = time.monotonic() + max(0.0, timeout_s)
        while thread.is_alive() and not self._stop.is_set():
            left = give_up - time.monotonic()
            if left <= 0:
                break
            thread.join(min(left, 0.1))
        if thread.is_alive():
            self._pending, self._pending_since = thread, now
            return None, f"the {self.signal.description} did not answer within {timeout_s:.3g} s"
        if "error" in box:
            error = box["error"]
            return None, str(error) if isinstance(error, WattprintError) else repr(error)
        value = float(box["value"])
        if not (math.isfinite(value) and value >= 0):
            return None, f"the {self.signal.description} gave {value!r}, not an intensity"
        return value, ""

    def _reading(self, now: float, timeout_s: float) -> tuple[float | None, str]:
        """Threshold first (a percentile may need the signal), then the current value."""
        if self._threshold is None:
            threshold, why = self._call(self._percentile_threshold, timeout_s)
            if threshold is None:
                return None, f"cannot compute the percentile threshold: {why}"
            self._set_threshold(threshold)
        value, why = self._call(lambda: self.signal.current(now), timeout_s)
        self._cached = (now, value)
        return value, why

    # ------------------------------------------------------------------ transitions

    def _emit(self, event: PauseEvent) -> None:
        self.events.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception as exc:  # recording must never stop the job
                logger.debug("pause event callback failed: %s", exc, exc_info=True)

    def _do_pause(self, now: float, reason: str, value: float | None) -> None:
        if self._pause_cb is not None:
            try:
                self._pause_cb(reason)
            except Exception as exc:
                logger.warning("could not pause the job (%s); it keeps running", exc)
                return
        self._span = PauseSpan(now, None, reason)
        self.spans.append(self._span)
        logger.info("paused: %s", reason)
        self._emit(PauseEvent("pause", now, reason, value))

    def _do_resume(self, now: float, reason: str, value: float | None) -> None:
        span = self._span
        if span is None:
            return
        if self._resume_cb is not None:
            try:
                self._resume_cb(reason)
            except Exception as exc:
                logger.warning("resuming the job failed: %s", exc)
        span.t_end_s = now
        span.end_reason = reason
        self._closed_paused_s += span.duration_s(now)
        self._span = None
        logger.info("resumed: %s", reason)
        self._emit(PauseEvent("resume", now, reason, value))

    def _release(self, now: float, reason: str) -> None:
        self._do_resume(now, reason, None)
        if not self._released:
            self._released = True
            self.released_at_s = now
            self._close_gap(now, quiet=True)
            self._emit(PauseEvent("release", now, reason))

    def _open_gap(self, now: float, why: str) -> None:
        if self.gaps and self.gaps[-1].t_end_s is None:
            return
        self.gaps.append(SignalGap(now, None, why))
        if not self._warned:
            self._warned = True
            logger.warning("carbon-intensity signal missing (%s); the job keeps running", why)
        else:
            logger.info("carbon-intensity signal missing (%s); the job keeps running", why)
        self._emit(PauseEvent("signal-missing", now, why))

    def _close_gap(self, now: float, *, quiet: bool = False) -> None:
        if self.gaps and self.gaps[-1].t_end_s is None:
            self.gaps[-1].t_end_s = now
            if not quiet:
                logger.info("carbon-intensity signal back")
                self._emit(PauseEvent("signal-back", now, "signal back"))

    def _deadline_reason(self, now: float) -> str:
        if self.expected_duration_s is not None and self.deadline_s is not None:
            return (
                f"deadline: paused {self.paused_s(now):.0f} s of the "
                f"{self.pause_budget_s:.0f} s slack; running to the end to finish by "
                f"{_iso(self.deadline_s)}"
            )
        return f"deadline {_iso(self.deadline_s or now)} reached; running to the end"

    def check(self) -> bool:
        """Read the signal once and pause or resume the job accordingly.

        Returns:
            Whether the job is paused afterwards.
        """
        with self._lock:
            if self._released:
                return False
            now = self._clock()
            latest = self.latest_resume_s(now)
            if now >= latest:
                self._release(now, self._deadline_reason(now))
                return False
            timeout = self.signal_timeout_s
            if self.paused:
                timeout = min(timeout, latest - now)
            value, why = self._reading(now, timeout)
            if self._stop.is_set():  # stopping: stop() resumes the job
                return self.paused
            now = self._clock()
            if now >= self.latest_resume_s(now):
                self._release(now, self._deadline_reason(now))
                return False
            if value is None:
                self._open_gap(now, why)
                self._do_resume(now, f"signal missing: {why}", None)
                return False
            self._close_gap(now)
            self.last_intensity_g_per_kwh = value
            threshold = self._threshold
            assert threshold is not None
            if value > threshold and not self.paused:
                self._do_pause(now, f"intensity {value:.0f} g/kWh > {threshold:g}", value)
            elif value <= threshold and self.paused:
                self._do_resume(now, f"intensity {value:.0f} g/kWh <= {threshold:g}", value)
            return self.paused

    def dirty_now(self) -> bool:
        """Whether the job should pause now (no callbacks; reads at most once per poll).

        True when the intensity is above the threshold and a pause is still
        allowed. A missing signal is recorded and gives ``False``.
        """
        with self._lock:
            if self._released:
                return False
            now = self._clock()
            if now >= self.latest_resume_s(now):
                self._release(now, self._deadline_reason(now))
                return False
            if self._cached is not None and now - self._cached[0] < self.poll_s:
                value: float | None = self._cached[1]
            else:
                value, why = self._reading(now, self.signal_timeout_s)
                if value is None:
                    self._open_gap(now, why)
                else:
                    self._close_gap(now)
                    self.last_intensity_g_per_kwh = value
            threshold = self._threshold
            return value is not None and threshold is not None and value > threshold

    def next_wait_s(self, now_s: float | None = None) -> float:
        """Seconds until the next check.

        The poll interval, cut at the next slot boundary and, while paused, at
        the forced resume.
        """
        now = self._clock() if now_s is None else now_s
        wait = self.poll_s
        change = self.signal.next_change_s(now)
        if change is not None and change > now:
            wait = min(wait, change - now + _BOUNDARY_MARGIN_S)
        if self.paused:
            wait = min(wait, self.latest_resume_s(now) - now)
        return max(0.0, wait)

    # ------------------------------------------------------------------ thread

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception as exc:  # the controller must never take the job down
                logger.warning("live pausing stopped after an error (%s); the job runs on", exc)
                with self._lock:
                    self._release(self._clock(), f"controller error: {exc}")
                return
            if self._released:
                return
            self._stop.wait(self.next_wait_s())

    def start(self) -> PauseController:
        """Start the background thread (returns ``self``); idempotent."""
        if self._thread is None and not self._released:
            self._thread = threading.Thread(target=self._loop, name="wattprint-pause", daemon=True)
            atexit.register(self.stop)
            self._thread.start()
        return self

    def stop(self, reason: str = "controller stopped") -> None:
        """Stop the thread and resume the job for good if it is paused; idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if thread is not None:
            atexit.unregister(self.stop)
        with self._lock:
            self._release(self._clock(), reason)

    def _wait(self, seconds: float) -> None:
        """Wait ``seconds`` (interrupted by :meth:`stop`), or call the injected sleep."""
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._stop.wait(seconds)

    def wait_until_clean(self, *, max_wait_s: float | None = None) -> float:
        """Pause now if the grid is dirty and wait until it is clean; see :func:`wait_until_clean`.

        Args:
            max_wait_s: the longest wait, seconds.

        Returns:
            Seconds spent paused.
        """
        if not self.check():
            return 0.0
        span = self.spans[-1]
        give_up = math.inf if max_wait_s is None else span.t_start_s + max_wait_s
        while self.paused and not self._stop.is_set():
            now = self._clock()
            if now >= give_up:
                with self._lock:
                    self._do_resume(now, f"waited the longest allowed {max_wait_s:g} s", None)
                break
            self._wait(max(0.0, min(self.next_wait_s(now), give_up - now)))
            self.check()
        end = span.t_end_s if span.t_end_s is not None else self._clock()
        return end - span.t_start_s


def _check_threshold_rule(threshold_g_per_kwh: float | None, percentile: float | None) -> None:
    if (threshold_g_per_kwh is None) == (percentile is None):
        raise ConfigError(
            "give exactly one pause rule: a threshold in g/kWh (--pause-above) or a "
            "percentile (--pause-percentile)"
        )
    if threshold_g_per_kwh is not None and not (
        math.isfinite(threshold_g_per_kwh) and threshold_g_per_kwh >= 0
    ):
        raise ConfigError(
            f"pause threshold is {threshold_g_per_kwh}; give gCO2e/kWh >= 0, e.g. 300"
        )
    if percentile is not None and not (math.isfinite(percentile) and 0 <= percentile <= 100):
        raise ConfigError(f"pause percentile is {percentile}; give a number from 0 to 100")


# --------------------------------------------------------------------------- cooperative API


def should_pause(controller: PauseController | None) -> bool:
    """Whether a training loop should checkpoint and pause now.

    True when the intensity is above the threshold and the deadline still
    allows a pause. Cheap to call every step: the signal is read at most once
    per ``controller.poll_s``. Nothing is paused or recorded by this call.

    Args:
        controller: the run's controller (``None``: pausing is off, ``False``).

    Returns:
        Whether to pause.
    """
    return controller is not None and controller.dirty_now()


def wait_until_clean(
    controller: PauseController | None, *, max_wait_s: float | None = None
) -> float:
    """Pause the run until the grid is clean again, then return.

    The wait is recorded as a pause (the controller's ``pause`` and
    ``resume`` callbacks: with :func:`cooperative_pausing`, a store record and
    paused energy intervals). It ends when the intensity is at or below the
    threshold, when the signal goes missing, when the deadline forces a
    resume, or after ``max_wait_s``.

    Args:
        controller: the run's controller (``None``: returns at once).
        max_wait_s: the longest wait, seconds (default: no limit of its own).

    Returns:
        Seconds spent paused.
    """
    if controller is None:
        return 0.0
    return controller.wait_until_clean(max_wait_s=max_wait_s)


# --------------------------------------------------------------------------- processes


def stop_group(pgid: int) -> None:
    """Pause every process of a process group (``SIGSTOP``).

    Args:
        pgid: the process group id (a child started in its own group has
            ``pgid == pid``).

    Raises:
        ProcessLookupError: the group has no process left.
        PermissionError: the group belongs to another user.
    """
    os.killpg(pgid, _signal.SIGSTOP)


def continue_group(pgid: int) -> None:
    """Continue every process of a process group (``SIGCONT``).

    Raises:
        ProcessLookupError: the group has no process left.
        PermissionError: the group belongs to another user.
    """
    os.killpg(pgid, _signal.SIGCONT)


def stop_tree(pid: int) -> list[psutil.Process]:
    """Pause a process and all its descendants, one by one (``SIGSTOP``).

    For a child that shares wattprint's process group, where ``killpg`` would
    stop wattprint too. The root is stopped first so it cannot start new
    children; then its descendants, listed after that.

    Args:
        pid: the root process.

    Returns:
        The processes stopped (give them to :func:`continue_processes`).

    Raises:
        ProcessLookupError: the root process no longer exists.
    """
    try:
        root = psutil.Process(pid)
        root.send_signal(_signal.SIGSTOP)
    except psutil.NoSuchProcess as exc:
        raise ProcessLookupError(f"process {pid} no longer exists") from exc
    stopped = [root]
    try:
        children = root.children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        try:
            child.send_signal(_signal.SIGSTOP)
            stopped.append(child)
        except psutil.Error:  # it ended in the meantime
            continue
    return stopped


def continue_processes(processes: Iterable[psutil.Process]) -> None:
    """Continue processes stopped by :func:`stop_tree` (``SIGCONT``), root last.

    A process that has ended, or whose pid was reused, is skipped (psutil
    checks the process's creation time before signalling).
    """
    for process in reversed(list(processes)):
        try:
            process.send_signal(_signal.SIGCONT)
        except psutil.Error:
            continue


class ProcessPauser:
    """Pauses and continues a child process and everything it started.

    A child in its own process group is paused with :func:`stop_group`; a
    child in wattprint's group (interactive) with :func:`stop_tree`.

    Args:
        pid: the child's process id.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            pgid = -1
        self.own_group = pgid == pid and pgid != os.getpgrp()
        self._stopped: list[psutil.Process] = []

    def pause(self) -> None:
        """Stop the child's processes.

        Raises:
            ProcessLookupError: the child has ended.
        """
        if self.own_group:
            stop_group(self.pid)
        else:
            self._stopped = stop_tree(self.pid)

    def resume(self) -> None:
        """Continue the child's processes (nothing happens if they have ended)."""
        if self.own_group:
            with contextlib.suppress(ProcessLookupError):
                continue_group(self.pid)
        else:
            continue_processes(self._stopped)
            self._stopped = []


# --------------------------------------------------------------------------- wiring


@dataclass(frozen=True)
class PauseOptions:
    """What the user asked for (``wattprint run`` options, or ``track(...)`` arguments).

    Attributes:
        pause_above_g_per_kwh: ``--pause-above G``.
        pause_percentile: ``--pause-percentile P``.
        deadline_s: ``--deadline``: seconds from the start of the run.
        expected_duration_s: ``--expected-duration``: the job's run time when
            not paused, seconds.
        intensity_path: ``--intensity FILE``: a CSV or Parquet series.
        live: ``--live``: ask a live API.
        live_source: which API (``electricitymaps``, ``watttime``, ``ukgrid``;
            default: see :func:`live_client`).
        region: the run's grid region.
        poll_s: seconds between reads (default 60 s for a series, 300 s live).
    """

    pause_above_g_per_kwh: float | None = None
    pause_percentile: float | None = None
    deadline_s: float | None = None
    expected_duration_s: float | None = None
    intensity_path: Path | str | None = None
    live: bool = False
    live_source: str | None = None
    region: str | None = None
    poll_s: float | None = None

    @property
    def enabled(self) -> bool:
        """Whether any pausing was asked for."""
        return self.pause_above_g_per_kwh is not None or self.pause_percentile is not None


@dataclass(frozen=True)
class PauseSetup:
    """Pausing, checked and ready: what :func:`prepare_pausing` returns.

    Attributes:
        signal: the intensity signal.
        threshold_g_per_kwh: the threshold (resolved already for series
            signals; ``None`` for a live percentile, resolved at the first check).
        percentile: the percentile asked for, if any.
        deadline_s: UTC epoch seconds, or ``None``.
        expected_duration_s: the job's run time when not paused, or ``None``.
        start_s: when the job starts, UTC epoch seconds.
        poll_s: seconds between reads.
        notes: what the user should know (replay, data ending early).
    """

    signal: IntensitySignal
    threshold_g_per_kwh: float | None
    percentile: float | None
    deadline_s: float | None
    expected_duration_s: float | None
    start_s: float
    poll_s: float
    notes: tuple[str, ...] = field(default=())

    def controller(
        self,
        *,
        pause: PauseCallback | None = None,
        resume: PauseCallback | None = None,
        on_event: EventCallback | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> PauseController:
        """A controller with these rules and the given callbacks (not started)."""
        rule = None
        if self.threshold_g_per_kwh is not None and self.percentile is not None:
            rule = f"percentile {self.percentile:g} of the signal over the job's horizon"
        return PauseController(
            self.signal,
            threshold_g_per_kwh=self.threshold_g_per_kwh,
            percentile=None if self.threshold_g_per_kwh is not None else self.percentile,
            threshold_rule=rule,
            deadline_s=self.deadline_s,
            expected_duration_s=self.expected_duration_s,
            start_s=self.start_s,
            pause=pause,
            resume=resume,
            on_event=on_event,
            poll_s=self.poll_s,
            clock=clock,
            sleep=sleep,
        )


def prepare_pausing(
    options: PauseOptions,
    *,
    now_s: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> PauseSetup | None:
    """Check the pausing options and build the signal, before the job starts.

    The signal is, in order: ``--live`` (a live API), ``--intensity FILE``,
    else the shipped hourly series of the region, replayed at the same time
    of year (see the module docstring). A series must cover now; a
    percentile threshold is computed here for a series, and at the first
    check for a live signal (whose failure then means running unpaused).

    Args:
        options: the options.
        now_s: the job's start, UTC epoch seconds (default: now).
        environ: environment for live credentials (default ``os.environ``).

    Returns:
        The setup, or ``None`` when no pausing was asked for.

    Raises:
        ConfigError: conflicting or missing options (both threshold rules,
            ``--live`` with ``--intensity``, no deadline, no region).
        RegionError: the region is unknown or has no shipped hourly series.
        IntensityError: the series does not cover now or the horizon.
        IntensityDataError: the file is malformed.
    """
    if not options.enabled:
        if options.deadline_s is not None or options.live or options.intensity_path is not None:
            raise ConfigError(
                "--deadline, --live and --intensity only apply to live pausing; add "
                "--pause-above G (gCO2e/kWh) or --pause-percentile P"
            )
        return None
    _check_threshold_rule(options.pause_above_g_per_kwh, options.pause_percentile)
    if options.live and options.intensity_path is not None:
        raise ConfigError("give either --live or --intensity FILE, not both")
    if options.deadline_s is None:
        raise ConfigError(
            "live pausing needs --deadline (e.g. --deadline 12h): the job is never paused past "
            "it, so it cannot be held up for ever"
        )
    if not (math.isfinite(options.deadline_s) and options.deadline_s > 0):
        raise ConfigError(f"--deadline is {options.deadline_s} s; give a positive time, e.g. 12h")
    if options.expected_duration_s is not None and options.expected_duration_s > options.deadline_s:
        raise ConfigError(
            f"--expected-duration ({options.expected_duration_s:g} s) is longer than --deadline "
            f"({options.deadline_s:g} s); the job could not finish in time even unpaused"
        )
    start = time.time() if now_s is None else float(now_s)
    deadline = start + options.deadline_s
    notes: list[str] = []
    signal: IntensitySignal
    if options.live:
        if not options.region:
            raise ConfigError("--live needs a region: pass --region (e.g. GB, DE, US-CAL-CISO)")
        signal = LiveSignal(live_client(options.region, options.live_source, environ=environ),
                            options.region)
        poll = options.poll_s or DEFAULT_LIVE_POLL_S
    else:
        poll = options.poll_s or DEFAULT_POLL_S
        if options.intensity_path is not None:
            from wattprint.accounting.series import load_series

            series = load_series(options.intensity_path, region=options.region or None)
            series_signal = SeriesSignal(series)
        else:
            series_signal = SeriesSignal(_shipped_hourly(options.region), replay_year=True)
            if not series_signal.covers(start):
                notes.append(
                    f"intensity from the shipped {series_signal.year} hourly series at the "
                    f"same date and time (UTC): a typical year, not a forecast"
                )
        series_signal.current(start)  # raises if the series does not cover now
        if not series_signal.replay_year and series_signal.end_s < deadline:
            notes.append(
                f"the series ends at {_iso(series_signal.end_s)}, before the deadline; after "
                "that the signal is missing and the job runs unpaused"
            )
        signal = series_signal
    for note in notes:
        logger.info("live pausing: %s", note)
    setup = PauseSetup(
        signal=signal,
        threshold_g_per_kwh=options.pause_above_g_per_kwh,
        percentile=options.pause_percentile,
        deadline_s=deadline,
        expected_duration_s=options.expected_duration_s,
        start_s=start,
        poll_s=poll,
        notes=tuple(notes),
    )
    if setup.threshold_g_per_kwh is None and not options.live:
        threshold = setup.controller(clock=lambda: start).resolve_threshold()
        setup = PauseSetup(
            signal=signal,
            threshold_g_per_kwh=threshold,
            percentile=options.pause_percentile,
            deadline_s=deadline,
            expected_duration_s=options.expected_duration_s,
            start_s=start,
            poll_s=poll,
            notes=tuple(notes),
        )
    return setup


def _shipped_hourly(region: str | None) -> SeriesLike:
    """The shipped hourly series of ``region``, or an error listing the regions that have one."""
    from wattprint.accounting.intensity import canonical_region, hourly_regions, hourly_series

    available = ", ".join(hourly_regions())
    if not region:
        raise ConfigError(
            "live pausing needs a region: pass --region with a shipped hourly series "
            f"({available}), or give --intensity FILE or --live"
        )
    try:
        return hourly_series(region)
    except RegionError:
        code = canonical_region(region)  # an unknown code raises with suggestions
        raise RegionError(
            f"no shipped hourly series for {code}; these regions have one: {available}. "
            "Give your own series with --intensity FILE, or --live"
        ) from None


@runtime_checkable
class PausableRun(Protocol):
    """What pausing needs of a run (:class:`wattprint.run.Tracker` fits)."""

    id: str | None

    @property
    def store(self) -> Any:
        """The run's store (with ``add_pause``, ``end_pause``, ``update_info``), or ``None``."""
        ...

    def set_paused(self, paused: bool) -> None:
        """Mark the following energy intervals as paused or not."""
        ...


class _RunRecorder:
    """Marks a run's energy as paused and writes pauses and the pausing record to its store."""

    def __init__(self, run: PausableRun) -> None:
        self.run = run
        self._rowid: int | None = None
        self.controller: PauseController | None = None
        self._warned = False

    def _store_call(self, what: str, call: Callable[[Any, str], Any]) -> Any:
        store, run_id = self.run.store, self.run.id
        if store is None or run_id is None:
            return None
        try:
            return call(store, run_id)
        except Exception as exc:  # recording must never stop the job
            if not self._warned:
                self._warned = True
                logger.warning("could not record %s in the run store: %s", what, exc)
            return None

    def paused(self, reason: str, t_s: float) -> None:
        self.run.set_paused(True)
        rowid = self._store_call("a pause", lambda s, r: s.add_pause(r, t_s, None, reason))
        self._rowid = rowid if isinstance(rowid, int) else None

    def resumed(self, t_s: float) -> None:
        self.run.set_paused(False)
        rowid = self._rowid
        self._rowid = None
        if rowid is not None:
            self._store_call("a pause's end", lambda s, r: s.end_pause(rowid, t_s))

    def event(self, event: PauseEvent) -> None:
        if event.kind not in ("pause", "resume"):
            self.record()

    def record(self) -> None:
        if self.controller is not None:
            summary = {"pausing": self.controller.summary()}
            self._store_call("the pausing record", lambda s, r: s.update_info(r, summary))


def _wire(
    run: PausableRun,
    setup: PauseSetup,
    stop_job: Callable[[], None] | None,
    continue_job: Callable[[], None] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None] | None = None,
) -> PauseController:
    recorder = _RunRecorder(run)

    def pause(reason: str) -> None:
        if stop_job is not None:
            stop_job()
        recorder.paused(reason, clock())

    def resume(reason: str) -> None:
        try:
            if continue_job is not None:
                continue_job()
        finally:
            recorder.resumed(clock())

    def on_event(event: PauseEvent) -> None:
        recorder.event(event)

    controller = setup.controller(
        pause=pause, resume=resume, on_event=on_event, clock=clock, sleep=sleep
    )
    recorder.controller = controller
    recorder.record()
    return controller


class _Child(Protocol):
    pid: int

    def poll(self) -> int | None: ...


def attach_pausing(
    run: PausableRun,
    child: _Child,
    setup: PauseSetup | None,
    *,
    clock: Callable[[], float] = time.time,
) -> PauseController | None:
    """Start live pausing of a child process tracked by ``run``.

    The controller's thread sends ``SIGSTOP`` to the child's process group
    (or tree, see :class:`ProcessPauser`) while the intensity is above the
    threshold and ``SIGCONT`` at or below it, never past the deadline.
    Each pause marks the run's intervals as paused (excluded from its
    energy) and is written to the store's ``pauses`` table with its reason;
    the rules, signal gaps and totals go to the run's ``info.pausing``.

    Call :meth:`PauseController.stop` when the child has ended, and before
    forwarding a terminating signal to it (a stopped process acts on
    ``SIGTERM`` only once continued).

    Args:
        run: the tracker of the run (started).
        child: the child process (``subprocess.Popen``).
        setup: from :func:`prepare_pausing` (``None``: no pausing).
        clock: UTC epoch seconds (injectable for tests).

    Returns:
        The started controller, or ``None`` when ``setup`` is ``None``.
    """
    if setup is None:
        return None
    pauser = ProcessPauser(child.pid)

    def stop_job() -> None:
        if child.poll() is not None:
            raise ProcessLookupError("the job has ended")
        pauser.pause()

    controller = _wire(run, setup, stop_job, pauser.resume, clock)
    return controller.start()


def cooperative_pausing(
    run: PausableRun,
    setup: PauseSetup | None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] | None = None,
) -> PauseController | None:
    """A controller for a loop that pauses itself (:func:`should_pause`, :func:`wait_until_clean`).

    No process is signalled and no thread is started: the loop asks, saves
    a checkpoint and waits. Waits are recorded as in :func:`attach_pausing`.

    Args:
        run: the tracker of the run (started).
        setup: from :func:`prepare_pausing` (``None``: no pausing).
        clock: UTC epoch seconds (injectable for tests).
        sleep: waits while paused (injectable for tests; default: an
            interruptible wait).

    Returns:
        The controller, or ``None`` when ``setup`` is ``None``.
    """
    if setup is None:
        return None
    return _wire(run, setup, None, None, clock, sleep)
