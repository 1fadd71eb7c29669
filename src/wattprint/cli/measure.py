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
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

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
from wattprint.units import j_to_kwh

if TYPE_CHECKING:  # pausing loads only when asked for
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
    Option(("--measure-idle",), "measure_idle",
           "Sample the idle machine for SECONDS before starting.", kind="float",
           metavar="SECONDS", default=0.0),
    Option(("--tag",), "tag", "KEY=VALUE tag (repeatable).", kind="list", metavar="KEY=VALUE"),
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
  wattprint run --pause-above 300 --deadline 12h --region US-CAL-CISO \\
      -- python train.py
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
        sensors: str | None = None, measure_idle: float = 0.0, tag: list[str] | None = None,
        pause_above: float | None = None, pause_percentile: float | None = None,
        deadline: str | None = None, expected_duration: str | None = None,
        intensity: str | None = None, live: bool = False, live_source: str | None = None,
        quiet: bool = False, verbose: bool = False) -> None:
    """Run ``command`` under a tracker; exits (``SystemExit``) with the command's exit code."""
    setup_logging(verbose)
    cmd = list(command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        fail(f"no command given: {USAGE}")
    tags: dict[str, str] = {}
    for item in tag or []:
        if "=" not in item:
            fail(f"tag {item!r} must be KEY=VALUE")
        key, value = item.split("=", 1)
        tags[key] = value
    settings = settings_from(project=project, interval_s=interval, attribution=attribution,
                             region=region, sensors=sensors)
    if settings.region:  # an unknown region fails before the command starts
        try:
            from wattprint.run import resolve_settings_region

            resolve_settings_region(settings)
        except WattprintError as exc:
            handle_error(exc)
    pausing = _prepare_pausing(settings, pause_above, pause_percentile, deadline,
                               expected_duration, Path(intensity) if intensity else None,
                               live, live_source)
    tracker = Tracker(name=name or Path(cmd[0]).name, phase=phase, tags=tags,
                      measure_idle_s=measure_idle, command=shlex.join(cmd), settings=settings)
    try:
        tracker.start()
    except WattprintError as exc:
        handle_error(exc)
    try:
        child = _spawn(cmd)
    except _SpawnError as exc:
        tracker.stop(exit_code=exc.code, error=str(exc), status="failed")
        fail(str(exc), exc.code)
    if not quiet:
        _warm_accounting()
    own_group = not sys.stdin.isatty()
    controller: PauseController | None = None
    if pausing is not None:
        from wattprint.schedule.pausing import attach_pausing

        controller = attach_pausing(tracker, child, pausing)
    received: list[int] = []
    forward = _forwarder(child, own_group, controller, received)
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        code = child.wait()
    finally:
        if controller is not None:
            controller.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    exit_code, status, reason = _outcome(code, received)
    tracker.stop(exit_code=exit_code, status=status, error=reason)
    if not quiet:
        echo(f"wattprint run {tracker.id or '(not stored)'}: "
             f"{tracker.duration_s or 0:.1f} s, exit {exit_code}")
        echo(device_table(tracker.by_device()))
        echo(f"total ({tracker.settings.attribution} attribution): "
             f"{j_to_kwh(tracker.energy_j):.6f} kWh = {tracker.energy_j:.1f} J")
        _print_skips(tracker)
        if controller is not None:
            echo(f"paused {len(controller.spans)} time(s), "
                 f"{controller.paused_s():.0f} s in all (excluded from energy)")
        _print_carbon(tracker)
    raise SystemExit(exit_code)


DEVICE_COLUMNS = (("device", "left"), ("kind", "left"), ("source", "left"), ("basis", "left"),
                  ("mean W", "right"), ("kWh", "right"), ("attributed kWh", "right"))


def device_cells(devices: Sequence[DeviceEnergy] | Sequence[dict[str, Any]]
                ) -> tuple[list[list[str]], list[str]]:
    """The cells of the per-device energy table, and its total row (``run`` and ``show``)."""
    rows: list[list[str]] = []
    total = attributed = 0.0
    for d in devices:
        row = d.as_dict() if isinstance(d, DeviceEnergy) else d
        total += row["energy_j"]
        attributed += row["attributed_energy_j"]
        basis = "measured" if row["measured"] else f"estimated ({row.get('model') or 'model'})"
        rows.append([row["name"], row["kind"], row["source"], basis,
                     f"{row['mean_power_w']:.1f}", f"{j_to_kwh(row['energy_j']):.6f}",
                     f"{j_to_kwh(row['attributed_energy_j']):.6f}"])
    return rows, ["total", "", "", "", "", f"{j_to_kwh(total):.6f}", f"{j_to_kwh(attributed):.6f}"]


def device_table(devices: Sequence[DeviceEnergy] | Sequence[dict[str, Any]]) -> str:
    """The per-device energy table as plain text."""
    rows, total = device_cells(devices)
    return table(DEVICE_COLUMNS, rows, total)


def _spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
    """Start the child. Interactive: same process group (the terminal signals both).

    Non-interactive: its own process group, so signals we forward and pauses
    reach the whole tree and nothing else.
    """
    interactive = sys.stdin.isatty()
    kwargs: dict[str, Any] = {}
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


def _outcome(code: int, received: list[int]) -> tuple[int, str | None, str | None]:
    """Exit code, final status and reason of a child that returned ``code`` (Popen style).

    A child killed by a signal exits ``128 + N`` as a shell reports it. Ctrl-C
    (SIGINT) is ``interrupted``; any other signal that ended the child, or that
    we forwarded to it before it exited, is ``terminated``.
    """
    exit_code = 128 - code if code < 0 else code
    signum = -code if code < 0 else (received[-1] if received else None)
    if signum is None:
        return exit_code, None, None
    name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ \
        else f"signal {signum}"
    if signum == signal.SIGINT:
        return exit_code, "interrupted", f"interrupted by {name}"
    return exit_code, "terminated", f"terminated by {name}"


def _forwarder(child: subprocess.Popen[bytes], own_group: bool,
               controller: PauseController | None = None,
               received: list[int] | None = None) -> Callable[[int, FrameType | None], None]:
    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is not None:
            return
        if received is not None:
            received.append(signum)
        if controller is not None:  # a stopped child acts on signals only once continued
            controller.stop("signal received")
        try:
            if own_group:
                os.killpg(child.pid, signum)
            elif signum != signal.SIGINT:  # the terminal already sent SIGINT to the child
                child.send_signal(signum)
        except ProcessLookupError:
            pass

    return forward


def _prepare_pausing(settings: Settings, pause_above: float | None,
                     pause_percentile: float | None, deadline: str | None,
                     expected_duration: str | None, intensity: Path | None, live: bool,
                     live_source: str | None) -> PauseSetup | None:
    if pause_above is None and pause_percentile is None:
        if deadline or expected_duration or live or live_source or intensity:
            fail("--deadline, --intensity and --live apply to pausing: add --pause-above G "
                 "or --pause-percentile P")
        return None
    from wattprint.schedule.pausing import PauseOptions, prepare_pausing
    from wattprint.time import parse_duration_s

    try:
        opts = PauseOptions(pause_above, pause_percentile,
                            parse_duration_s(deadline) if deadline else None,
                            parse_duration_s(expected_duration) if expected_duration else None,
                            intensity, live, live_source, settings.region)
        return prepare_pausing(opts, environ=settings.live_environ())
    except WattprintError as exc:
        handle_error(exc)
    except ValueError as exc:
        fail(str(exc))


def _warm_accounting() -> None:
    """Load the accounting code and tables while the command runs (a daemon thread)."""

    def warm() -> None:
        try:
            from wattprint.accounting.hardware import default_catalogue
            from wattprint.accounting.intensity import canonical_region

            canonical_region("DE")  # parses the region tables once (cached)
            default_catalogue()
        except Exception:  # a failed warm-up only means no head start
            pass

    threading.Thread(target=warm, name="wattprint-warm-accounting", daemon=True).start()


def _print_carbon(tracker: Tracker) -> None:
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
    terms = ", ".join(f"{term} {co2e[term]:.6g}" for term in
                      ("dynamic", "idle", "infrastructure", "embodied") if co2e.get(term))
    echo(f"carbon, region {accounted.region.label}: {co2e['total']:.6g} kgCO2e"
         + (f" ({terms})" if terms else ""))
    i = fp["intensity"]
    echo(f"grid intensity {i['region']} ({i['method']}, {i['source']}): "
         f"{i['mean_g_per_kwh']:.4g} gCO2e/kWh; PUE {fp['pue']:g}; "
         f"details: wattprint show {tracker.id}")
    if accounted.region.hint:
        echo(f"hint: {accounted.region.hint}")


def _print_skips(tracker: Tracker) -> None:
    if not tracker.by_device():
        echo("no energy sensor was found; see `wattprint sensors`")
