"""``wattprint run``: run a command, measure its energy, store it, print the footprint.

This command wraps every job, so it imports only what measuring needs
(:mod:`wattprint.run`, sampling, sensors, the store) and neither typer nor
rich: its options are parsed by :mod:`wattprint.cli.plain`. The carbon
accounting (numpy, the region tables) loads in a background thread while
the command runs, so that the footprint printed at the end adds little to
a long job; ``--quiet`` skips it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from wattprint import validate
from wattprint.cli.plain import (
    Option,
    UsageError,
    echo,
    fail,
    handle_error,
    help_page,
    parse,
    settings_from,
    setup_logging,
    table,
)
from wattprint.config import Settings
from wattprint.errors import WattprintError
from wattprint.run import DeviceEnergy, Tracker
from wattprint.signals import child_outcome
from wattprint.units import (
    DEFAULT_PRECISION,
    format_duration_s,
    format_energy_j,
    format_intensity,
    format_mass_kg,
    format_number,
    format_power_w,
)

if TYPE_CHECKING:  # pausing and predicting load only when asked for
    from wattprint.decide.predict import Budget, Prediction
    from wattprint.schedule.controller import PauseController
    from wattprint.schedule.pausing import PauseSetup

USAGE = "wattprint run [OPTIONS] [--] CMD [ARGS]..."

RUN_OPTIONS: tuple[Option, ...] = (
    Option(("--project", "-p"), "project", "Project name."),
    Option(("--name",), "name", "Name of the run (default: the command's name)."),
    Option(("--phase",), "phase",
           "Life-cycle phase: data, experimentation, training, inference or your own.",
           default="training"),
    Option(("--interval",), "interval", "Sampling interval in seconds (default 1, down to 0.01).",
           kind="float", metavar="SECONDS"),
    Option(("--attribution",), "attribution",
           "machine (whole devices) or process (the command's share) for totals."),
    Option(("--region",), "region", "Grid region code for carbon (DE, US-CAL-CISO, ...).",
           metavar="CODE"),
    Option(("--sensors",), "sensors", "Comma-separated sensors to use (default: detect)."),
    Option(("--instance-type",), "instance_type",
           "Cloud instance type the run is on (m5.large), recorded with the run: embodied "
           "carbon by the instance (CCF).", metavar="TYPE"),
    Option(("--node-power",), "node_power",
           "Node wall power from the BMC: ipmi, redfish or off (the node_power setting).",
           metavar="METHOD"),
    Option(("--measure-idle",), "measure_idle",
           "Sample the idle machine for SECONDS before starting.", kind="float",
           metavar="SECONDS", default=0.0),
    Option(("--job",), "job", "Distributed job id (default: from the launcher's environment).",
           metavar="ID"),
    Option(("--tag",), "tag", "KEY=VALUE tag (repeatable).", kind="list", metavar="KEY=VALUE"),
    Option(("--cost-tag",), "cost_tag", "NAME=AMOUNT cost of the run, e.g. usd=12.5 (repeatable).",
           kind="list", metavar="NAME=AMOUNT"),
    Option(("--pause-above",), "pause_above", "Pause the command while intensity > G gCO2e/kWh.",
           kind="float", metavar="G"),
    Option(("--pause-percentile",), "pause_percentile",
           "Pause above the P-th percentile of the intensity.", kind="float", metavar="P"),
    Option(("--deadline",), "deadline",
           "Latest time to still be paused, from the start (e.g. 12h).", metavar="DURATION"),
    Option(("--expected-duration",), "expected_duration",
           "Expected run time, so pausing never misses the deadline.", metavar="DURATION"),
    Option(("--intensity",), "intensity", "Intensity series (CSV/Parquet) for pausing.",
           metavar="FILE"),
    Option(("--live",), "live", "Live intensity API for pausing.", kind="flag", default=False),
    Option(("--live-source",), "live_source", "electricitymaps, watttime or ukgrid."),
    Option(("--no-live-values",), "no_live_values",
           "Pausing without a live API: forecast from the shipped series only, without the "
           "live values kept since.", kind="flag", default=False),
    Option(("--epochs",), "epochs",
           "The command runs N epochs and prints a WATTPRINT_EPOCH line at each epoch's end: "
           "predict the run's totals from its first epochs.", kind="int", metavar="N"),
    Option(("--predict-after",), "predict_after",
           "Predict after K epochs (default 1), then after each.", kind="int", metavar="K"),
    Option(("--budget-kwh",), "budget_kwh",
           "Stop the command when its energy is predicted to exceed X kWh.", kind="float",
           metavar="X"),
    Option(("--budget-co2e-kg",), "budget_co2e_kg",
           "Stop the command when its carbon is predicted to exceed X kg CO2e.", kind="float",
           metavar="X"),
    Option(("--budget-action",), "budget_action",
           "stop (SIGTERM, then SIGKILL after the grace period) or warn.", default="stop",
           metavar="ACTION"),
    Option(("--budget-grace-s",), "budget_grace_s",
           "Seconds between SIGTERM and SIGKILL when the budget stops the command (default 30).",
           kind="float", metavar="SECONDS", default=30.0),
    Option(("--precision",), "precision",
           "Significant figures of the figures printed (default 3).", kind="float", metavar="N",
           default=float(DEFAULT_PRECISION)),
    Option(("--quiet", "-q"), "quiet", "No summary table.", kind="flag", default=False),
    Option(("--verbose", "-v"), "verbose", "Debug logging.", kind="flag", default=False),
)

DOC = """\
Run a command and measure its energy.

The command's output and exit code pass through untouched; the energy
table and the carbon footprint are printed to stderr when it ends, and
the run is stored (see `wattprint runs`, `wattprint show last`). Options
end at the command's name; put -- before the command so that its own
options are never read as wattprint's.

Examples:
  wattprint run -- python train.py --epochs 3
  wattprint run --project bert --name base --region FR -- python train.py
  wattprint run --interval 0.1 --attribution process -- ./bench.sh
  wattprint run -- torchrun --nproc_per_node 4 train.py
  srun -N 2 --ntasks-per-node 4 wattprint run -- python train.py
  wattprint run --pause-above 300 --deadline 12h --region US-CAL-CISO \\
      -- python train.py
  wattprint run --epochs 50 --predict-after 2 --budget-kwh 30 -- python train.py

With --epochs N the command prints (or logs) a line holding WATTPRINT_EPOCH
at the end of each epoch; its output still passes through unchanged, read
from pipes, and Python commands get PYTHONUNBUFFERED=1 so each line arrives
when printed.
"""


_HELP = Option(("--help", "-h"), "help", "Show this message and exit.", kind="flag",
               default=False)


def main(args: Sequence[str], prog: str = "wattprint run") -> int:
    """Parse ``args`` (everything after ``run``) and run the command; return the exit code."""
    try:
        values, command = parse((*RUN_OPTIONS, _HELP), args)
    except UsageError as exc:
        echo(f"error: {exc}")
        echo(f"Usage: {USAGE}")
        echo(f"Try '{prog} --help' for help.")
        return 2
    if values.pop("help"):
        sys.stdout.write(help_page(USAGE, DOC, RUN_OPTIONS))
        return 0
    try:
        run(command, **values)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


#: commands of this module that take their arguments as a list (see :mod:`wattprint.cli`)
PLAIN_COMMANDS: dict[str, Callable[[Sequence[str], str], int]] = {"run": main}


def run(command: list[str], *, project: str | None = None, name: str | None = None,
        phase: str = "training", interval: float | None = None,
        attribution: str | None = None, region: str | None = None,
        sensors: str | None = None, measure_idle: float = 0.0, job: str | None = None,
        tag: list[str] | None = None, cost_tag: list[str] | None = None,
        pause_above: float | None = None, pause_percentile: float | None = None,
        deadline: str | None = None, expected_duration: str | None = None,
        intensity: str | None = None, live: bool = False, live_source: str | None = None,
        precision: float = DEFAULT_PRECISION, quiet: bool = False,
        verbose: bool = False, epochs: int | None = None, predict_after: int | None = None,
        budget_kwh: float | None = None, budget_co2e_kg: float | None = None,
        budget_action: str = "stop", budget_grace_s: float = 30.0,
        instance_type: str | None = None, node_power: str | None = None,
        no_live_values: bool = False) -> None:
    """Run ``command`` under a tracker; exits (``SystemExit``) with the command's exit code."""
    setup_logging(verbose)
    digits = int(precision)
    if digits != precision or not 1 <= digits <= 17:
        fail(f"--precision {format_number(precision)} must be a whole number from 1 to 17")
    cmd = list(command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        fail(f"no command given: {USAGE}")
    try:
        measure_idle = validate.idle_s(measure_idle, "--measure-idle")
        from wattprint.decide.costs import cost_tags

        costs = cost_tags(cost_tag or [])
    except WattprintError as exc:
        handle_error(exc)
    tags: dict[str, str] = {}
    for item in tag or []:
        if "=" not in item:
            fail(f"tag {item!r} must be KEY=VALUE")
        key, value = item.split("=", 1)
        tags[key] = value
    tags.update(costs)
    settings = settings_from(project=project, interval_s=interval, attribution=attribution,
                             region=region, sensors=sensors, node_power=node_power)
    if instance_type is not None:
        _record_instance_type(instance_type)
    if settings.region:  # an unknown region fails before the command starts
        try:
            from wattprint.run import resolve_settings_region

            resolve_settings_region(settings)
        except WattprintError as exc:
            handle_error(exc)
    pausing = _prepare_pausing(settings, pause_above, pause_percentile, deadline,
                               expected_duration, Path(intensity) if intensity else None,
                               live, live_source, live_values=not no_live_values)
    budget = _prepare_budget(epochs, predict_after, budget_kwh, budget_co2e_kg, budget_action,
                             budget_grace_s)
    say_prediction: Callable[[Prediction], None] | None = None
    if epochs is not None and not quiet:
        from wattprint.run.epochs import print_prediction

        say_prediction = print_prediction
    tracker = Tracker(name=name or Path(cmd[0]).name, phase=phase, tags=tags,
                      measure_idle_s=measure_idle, command=shlex.join(cmd), settings=settings,
                      job=job, leads_job=True, epochs=epochs, predict_after=predict_after or 1,
                      budget=budget, on_prediction=say_prediction)
    if measure_idle > 0 and not quiet:
        echo(f"wattprint: measuring idle power for {format_duration_s(measure_idle, digits)} "
             "before the command starts (leave the machine idle)...")
    try:
        tracker.start()
    except WattprintError as exc:
        handle_error(exc)
    if measure_idle > 0 and not quiet:
        echo(idle_line(tracker, digits))
    own_group = not sys.stdin.isatty()
    # Forward signals from before the command starts: one that came between the spawn
    # and the handlers would end wattprint alone and leave the command running
    forwarder = _Forwarder(own_group)
    previous = {s: signal.signal(s, forwarder.handle) for s in FORWARDED_SIGNALS
                if signal.getsignal(s) != signal.SIG_IGN}  # an ignored signal stays ignored
    controller: PauseController | None = None
    watcher = None
    warm = None
    try:
        try:
            child = _spawn(cmd, tracker.job_environ(), watch_epochs=epochs is not None)
        except _SpawnError as exc:
            tracker.stop(exit_code=exc.code, error=str(exc), status="failed")
            fail(str(exc), exc.code)
        if pausing is not None:
            from wattprint.schedule.pausing import attach_pausing, say_to_stderr

            controller = attach_pausing(tracker, child, pausing,
                                        say=None if quiet else say_to_stderr)
        forwarder.attach(child, controller)
        warm = None if quiet else _warm_accounting()
        if epochs is not None:
            from wattprint.cli.epochs import BudgetStop, EpochWatcher

            watcher = EpochWatcher(child, tracker.epoch_end)
            if budget is not None and budget.action == "stop":
                tracker.budget_stopper = BudgetStop(child, own_group, budget.grace_s, controller)
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        forwarder.close()
        if watcher is not None:
            watcher.close()
        if controller is not None:
            controller.stop()
    if warm is not None:
        warm.cancel()  # a job shorter than the delay: the summary loads what it needs itself
    exit_code, status, reason = child_outcome(code, forwarder.received)
    stopper = tracker.budget_stopper
    if stopper is not None and getattr(stopper, "reason", None):
        status, reason = "stopped", f"stopped by the budget: {tracker.budget_reason}"
    tracker.stop(exit_code=exit_code, status=status, error=reason)
    if not quiet:
        echo(f"wattprint run {tracker.id or '(not stored)'}: "
             f"{format_duration_s(tracker.duration_s or 0, digits)}, exit {exit_code}")
        echo(device_table(tracker.by_device(), digits))
        echo(f"total ({tracker.settings.attribution} attribution): "
             f"{format_energy_j(tracker.energy_j, digits)}")
        _print_skips(tracker)
        if status == "stopped":
            echo(f"wattprint: {reason}")
        if controller is not None:
            echo(f"paused {len(controller.spans)} time(s), "
                 f"{format_duration_s(controller.paused_s(), digits)} in all "
                 "(excluded from energy)")
        _print_carbon(tracker, digits)
    raise SystemExit(exit_code)


DEVICE_COLUMNS = (("device", "left"), ("kind", "left"), ("source", "left"), ("basis", "left"),
                  ("mean power", "right"), ("energy", "right"), ("attributed", "right"))


def device_cells(devices: Sequence[DeviceEnergy] | Sequence[dict[str, Any]],
                 precision: int = DEFAULT_PRECISION
                 ) -> tuple[list[list[str]], list[str], list[str]]:
    """The cells of the per-device energy table printed after a run, its total row, its notes.

    A model's long description goes into a numbered note under the table, so the
    table fits 80 columns.
    """
    rows: list[list[str]] = []
    notes: list[str] = []
    total = attributed = 0.0
    for d in devices:
        row = d.as_dict() if isinstance(d, DeviceEnergy) else d
        total += row["energy_j"]
        attributed += row["attributed_energy_j"]
        basis = "measured"
        if not row["measured"]:
            notes.append(f"{row['name']}: estimated by {row.get('model') or 'a power model'}")
            basis = f"estimated [{len(notes)}]"
        rows.append([row["name"], row["kind"], row["source"], basis,
                     format_power_w(row["mean_power_w"], precision),
                     format_energy_j(row["energy_j"], precision),
                     format_energy_j(row["attributed_energy_j"], precision)])
    return rows, ["total", "", "", "", "", format_energy_j(total, precision),
                  format_energy_j(attributed, precision)], notes


def device_table(devices: Sequence[DeviceEnergy] | Sequence[dict[str, Any]],
                 precision: int = DEFAULT_PRECISION) -> str:
    """The per-device energy table as plain text, with its numbered notes under it."""
    import textwrap

    rows, total, notes = device_cells(devices, precision)
    lines = [table(DEVICE_COLUMNS, rows, total)]
    for n, note in enumerate(notes, start=1):
        lines.append(textwrap.fill(note, 79, initial_indent=f"[{n}] ",
                                   subsequent_indent=" " * (len(str(n)) + 3)))
    return "\n".join(lines)


def _prepare_budget(epochs: int | None, predict_after: int | None, budget_kwh: float | None,
                    budget_co2e_kg: float | None, action: str, grace_s: float) -> Budget | None:
    """The budget asked for (``None`` without one); fails on options that do not fit."""
    if epochs is None:
        if predict_after is not None or budget_kwh is not None or budget_co2e_kg is not None:
            fail("--predict-after and --budget-kwh / --budget-co2e-kg need --epochs N (the "
                 "command prints a WATTPRINT_EPOCH line at the end of each epoch)")
        return None
    if epochs < 1:
        fail(f"--epochs {epochs} must be at least 1")
    if predict_after is not None and not 1 <= predict_after <= epochs:
        fail(f"--predict-after {predict_after} must be from 1 to --epochs ({epochs})")
    if action not in ("stop", "warn"):
        fail(f"--budget-action {action!r}: choose stop or warn")
    if budget_kwh is None and budget_co2e_kg is None:
        return None
    from wattprint.decide.predict import Budget

    try:
        return Budget(budget_kwh, budget_co2e_kg, action, grace_s)
    except WattprintError as exc:
        handle_error(exc)


def _spawn(cmd: list[str], job_environ: dict[str, str],
           watch_epochs: bool = False) -> subprocess.Popen[bytes]:
    """Start the child. Interactive: same process group (the terminal signals both).

    Non-interactive: its own process group, so signals we forward and pauses
    reach the whole tree and nothing else. The child gets the job's id (and
    this run's), so that its own ``track()`` runs join the job and leave to
    this run what it measures already. Watching for epoch ends, its stdout
    and stderr are pipes (:mod:`wattprint.cli.epochs`).
    """
    interactive = sys.stdin.isatty()
    kwargs: dict[str, Any] = {"env": {**os.environ, **job_environ}} if job_environ else {}
    if watch_epochs:
        kwargs["env"] = {"PYTHONUNBUFFERED": "1", **kwargs.get("env", os.environ)}
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if not interactive:
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = 0
        else:  # pragma: no cover
            kwargs["preexec_fn"] = os.setpgrp
    try:
        return subprocess.Popen(cmd, **kwargs)
    except FileNotFoundError:
        raise _SpawnError(127, f"command not found: {cmd[0]} (check its name and PATH, "
                               "or give its full path)") from None
    except PermissionError:
        raise _SpawnError(126, f"command is not executable: {cmd[0]} "
                               f"(chmod +x {cmd[0]}, or run it through its interpreter)") from None
    except OSError as exc:
        raise _SpawnError(126, f"command cannot be started: {cmd[0]}: "
                               f"{exc.strerror or exc}") from None


class _SpawnError(Exception):
    """The command could not be started; ``code`` is the shell's exit code for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


#: Signals ``wattprint run`` passes on to the command (SLURM's ``--signal`` sends USR1/USR2).
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1,
                     signal.SIGUSR2)


class _Forwarder:
    """Passes the signals ``wattprint run`` receives on to the command.

    The handler only records the signal and writes its number to a pipe; a
    thread does the rest (stopping a pause, which resumes a stopped job and
    writes to the store, then signalling the job's process group), so
    nothing in the handler takes a lock or waits.
    """

    def __init__(self, own_group: bool) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.own_group = own_group
        self.controller: PauseController | None = None
        self.received: list[int] = []
        self._attached = threading.Event()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._thread = threading.Thread(target=self._loop, name="wattprint-forward", daemon=True)
        self._thread.start()

    def attach(self, child: subprocess.Popen[bytes],
               controller: PauseController | None = None) -> None:
        """The command has started: signals received so far, and later ones, go to it."""
        self.child, self.controller = child, controller
        self._attached.set()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: record and wake the thread."""
        self.received.append(signum)
        with suppress(OSError):
            os.write(self._write_fd, bytes((signum,)))

    def _loop(self) -> None:
        while True:
            try:
                data = os.read(self._read_fd, 64)
            except OSError:
                return
            for signum in data:
                if signum == 0:
                    return
                self._forward(signum)

    def _forward(self, signum: int) -> None:
        self._attached.wait()
        if self.child is None or self.child.returncode is not None:
            return
        if self.controller is not None:  # a stopped child acts on signals only once continued
            try:
                self.controller.stop("signal received")
            except Exception as exc:
                echo(f"pausing did not stop cleanly: {exc}")
        try:
            if self.own_group:
                os.killpg(self.child.pid, signum)
            elif signum != signal.SIGINT:  # the terminal already sent SIGINT to the child
                self.child.send_signal(signum)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Forward what is still queued, then end the thread."""
        self._attached.set()  # a command that never started takes nothing more
        with suppress(OSError):
            os.write(self._write_fd, b"\0")
        self._thread.join(5.0)
        for fd in (self._read_fd, self._write_fd):
            with suppress(OSError):
                os.close(fd)


def _record_instance_type(instance_type: str) -> None:
    """Make ``--instance-type`` the type the run records (and its command's own runs).

    The run's host facts take the type from ``WATTPRINT_INSTANCE_TYPE``
    (:func:`wattprint.cloudmeta.instance_type`); the flag sets it for this
    process and the command, so ``account`` later charges embodied carbon by
    the instance. A type CCF's tables do not know fails before the command starts.
    """
    from wattprint.catalogue.instances import instance_embodied
    from wattprint.cloudmeta import ENV_TYPE

    name = instance_type.strip()
    if not name:
        fail("--instance-type is empty: give a cloud instance type, e.g. m5.large")
    try:
        instance_embodied(name)
    except WattprintError as exc:
        handle_error(exc)
    os.environ[ENV_TYPE] = name


def _prepare_pausing(settings: Settings, pause_above: float | None,
                     pause_percentile: float | None, deadline: str | None,
                     expected_duration: str | None, intensity: Path | None, live: bool,
                     live_source: str | None, live_values: bool = True) -> PauseSetup | None:
    if pause_above is None and pause_percentile is None:
        if deadline or expected_duration or live or live_source or intensity \
                or not live_values:
            fail("--deadline, --intensity, --live and --no-live-values apply to pausing: add "
                 "--pause-above G or --pause-percentile P")
        return None
    from wattprint.schedule.pausing import PauseOptions, prepare_pausing
    from wattprint.time import parse_duration_s

    try:
        opts = PauseOptions(pause_above, pause_percentile,
                            parse_duration_s(deadline) if deadline else None,
                            parse_duration_s(expected_duration) if expected_duration else None,
                            intensity, live, live_source, settings.region,
                            live_values=live_values, history_home=settings.store_dir)
        return prepare_pausing(opts, environ=settings.live_environ())
    except WattprintError as exc:
        handle_error(exc)
    except ValueError as exc:
        fail(str(exc))


def idle_line(tracker: Tracker, precision: int = DEFAULT_PRECISION) -> str:
    """The line told after ``--measure-idle``: each device's idle power, and how it was had."""
    if not tracker.idle_w:
        return "wattprint: idle power: no device gave a reading while idle"
    modelled: set[str] = set()
    if tracker.store is not None and tracker.id is not None:
        with suppress(WattprintError):
            modelled = {d.device_id for d in tracker.store.devices(tracker.id) if not d.measured}
    parts = [f"{device_id} {format_power_w(power_w, precision)}"
             + (" (power model)" if device_id in modelled else "")
             for device_id, power_w in tracker.idle_w.items()]
    return "wattprint: idle power: " + ", ".join(parts)


#: Seconds a job runs before the accounting loads beside it: a job shorter than this
#: would only pay for the thread (the summary of a short job loads what it needs itself).
WARM_DELAY_S = 1.0


def _warm_accounting() -> threading.Timer:
    """Load the accounting code and tables while the command runs (a daemon timer thread)."""

    def warm() -> None:
        try:
            from wattprint.accounting.hardware import default_catalogue
            from wattprint.accounting.intensity import canonical_region

            canonical_region("DE")  # parses the region tables once (cached)
            default_catalogue()
        except Exception:  # a failed warm-up only means no head start
            pass

    timer = threading.Timer(WARM_DELAY_S, warm)
    timer.name, timer.daemon = "wattprint-warm-accounting", True
    timer.start()
    return timer


def _print_carbon(tracker: Tracker, precision: int = DEFAULT_PRECISION) -> None:
    if tracker.store is None or tracker.id is None:
        return
    from wattprint.accounting.account import AccountingOptions, account_run

    settings = tracker.settings
    try:
        accounted = account_run(tracker.store, tracker.id, AccountingOptions(
            pue=settings.pue, catalogue_overrides=settings.hardware))
    except WattprintError as exc:
        echo(f"carbon not computed: {exc}")
        return
    fp = accounted.footprint.to_dict()
    co2e = fp["co2e_kg"]
    terms = ", ".join(f"{term} {format_mass_kg(co2e[term], precision)}" for term in
                      ("dynamic", "idle", "infrastructure", "embodied") if co2e.get(term))
    echo(f"carbon, region {accounted.region.label}: "
         f"{format_mass_kg(co2e['total'], precision)} CO2e" + (f" ({terms})" if terms else ""))
    i = fp["intensity"]
    echo(f"grid intensity {i['region']} ({i['method']}, {i['source']}): "
         f"{format_intensity(i['mean_g_per_kwh'], precision)}; "
         f"PUE {format_number(fp['pue'], precision)}; details: wattprint show {tracker.id}")
    if accounted.region.hint:
        echo(f"hint: {accounted.region.hint}")


def _print_skips(tracker: Tracker) -> None:
    if not tracker.by_device():
        echo("no energy sensor was found; see `wattprint sensors`")
