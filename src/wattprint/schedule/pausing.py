"""Carbon-aware pausing, wired: from ``run`` and ``track()`` options to a running controller.

Carbon-aware pausing stops a job while the grid's carbon intensity is above
a threshold and lets it go on when the grid is clean, never past the job's
deadline. The parts live in their own modules:

* :mod:`wattprint.schedule.signals` -- where the intensity of "now" comes
  from (a user series, a live API, or -- with neither -- a forecast from the
  shipped hourly series by :mod:`wattprint.accounting.forecast`, whose note
  says no live forecast API was configured);
* :mod:`wattprint.schedule.controller` -- the :class:`PauseController`: the
  threshold, the deadline rule (the slack ``deadline − start − expected run
  time`` is the budget of paused time) and missing signals;
* :mod:`wattprint.schedule.procctl` -- ``SIGSTOP`` and ``SIGCONT`` of a
  child's process group or tree.

This module joins them. :func:`prepare_pausing` checks the user's
:class:`PauseOptions` and builds the signal *before* the job starts, so a
mistake fails fast (no deadline, no region, a series that does not cover
now). Then one of two wirings:

* :func:`attach_pausing` -- ``wattprint run``: the controller's thread stops
  and continues the child process (:class:`~wattprint.schedule.procctl.ProcessPauser`).
* :func:`cooperative_pausing` -- ``track(pausing=...)``: nothing is signalled
  and no thread runs; a training loop that can checkpoint asks instead::

      controller = cooperative_pausing(run, prepare_pausing(options))
      for step in range(steps):
          if should_pause(controller):
              save_checkpoint()
              wait_until_clean(controller)
          train_step()

  :func:`should_pause` is cheap (the signal is read at most once per poll
  interval); :func:`wait_until_clean` blocks until the grid is clean again
  or the deadline forces a resume, and records the wait as a pause.

Energy during pauses
--------------------
While the job is paused the tracker marks the sampler's intervals as paused
(:meth:`wattprint.run.Tracker.set_paused`): they stay in the store, flagged,
and are excluded from the run's energy; each pause is a row of the store's
``pauses`` table with its reason (``intensity 412 g/kWh > 300``), and the
rules, signal gaps, totals and every pause, resume and release (time,
intensity, threshold, latest resume) go to the run's ``info.pausing``. Pause
boundaries are exact to one sampling interval.

What people see
---------------
Each pause and resume is told on stderr as it happens (``announce`` /
``say``), with the time (UTC), the intensity, the threshold and the slack
left before the deadline::

    wattprint: paused at 14:00Z: 412 g/kWh > 300 g/kWh; resumes when lower,
               latest 02:00Z (12:00:00 slack)
    wattprint: resumed at 16:00Z: 280 g/kWh <= 300 g/kWh after 2:00:00 paused

(the first is one line).

The footprint of a paused run
-----------------------------
A series signal (a user file, the shipped hourly data, a forecast) is kept
with the run (:mod:`wattprint.accounting.kept`, digest in
``info.pausing.series``), and the run is accounted with it by default: the
saving that pausing made shows in its footprint, which the flat annual factor
would hide.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from wattprint.accounting.series import IntensitySeries
from wattprint.accounting.seriesfile import load_series
from wattprint.errors import ConfigError
from wattprint.schedule.controller import (
    DEFAULT_POLL_S,
    EventCallback,
    PauseCallback,
    PauseController,
    PauseEvent,
    check_threshold_rule,
    event_message,
)
from wattprint.schedule.procctl import ProcessPauser
from wattprint.schedule.signals import (
    DEFAULT_LIVE_POLL_S,
    IntensitySignal,
    LiveSignal,
    SeriesSignal,
    live_client,
    shipped_hourly,
    utc_text,
)

logger = logging.getLogger(__name__)

__all__ = [
    "PausableRun",
    "PauseOptions",
    "PauseSetup",
    "attach_pausing",
    "cooperative_pausing",
    "prepare_pausing",
    "say_to_stderr",
    "should_pause",
    "wait_until_clean",
]


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
        use_forecast: with neither ``--live`` nor ``--intensity``, and a shipped
            series that does not cover now, forecast the coming hours from it
            (:mod:`wattprint.accounting.forecast`; default) instead of replaying
            the same time of year.
        live_values: extend the forecast's history with the live values kept
            since the shipped series ends
            (:func:`wattprint.accounting.forecast_history.with_kept_live`;
            default); ``False`` is ``--no-live-values``.
        history_home: the wattprint home whose kept live values are read
            (default: the configured home, ``WATTPRINT_HOME``).
        announce: print each pause and resume to stderr (default; see
            :func:`~wattprint.schedule.controller.event_message`).
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
    use_forecast: bool = True
    announce: bool = True
    live_values: bool = True
    history_home: Path | str | None = None

    @property
    def enabled(self) -> bool:
        """Whether any pausing was asked for."""
        return self.pause_above_g_per_kwh is not None or self.pause_percentile is not None

    def cooperative(self, run: PausableRun, *, start_s: float | None) -> PauseController | None:
        """A controller for a loop of ``run`` that pauses itself; ``None`` when none was asked for.

        :func:`prepare_pausing` then :func:`cooperative_pausing`: what
        :class:`wattprint.run.Tracker` calls when it starts with ``pausing=``.

        Args:
            run: the tracker of the run (started).
            start_s: the run's start, UTC epoch seconds (default: now).

        Raises:
            ConfigError: as :func:`prepare_pausing`.
            RegionError: as :func:`prepare_pausing`.
            IntensityError: as :func:`prepare_pausing`.
        """
        return cooperative_pausing(run, prepare_pausing(self, now_s=start_s),
                                   say=say_to_stderr if self.announce else None)


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
        forecast: which forecast and history the signal is, when it is one
            (``"forecast: linear model on history to 2026-11-30 (shipped 2025 +
            312 kept live hours)"``), else ``None``.
    """

    signal: IntensitySignal
    threshold_g_per_kwh: float | None
    percentile: float | None
    deadline_s: float | None
    expected_duration_s: float | None
    start_s: float
    poll_s: float
    notes: tuple[str, ...] = field(default=())
    forecast: str | None = None

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
    else the shipped hourly series of the region: its real hours when it
    covers now, else a forecast from it (``use_forecast``, the default) or
    its replay at the same time of year. A series must cover now; a
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
    check_threshold_rule(options.pause_above_g_per_kwh, options.pause_percentile)
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
    forecast: str | None = None
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
            series = load_series(options.intensity_path, region=options.region or None)
            series_signal = SeriesSignal(series)
        else:
            shipped = _shipped_hourly(options.region)
            series_signal = SeriesSignal(shipped, replay_year=True)
            if not series_signal.covers(start) and options.use_forecast:
                series_signal, note, forecast = _forecast_signal(
                    shipped, start, deadline, _history_home(options))
                notes.append(note)
            elif not series_signal.covers(start):
                notes.append(
                    f"intensity from the shipped {series_signal.year} hourly series at the "
                    f"same date and time (UTC): a typical year, not a forecast"
                )
        series_signal.current(start)  # raises if the series does not cover now
        if not series_signal.replay_year and series_signal.end_s < deadline:
            notes.append(
                f"the series ends at {utc_text(series_signal.end_s)}, before the deadline; after "
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
        forecast=forecast,
    )
    if setup.threshold_g_per_kwh is None and not options.live:
        threshold = setup.controller(clock=lambda: start).resolve_threshold()
        setup = replace(setup, threshold_g_per_kwh=threshold)
    return setup


def _history_home(options: PauseOptions) -> Path | str | None:
    """Where the kept live values are read (``None``: not at all)."""
    if not options.live_values:
        return None
    if options.history_home is not None:
        return options.history_home
    from wattprint.config import load_settings
    from wattprint.errors import WattprintError

    try:
        return load_settings().store_dir
    except WattprintError as exc:  # a broken config is reported by the run itself
        logger.info("live pausing: kept live values not read: %s", exc)
        return None


def _forecast_signal(shipped: IntensitySeries, start_s: float, deadline_s: float,
                     home: Path | str | None) -> tuple[SeriesSignal, str, str]:
    """A forecast from the shipped history and the kept live values, as the signal.

    Returns:
        ``(signal, note, label)``: the note says no live forecast API was
        configured and which forecast and history the signal is.
    """
    from wattprint.schedule.plan import forecast_from_history

    made = forecast_from_history(shipped, start_s, deadline_s, home=home)
    series = made.series
    note = (
        f"no live forecast API configured: intensity {made.label}, {made.model} "
        f"({made.basis} basis), {utc_text(float(series.start_s[0]))} to {utc_text(series.end_s)}"
        + (f"; {'; '.join(made.notes)}" if made.notes else "")
    )
    if series.end_s < deadline_s:
        note += "; after that the signal is missing and the job runs unpaused"
    signal = SeriesSignal(series, description=f"{made.label} for {shipped.region}")
    return signal, note, made.label


def _shipped_hourly(region: str | None) -> IntensitySeries:
    """The shipped hourly series of ``region`` (a region is needed for one)."""
    if not region:
        from wattprint.accounting.hourly import hourly_regions

        raise ConfigError(
            "live pausing needs a region: pass --region with a shipped hourly series "
            f"({', '.join(hourly_regions())}), or give --intensity FILE or --live"
        )
    return shipped_hourly(region, instead="--intensity FILE, or --live")


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


def say_to_stderr(message: str) -> None:
    """Write one line about pausing to stderr (what ``run`` and ``track()`` do by default)."""
    sys.stderr.write(f"wattprint: {message}\n")
    sys.stderr.flush()


class _RunRecorder:
    """Marks a run's energy as paused and writes pauses and the pausing record to its store."""

    def __init__(self, run: PausableRun) -> None:
        self.run = run
        self._rowid: int | None = None
        self.controller: PauseController | None = None
        self.series: dict[str, Any] | None = None
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
        self.record()

    def record(self) -> None:
        if self.controller is not None:
            summary = {"pausing": {**self.controller.summary(), "series": self.series}}
            self._store_call("the pausing record", lambda s, r: s.update_info(r, summary))

    def keep_signal(self, signal: IntensitySignal) -> None:
        """Keep the series the run pauses on, so its footprint is accounted with it.

        The whole series is kept (:func:`wattprint.accounting.kept.keep_series`,
        content-addressed under the store's home: one file per distinct series);
        its digest goes to ``info.pausing.series``, which
        :func:`wattprint.accounting.account.account_run` uses by default. A
        live signal has no series to keep: its readings are in the events.
        """
        store = self.run.store
        path = getattr(store, "path", None)
        if not isinstance(signal, SeriesSignal) or path is None or self.run.id is None:
            return
        from wattprint.accounting.kept import keep_series

        try:
            digest = keep_series(Path(path).parent, signal.series,
                                 used_by=f"pausing {self.run.id}")
        except Exception as exc:  # keeping must never stop the job
            logger.warning("could not keep the series the run pauses on: %s", exc)
            return
        self.series = {"digest": digest, "description": signal.description,
                       "replay_year": signal.replay_year}


def _wire(
    run: PausableRun,
    setup: PauseSetup,
    stop_job: Callable[[], None] | None,
    continue_job: Callable[[], None] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> PauseController:
    recorder = _RunRecorder(run)
    recorder.keep_signal(setup.signal)
    if say is not None and setup.forecast is not None:
        say(f"pausing on a {setup.forecast} (no live forecast API configured)")

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
        message = event_message(event) if say is not None else None
        if message is not None and say is not None:
            say(message)

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
    say: Callable[[str], None] | None = say_to_stderr,
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
        say: where each pause and resume is told, one line each
            (:func:`~wattprint.schedule.controller.event_message`; default
            stderr, ``None`` for silence).

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

    controller = _wire(run, setup, stop_job, pauser.resume, clock, say=say)
    return controller.start()


def cooperative_pausing(
    run: PausableRun,
    setup: PauseSetup | None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] | None = None,
    say: Callable[[str], None] | None = say_to_stderr,
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
        say: where each pause and resume is told (default stderr; ``None``: silent).

    Returns:
        The controller, or ``None`` when ``setup`` is ``None``.
    """
    if setup is None:
        return None
    return _wire(run, setup, None, None, clock, sleep, say)


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
