"""Accounting commands: ``account``, ``estimate``, ``regions``, and carbon in ``run``/``show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from wattprint import validate
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
from wattprint.cli.tables import Column, Notes, PrecisionOpt, WideOpt, print_table
from wattprint.errors import WattprintError
from wattprint.units import DEFAULT_PRECISION, format_in, format_intensity, format_number


def footprint_rows(fp: dict[str, Any], precision: int = DEFAULT_PRECISION) -> list[list[str]]:
    """The carbon breakdown as table rows: term, energy, CO2e (the total last)."""
    rows = []
    for term in ("dynamic", "idle", "infrastructure", "embodied", "total"):
        kwh = fp["energy_kwh"].get(term)
        co2 = fp["co2e_kg"][term]
        rows.append([term, "" if kwh is None else format_in(kwh, "kWh", precision),
                     "n/a" if co2 is None else format_in(co2, "kgCO2e", precision)])
    return rows


def _g_per_kwh(value: float | None, precision: int) -> str:
    return "n/a" if value is None else format_intensity(value, precision)


def intensity_line(fp: dict[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """One line saying which intensity was used (mean and range); the source is a note."""
    i = fp["intensity"]
    low, high = _g_per_kwh(i["min_g_per_kwh"], precision), _g_per_kwh(i["max_g_per_kwh"],
                                                                       precision)
    spread = f" (range {low} to {high})" if low != high else ""
    return (f"grid intensity {i['region']} ({i['method']}): "
            f"{_g_per_kwh(i['mean_g_per_kwh'], precision)}{spread}; "
            f"PUE {format_number(fp['pue'], precision)}")


def interval_line(fp: dict[str, Any], precision: int = DEFAULT_PRECISION) -> str | None:
    """``CO2e p5-p95: … to … kgCO2e`` when the footprint carries an interval, else ``None``."""
    interval = fp.get("co2e_kg_interval")
    if not interval:
        return None
    ranges = (fp.get("uncertainty") or {}).get("ranges", [])
    inputs = ", ".join(dict.fromkeys(r["factor"].split(":")[0] for r in ranges)) or "none"
    return (f"CO2e p5-p95: {format_in(interval[0], 'kgCO2e', precision)} to "
            f"{format_in(interval[1], 'kgCO2e', precision)} (Monte Carlo over the inputs not "
            f"measured: {inputs}; ranges in --json)")


def print_footprint(fp: dict[str, Any], region_label: str, hint: str | None, *,
                    to_err: bool = False, precision: int = DEFAULT_PRECISION,
                    wide: bool = False) -> None:
    """Show a footprint in the terminal: the breakdown, the intensity, SCI, and notes."""
    console = err if to_err else out
    i = fp["intensity"]
    notes = Notes()
    source = f"intensity source: {i['source']}" + (
        f", {i['provenance']}" if i.get("provenance") else "")
    line = intensity_line(fp, precision)
    if wide:
        line += f"; {source}"
    else:
        line += " " + notes.mark(source)
    if i.get("fallback"):
        line += f"; note: {i['fallback']}" if wide else " " + notes.mark(f"note: {i['fallback']}")
    rows = footprint_rows(fp, precision)
    print_table(console, f"carbon, region {region_label}",
                [Column("term", "id"), Column("energy", "num"), Column("CO2e", "num")],
                rows, wide=wide, sections=(len(rows) - 1,))
    console.print(line, soft_wrap=wide)
    interval = interval_line(fp, precision)
    if interval:
        console.print(interval, soft_wrap=wide)
    for row in fp.get("sci", []):
        console.print(f"SCI: {format_in(row['co2e_g_per_unit'], 'g', precision)} CO2e per "
                      f"{row['unit']} ({format_number(row['count'], precision)} "
                      f"{row['unit']}s)", soft_wrap=wide)
    from wattprint.accounting.footprint import embodied_note

    dominant = embodied_note(fp["co2e_kg"])
    if dominant:
        console.print(f"note: {dominant}", soft_wrap=wide, overflow="fold")
    for note in notes.lines():
        console.print(note, soft_wrap=wide, overflow="fold")
    if hint:
        console.print(f"hint: {hint}", soft_wrap=wide)


BasisOpt = Annotated[str, typer.Option(
    "--basis", help="Count the run on its components (default) or on node: the node's wall "
                    "power from its BMC (never both).")]


def options(region: str | None = None, intensity: Path | None = None, method: str = "average",
            pue: float | None = None, hourly: bool = False, embodied: bool = True,
            live: str | None = None, year: int | None = None,
            basis: str = "components") -> Any:
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
    if basis not in ("components", "node"):
        fail(f"--basis {basis!r}: use components or node")
    try:
        validate.pue(pue, "--pue")
        validate.year(year, "--year")
    except WattprintError as exc:
        handle_error(exc)
    if intensity is not None and not intensity.exists():
        fail(f"--intensity {intensity}: no such file")
    settings = settings_from()
    return AccountingOptions(region=region, intensity_file=intensity, method=method,
                             pue=pue if pue is not None else settings.pue, hourly=hourly,
                             embodied=embodied, catalogue_overrides=settings.hardware,
                             source=source, year=year, basis=basis)


InstanceTypeOpt = Annotated[str | None, typer.Option(
    "--instance-type", help="Cloud instance type (m5.large, e2-standard-4, Standard_D4s_v3): "
                            "embodied carbon by Cloud Carbon Footprint's figure for it "
                            "(default: WATTPRINT_INSTANCE_TYPE, the type recorded with the run, "
                            "[hardware] instance_type).")]


@app.command()
def account(
    run_id: Annotated[str, typer.Argument(
        metavar="RUN|JOB", help="Run id, prefix, or 'last'; or a job id, or job:ID.")],
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
    basis: BasisOpt = "components",
    refresh_series: Annotated[bool, typer.Option(
        "--refresh-series", help="Read the file, shipped series or API afresh instead of the "
                                 "series kept when this run was first accounted with it.")
    ] = False,
    instance_type: InstanceTypeOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """Re-account a stored run: another region, series, method or PUE; the energy is unchanged.

    Examples:
      wattprint account last --region FR
      wattprint account last --basis node
      wattprint account last --region DE --hourly --pue 1.2
      wattprint account 6b12 --intensity grid.csv --method marginal
      wattprint account slurm:4242.0 --pue 1.3
    """
    import dataclasses

    from wattprint.accounting.keeping import account_keeping
    from wattprint.accounting.kept import KeptIntensity, load_kept
    from wattprint.store import Store

    opts = options(region, intensity, method, pue, hourly, not no_embodied, live, year, basis)
    if instance_type:
        opts = dataclasses.replace(opts, instance_type=instance_type)
    home = settings_from().store_dir
    try:
        if series is not None:
            opts = dataclasses.replace(opts, source=KeptIntensity(load_kept(home, series)))
        store = Store(settings_from().store_target)
        from wattprint.report.jobview import resolve_target

        what, ident = resolve_target(store, run_id)
        if what == "job":
            _account_job(store, ident, opts, as_json, precision, wide)
            return
        # a user file, the shipped hourly series or a live API: kept with the run
        accounted, use = account_keeping(store, ident, opts, home, refresh=refresh_series)
    except WattprintError as exc:
        handle_error(exc)
    kept = [use.digest] if use is not None else []
    fp = accounted.footprint.to_dict()
    if as_json:
        print_json({"id": accounted.run.id, "region": accounted.region.code,
                    "region_how": accounted.region.how, "co2e_kg": fp["co2e_kg"]["total"],
                    "footprint": fp, "kept_series": kept,
                    "kept_series_reused": bool(use and use.reused),
                    "kept_series_note": use.note if use else None})
        return
    print_footprint(fp, accounted.region.label, accounted.region.hint, precision=precision,
                    wide=wide)
    if use is not None:
        if use.note:
            out.print(f"note: {use.note}")
        if not use.reused:
            out.print(f"intensity kept as series {use.digest[:12]} (wattprint series show "
                      f"{use.digest[:12]}); accounting this run again with it uses it")


def _account_job(store: Any, job_id: str, opts: Any, as_json: bool, precision: int,
                 wide: bool) -> None:
    """Print a job re-accounted: each node in its own region, the terms summed."""
    from wattprint.report.jobview import job_document

    doc = job_document(store, job_id, opts)
    nodes = [{"node": d["node"], "regions": d["regions"], "energy_j": d["energy_j"],
              "co2e_kg": d["co2e_kg"]} for d in doc["by_node"]]
    if as_json:
        print_json({"job_id": job_id, "status": doc["status"], "partial": doc["partial"],
                    "co2e_kg": doc["co2e_kg"], "footprint": doc["footprint"],
                    "by_node": nodes, "accounted": doc["accounted"]})
        return
    fp = doc["footprint"]
    print_table(out, f"job {job_id} ({doc['status']}): carbon by term",
                [Column("term"), Column("energy", "num"), Column("CO2e", "num")],
                footprint_rows(fp, precision), wide=wide)
    print_table(out, "by node (each in its own region)",
                [Column("node", "id"), Column("region", "id"), Column("CO2e", "num")],
                [[d["node"], ",".join(d["regions"]) or "—",
                  format_in(d["co2e_kg"], "kgCO2e", precision)] for d in nodes], wide=wide)


@app.command()
def estimate(
    gpu: Annotated[str | None, typer.Option(
        help="GPU model (catalogue name; any name with --gpu-power-w).")] = None,
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
    instance_type: InstanceTypeOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """Estimate a job's footprint without running it: power × hours × PUE × intensity.

    Examples:
      wattprint estimate --gpu A100-SXM4-40GB --gpus 8 --hours 24
      wattprint estimate --gpu-hours 200 --gpu A100-SXM4-40GB --region FR
      wattprint estimate --power-w 350 --hours 10 --intensity 250 --json
      wattprint estimate --gpu "RTX 5090" --gpu-power-w 575 --hours 3 --region DE
    """
    from wattprint.accounting.estimate import estimate as do_estimate
    from wattprint.accounting.uncertainty import with_interval

    settings = settings_from()  # wattprint.toml and WATTPRINT_* like every other command
    try:
        estimated = do_estimate(gpu=gpu, gpus=gpus, hours=hours, gpu_hours=gpu_hours,
                         gpu_power_w=gpu_power_w, power_w=power_w, region=region,
                         intensity_g_per_kwh=intensity, pue=pue, idle_kwh=idle_kwh,
                         embodied=embodied, embodied_gpu_kg=embodied_gpu_kg,
                         embodied_node_kg=embodied_node_kg, gpus_per_node=gpus_per_node,
                         lifetime_years=lifetime_years, utilization=utilization,
                         config_region=settings.region, config_pue=settings.pue,
                         catalogue_overrides=settings.hardware,
                         instance_type=instance_type)
        fp = with_interval(estimated).to_dict()
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json({"co2e_kg": fp["co2e_kg"]["total"], "footprint": fp})
        return
    region_label = fp["intensity"]["region"]
    print_footprint(fp, region_label, None, precision=precision, wide=wide)
    out.print("estimated: no measurement; every input is listed in --json provenance")


@app.command()
def regions(
    search: Annotated[str | None, typer.Option(help="Text to search in codes and names.")] = None,
    hourly: Annotated[bool, typer.Option(
        "--hourly", help="Only regions with a shipped hourly series.")] = False,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """List and search the known region codes with their source.

    Examples:
      wattprint regions --search france
      wattprint regions --hourly
    """
    from wattprint.accounting.location import list_regions

    found = list_regions(search, hourly_only=hourly)
    if as_json:
        print_json({"regions": [vars(r) for r in found]})
        return
    notes = Notes()
    if hourly:
        rows = [[r.code, r.name, r.hourly_years, r.hourly_basis,
                 r.hourly_source if wide else notes.mark(r.hourly_source)] for r in found]
        print_table(out, f"{len(found)} regions",
                    [Column("code", "id"), Column("name"), Column("hourly years", "id"),
                     Column("basis", "id"), Column("hourly source", "text" if wide else "id")],
                    rows, notes=notes, wide=wide)
        out.print("basis: lifecycle includes upstream emissions, direct only combustion; "
                  "compare like with like")
        return
    rows = [[r.code, r.name, r.kind, format_intensity(r.g_per_kwh, precision),
             str(r.year or ""), "yes" if r.has_hourly else "",
             r.source if wide else notes.mark(r.source)] for r in found]
    print_table(out, f"{len(found)} regions",
                [Column("code", "id"), Column("name"), Column("kind", "id"),
                 Column("intensity", "num"), Column("year", "num"), Column("hourly", "id"),
                 Column("source", "text" if wide else "id")], rows, notes=notes, wide=wide)
