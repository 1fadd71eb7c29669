"""The ``forecast`` command: hourly intensity for the coming day or three, and its backtest.

``wattprint forecast REGION`` forecasts from the history wattprint has for
the region (the shipped hourly series and the live values kept since, or
``--intensity FILE``) with a model of :mod:`wattprint.accounting.forecast`
(``--model linear|gbm``; by default the one measured best among those
installed), with a p10-p90 band. ``--evaluate`` backtests every installed
model on held-out weeks against persistence and the typical-year replay.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from wattprint.cli.app import JsonOpt, app, fail, handle_error, out, print_json, settings_from
from wattprint.errors import WattprintError
from wattprint.time import parse_timestamp_s

__all__ = ["forecast"]

#: Horizons offered, in hours.
HORIZONS_H = {"24h": 24, "72h": 72}


def _history(region: str, intensity: Path | None, live_values: bool) -> tuple[Any, list[str]]:
    if intensity is not None:
        from wattprint.accounting.seriesfile import load_series

        if not intensity.exists():
            fail(f"--intensity {intensity}: no such file")
        return load_series(intensity, region=region or None), []
    from wattprint.schedule.signals import shipped_hourly

    shipped = shipped_hourly(region, instead="--intensity FILE")
    if not live_values:
        return shipped, []
    from wattprint.accounting.forecast_history import with_kept_live

    return with_kept_live(shipped, settings_from().store_dir)


def _print_evaluation(doc: dict[str, Any]) -> None:
    table = Table(title=f"backtest {doc['region']} ({doc['basis']} basis): {doc['origins']} "
                        f"day-ahead forecasts in {len(doc['weeks'])} held-out weeks",
                  title_justify="left")
    for col in ("forecast", "MAPE %", "MAE g/kWh", "6 h flexible-start saving %"):
        table.add_column(col, justify="right" if col != "forecast" else "left")
    for name, m in doc["models"].items():
        table.add_row(f"model {name}", f"{m['mape']:.1f}", f"{m['mae']:.1f}",
                      f"{m['saving'] * 100:.1f}")
    for name, b in doc["baselines"].items():
        table.add_row(name, f"{b['mape']:.1f}", f"{b['mae']:.1f}", f"{b['saving'] * 100:.1f}")
    table.add_row("perfect knowledge", "", "", f"{doc['perfect_saving'] * 100:.1f}")
    out.print(table)
    for name, m in doc["models"].items():
        out.print(f"{name}: {m['model']}")
    for name, b in doc["baselines"].items():
        out.print(f"{name}: {b['rule']}")
    out.print(f"saving: {doc['saving_rule']}")


@app.command()
def forecast(
    region: Annotated[str, typer.Argument(metavar="REGION", help="Grid region (DE, GB, CISO).")],
    horizon: Annotated[str, typer.Option(help="How far ahead: 24h or 72h.")] = "24h",
    intensity: Annotated[Path | None, typer.Option(
        "--intensity", help="Forecast from this series (CSV/Parquet) instead of the shipped one."
    )] = None,
    now: Annotated[str | None, typer.Option(
        help="Forecast as of this UTC time (2025-06-01T08:00Z) instead of now.")] = None,
    evaluate: Annotated[bool, typer.Option(
        "--evaluate", help="Backtest on held-out weeks of the history instead.")] = False,
    weeks: Annotated[int, typer.Option(help="Held-out weeks for --evaluate.")] = 8,
    model: Annotated[str | None, typer.Option(
        help="linear (numpy) or gbm (scikit-learn, extra [forecast]); default: gbm when "
             "installed, else linear (docs/forecast.md).")] = None,
    no_live_values: Annotated[bool, typer.Option(
        "--no-live-values", help="Forecast from the shipped series only, without the live "
                                 "values kept since.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Forecast hourly grid intensity with a p10-p90 band, or backtest the forecast.

    Examples:
      wattprint forecast DE
      wattprint forecast GB --horizon 72h --json
      wattprint forecast FR --evaluate --json
      wattprint forecast DE --model linear
    """
    from wattprint.accounting import forecast as forecasting

    if horizon not in HORIZONS_H:
        fail(f"--horizon {horizon!r}: use 24h or 72h")
    if weeks < 1:
        fail(f"--weeks {weeks}: give at least 1")
    try:
        history, history_notes = _history(region, intensity, not (no_live_values or evaluate))
        if evaluate:
            doc = forecasting.evaluate(history, weeks=weeks, horizon_steps=HORIZONS_H[horizon],
                                       models=forecasting.installed_models(model))
        else:
            try:
                origin_s = parse_timestamp_s(now) if now is not None else time.time()
            except ValueError as exc:
                fail(f"--now: {exc}")
            steps = round(HORIZONS_H[horizon] * 3600.0 / history.step_s)
            doc = forecasting.forecast(history, origin_s, steps, model=model).to_json()
            doc["notes"] = [*history_notes, *doc["notes"]]
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json(doc)
        return
    if evaluate:
        _print_evaluation(doc)
        return
    table = Table(title=f"forecast {doc['region']} from {doc['origin']} (gCO2e/kWh, "
                        f"{doc['method']}, {doc['basis']} basis)", title_justify="left")
    for col in ("hour (UTC)", "p10", "p50", "p90"):
        table.add_column(col, justify="right")
    for h in doc["hours"]:
        table.add_row(h["start"][:16].replace("T", " "), f"{h['p10']:.0f}", f"{h['p50']:.0f}",
                      f"{h['p90']:.0f}")
    out.print(table)
    out.print(f"model: {doc['model_name']}: {doc['model']}")
    out.print(f"history: {doc['history']} (to {doc['history_end']})")
    for note in doc["notes"]:
        out.print(f"note: {note}")
