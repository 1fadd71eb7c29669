"""The ``wattprint`` command line; each command group lives in its own module."""

from __future__ import annotations

from wattprint.cli import accounting as _accounting  # noqa: F401  (registers commands)
from wattprint.cli import agent as _agent  # noqa: F401
from wattprint.cli import core as _core  # noqa: F401
from wattprint.cli import exchange as _exchange  # noqa: F401
from wattprint.cli import reports as _reports  # noqa: F401
from wattprint.cli import schedule as _schedule  # noqa: F401
from wattprint.cli.app import app


def main() -> None:
    """Entry point of the ``wattprint`` console script."""
    app()


__all__ = ["app", "main"]
