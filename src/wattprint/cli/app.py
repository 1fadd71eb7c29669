"""The typer application shared by the command modules, and the CLI's output helpers."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from wattprint.errors import RunNotFound, WattprintError

app = typer.Typer(
    name="wattprint",
    help="Measure the energy of ML work, account its life-cycle carbon, report and cut it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
    """Write JSON to stdout (no colour, stable key order)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def handle_error(exc: WattprintError) -> NoReturn:
    """Turn a wattprint error into a clear message and exit code 2 (1 for missing runs)."""
    fail(str(exc), 1 if isinstance(exc, RunNotFound) else 2)
