"""The ``wattprint`` command line; each command group lives in its own module.

Commands load lazily. ``wattprint --help`` reads only the table below, and a
command's module (with typer, rich, numpy, the accounting package and
whatever else it needs) is imported only when that command is invoked, so
the CLI starts quickly and ``wattprint run -- CMD`` adds little to ``CMD``.

Adding a command takes two steps:

1. define it in a module ``wattprint/cli/<module>.py`` with the shared typer
   application, ``@app.command()`` (or a typer sub-application added with
   ``app.add_typer(sub_app, name="...")`` for a group such as
   ``wattprint audit env``); its docstring ends with an ``Examples:`` block.
   A command that must start faster than typer allows (``run``) instead
   parses its own arguments with :mod:`wattprint.cli.plain` and is listed in
   its module's ``PLAIN_COMMANDS`` (name -> ``main(args, prog) -> exit code``);
2. add one line to :data:`COMMANDS`: the command's name, its module, and the
   one-line help that ``wattprint --help`` lists.

``tests/test_cli_hygiene.py`` checks that the table and the modules agree.
Keep a command module's top-level imports light (typer, rich, wattprint's
lower layers); import heavy things (numpy, accounting, report renderers)
inside the command that needs them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: command name -> (module under ``wattprint.cli``, one-line help), in ``--help`` order
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("measure", "Run a command and measure its energy."),
    "runs": ("core", "List stored runs, newest first."),
    "show": ("core", "Show one run or job: devices, energy, carbon, metrics."),
    "jobs": ("jobs", "List distributed jobs: nodes, ranks, energy, carbon."),
    "sensors": ("core", "Show the sensors found here, what was skipped and why."),
    "config": ("core", "Print the effective settings and where each came from."),
    "account": ("accounting", "Re-account a stored run (region, series, method, PUE)."),
    "estimate": ("accounting", "Estimate a job's footprint without running it."),
    "regions": ("accounting", "List and search the known region codes."),
    "report": ("reports", "The appendix of a run, or the report of a project."),
    "leaderboard": ("reports", "Rank a project's runs by a metric and by their costs."),
    "compare": ("reports", "Compare runs side by side."),
    "bench": ("bench", "Benchmark a command's energy per unit over a grid of settings."),
    "export": ("exchange", "Export stored runs as CSV, JSON or Parquet."),
    "import": ("exchange", "Import another tool's log as runs."),
    "breakeven": ("decide", "When replacing hardware pays back its embodied carbon, or never."),
    "whatif": ("schedule", "What a job would have emitted at other times or places."),
    "plan": ("schedule", "When to run a job before a deadline."),
    "forecast": ("forecast", "Forecast a region's hourly intensity, with a p10-p90 band."),
    "series": ("series", "List, show or export the intensity series kept for re-accounting."),
    "agent": ("agent", "Run the node agent (Prometheus /metrics, JSON API)."),
    "audit": ("audit", "Audit an environment or image: what a workload uses, what the rest costs."),
    "store": ("store", "Check the run store, recover a damaged one, or copy runs between stores."),
    "delete": ("store", "Delete stored runs (with confirmation)."),
    "merge": ("store", "Fold node-local SQLite stores into one store, keeping job links."),
}

#: the command modules, in the order of their first command in :data:`COMMANDS`
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))

EPILOG = """\
Examples:
  wattprint run -- python train.py            measure a job (output passes through)
  wattprint run --project demo --region FR -- python train.py
  wattprint runs                              the stored runs, newest first
  wattprint show last                         energy and carbon of the last run
  wattprint report last --format html -o appendix.html

Run 'wattprint COMMAND --help' for a command's options and examples.
"""


SUMMARY = "Measure the energy of ML work, account its life-cycle carbon, report and cut it."


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the ``wattprint`` console script; exits with the command's code."""
    from wattprint._version import __version__
    from wattprint.cli.group import dispatch, help_text

    sys.exit(dispatch(COMMANDS, sys.argv[1:] if args is None else args,
                      help_page=help_text(COMMANDS, SUMMARY, EPILOG), version=__version__))


__all__ = ["COMMANDS", "COMMAND_MODULES", "main"]
