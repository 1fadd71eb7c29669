"""Backtest every forecast model and both baselines on every shipped hourly series.

Usage::

    python bench/bench_forecast.py [--weeks 12] [--regions DE,FR] [--json PATH]

For each region of ``wattprint regions --hourly`` it runs
:func:`wattprint.accounting.forecast.evaluate` (rolling origin, no look-ahead:
the held-out weeks spread over the last year, one day-ahead forecast from
each day's 00:00 UTC) with every installed model, and prints a markdown
table: MAPE, MAE and the 6 h flexible-start saving of each model and each
baseline, the perfect saving, and the time each region took. ``--json``
writes every region's full evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from wattprint.accounting.forecast import evaluate
from wattprint.accounting.forecast_models import MODELS, model_available
from wattprint.accounting.hourly import hourly_regions, hourly_series


def _row(doc: dict[str, Any], seconds: float) -> str:
    names = list(doc["models"])
    cells = [doc["region"], doc["basis"]]
    for what, scale, fmt in (("mape", 1, ".1f"), ("mae", 1, ".1f"), ("saving", 100, ".1f")):
        for name in names:
            cells.append(format(doc["models"][name][what] * scale, fmt))
        for b in ("persistence", "typical_year"):
            cells.append(format(doc["baselines"][b][what] * scale, fmt))
    cells.append(format(doc["perfect_saving"] * 100, ".1f"))
    cells.append(f"{seconds:.0f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--regions", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    regions = [r for r in args.regions.split(",") if r] or hourly_regions()
    names = [m for m in MODELS if model_available(m)]
    cols = []
    for what in ("MAPE %", "MAE g/kWh", "saving %"):
        cols += [f"{what} {n}" for n in names] + [f"{what} persistence", f"{what} typical year"]
    print(f"<!-- {platform.node()}: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]} -->")
    print("| region | basis | " + " | ".join(cols) + " | saving % perfect | s |")
    print("|" + "---|" * (len(cols) + 4))
    docs = []
    for region in regions:
        t = time.perf_counter()
        doc = evaluate(hourly_series(region), weeks=args.weeks, models=names)
        seconds = time.perf_counter() - t
        doc["seconds"] = seconds
        docs.append(doc)
        print(_row(doc, seconds), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(docs, f, indent=1)


if __name__ == "__main__":
    main()
