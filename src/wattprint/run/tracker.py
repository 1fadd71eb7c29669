"""Tracking a piece of work: :func:`track`, :class:`Tracker`.

A :class:`Tracker` opens the sensors, creates a run in the store, starts the
sampler thread, and on :meth:`Tracker.stop` (or leaving the ``with`` block,
or the decorated function returning) stops the thread and finalises the run.
Everything the run measured is returned as data (:attr:`Tracker.energy_j`,
:meth:`Tracker.by_device`, :meth:`Tracker.intervals`), not only written to
files.

Tracking never hurts the work it tracks: a sensor or store fault is logged
once and the workload goes on; an exception in the workload keeps its
traceback; no thread is left running after :meth:`Tracker.stop`.

How a run is finalised on a signal or at exit is told in
:mod:`wattprint.run.signals`; what it answers (energy, carbon, the summary
line) lives in :mod:`wattprint.run.results`, its devices in
:mod:`wattprint.run.devices` and cooperative pausing in
:mod:`wattprint.run.pausing`.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from wattprint.config import Settings, load_settings
from wattprint.distributed import ENV_JOB, ENV_NODE, ENV_PARENT_RUN, Election, Launch, detect_launch

if TYPE_CHECKING:
    from wattprint.accounting.account import AccountedRun
    from wattprint.accounting.location import ResolvedRegion
    from wattprint.decide.predict import Budget, Prediction
from wattprint.errors import BudgetExceeded, WattprintError
from wattprint.records import RUN_INFO_SHARE_RULES
from wattprint.run.devices import open_sensors
from wattprint.run.epochs import _Epochs
from wattprint.run.pausing import CooperativePausing, PauseControl, _Pausing
from wattprint.run.results import _Results
from wattprint.run.signals import _SignalHandling
from wattprint.sampling import Gap, Sampler
from wattprint.sensors.base import Sensor, SkippedSensor
from wattprint.sensors.context import SensorContext
from wattprint.signals import SignalFinaliser
from wattprint.store import DeviceRecord, IntervalRecord, Store, new_run_id

log = logging.getLogger("wattprint.run")

F = TypeVar("F", bound=Callable[..., Any])

STANDARD_PHASES = ("data", "experimentation", "training", "inference")

#: Intervals are committed to the store as they are taken when the sampling
#: interval is at least this long; faster sampling is committed in batches
#: this often, so a killed run loses at most this much (or one interval).
COMMIT_PERIOD_S = 0.25


class Tracker(_SignalHandling, _Results, _Pausing, _Epochs):
    """Measures the energy of the work done between :meth:`start` and :meth:`stop`.

    Use it through :func:`track` as a context manager or decorator, or call
    :meth:`start` and :meth:`stop` yourself.

    Args:
        project: project the run is filed under.
        name: a name for the run (default: the script name).
        phase: life-cycle phase (``data``, ``experimentation``, ``training``,
            ``inference`` or your own word).
        interval_s: sampling interval in seconds (default 1 s, >= 0.01 s).
        attribution: ``machine`` (whole devices) or ``process`` (the tracked
            process tree's share) for the run's total.
        region: grid region code for carbon accounting.
        sensors: sensor names to use (default: auto-detect).
        home: store directory (default ``$WATTPRINT_HOME`` or the user data dir).
        tags: free-form key/value tags.
        measure_idle_s: sample the idle machine this long before starting.
        command: the command line being tracked (set by ``wattprint run``).
        context: sensor context (tests pass fakes here).
        sensor_objects: already opened sensors, bypassing detection.
        settings: resolved settings (instead of the keyword arguments above).
        pausing: :class:`wattprint.schedule.pausing.PauseOptions` for
            :meth:`should_pause` / :meth:`wait_until_clean` in a training loop.
        on_intervals: called (from the sampler thread) with each batch of
            intervals after they are stored; its errors are logged, not raised.
        job: the id of the distributed job this run belongs to; wins over
            the job the launcher's environment names (see
            :mod:`wattprint.distributed`). In a job, node-level devices and
            each GPU are measured by one process only.
        leads_job: this run starts the job's other processes (``wattprint
            run``): without a job given or detected it makes one, ``run:<its
            id>``, that the command's own runs join.
        handle_signals: finalise the run on SIGTERM, SIGINT, SIGHUP and
            SIGUSR1/SIGUSR2 (the last two only when the program has no handler
            of its own for them) and at exit (default). A server whose
            framework handles its signals itself turns this off. Handlers are
            installed only when the tracker starts in the main thread.
        quiet: print nothing when the run ends (default). :func:`track` turns
            this off so the one-line summary goes to stderr.
        epochs: the number of epochs the run will have; with it, the run
            predicts its totals from its first epochs (:meth:`epoch_end`,
            :meth:`prediction`, :mod:`wattprint.run.epochs`).
        predict_after: predict after this many epochs (default 1), then after each.
        budget: a :class:`wattprint.decide.predict.Budget`; or give
            ``budget_kwh`` / ``budget_co2e_kg`` and ``budget_action``
            (``raise``, the default, or ``warn``).
        on_prediction: called with each prediction (from a worker thread)
            instead of printing it on stderr.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        name: str | None = None,
        phase: str = "training",
        interval_s: float | None = None,
        attribution: str | None = None,
        region: str | None = None,
        sensors: Sequence[str] | None = None,
        home: str | Path | None = None,
        tags: dict[str, str] | None = None,
        measure_idle_s: float = 0.0,
        command: str | None = None,
        context: SensorContext | None = None,
        sensor_objects: Sequence[Sensor] | None = None,
        settings: Settings | None = None,
        pausing: CooperativePausing | None = None,
        on_intervals: Callable[[Sequence[IntervalRecord]], None] | None = None,
        handle_signals: bool = True,
        quiet: bool = True,
        job: str | None = None,
        leads_job: bool = False,
        epochs: int | None = None,
        predict_after: int = 1,
        budget: Budget | None = None,
        budget_kwh: float | None = None,
        budget_co2e_kg: float | None = None,
        budget_action: str = "raise",
        on_prediction: Callable[[Prediction], None] | None = None,
    ) -> None:
        self.settings = settings or load_settings({
            "project": project, "interval_s": interval_s, "attribution": attribution,
            "region": region, "sensors": list(sensors) if sensors is not None else None,
            "home": home,
        })
        self._explicit_name = name
        self.name = name or (Path(sys.argv[0]).name if sys.argv and sys.argv[0] else None)
        self.phase_name = phase
        self.tags = dict(tags or {})
        self.measure_idle_s = measure_idle_s
        self.command = command
        self._context = context
        self._sensor_objects = list(sensor_objects) if sensor_objects is not None else None
        self.id: str | None = None
        self.region: ResolvedRegion | None = None
        self.status = "new"
        self.exit_code: int | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.skipped: list[SkippedSensor] = []
        self.idle_w: dict[str, float] = {}
        self._store: Store | None = None
        self._sampler: Sampler | None = None
        self._sensors: list[Sensor] = []
        self._memory: list[IntervalRecord] = []
        self._pending: list[IntervalRecord] = []
        self._pending_gaps: list[Gap] = []
        self._pending_since: float | None = None
        self._pending_lock = threading.Lock()
        self._phase_stack: list[tuple[str, int]] = []
        self._units: dict[str, float] = {}
        self._metrics: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._store_warned = False
        self._signals: SignalFinaliser | None = None
        self._host_thread: threading.Thread | None = None
        self._owner_pid = os.getpid()
        self._pausing_options = pausing
        self._on_intervals = on_intervals
        self._handle_signals = handle_signals
        self._pause_controller: PauseControl | None = None
        self._atexit_registered = False
        self.quiet = quiet
        self._summary_printed = False
        self._accounted_cache: AccountedRun | None = None
        self._job = job
        self._leads_job = leads_job
        #: this run's place in a distributed job (``None`` for a plain run)
        self.launch: Launch | None = None
        self._election: Election | None = None
        if budget is None and (budget_kwh is not None or budget_co2e_kg is not None):
            from wattprint.decide.predict import Budget

            budget = Budget(budget_kwh, budget_co2e_kg, budget_action)
        self._init_epochs(epochs, predict_after, budget, on_prediction)

    # -- lifecycle ----------------------------------------------------------
    def _warn_store(self, exc: BaseException) -> None:
        if not self._store_warned:
            self._store_warned = True
            log.warning("wattprint could not write to its store (tracking continues in memory): %s",
                        exc)

    def _sink(self, intervals: Sequence[IntervalRecord], gaps: Sequence[Gap]) -> None:
        with self._pending_lock:
            self._pending.extend(intervals)
            self._pending_gaps.extend(gaps)
            if self._pending and self._pending_since is None:
                self._pending_since = self._pending[0].t_start
            due = (self.settings.interval_s >= COMMIT_PERIOD_S or not self._pending
                   or self._pending[-1].t_end - (self._pending_since or 0.0) >= COMMIT_PERIOD_S)
        if due:
            self._flush()
        self._epochs_tick(intervals)
        if self._on_intervals is not None:
            try:
                self._on_intervals(intervals)
            except Exception:
                log.warning("an on_intervals callback failed", exc_info=True)

    def _flush(self) -> None:
        """Write buffered intervals and gaps to the store in one transaction."""
        with self._pending_lock:
            intervals, gaps = self._pending, self._pending_gaps
            self._pending, self._pending_gaps, self._pending_since = [], [], None
        if not intervals and not gaps:
            return
        if self._store is None or self.id is None:
            self._memory.extend(intervals)
            return
        try:
            self._store.append_intervals(self.id, intervals)
            for gap in gaps:
                self._store.add_gap(self.id, gap.device_id, gap.t_start, gap.t_end, gap.reason)
        except Exception as exc:
            self._memory.extend(intervals)
            self._warn_store(exc)

    def _measure_idle(self, sensors: Sequence[Sensor]) -> None:
        seconds = self.measure_idle_s
        idle = Sampler(sensors, lambda i, g: None, interval_s=min(1.0, max(seconds, 0.01)))
        idle.prime()
        time.sleep(seconds)
        idle.tick()
        for device_id, (energy_j, _, covered_s) in idle.totals.items():
            if covered_s > 0:
                self.idle_w[device_id] = energy_j / covered_s

    def start(self) -> Tracker:
        """Open sensors and the store, create the run and start sampling.

        Returns:
            ``self``, the running tracker.

        Raises:
            SensorError: a sensor the user explicitly asked for is unavailable.
            ConfigError: invalid settings.
        """
        if self.status != "new":
            return self
        self._owner_pid = os.getpid()
        # A configured region is checked now (an unknown code fails before the work
        # starts); without one, resolution waits for accounting time, keeping the
        # region tables (and numpy) off the start path.
        self.region = resolve_settings_region(self.settings) if self.settings.region else None
        if self._sensor_objects is not None:
            self._sensors = self._sensor_objects
        else:
            self._sensors, self.skipped = open_sensors(self.settings, self._context)
        for note in self.skipped:
            log.info("sensor %s skipped: %s", note.sensor, note.reason)
        if not self._sensors:
            log.warning("wattprint found no energy sensor; the run records no energy. "
                        "Run `wattprint sensors` to see why.")
        if self.measure_idle_s > 0:
            self._measure_idle(self._sensors)
        run_id = new_run_id()
        self._elect(run_id)
        self._sampler = Sampler(self._sensors, self._sink, interval_s=self.settings.interval_s,
                                root_pid=os.getpid(), busy_fn=self._cgroup_busy_fn(),
                                gate=self._election)
        self.started_at = self._sampler.to_wall(time.monotonic())
        try:
            self._store = Store.for_run(self.settings.store_target)
            self.id = self._store.create_run(run_id=run_id,
                project=self.settings.project, phase=self.phase_name, name=self.name,
                attribution=self.settings.attribution, interval_s=self.settings.interval_s,
                started_at=self.started_at, command=self.command,
                region=self.region.code if self.region else None,
                info={"skipped_sensors": [vars(s) for s in self.skipped],
                      "wattprint_version": _version(),
                      "region_how": self.region.how if self.region else None,
                      "region_hints": {k: v for k, v in os.environ.items()
                                       if k.endswith("REGION") and v}},
            )
            self._store.add_devices(self.id, self._device_records())
            if self.launch is not None and self.launch.job_id != f"run:{self.id}":
                self._store.set_job(self.id, self.launch)
            if self.tags:
                self._store.set_tags(self.id, self.tags)
            modelled = {d.id for d in self._sampler.devices.values() if not d.measured}
            for device_id, power_w in self.idle_w.items():
                how = (f"power model at the idle machine's utilisation, sampled for "
                       f"{self.measure_idle_s:g} s before the run" if device_id in modelled
                       else f"measured for {self.measure_idle_s:g} s before the run")
                self._store.set_idle(self.id, device_id, power_w, how)
        except WattprintError as exc:
            self._store = None
            self._warn_store(exc)
        self.status = "running"
        self._sampler.start()
        self._install_handlers()
        # host facts (package versions, git state) are gathered off the start path
        self._host_thread = threading.Thread(target=self._record_host, name="wattprint-host",
                                             daemon=True)
        self._host_thread.start()
        if self._pausing_options is not None:
            self._pause_controller = self._pausing_options.cooperative(
                self, start_s=self.started_at)
        return self

    def _elect(self, run_id: str) -> None:
        """Find this run's job and, in one, take part in electing who measures what."""
        environ = dict(self._context.environ) if self._context is not None else dict(os.environ)
        self.launch = detect_launch(environ, job=self._job)
        if self.launch is None and self._leads_job:
            self.launch = detect_launch(environ, job=f"run:{run_id}")
        if self.launch is None:
            return
        devices = [d for sensor in self._sensors for d in sensor.devices()]
        self._election = Election(self.launch, devices,
                                  unlink=self.launch.job_id == f"run:{run_id}")

    def job_environ(self) -> dict[str, str]:
        """What a command this run starts needs to join its job (``wattprint run``)."""
        if self.launch is None:
            return {}
        out = {ENV_JOB: self.launch.job_id, ENV_NODE: self.launch.node}
        if self.id is not None:
            out[ENV_PARENT_RUN] = self.id
        return out

    def _link_led_job(self) -> None:
        """Link a job this run made up (``run:<id>``) when its command's runs joined it."""
        if self._store is None or self.id is None or self.launch is None \
                or self.launch.job_id != f"run:{self.id}":
            return
        try:
            from wattprint.store.jobs import job_runs

            if job_runs(self._store, self.launch.job_id):
                self._store.set_job(self.id, self.launch)
        except Exception as exc:
            self._warn_store(exc)

    def _record_host(self) -> None:
        assert self._sampler is not None
        info = _host_info(self._sampler)
        if self._store is not None and self.id is not None and info:
            try:
                self._store.update_info(self.id, {"host": info})
            except Exception as exc:
                self._warn_store(exc)

    def _cgroup_busy_fn(self) -> Callable[[], float | None] | None:
        """The container's CPU-time counter when the CPU power is modelled for the cgroup."""
        scoped = any(d.kind == "cpu" and d.extra.get("scope") == "cgroup"
                     for s in self._sensors for d in s.devices())
        if not scoped:
            return None
        from wattprint.sensors.cgroup import cpu_usage_s, read_cgroup

        info = read_cgroup(self.settings.sysfs_root, Path("/proc"))
        return lambda: cpu_usage_s(info)

    def _device_records(self) -> list[DeviceRecord]:
        assert self._sampler is not None
        return [
            DeviceRecord(d.id, d.kind, d.name, d.source, d.measured, d.counter, d.model,
                         self._sampler.share_rules[d.id], dict(d.extra))
            for d in self._sampler.devices.values()
        ]

    def stop(self, *, exit_code: int | None = None, error: str | None = None,
             status: str | None = None) -> Tracker:
        """Stop sampling and finalise the run. A second call does nothing.

        If a signal arrived and its finalisation is under way, this waits for
        it (at most :data:`~wattprint.signals.FINALISE_BUDGET_S` s) and the
        run keeps the signal's status.

        Args:
            exit_code: the tracked command's exit code, if any.
            error: why the work failed, if it did.
            status: final status; default ``finished`` (``failed`` when
                ``error`` is given or ``exit_code`` is non-zero).
        """
        signals = self._signals
        if signals is not None:
            signals.settle()
        self._finish(exit_code=exit_code, error=error, status=status)
        if signals is not None and os.getpid() == self._owner_pid:
            signals.close()
        if self._atexit_registered:
            atexit.unregister(self._atexit)
            self._atexit_registered = False
        self._print_summary()
        return self

    def _finish(self, *, exit_code: int | None, error: str | None, status: str | None) -> None:
        """Stop sampling and write the run's end; from any thread, once."""
        with self._lock:
            if self._stopped or self.status != "running" or os.getpid() != self._owner_pid:
                return  # stopped already, never started, or a forked copy
            self._stopped = True
        assert self._sampler is not None
        if self._pause_controller is not None:
            try:
                self._pause_controller.stop()
            except Exception as exc:
                log.warning("pausing did not stop cleanly: %s", exc)
        try:
            self._sampler.stop()
        except Exception as exc:  # never let tracking break the host program
            log.warning("wattprint sampler did not stop cleanly: %s", exc)
        self._flush()
        self._settle_epochs()
        if self._election is not None:
            self._election.release()  # another rank measures on from its next tick
            self._link_led_job()
        self.ended_at = self._sampler.to_wall(time.monotonic())
        self._record_rules_applied()
        budget_end = self._budget_status() if status is None else None
        if budget_end is not None:
            status, error = budget_end
        final = status or ("failed" if error or (exit_code not in (None, 0)) else "finished")
        if self._host_thread is not None:
            # host facts are a nicety: a job being ended by a signal does not wait for them
            self._host_thread.join(timeout=0.2 if final in ("terminated", "interrupted") else 5.0)
        self.status = final
        self.exit_code = exit_code
        if self._store is not None and self.id is not None:
            try:
                self._store.finish_run(self.id, status=final, ended_at=self.ended_at,
                                       exit_code=exit_code, error=error)
            except Exception as exc:
                self._warn_store(exc)
        for sensor in self._sensors:
            try:
                sensor.close()
            except Exception:
                log.debug("closing %s failed", sensor.name, exc_info=True)

    def _record_rules_applied(self) -> None:
        """Store the share rules each device's intervals actually followed (fallbacks named)."""
        if self._store is None or self.id is None or self._sampler is None:
            return
        try:
            self._store.update_info(
                self.id, {RUN_INFO_SHARE_RULES: self._sampler.rules_applied.as_dict()})
        except Exception as exc:
            self._warn_store(exc)

    # -- context manager and decorator -------------------------------------------
    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.stop()
        elif isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            self.stop(exit_code=code)
        elif isinstance(exc, BudgetExceeded):
            self.stop(error=f"stopped by the budget: {self.budget_reason or exc}",
                      status="stopped")
        elif isinstance(exc, KeyboardInterrupt):  # Ctrl-C, as a shell reports it
            self.stop(exit_code=128 + signal.SIGINT, error="interrupted by KeyboardInterrupt",
                      status="interrupted")
        else:
            self.stop(error=f"{type(exc).__name__}: {exc}")

    def __call__(self, func: F) -> F:
        """Use the tracker as a decorator: each call of ``func`` is one run."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            fresh = Tracker(name=self._explicit_name or func.__name__, phase=self.phase_name,
                            tags=self.tags, measure_idle_s=self.measure_idle_s,
                            context=self._context, settings=self.settings,
                            pausing=self._pausing_options, on_intervals=self._on_intervals,
                            handle_signals=self._handle_signals, quiet=self.quiet,
                            job=self._job, epochs=self.epochs_total,
                            predict_after=self.predict_after, budget=self.budget,
                            on_prediction=self.on_prediction)
            wrapper.last_run = fresh  # type: ignore[attr-defined]
            with fresh:
                return func(*args, **kwargs)

        wrapper.last_run = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    # -- annotations during the run ------------------------------------------------
    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Mark a (nestable) window of the run, e.g. ``with run.phase("eval"):``."""
        now = time.time()
        rowid = -1
        if self._store is not None and self.id is not None:
            try:
                rowid = self._store.open_phase(self.id, name, len(self._phase_stack), now)
            except Exception as exc:
                self._warn_store(exc)
        self._phase_stack.append((name, rowid))
        try:
            yield
        finally:
            self._phase_stack.pop()
            if rowid >= 0 and self._store is not None and not self._stopped:
                try:  # (a finished run's open phases were closed at its end)
                    self._store.close_phase(rowid, time.time())
                except Exception as exc:
                    self._warn_store(exc)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a task metric (accuracy, loss...) for reports and leaderboards."""
        now = time.time()
        self._metrics.append({"name": name, "value": float(value), "step": step, "t": now})
        if self._store is not None and self.id is not None:
            try:
                self._store.log_metric(self.id, name, float(value), step, now)
            except Exception as exc:
                self._warn_store(exc)

    def add_units(self, n: float, unit: str = "sample") -> None:
        """Count ``n`` functional units (samples, requests, epochs) for per-unit figures."""
        if n < 0:
            raise ValueError("the number of units must not be negative")
        self._units[unit] = self._units.get(unit, 0.0) + n
        if self._store is not None and self.id is not None:
            try:
                self._store.add_units(self.id, unit, n)
            except Exception as exc:
                self._warn_store(exc)




def resolve_settings_region(settings: Settings) -> ResolvedRegion:
    """The run's region from settings (argument, environment, config file, cloud hints).

    Raises:
        RegionError: a region code that is given but unknown (with suggestions).
    """
    from wattprint.accounting.location import resolve_region

    origin = settings.origins.get("region", "default")
    explicit = settings.region if origin == "argument" else None
    configured = settings.region if origin not in ("argument", "default") else None
    return resolve_region(explicit, config_region=configured)


def _host_info(sampler: Sampler) -> dict[str, Any]:
    from wattprint import hostinfo

    try:
        gpus = [d.name for d in sampler.devices.values() if d.kind == "gpu"]
        return hostinfo.collect(gpus)
    except Exception:  # facts for the appendix must never stop a run
        log.debug("collecting host facts failed", exc_info=True)
        return {}


def _version() -> str:
    from wattprint._version import __version__

    return __version__


def track(
    project: str | None = None,
    *,
    name: str | None = None,
    phase: str = "training",
    interval_s: float | None = None,
    attribution: str | None = None,
    region: str | None = None,
    sensors: Sequence[str] | None = None,
    home: str | Path | None = None,
    tags: dict[str, str] | None = None,
    measure_idle_s: float = 0.0,
    context: SensorContext | None = None,
    pausing: CooperativePausing | None = None,
    on_intervals: Callable[[Sequence[IntervalRecord]], None] | None = None,
    quiet: bool | None = None,
    job: str | None = None,
    epochs: int | None = None,
    predict_after: int = 1,
    budget_kwh: float | None = None,
    budget_co2e_kg: float | None = None,
    budget_action: str = "raise",
) -> Tracker:
    """Track the energy of a block of code or a function.

    As a context manager::

        with wattprint.track(project="resnet", phase="training") as run:
            train()
        print(run.energy_j, run.by_device())

    or as a decorator (each call is one run)::

        @wattprint.track(project="resnet")
        def train(): ...

    A training loop that prefers to checkpoint rather than be stopped passes
    ``pausing=PauseOptions(...)`` (:mod:`wattprint.schedule.pausing`) and asks
    ``run.should_pause()`` / ``run.wait_until_clean()`` between steps.

    The run answers directly: ``run.energy_kwh``, ``run.co2e_kg``,
    ``run.footprint()``, and ``print(run)`` gives one line. That line is
    printed to stderr when the run ends unless ``quiet=True`` or
    ``WATTPRINT_QUIET=1``. A decorated function keeps its latest run as
    ``fn.last_run``. ``on_intervals`` receives each batch of measured
    intervals (from the sampler thread).

    Arguments are those of :class:`Tracker`, except ``quiet`` (default: from
    ``WATTPRINT_QUIET``, else ``False``). Nothing is measured until the block
    is entered or the function called.
    """
    if quiet is None:
        from wattprint.run.summary import quiet_from_env

        quiet = quiet_from_env()
    return Tracker(project, name=name, phase=phase, interval_s=interval_s,
                   attribution=attribution, region=region, sensors=sensors, home=home,
                   tags=tags, measure_idle_s=measure_idle_s, context=context,
                   pausing=pausing, on_intervals=on_intervals, quiet=quiet,
                   job=job, epochs=epochs, predict_after=predict_after,
                   budget_kwh=budget_kwh, budget_co2e_kg=budget_co2e_kg,
                   budget_action=budget_action)


__all__ = ["STANDARD_PHASES", "Tracker", "resolve_settings_region", "track"]
