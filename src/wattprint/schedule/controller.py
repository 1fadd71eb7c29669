"""The pause controller: pause a job while the grid is dirty, never past its deadline.

A job with slack can wait out the dirty hours of the grid. The what-if engine
(:mod:`wattprint.schedule.whatif`) says how much that would have saved; a
:class:`PauseController` does it to a job that is running now. It reads an
intensity signal (:mod:`wattprint.schedule.signals`) and:

* **pauses** the job while the intensity is *above* a threshold, and
* **resumes** it when the intensity is *at or below* the threshold,
* but **never past the deadline**: it resumes the job for good at the latest
  moment at which the remaining work still fits (the rule below).

How the job is paused is not its business: it calls ``pause`` and ``resume``
callbacks (:mod:`wattprint.schedule.procctl` stops a process tree;
:mod:`wattprint.schedule.pausing` wires both to a tracked run).

The threshold
-------------
Either a fixed threshold in gCO2e/kWh (``--pause-above 300``), or a
percentile: ``--pause-percentile 30`` sets the threshold to the 30th
percentile of the signal's values over the job's horizon (``numpy.percentile``,
linear interpolation), so the job aims to run in the cleanest 30 % of that
time. The horizon is ``[start, deadline)``; without a deadline,
``[start, start + expected duration)``; without either, the next 24 hours.
A live signal takes the values from the API's forecast.

The deadline rule: slack is a pause budget
------------------------------------------
With a deadline ``T`` and an expected run time ``D`` (the time the job needs
when it is not paused), a job started at ``S`` has ``slack = T − S − D``.
The job is done by ``T`` exactly when its total paused time is at most the
slack, so **the total paused time may not exceed** ``T − S − D``: once a pause
has used up what is left of it, the job is resumed for good and never paused
again. This is the latest safe moment: at that instant the remaining work
``D − (running time so far)`` ends exactly at ``T``. For example, a 4 h job
with a 10 h deadline has 6 h of slack: it may be paused 2 h, run, paused
4 h, and is then released to run its remaining hours to the deadline.

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

Loops that pause themselves
---------------------------
A training loop that can checkpoint asks the controller instead of being
stopped (:meth:`PauseController.dirty_now`,
:meth:`PauseController.wait_until_clean`; see :mod:`wattprint.schedule.pausing`).
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from wattprint.errors import ConfigError
from wattprint.schedule.events import (
    EventCallback,
    PauseCallback,
    PauseEvent,
    PauseSpan,
    SignalGap,
    event_message,
)
from wattprint.schedule.signals import IntensitySignal, TimedRead, utc_text

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_HORIZON_S",
    "DEFAULT_POLL_S",
    "DEFAULT_SIGNAL_TIMEOUT_S",
    "EventCallback",
    "PauseCallback",
    "PauseController",
    "PauseEvent",
    "PauseSpan",
    "SignalGap",
    "check_threshold_rule",
    "event_message",
]

#: Seconds between two reads of a series signal (it also wakes at slot boundaries).
DEFAULT_POLL_S = 60.0
#: Seconds a signal read may take before it counts as missing.
DEFAULT_SIGNAL_TIMEOUT_S = 10.0
#: Horizon of a percentile threshold when neither a deadline nor a run time is known.
DEFAULT_HORIZON_S = 86_400.0

# Wake this long after a slot boundary, so the new slot is the one read.
_BOUNDARY_MARGIN_S = 1e-3


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
        check_threshold_rule(threshold_g_per_kwh, percentile)
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
        self._read = TimedRead(signal.description, self._stop, clock)
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
                "events": [e.as_dict() for e in self.events
                           if e.kind in ("pause", "resume", "release")],
            }

    # ------------------------------------------------------------------ reading the signal

    def _reading(self, now: float, timeout_s: float) -> tuple[float | None, str]:
        """Threshold first (a percentile may need the signal), then the current value."""
        if self._threshold is None:
            threshold, why = self._read(self._percentile_threshold, timeout_s)
            if threshold is None:
                return None, f"cannot compute the percentile threshold: {why}"
            self._set_threshold(threshold)
        value, why = self._read(lambda: self.signal.current(now), timeout_s)
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
        self._emit(PauseEvent("pause", now, reason, value, self._threshold,
                              self.latest_resume_s(now)))

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
        self._emit(PauseEvent("resume", now, reason, value,
                              self._threshold if value is not None else None,
                              paused_s=span.duration_s(now)))

    def _release(self, now: float, reason: str) -> None:
        self._do_resume(now, reason, None)
        if not self._released:
            self._released = True
            self.released_at_s = now
            self._close_gap(now, quiet=True)
            self._emit(PauseEvent("release", now, reason, threshold_g_per_kwh=self._threshold))

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
            from wattprint.units import format_duration_s

            return (
                f"deadline: paused {format_duration_s(self.paused_s(now))} of the "
                f"{format_duration_s(self.pause_budget_s)} slack; running to the end to "
                f"finish by {utc_text(self.deadline_s)}"
            )
        return f"deadline {utc_text(self.deadline_s or now)} reached; running to the end"

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


def check_threshold_rule(threshold_g_per_kwh: float | None, percentile: float | None) -> None:
    """Check that exactly one pause rule is given, and that it is in range.

    Raises:
        ConfigError: both or neither rule, a negative or non-finite threshold,
            or a percentile outside 0-100.
    """
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
