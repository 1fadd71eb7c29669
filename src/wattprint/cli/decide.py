"""Decision commands: ``breakeven`` (when replacing hardware pays back its embodied carbon).

The model is :mod:`wattprint.decide.breakeven`; this module turns options
into its inputs, prints the comparison (or ``--json``), and writes the plot
of both cumulative curves with ``--plot FILE`` (``.svg`` or ``.png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from wattprint.cli.app import (
    HourlyOpt,
    JsonOpt,
    PueOpt,
    QuietOpt,
    app,
    err,
    fail,
    handle_error,
    out,
    print_json,
    settings_from,
    setup_logging,
)
from wattprint.cli.tables import Column, PrecisionOpt, WideOpt, print_table
from wattprint.errors import WattprintError
from wattprint.units import DEFAULT_PRECISION, format_number

PlotOpt = Annotated[Path | None, typer.Option(
    "--plot", help="Write the plot to FILE (.svg or .png; needs the report extra).",
    dir_okay=False)]


def _fmt(value: float | None, unit: str, precision: int) -> str:
    if value is None:
        return "-"
    return f"{format_number(value, precision)} {unit}".strip()


def write_plot(path: Path, make: Any, quiet: bool) -> None:
    """Write the image ``make(fmt)`` returns to ``path``, the format from its suffix."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        fail(f"--plot {path}: give a file ending in .svg or .png")
    from wattprint.atomic import write_atomic

    try:
        write_atomic(path, make(fmt))
    except WattprintError as exc:
        handle_error(exc)
    if not quiet:
        err.print(f"wrote {path}", soft_wrap=True, markup=False)


def _device(which: str, name: str | None, power_w: float | None, idle_w: float | None,
            embodied_kg: float | None) -> Any:
    from wattprint.decide import breakeven as be

    if name is None and power_w is None:
        fail(f"give the {which} device: --{which} NAME (catalogue) or --{which}-power-w W")
    if name is not None:
        from wattprint.accounting.hardware import default_catalogue

        overrides = settings_from().hardware
        catalogue = default_catalogue()
        if overrides:
            catalogue = catalogue.with_overrides(overrides)
        device = be.catalogue_device(name, catalogue)
        return device.with_figures(busy_power_w=power_w, idle_power_w=idle_w,
                                   embodied_kg=embodied_kg)
    assert power_w is not None
    return be.explicit_device(f"{which} ({format_number(power_w)} W)", power_w,
                              idle_power_w=idle_w, embodied_kg=embodied_kg)


def _print(doc: dict[str, Any], precision: int, wide: bool) -> None:
    p = precision
    cur, cand = doc["current"], doc["candidate"]
    rows = [
        ["device", cur["name"], cand["name"]],
        ["busy power", _fmt(cur["busy_power_w"], "W", p), _fmt(cand["busy_power_w"], "W", p)],
        ["idle power", _fmt(cur["idle_power_w"], "W", p), _fmt(cand["idle_power_w"], "W", p)],
        ["busy share", _fmt(100 * cur["busy_share"], "%", p),
         _fmt(100 * cand["busy_share"], "%", p)],
        ["mean power", _fmt(cur["mean_power_w"], "W", p), _fmt(cand["mean_power_w"], "W", p)],
        ["energy per year", _fmt(cur["energy_kwh_per_year"], "kWh", p),
         _fmt(cand["energy_kwh_per_year"], "kWh", p)],
        ["CO2e per year", _fmt(cur["co2e_kg_per_year"], "kg", p),
         _fmt(cand["co2e_kg_per_year"], "kg", p)],
        ["embodied", "sunk (not counted)", _fmt(cand["embodied_kg"], "kg", p)],
        [f"CO2e over {format_number(doc['lifetime_years'])} y",
         _fmt(doc["keep_kg_at_lifetime"], "kg", p), _fmt(doc["replace_kg_at_lifetime"], "kg", p)],
    ]
    print_table(out, "keep or replace", [Column("quantity"), Column("keep", "num"),
                                         Column("replace", "num")], rows, wide=wide)
    grid = doc["intensity"]
    out.print(f"intensity: {_fmt(grid['mean_g_per_kwh'], 'gCO2e/kWh', p)}"
              f"{' (hourly, mean)' if grid['hourly'] else ''}"
              f"{' in ' + grid['region'] if grid['region'] else ''}; PUE "
              f"{format_number(doc['pue'])}; speed-up {format_number(doc['speedup'])}; "
              f"resale credit {_fmt(doc['resale_credit_kg'], 'kg', p)}", soft_wrap=True)
    years = doc["breakeven_years"]
    out.print(f"break-even: {'never' if years is None else _fmt(years, 'years', p)}",
              soft_wrap=True)
    out.print(f"verdict: {doc['verdict']}", soft_wrap=True)
    out.print("sources:", soft_wrap=True)
    out.print(f"  intensity: {grid['source']}", soft_wrap=True)
    out.print(f"  PUE: {doc['pue_source']}; lifetime: {doc['lifetime_source']}", soft_wrap=True)
    for side, label in ((cur, "current"), (cand, "candidate")):
        for fieldname, source in side["sources"].items():
            out.print(f"  {label} {fieldname}: {source}", soft_wrap=True)


@app.command()
def breakeven(
    current: Annotated[str | None, typer.Option(
        "--current", help="The device in service (catalogue name, e.g. V100-SXM2-32GB).")] = None,
    candidate: Annotated[str | None, typer.Option(
        "--candidate", help="The replacement (catalogue name, e.g. H100-SXM5-80GB).")] = None,
    current_power_w: Annotated[float | None, typer.Option(
        "--current-power-w", help="Busy power of the current device, W (default: its TDP).")
    ] = None,
    candidate_power_w: Annotated[float | None, typer.Option(
        "--candidate-power-w", help="Busy power of the candidate, W (default: its TDP).")] = None,
    current_idle_w: Annotated[float | None, typer.Option(
        "--current-idle-w", help="Idle power of the current device, W.")] = None,
    candidate_idle_w: Annotated[float | None, typer.Option(
        "--candidate-idle-w", help="Idle power of the candidate, W.")] = None,
    candidate_embodied_kg: Annotated[float | None, typer.Option(
        "--candidate-embodied-kg", help="Embodied carbon of the candidate, kgCO2e.")] = None,
    speedup: Annotated[float, typer.Option(
        "--speedup", help="How many times faster the candidate does the same work.")] = 1.0,
    utilization: Annotated[float, typer.Option(
        "--utilization", help="Busy share of the current device's time, (0-1].")] = 1.0,
    region: Annotated[str | None, typer.Option(
        "--region", help="Grid region: its annual intensity (hourly series with --hourly).")
    ] = None,
    hourly: HourlyOpt = False,
    intensity: Annotated[float | None, typer.Option(
        "--intensity", metavar="G_PER_KWH", help="Constant grid intensity, gCO2e/kWh.")] = None,
    pue: PueOpt = None,
    lifetime_years: Annotated[float | None, typer.Option(
        "--lifetime-years", help="Service life of the candidate, years (default: catalogue, 6).")
    ] = None,
    resale_credit_kg: Annotated[float, typer.Option(
        "--resale-credit-kg", help="Credit for reusing or selling the current device, kgCO2e.")
    ] = 0.0,
    plot: PlotOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    r"""When replacing hardware pays back the new device's embodied carbon (or never).

    Cumulative carbon of keeping the current device and of replacing it, over
    time: the candidate starts with its embodied carbon and saves operational
    carbon each year when it needs less power for the same work.

    Examples:
      wattprint breakeven --current V100-SXM2-32GB --candidate H100-SXM5-80GB \
          --speedup 3.0 --utilization 0.6 --region US-CAL-CISO
      wattprint breakeven --current "Tesla V100 PCIe" --candidate "NVIDIA L4" --region NZ --json
      wattprint breakeven --current-power-w 300 --candidate-power-w 100 \
          --candidate-embodied-kg 150 --intensity 400 --plot breakeven.svg
    """
    setup_logging()
    from wattprint.decide import breakeven as be

    settings = settings_from()
    try:
        cur = _device("current", current, current_power_w, current_idle_w, None)
        new = _device("candidate", candidate, candidate_power_w, candidate_idle_w,
                      candidate_embodied_kg)
        if intensity is not None:
            if region is not None or hourly:
                fail("give either --intensity G_PER_KWH or --region (not both)")
            from wattprint import validate

            grid = be.constant_grid(validate.intensity_g_per_kwh(intensity))
        else:
            code = region or settings.region
            if code is None:
                fail("give the grid: --region CODE (see `wattprint regions`) or "
                     "--intensity G_PER_KWH")
            grid = be.hourly_grid(code) if hourly else be.annual_grid(code)
        from wattprint.accounting.pue import resolve_pue

        chosen = resolve_pue(pue if pue is not None else settings.pue, region)
        if lifetime_years is None:
            from wattprint.accounting.hardware import default_catalogue

            assumptions = default_catalogue().assumptions
            life, life_source = assumptions.lifetime_years, (
                "catalogue default: " + assumptions.sources.get("lifetime_years", ""))
        else:
            life, life_source = lifetime_years, "given by the user"
        doc = be.breakeven(cur, new, grid=grid, speedup=speedup, utilization=utilization,
                           pue=chosen.value, lifetime_years=life,
                           resale_credit_kg=resale_credit_kg, pue_source=chosen.source,
                           lifetime_source=life_source)
    except WattprintError as exc:
        handle_error(exc)
    if plot is not None:
        write_plot(plot, lambda fmt: be.breakeven_plot(doc, fmt), quiet)
    if as_json:
        print_json(doc)
        return
    _print(doc, precision, wide)
