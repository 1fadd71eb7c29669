"""The typer application shared by the command modules, and the CLI's output helpers."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from wattprint.config import Settings, load_settings
from wattprint.errors import WattprintError

if TYPE_CHECKING:
    from wattprint.store import Store

app = typer.Typer(
    name="wattprint",
    help="Measure the energy of ML work, account its life-cycle carbon, report and cut it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Options shared by several commands, so each reads and validates the same way.
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Project name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or messages.")]
RegionOpt = Annotated[str | None, typer.Option(
    "--region", help="Grid region code (DE, US-CAL-CISO, aws:us-east-1...); default: the "
                     "run's own, else the environment's.")]
IntensityFileOpt = Annotated[Path | None, typer.Option(
    "--intensity", help="CSV/Parquet series of gCO2e/kWh (timestamp with time zone).",
    dir_okay=False)]
MethodOpt = Annotated[str, typer.Option(
    "--method", help="Intensity method: average (attributional) or marginal (consequential).")]
PueOpt = Annotated[float | None, typer.Option("--pue", help="Power usage effectiveness (>= 1).")]
HourlyOpt = Annotated[bool, typer.Option(
    "--hourly", help="Use the shipped hourly series of the region (typical-year replay).")]

#: messages and tables go to stderr so a tracked command's stdout passes through untouched
err = Console(stderr=True, highlight=False, markup=False)
out = Console(highlight=False, markup=False)


def setup_logging(verbose: bool = False) -> None:
    """Install the CLI's log handler (libraries only log; the application configures)."""
    from rich.logging import RichHandler

    root = logging.getLogger("wattprint")
    if root.handlers:
        return
    handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.propagate = False


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error and exit with ``code``."""
    # the message is plain text: escape it, or "pip install 'wattprint[report]'" loses
    # its "[report]" to rich's markup
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Write JSON to stdout (no colour, stable key order, never NaN or Infinity).

    A non-finite number left in ``data`` is written as ``null`` and named in a
    note on stderr: JSON has no NaN, and a reader refuses the whole document.
    """
    from wattprint.validate import json_safe

    clean, replaced = json_safe(data)
    text = json.dumps(clean, indent=2, sort_keys=False, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")
    if replaced:
        shown = ", ".join(replaced[:5]) + (" ..." if len(replaced) > 5 else "")
        err.print(f"note: {len(replaced)} value(s) not finite, written as null: {shown}",
                  soft_wrap=True)


def settings_from(**overrides: Any) -> Settings:
    """Load settings or exit with the configuration error."""
    try:
        return load_settings(overrides)
    except WattprintError as exc:
        handle_error(exc)


def handle_error(exc: WattprintError) -> NoReturn:
    """Turn a wattprint error (an unknown run included) into a clear message and exit code 2."""
    fail(str(exc), 2)


def require_project(store: Store, project: str | None) -> None:
    """Exit 2 naming ``project`` when no stored run belongs to it (usually a typo)."""
    if project is not None and not store.run_ids(project):  # ids only: a bad row still counts
        fail(f"no project {project!r} in {store.path}; `wattprint runs` lists the runs "
             "with their projects")
