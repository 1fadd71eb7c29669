"""Accounting commands: ``account``, ``estimate``, ``regions``, and carbon in ``run``/``show``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from wattprint.cli.app import (
    HourlyOpt,
    IntensityFileOpt,
    JsonOpt,
    MethodOpt,
    PueOpt,
    RegionOpt,
    app,
    err,
    fail,
    handle_error,
    out,
    print_json,
    settings_from,
)
from wattprint.errors import WattprintError


def _fmt(x: float, digits: int = 6) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def footprint_table(fp: dict[str, Any], title: str) -> Table:
    """The carbon breakdown as a table."""
    table = Table(title=title, title_justify="left")
    table.add_column("term")
    table.add_column("kWh", justify="right")
    table.add_column("kgCO2e", justify="right")
    for term in ("dynamic", "idle", "infrastructure", "embodied"):
        kwh = fp["energy_kwh"].get(term)
        table.add_row(term, "" if kwh is None else _fmt(kwh), _fmt(fp["co2e_kg"][term]))
    table.add_section()
    table.add_row("total", _fmt(fp["energy_kwh"]["total"]), _fmt(fp["co2e_kg"]["total"]))
    return table


def intensity_line(fp: dict[str, Any]) -> str:
    """One line saying which intensity was used and from where."""
    i = fp["intensity"]
    text = (f"grid intensity {i['region']} ({i['method']}, {i['source']}): "
            f"{_fmt(i['mean_g_per_kwh'], 4)} gCO2e/kWh"
            f" [{_fmt(i['min_g_per_kwh'], 4)}-{_fmt(i['max_g_per_kwh'], 4)}]"
            f" from {i.get('provenance')}; PUE {fp['pue']:g}")
    if i.get("fallback"):
        text += f"; note: {i['fallback']}"
    return text


def print_footprint(fp: dict[str, Any], region_label: str, hint: str | None, *,
                    to_err: bool = False) -> None:
    """Show a footprint in the terminal."""
    console = err if to_err else out
    console.print(footprint_table(fp, f"carbon, region {region_label}"))
    console.print(intensity_line(fp))
    for row in fp.get("sci", []):
        console.print(f"SCI: {row['co2e_g_per_unit']:.6g} gCO2e per {row['unit']} "
                      f"({row['count']:g} {row['unit']}s)")
    if hint:
        console.print(f"hint: {hint}")


def options(region: str | None = None, intensity: Path | None = None, method: str = "average",
            pue: float | None = None, hourly: bool = False, embodied: bool = True,
            live: str | None = None, year: int | None = None) -> Any:
    """Accounting options from CLI flags (validated)."""
    from wattprint.accounting.account import AccountingOptions

    source: Any = None
    if live is not None:
        from wattprint.accounting.live import LIVE_SOURCES

        if live not in LIVE_SOURCES:
            fail(f"--live {live!r}: choose from {', '.join(LIVE_SOURCES)}")
        client_class: Any = LIVE_SOURCES[live]  # subclasses give every argument a default
        try:
            source = client_class(environ=settings_from().live_environ())
        except WattprintError as exc:
            handle_error(exc)

    if method not in ("average", "marginal"):
        fail(f"--method {method!r}: use average or marginal")
    if intensity is not None and not intensity.exists():
        fail(f"--intensity {intensity}: no such file")
    settings = settings_from()
    return AccountingOptions(region=region, intensity_file=intensity, method=method,
                             pue=pue if pue is not None else settings.pue, hourly=hourly,
                             embodied=embodied, catalogue_overrides=settings.hardware,
                             source=source, year=year)


@app.command()
def account(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, prefix, or 'last'.")],
    region: RegionOpt = None,
    intensity: IntensityFileOpt = None,
    method: MethodOpt = "average",
    pue: PueOpt = None,
    hourly: HourlyOpt = False,
    no_embodied: Annotated[bool, typer.Option("--no-embodied",
                                              help="Leave out embodied carbon.")] = False,
    live: Annotated[str | None, typer.Option(
        "--live", help="Live intensity API: electricitymaps, watttime or ukgrid "
                       "(keys from the environment; see docs/intensity.md).")] = None,
    year: Annotated[int | None, typer.Option(
        "--year", help="Data year of the annual tables (default: the newest).")] = None,
    series: Annotated[str | None, typer.Option(
        "--series", help="Account with a kept series (digest from `wattprint series list`): "
                         "the same numbers as when it was kept.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-account a stored run: another region, series, method or PUE; nothing stored changes."""
    import dataclasses

    from wattprint.accounting.account import account_run
    from wattprint.accounting.kept import KeepingSource, KeptIntensity, load_kept
    from wattprint.store import Store

    opts = options(region, intensity, method, pue, hourly, not no_embodied, live, year)
    home = settings_from().store_dir
    keeping = None
    try:
        if series is not None:
            opts = dataclasses.replace(opts, source=KeptIntensity(load_kept(home, series)))
        elif opts.source is not None:  # a live API: keep what it answered
            keeping = KeepingSource(opts.source)
            opts = dataclasses.replace(opts, source=keeping)
        accounted = account_run(Store(settings_from().db_path), run_id, opts)
        kept = keeping.keep(home, used_by=f"account {accounted.run.id}") if keeping else []
    except WattprintError as exc:
        handle_error(exc)
    fp = accounted.footprint.to_dict()
    if as_json:
        print_json({"id": accounted.run.id, "region": accounted.region.code,
                    "region_how": accounted.region.how, "co2e_kg": fp["co2e_kg"]["total"],
                    "footprint": fp, "kept_series": kept})
        return
    print_footprint(fp, accounted.region.label, accounted.region.hint)
    for digest in kept:
        out.print(f"intensity kept as series {digest[:12]} (account again with --series)")


@app.command()
def estimate(
    gpu: Annotated[str | None, typer.Option(help="GPU model (catalogue name).")] = None,
    gpus: Annotated[int, typer.Option(help="Number of GPUs.")] = 1,
    hours: Annotated[float | None, typer.Option(help="Wall-clock hours.")] = None,
    gpu_hours: Annotated[float | None, typer.Option(help="GPU-hours (instead of --hours).")] = None,
    gpu_power_w: Annotated[float | None, typer.Option(
        help="Average power per GPU, W (default: the card's TDP).")] = None,
    power_w: Annotated[float | None, typer.Option(
        help="Average power of the whole job, W.")] = None,
    region: RegionOpt = None,
    intensity: Annotated[float | None, typer.Option(
        "--intensity", help="Grid intensity gCO2e/kWh (instead of --region).")] = None,
    pue: PueOpt = None,
    idle_kwh: Annotated[float, typer.Option(help="Idle energy to add, kWh.")] = 0.0,
    embodied: Annotated[bool, typer.Option("--embodied", help="Include embodied carbon.")] = False,
    embodied_gpu_kg: Annotated[float | None, typer.Option(help="kgCO2e per GPU card.")] = None,
    embodied_node_kg: Annotated[float | None, typer.Option(
        help="kgCO2e per server node without GPUs.")] = None,
    gpus_per_node: Annotated[int | None, typer.Option(help="GPUs per node.")] = None,
    lifetime_years: Annotated[float | None, typer.Option(help="Hardware lifetime, years.")] = None,
    utilization: Annotated[float | None, typer.Option(
        help="Hardware utilisation over its life (0-1].")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Estimate a job's footprint without running it: power × hours × PUE × intensity."""
    from wattprint.accounting.account import estimate as do_estimate

    try:
        fp = do_estimate(gpu=gpu, gpus=gpus, hours=hours, gpu_hours=gpu_hours,
                         gpu_power_w=gpu_power_w, power_w=power_w, region=region,
                         intensity_g_per_kwh=intensity, pue=pue, idle_kwh=idle_kwh,
                         embodied=embodied, embodied_gpu_kg=embodied_gpu_kg,
                         embodied_node_kg=embodied_node_kg, gpus_per_node=gpus_per_node,
                         lifetime_years=lifetime_years, utilization=utilization).to_dict()
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json({"co2e_kg": fp["co2e_kg"]["total"], "footprint": fp})
        return
    region_label = fp["intensity"]["region"]
    print_footprint(fp, region_label, None)
    out.print("estimated: no measurement; every input is listed in --json provenance")


@app.command()
def regions(
    search: Annotated[str | None, typer.Option(help="Text to search in codes and names.")] = None,
    hourly: Annotated[bool, typer.Option(
        "--hourly", help="Only regions with a shipped hourly series.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List and search the known region codes with their source."""
    from wattprint.accounting.location import list_regions

    found = list_regions(search, hourly_only=hourly)
    if as_json:
        print_json({"regions": [vars(r) for r in found]})
        return
    table = Table(title=f"{len(found)} regions", title_justify="left")
    if hourly:
        for col in ("code", "name", "hourly years", "basis", "hourly source"):
            table.add_column(col)
        for r in found:
            table.add_row(r.code, r.name, r.hourly_years, r.hourly_basis, r.hourly_source)
        out.print(table)
        out.print("basis: lifecycle includes upstream emissions, direct only combustion; "
                  "compare like with like")
        return
    for col in ("code", "name", "kind", "gCO2e/kWh", "year", "hourly", "source"):
        table.add_column(col)
    for r in found:
        table.add_row(r.code, r.name, r.kind, f"{r.g_per_kwh:.0f}", str(r.year or ""),
                      "yes" if r.has_hourly else "", r.source)
    out.print(table)
