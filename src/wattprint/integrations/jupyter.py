"""Jupyter and IPython: measure a notebook cell, or a stretch of cells, with a magic.

Load the extension, then measure one cell or everything between two lines::

    %load_ext wattprint

    %%wattprint --project bert --region DE
    trainer.train()

    %wattprint start --project bert
    ...                       # any number of cells
    %wattprint stop
    %wattprint status         # the run in progress, if any

Each ``%%wattprint`` cell is one run; when it ends, the run's summary (energy,
carbon, region, duration, measured or estimated) is shown as HTML under the
cell. A cell is measured inside ``try``/``finally``, so a cell that raises or
is interrupted ends its run (``failed`` / ``interrupted``) and leaves no
sampler behind, however often it is re-executed; ``%wattprint start`` while a
run is going ends that run first. Notebook runs do not take over the
kernel's signals: Ctrl-C (the kernel's interrupt) reaches the cell as usual.

IPython is imported only when the extension is loaded (extra ``jupyter``).
The extension's entry points are :func:`load_ipython_extension` and
:func:`unload_ipython_extension`; ``%load_ext wattprint.integrations.jupyter``
loads it by its full name.
"""

from __future__ import annotations

import argparse
import html
import shlex
import sys
from typing import Any

from wattprint.errors import WattprintError
from wattprint.integrations._common import require, run_cost
from wattprint.run import Tracker

#: the magic's name: ``%wattprint`` and ``%%wattprint``
MAGIC = "wattprint"

_USAGE = "%wattprint start [--project P --region R ...] | stop | status"


class _Session:
    """The extension's state in one shell: the run started with ``%wattprint start``."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.line_run: Tracker | None = None

    def stop_line_run(self) -> Tracker | None:
        run, self.line_run = self.line_run, None
        if run is not None:
            run.stop()
        return run


_SESSIONS: dict[int, _Session] = {}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="%%wattprint", add_help=False, exit_on_error=False)
    parser.add_argument("--project", "-p")
    parser.add_argument("--region", "-r")
    parser.add_argument("--name", "-n")
    parser.add_argument("--phase", default="experimentation")
    parser.add_argument("--interval", type=float, dest="interval_s")
    parser.add_argument("--sensors", help="comma-separated sensor names")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="do not show the summary")
    return parser


def _options(words: list[str]) -> tuple[dict[str, Any], bool]:
    try:
        ns, extra = _parser().parse_known_args(words)
    except (argparse.ArgumentError, SystemExit) as exc:
        raise WattprintError(f"{exc}; usage: %%wattprint [--project P --region R "
                             "--name N --phase PH --interval S --sensors a,b --quiet]") from None
    if extra:
        raise WattprintError(f"unknown argument(s) {' '.join(extra)}; usage: {_USAGE}")
    options: dict[str, Any] = {"project": ns.project, "region": ns.region, "name": ns.name,
                               "phase": ns.phase, "interval_s": ns.interval_s,
                               "handle_signals": False}
    if ns.sensors:
        options["sensors"] = [s.strip() for s in ns.sensors.split(",") if s.strip()]
    return options, bool(ns.quiet)


def summary_html(tracker: Tracker) -> str:
    """A finished run's one-table HTML summary, for a notebook's output."""
    cost = None
    try:
        cost = run_cost(tracker)
    except WattprintError as exc:  # an unknown region: show the energy, say why no carbon
        note = str(exc)
    else:
        note = "" if cost is not None else "the run could not be stored; no carbon accounted"
    devices = tracker.by_device()
    measured = sorted({d.source for d in devices if d.measured})
    estimated = sorted({d.source for d in devices if not d.measured})
    how = "; ".join(part for part in (
        f"measured: {', '.join(measured)}" if measured else "",
        f"estimated: {', '.join(estimated)}" if estimated else "") if part) or "no sensor"
    energy_j = cost.energy_j if cost is not None else tracker.energy_j
    rows = [("run", tracker.id or "(not stored)"), ("status", tracker.status),
            ("energy", f"{energy_j:.4g} J ({energy_j / 3600.0:.4g} Wh)"), ("sensors", how)]
    if cost is not None:
        rows += [("carbon", f"{cost.co2e_kg * 1000.0:.4g} g CO2e"), ("region", cost.region)]
    if tracker.duration_s is not None:
        rows.append(("duration", f"{tracker.duration_s:.3g} s"))
    if note:
        rows.append(("note", note))
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return f"<table class='wattprint-summary'>{body}</table>"


def _show(tracker: Tracker) -> None:
    display = require("IPython.display", "jupyter", "the Jupyter integration")
    display.display(display.HTML(summary_html(tracker)))


def _cell(session: _Session, line: str, cell: str) -> None:
    options, quiet = _options(shlex.split(line))
    tracker = Tracker(**options)
    tracker.start()
    try:
        result = session.shell.run_cell(cell)
    except KeyboardInterrupt:
        tracker.stop(error="interrupted by KeyboardInterrupt", status="interrupted")
        raise
    except BaseException as exc:
        tracker.stop(error=f"{type(exc).__name__}: {exc}")
        raise
    failure = result.error_in_exec or result.error_before_exec
    if isinstance(failure, KeyboardInterrupt):
        tracker.stop(error="interrupted by KeyboardInterrupt", status="interrupted")
    elif failure is not None:
        tracker.stop(error=f"{type(failure).__name__}: {failure}")
    else:
        tracker.stop()
    if not quiet:
        _show(tracker)


def _line(session: _Session, line: str) -> None:
    words = shlex.split(line)
    command = words[0] if words else "status"
    if command == "start":
        options, _ = _options(words[1:])
        previous = session.stop_line_run()
        if previous is not None:
            print(f"wattprint: ended the run {previous.id} started earlier", file=sys.stderr)
        tracker = Tracker(**options)
        session.line_run = tracker.start()
        print(f"wattprint: measuring run {tracker.id}; end it with %wattprint stop")
    elif command == "stop":
        stopped = session.stop_line_run()
        if stopped is None:
            print("wattprint: no run in progress; start one with %wattprint start")
        else:
            _show(stopped)
    elif command == "status":
        run = session.line_run
        if run is None:
            print("wattprint: no run in progress")
        else:
            print(f"wattprint: run {run.id} ({run.settings.project}) running for "
                  f"{run.duration_s or 0.0:.3g} s, {run.energy_j:.4g} J so far")
    else:
        raise WattprintError(f"unknown %wattprint command {command!r}; usage: {_USAGE}")


def load_ipython_extension(shell: Any) -> None:
    """Register ``%wattprint`` and ``%%wattprint`` in an IPython shell (``%load_ext``).

    Raises:
        ConfigError: IPython is not installed (extra ``jupyter``).
    """
    require("IPython", "jupyter", "the Jupyter integration")
    session = _SESSIONS.get(id(shell))
    if session is None:
        session = _SESSIONS[id(shell)] = _Session(shell)

    def wattprint(line: str, cell: str | None = None) -> None:
        """Measure a cell (``%%wattprint [--project P --region R]``) or start/stop/status."""
        try:
            if cell is None:
                _line(session, line)
            else:
                _cell(session, line, cell)
        except WattprintError as exc:
            print(f"wattprint: {exc}", file=sys.stderr)

    shell.register_magic_function(wattprint, magic_kind="line_cell", magic_name=MAGIC)


def unload_ipython_extension(shell: Any) -> None:
    """End the run started with ``%wattprint start``, if any (``%unload_ext``)."""
    session = _SESSIONS.pop(id(shell), None)
    if session is not None:
        session.stop_line_run()


__all__ = ["MAGIC", "load_ipython_extension", "summary_html", "unload_ipython_extension"]
