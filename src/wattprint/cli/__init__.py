"""The ``wattprint`` command line; each command group lives in its own module."""

from __future__ import annotations

import importlib

from wattprint.cli.app import app

#: command modules, in the order their commands are listed by ``wattprint --help``
COMMAND_MODULES = ("core", "accounting", "reports", "exchange", "schedule", "forecast",
                   "series", "agent", "audit")

for _name in COMMAND_MODULES:
    importlib.import_module(f"wattprint.cli.{_name}")


def main() -> None:
    """Entry point of the ``wattprint`` console script."""
    app()


__all__ = ["COMMAND_MODULES", "app", "main"]
