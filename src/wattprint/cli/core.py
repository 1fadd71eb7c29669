"""Core commands: ``run``, ``runs``, ``show``, ``sensors``, ``config``."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from wattprint import validate
from wattprint.cli.app import (
    JsonOpt,
    ProjectOpt,
    app,
    err,
    fail,
    handle_error,
    out,
    print_json,
    settings_from,
    setup_logging,
)
from wattprint.config import Settings
from wattprint.errors import WattprintError
from wattprint.report.runview import device_rows, run_document, run_energy_j
from wattprint.run import DeviceEnergy, Tracker, open_sensors
from wattprint.store import Store
from wattprint.time import iso_utc as iso
from wattprint.units import j_to_kwh

if TYPE_CHECKING:  # pausing loads only when asked for
    from wattprint.schedule.controller import PauseController
    from wattprint.schedule.pausing import PauseSetup


def device_table(devices: list[DeviceEnergy] | list[dict[str, Any]], title: str) -> Table:
    """The per-device energy table shown after a run and by ``show``."""
    table = Table(title=title, title_justify="left")
    for col, justify in (("device", "left"), ("kind", "left"), ("source", "left"),
                         ("basis", "left"), ("mean W", "right"), ("kWh", "right"),
                         ("attributed kWh", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    total = attributed = 0.0
    for d in devices:
        row = d.as_dict() if isinstance(d, DeviceEnergy) else d
        total += row["energy_j"]
        attributed += row["attributed_energy_j"]
        basis = "measured" if row["measured"] else f"estimated ({row.get('model') or 'model'})"
        table.add_row(row["name"], row["kind"], row["source"], basis,
                      f"{row['mean_power_w']:.1f}", f"{j_to_kwh(row['energy_j']):.6f}",
                      f"{j_to_kwh(row['attributed_energy_j']):.6f}")
    table.add_section()
    table.add_row("total", "", "", "", "", f"{j_to_kwh(total):.6f}", f"{j_to_kwh(attributed):.6f}")
    return table


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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    project: ProjectOpt = None,
    name: Annotated[str | None, typer.Option(help="Name of the run.")] = None,
    phase: Annotated[str, typer.Option(
        help="Life-cycle phase: data, experimentation, training, inference or your own.")
    ] = "training",
    interval: Annotated[float | None, typer.Option(
        help="Sampling interval in seconds (default 1, down to 0.01).")] = None,
    attribution: Annotated[str | None, typer.Option(
        help="machine (whole devices) or process (the command's share) for totals.")] = None,
    region: Annotated[str | None, typer.Option(help="Grid region code for carbon.")] = None,
    sensors: Annotated[str | None, typer.Option(
        help="Comma-separated sensors to use (default: detect).")] = None,
    measure_idle: Annotated[float, typer.Option(
        "--measure-idle", help="Sample the idle machine for SECONDS before starting.")] = 0.0,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE tag (repeatable).")] = None,
    pause_above: Annotated[float | None, typer.Option(
        "--pause-above", help="Pause the command while intensity > G gCO2e/kWh.")] = None,
    pause_percentile: Annotated[float | None, typer.Option(
        "--pause-percentile", help="Pause above the P-th percentile of the intensity.")] = None,
    deadline: Annotated[str | None, typer.Option(
        help="Latest time to still be paused, from the start (e.g. 12h).")] = None,
    expected_duration: Annotated[str | None, typer.Option(
        "--expected-duration", help="Expected run time, so pausing never misses the deadline.")
    ] = None,
    intensity: Annotated[Path | None, typer.Option(
        "--intensity", help="Intensity series (CSV/Parquet) for pausing.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Live intensity API for pausing.")] = False,
    live_source: Annotated[str | None, typer.Option(
        "--live-source", help="electricitymaps, watttime or ukgrid.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run a command and measure its energy: wattprint run [OPTIONS] -- CMD [ARGS]...

    The command's output and exit code pass through untouched; the energy
    table is printed to stderr when it ends.
    """
    setup_logging(verbose)
    cmd = list(ctx.args)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        fail("no command given: wattprint run [OPTIONS] -- CMD [ARGS]...")
    try:
        measure_idle = validate.idle_s(measure_idle, "--measure-idle")
    except WattprintError as exc:
        handle_error(exc)
    tags: dict[str, str] = {}
    for item in tag or []:
        if "=" not in item:
            fail(f"tag {item!r} must be KEY=VALUE")
        key, value = item.split("=", 1)
        tags[key] = value
    settings = settings_from(project=project, interval_s=interval, attribution=attribution,
                             region=region, sensors=sensors)
    try:  # an unknown region fails before the command starts
        from wattprint.run import resolve_settings_region

        resolve_settings_region(settings)
    except WattprintError as exc:
        handle_error(exc)
    pausing = _prepare_pausing(settings, pause_above, pause_percentile, deadline,
                               expected_duration, intensity, live, live_source)
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
        err.print(device_table(tracker.by_device(),
                               f"wattprint run {tracker.id or '(not stored)'}: "
                               f"{tracker.duration_s or 0:.1f} s, exit {exit_code}"))
        err.print(f"total ({tracker.settings.attribution} attribution): "
                  f"{j_to_kwh(tracker.energy_j):.6f} kWh = {tracker.energy_j:.1f} J")
        _print_skips(tracker)
        if controller is not None:
            err.print(f"paused {len(controller.spans)} time(s), "
                      f"{controller.paused_s():.0f} s in all (excluded from energy)")
        _print_carbon(tracker)
    raise typer.Exit(exit_code)


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


def _print_carbon(tracker: Tracker) -> None:
    if tracker.store is None or tracker.id is None:
        return
    from wattprint.accounting.account import account_run
    from wattprint.cli.accounting import options, print_footprint

    try:
        accounted = account_run(tracker.store, tracker.id, options())
    except WattprintError as exc:
        err.print(f"carbon not computed: {exc}")
        return
    print_footprint(accounted.footprint.to_dict(), accounted.region.label, accounted.region.hint,
                    to_err=True)


def _print_skips(tracker: Tracker) -> None:
    if not tracker.by_device():
        err.print("no energy sensor was found; see `wattprint sensors`")


@app.command()
def runs(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first."""
    try:
        limit = validate.limit(limit, "--limit")
    except WattprintError as exc:
        handle_error(exc)
    settings = settings_from()
    try:
        store = Store(settings.db_path)
        records = store.runs(project, limit=limit)
        docs: list[dict[str, Any]] = []
        for r in records:
            energy_j = run_energy_j(r, device_rows(store, r))
            docs.append({"id": r.id, "project": r.project, "name": r.name, "phase": r.phase,
                         "status": r.status, "started_at": iso(r.started_at),
                         "duration_s": r.duration_s, "energy_j": energy_j,
                         "energy_kwh": j_to_kwh(energy_j), "tool": r.tool})
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json({"runs": docs})
        return
    table = Table(title=f"runs in {settings.db_path}", title_justify="left")
    for col in ("id", "project", "name", "phase", "status", "started (UTC)", "s", "kWh"):
        table.add_column(col)
    for d in docs:
        table.add_row(d["id"], d["project"], d["name"] or "", d["phase"], d["status"],
                      (d["started_at"] or "")[:19], f"{d['duration_s'] or 0:.1f}",
                      f"{d['energy_kwh']:.6f}")
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique prefix, or 'last'.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one run: devices, energy, metrics."""
    from wattprint.accounting.account import account_run

    settings = settings_from()
    try:
        store = Store(settings.db_path)
        doc = run_document(store, run_id)
        from wattprint.cli.accounting import options

        accounted = account_run(store, doc["id"], options())
    except WattprintError as exc:
        handle_error(exc)
    footprint = accounted.footprint.to_dict()
    doc["co2e_kg"] = footprint["co2e_kg"]["total"]
    doc["region"] = accounted.region.code
    doc["region_how"] = accounted.region.how
    doc["footprint"] = footprint
    if as_json:
        print_json(doc)
        return
    out.print(f"run {doc['id']}  project={doc['project']}  name={doc['name']}  "
              f"phase={doc['phase']}  status={doc['status']}")
    out.print(f"started {doc['started_at']}  ended {doc['ended_at']}  "
              f"duration {doc['duration_s'] or 0:.1f} s  exit {doc['exit_code']}")
    if doc["command"]:
        out.print(f"command: {doc['command']}")
    out.print(device_table(doc["devices"], "energy by device"))
    out.print(f"total ({doc['attribution']} attribution): {doc['energy_kwh']:.6f} kWh")
    if doc["metrics"]:
        out.print("metrics: " + ", ".join(f"{m['name']}={m['value']:g}" for m in doc["metrics"]))
    if doc["units"]:
        out.print("units: " + ", ".join(f"{v:g} {k}" for k, v in doc["units"].items()))
    from wattprint.cli.accounting import print_footprint

    print_footprint(footprint, accounted.region.label, accounted.region.hint)


@app.command("sensors")
def sensors_cmd(as_json: JsonOpt = False) -> None:
    """Show the sensors found on this machine, what was skipped, and why."""
    settings = settings_from()
    try:
        found, skipped = open_sensors(settings)
    except WattprintError as exc:
        handle_error(exc)
    devices: list[dict[str, Any]] = [
        {"sensor": s.name, "id": d.id, "kind": d.kind, "name": d.name, "measured": d.measured,
         "counter": d.counter, "model": d.model, "extra": dict(d.extra)}
        for s in found for d in s.devices()
    ]
    for sensor in found:
        sensor.close()
    skips = [{"sensor": k.sensor, "reason": k.reason, "whole_sensor": k.whole} for k in skipped]
    if as_json:
        print_json({"sensors": [s.name for s in found], "devices": devices, "skipped": skips})
        return
    table = Table(title="devices", title_justify="left")
    for col in ("sensor", "id", "kind", "name", "basis"):
        table.add_column(col)
    for d in devices:
        table.add_row(d["sensor"], d["id"], d["kind"], d["name"],
                      "measured" if d["measured"] else f"estimated: {d['model']}")
    out.print(table)
    if skips:
        st = Table(title="skipped", title_justify="left")
        st.add_column("sensor")
        st.add_column("reason")
        for k in skips:
            st.add_row(str(k["sensor"]) + ("" if k["whole_sensor"] else " (domain)"),
                       str(k["reason"]))
        out.print(st)


@app.command("config")
def config_cmd(as_json: JsonOpt = False) -> None:
    """Print the effective settings and where each came from."""
    settings = settings_from()
    eff = settings.effective()
    if as_json:
        print_json({k: {"value": v, "origin": o} for k, (v, o) in eff.items()})
        return
    table = Table(title="effective settings", title_justify="left")
    for col in ("setting", "value", "from"):
        table.add_column(col)
    for k, (v, o) in eff.items():
        table.add_row(k, str(v), o)
    out.print(table)
