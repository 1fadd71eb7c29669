"""Core commands: ``run``, ``runs``, ``show``, ``sensors``, ``config``."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

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
from wattprint.cli.tables import Column, Notes, PrecisionOpt, WideOpt, print_table
from wattprint.config import Settings
from wattprint.errors import WattprintError
from wattprint.report.runview import device_rows, run_document, run_energy_j
from wattprint.run import DeviceEnergy, Tracker, open_sensors
from wattprint.signals import child_outcome
from wattprint.store import Store
from wattprint.time import iso_utc as iso
from wattprint.units import (
    DEFAULT_PRECISION,
    format_duration_s,
    format_energy_j,
    format_number,
    format_power_w,
    j_to_kwh,
)

if TYPE_CHECKING:  # pausing loads only when asked for
    from rich.console import Console

    from wattprint.schedule.controller import PauseController
    from wattprint.schedule.pausing import PauseSetup


def device_table(devices: list[DeviceEnergy] | list[dict[str, Any]], title: str, *,
                 console: Console | None = None, precision: int = DEFAULT_PRECISION,
                 wide: bool = False) -> None:
    """Print the per-device energy table shown after a run and by ``show``.

    An estimated device's power model goes into a numbered note under the
    table (inline with ``wide``).
    """
    notes = Notes()
    rows: list[list[str]] = []
    total = attributed = 0.0
    for d in devices:
        row = d.as_dict() if isinstance(d, DeviceEnergy) else d
        total += row["energy_j"]
        attributed += row["attributed_energy_j"]
        if row["measured"]:
            basis = "measured"
        else:
            model = f"estimated by a power model: {row.get('model') or 'model'}"
            basis = f"estimated ({row.get('model') or 'model'})" if wide else (
                "estimated " + notes.mark(f"{row['name']}: {model}"))
        rows.append([row["name"], row["kind"], row["source"], basis,
                     format_power_w(row["mean_power_w"], precision),
                     format_energy_j(row["energy_j"], precision),
                     format_energy_j(row["attributed_energy_j"], precision)])
    rows.append(["total", "", "", "", "", format_energy_j(total, precision),
                 format_energy_j(attributed, precision)])
    print_table(console or out, title,
                [Column("device"), Column("kind", "id"), Column("source", "id"),
                 Column("basis", "text" if wide else "id"), Column("mean power", "num"),
                 Column("energy", "num"), Column("attributed", "num")],
                rows, notes=notes, wide=wide, sections=(len(rows) - 1,))


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

    def __init__(self, child: subprocess.Popen[bytes], own_group: bool,
                 controller: PauseController | None = None) -> None:
        self.child = child
        self.own_group = own_group
        self.controller = controller
        self.received: list[int] = []
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._thread = threading.Thread(target=self._loop, name="wattprint-forward", daemon=True)
        self._thread.start()

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
        if self.child.returncode is not None:
            return
        if self.controller is not None:  # a stopped child acts on signals only once continued
            try:
                self.controller.stop("signal received")
            except Exception as exc:
                err.print(f"pausing did not stop cleanly: {exc}")
        try:
            if self.own_group:
                os.killpg(self.child.pid, signum)
            elif signum != signal.SIGINT:  # the terminal already sent SIGINT to the child
                self.child.send_signal(signum)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Forward what is still queued, then end the thread."""
        with suppress(OSError):
            os.write(self._write_fd, b"\0")
        self._thread.join(5.0)
        for fd in (self._read_fd, self._write_fd):
            with suppress(OSError):
                os.close(fd)


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
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
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
    forwarder = _Forwarder(child, own_group, controller)
    previous = {s: signal.signal(s, forwarder.handle) for s in FORWARDED_SIGNALS
                if signal.getsignal(s) != signal.SIG_IGN}  # an ignored signal stays ignored
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        forwarder.close()
        if controller is not None:
            controller.stop()
    exit_code, status, reason = child_outcome(code, forwarder.received)
    tracker.stop(exit_code=exit_code, status=status, error=reason)
    if not quiet:
        device_table(tracker.by_device(),
                     f"wattprint run {tracker.id or '(not stored)'}: "
                     f"{format_duration_s(tracker.duration_s or 0, precision)}, exit {exit_code}",
                     console=err, precision=precision, wide=wide)
        err.print(f"total ({tracker.settings.attribution} attribution): "
                  f"{format_energy_j(tracker.energy_j, precision)}")
        _print_skips(tracker)
        if controller is not None:
            err.print(f"paused {len(controller.spans)} time(s), "
                      f"{format_duration_s(controller.paused_s(), precision)} in all "
                      "(excluded from energy)")
        _print_carbon(tracker, precision, wide)
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


def _print_carbon(tracker: Tracker, precision: int = DEFAULT_PRECISION,
                  wide: bool = False) -> None:
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
                    to_err=True, precision=precision, wide=wide)


def _print_skips(tracker: Tracker) -> None:
    if not tracker.by_device():
        err.print("no energy sensor was found; see `wattprint sensors`")


@app.command()
def runs(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
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
    # phase and tool only with --wide: at 80 columns the rest needs the room
    rows = [[d["id"], d["project"], d["name"] or "",
             *((d["phase"], d["tool"] or "") if wide else ()), d["status"],
             (d["started_at"] or "")[:16].replace("T", " "),
             "—" if d["duration_s"] is None else format_duration_s(d["duration_s"], precision),
             format_energy_j(d["energy_j"], precision)] for d in docs]
    print_table(out, f"runs in {settings.db_path}",
                [Column("id", "id"), Column("project"), Column("name"),
                 *((Column("phase"), Column("tool")) if wide else ()), Column("status"),
                 Column("started (UTC)", "id"), Column("duration", "num"),
                 Column("energy", "num")], rows, wide=wide)


def print_share_rules(rows: list[dict[str, Any]], *, precision: int = DEFAULT_PRECISION,
                      wide: bool = False) -> None:
    """Print the share rules each device's intervals followed (rows of ``share_rule_rows``)."""
    table_rows = []
    for r in rows:
        recorded = r["intervals"] is not None
        note = ("not recorded" if not recorded
                else f"fallback from {r['intended']}" if r["fallback"] else "")
        table_rows.append([r["device"], r["rule"], str(r["intervals"]) if recorded else "",
                           format_duration_s(r["seconds"], precision) if recorded else "", note])
    print_table(out, "share rules applied",
                [Column("device", "id"), Column("rule", "id"), Column("intervals", "num"),
                 Column("time", "num"), Column("note")], table_rows, wide=wide)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique prefix, or 'last'.")],
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
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
    duration = "—" if doc["duration_s"] is None else format_duration_s(doc["duration_s"],
                                                                          precision)
    out.print(f"started {doc['started_at']}  ended {doc['ended_at']}  "
              f"duration {duration}  exit {doc['exit_code']}")
    if doc["command"]:
        out.print(f"command: {doc['command']}")
    device_table(doc["devices"], "energy by device", precision=precision, wide=wide)
    from wattprint.report.runview import share_rule_rows

    print_share_rules(share_rule_rows(doc["devices"]), precision=precision, wide=wide)
    out.print(f"total ({doc['attribution']} attribution): "
              f"{format_energy_j(doc['energy_j'], precision)}")
    if doc["metrics"]:
        out.print("metrics: " + ", ".join(f"{m['name']}={format_number(m['value'], precision)}"
                                          for m in doc["metrics"]))
    if doc["units"]:
        out.print("units: " + ", ".join(f"{format_number(v, precision)} {k}"
                                        for k, v in doc["units"].items()))
    from wattprint.cli.accounting import print_footprint

    print_footprint(footprint, accounted.region.label, accounted.region.hint,
                    precision=precision, wide=wide)


@app.command("sensors")
def sensors_cmd(as_json: JsonOpt = False, wide: WideOpt = False) -> None:
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
    notes = Notes()
    rows = []
    for d in devices:
        if d["measured"]:
            basis = "measured"
        elif wide:
            basis = f"estimated: {d['model']}"
        else:
            basis = "estimated " + notes.mark(f"{d['name']}: estimated by {d['model']}")
        rows.append([d["sensor"], d["id"], d["kind"], d["name"], basis])
    print_table(out, "devices",
                [Column("sensor", "id"), Column("id", "id"), Column("kind", "id"),
                 Column("name"), Column("basis", "text" if wide else "id")],
                rows, notes=notes, wide=wide)
    if skips:
        print_table(out, "skipped",
                    [Column("sensor", "id"), Column("reason")],
                    [[str(k["sensor"]) + ("" if k["whole_sensor"] else " (domain)"),
                      str(k["reason"])] for k in skips], wide=wide)


@app.command("config")
def config_cmd(as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Print the effective settings and where each came from."""
    settings = settings_from()
    eff = settings.effective()
    if as_json:
        print_json({k: {"value": v, "origin": o} for k, (v, o) in eff.items()})
        return
    print_table(out, "effective settings",
                [Column("setting", "id"), Column("value"), Column("from")],
                [[k, str(v), o] for k, (v, o) in eff.items()], wide=wide)
