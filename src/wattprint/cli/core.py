"""Core commands: ``runs``, ``show``, ``sensors``, ``config`` (``run`` is in :mod:`.measure`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from wattprint import validate
from wattprint.cli.app import (
    JsonOpt,
    ProjectOpt,
    app,
    handle_error,
    out,
    print_json,
    require_project,
    settings_from,
)
from wattprint.cli.tables import Column, Notes, PrecisionOpt, WideOpt, print_table
from wattprint.errors import ConfigError, WattprintError
from wattprint.report.runview import device_rows, run_document, run_energy_j
from wattprint.run import DeviceEnergy, open_sensors
from wattprint.store import Store
from wattprint.time import iso_utc as iso
from wattprint.units import (
    DEFAULT_PRECISION,
    format_duration_s,
    format_energy_j,
    format_mass_kg,
    format_number,
    format_power_w,
    j_to_kwh,
)

if TYPE_CHECKING:
    from rich.console import Console


def device_table(devices: list[DeviceEnergy] | list[dict[str, Any]], title: str, *,
                 console: Console | None = None, precision: int = DEFAULT_PRECISION,
                 wide: bool = False) -> None:
    """Print the per-device energy table shown after a run and by ``show``.

    An estimated device's power model goes into a numbered note under the
    table (inline with ``wide``).
    """
    notes = Notes()
    rows: list[list[str]] = []
    total = attributed = 0.0
    for d in devices:
        row = d.as_dict() if isinstance(d, DeviceEnergy) else d
        total += row["energy_j"]
        attributed += row["attributed_energy_j"]
        if row["measured"]:
            basis = "measured"
        else:
            model = f"estimated by a power model: {row.get('model') or 'model'}"
            basis = f"estimated ({row.get('model') or 'model'})" if wide else (
                "estimated " + notes.mark(f"{row['name']}: {model}"))
        rows.append([row["name"], row["kind"], row["source"], basis,
                     format_power_w(row["mean_power_w"], precision),
                     format_energy_j(row["energy_j"], precision),
                     format_energy_j(row["attributed_energy_j"], precision)])
    rows.append(["total", "", "", "", "", format_energy_j(total, precision),
                 format_energy_j(attributed, precision)])
    print_table(console or out, title,
                [Column("device"), Column("kind", "id"), Column("source", "id"),
                 Column("basis", "text" if wide else "id"), Column("mean power", "num"),
                 Column("energy", "num"), Column("attributed", "num")],
                rows, notes=notes, wide=wide, sections=(len(rows) - 1,))


@app.command()
def runs(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """List stored runs, newest first.

    Examples:
      wattprint runs
      wattprint runs --project bert --limit 10
      wattprint runs --json
    """
    try:
        limit = validate.limit(limit, "--limit")
    except WattprintError as exc:
        handle_error(exc)
    settings = settings_from()
    try:
        store = Store(settings.store_target)
        require_project(store, project)
        records = store.runs(project, limit=limit)
        docs: list[dict[str, Any]] = []
        for r in records:
            energy_j = run_energy_j(r, device_rows(store, r))
            docs.append({"id": r.id, "project": r.project, "name": r.name, "phase": r.phase,
                         "status": r.status, "started_at": iso(r.started_at),
                         "duration_s": r.duration_s, "energy_j": energy_j,
                         "energy_kwh": j_to_kwh(energy_j), "tool": r.tool})
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json({"runs": docs})
        return
    # phase only with --wide: at 80 columns the rest needs the room; the tool too, unless a
    # listed run was imported from another tool (then which tool measured it matters)
    with_tool = wide or any((d["tool"] or "wattprint") != "wattprint" for d in docs)
    rows = [[d["id"], d["project"], d["name"] or "",
             *((d["phase"],) if wide else ()), *((d["tool"] or "",) if with_tool else ()),
             d["status"],
             (d["started_at"] or "")[:16].replace("T", " "),
             "—" if d["duration_s"] is None else format_duration_s(d["duration_s"], precision),
             format_energy_j(d["energy_j"], precision)] for d in docs]
    print_table(out, f"runs in {settings.store_shown}",
                [Column("id", "id"), Column("project"), Column("name"),
                 *((Column("phase"),) if wide else ()),
                 *((Column("tool", "id"),) if with_tool else ()), Column("status"),
                 Column("started (UTC)", "id"), Column("duration", "num"),
                 Column("energy", "num")], rows, wide=wide)


def print_share_rules(rows: list[dict[str, Any]], *, precision: int = DEFAULT_PRECISION,
                      wide: bool = False) -> None:
    """Print the share rules each device's intervals followed (rows of ``share_rule_rows``)."""
    table_rows = []
    for r in rows:
        recorded = r["intervals"] is not None
        note = ("not recorded" if not recorded
                else f"fallback from {r['intended']}" if r["fallback"] else "")
        table_rows.append([r["device"], r["rule"], str(r["intervals"]) if recorded else "",
                           format_duration_s(r["seconds"], precision) if recorded else "", note])
    print_table(out, "share rules applied",
                [Column("device", "id"), Column("rule", "id"), Column("intervals", "num"),
                 Column("time", "num"), Column("note")], table_rows, wide=wide)


def print_phases(phases: list[dict[str, Any]], *, precision: int = DEFAULT_PRECISION,
                 wide: bool = False) -> None:
    """Print the ``run.phase()`` sections of a run with their energy and carbon.

    Nested phases are indented by depth; carbon is operational (PUE included,
    embodied not divided among phases).
    """
    rows = []
    for p in phases:
        rows.append(["  " * int(p.get("depth") or 0) + str(p["name"]),
                     format_duration_s(p["duration_s"], precision),
                     format_energy_j(p["energy_j"], precision),
                     format_mass_kg(p["co2e_kg"], precision)])
    print_table(out, "phases (run.phase sections)",
                [Column("phase"), Column("duration", "num"), Column("energy", "num"),
                 Column("CO2e", "num")], rows, wide=wide)


def _show_job(store: Store, job_id: str, by: str | None, rank: int | None, as_json: bool,
              precision: int, wide: bool) -> None:
    """Print a distributed job: totals, then by node, rank or device."""
    from wattprint.cli.accounting import options
    from wattprint.report.jobview import job_document
    from wattprint.units import format_mass_kg

    try:
        doc = job_document(store, job_id, options(), metrics_rank=rank)
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json(doc)
        return
    wall = "—" if doc["wall_s"] is None else format_duration_s(doc["wall_s"], precision)
    out.print(f"job {doc['job_id']}  launcher={doc['launcher']}  status={doc['status']}  "
              f"nodes={len(doc['nodes'])}  ranks={doc['ranks']}  runs={doc['runs']}")
    out.print(f"started {doc['started_at']}  ended {doc['ended_at']}  wall {wall}")
    if doc["dead_nodes"]:
        out.print(f"partial: node(s) {', '.join(doc['dead_nodes'])} ended without stopping; "
                  "what they measured is kept")

    def energy(d: dict[str, Any]) -> str:
        return format_energy_j(d["energy_j"], precision)

    def co2e(d: dict[str, Any]) -> str:
        return format_mass_kg(d["co2e_kg"], precision)

    if by in (None, "node"):
        print_table(out, "by node", [Column("node", "id"), Column("region", "id"),
                                     Column("ranks", "num"), Column("energy", "num"),
                                     Column("CO2e", "num")],
                    [[d["node"], ",".join(d["regions"]) or "—", str(len(d["ranks"])), energy(d),
                      co2e(d)] for d in doc["by_node"]], wide=wide)
    if by == "rank":
        print_table(out, "by rank (who measured)", [Column("rank", "num"), Column("node", "id"),
                                                    Column("status"), Column("energy", "num"),
                                                    Column("CO2e", "num")],
                    [["—" if d["rank"] is None else str(d["rank"]), d["node"], d["status"],
                      energy(d), co2e(d)] for d in doc["by_rank"]], wide=wide)
    if by == "device":
        print_table(out, "by device", [Column("node", "id"), Column("device", "id"),
                                       Column("kind", "id"), Column("measured by", "id"),
                                       Column("energy", "num")],
                    [[d["node"], d["device_id"], d["kind"] or "",
                      ",".join("—" if r is None else str(r) for r in d["measured_by"]),
                      energy(d)] for d in doc["by_device"]], wide=wide)
    out.print(f"total: {format_energy_j(doc['energy_j'], precision)}, "
              f"{format_mass_kg(doc['co2e_kg'], precision)} CO2e")
    if doc["metrics"]:
        out.print(f"metrics (rank {doc['metrics_from_rank']}): " + ", ".join(
            f"{m['name']}={format_number(m['value'], precision)}" for m in doc["metrics"]))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(
        metavar="RUN|JOB", help="Run id, unique prefix, or 'last'; or a job id (see `jobs`).")],
    by: Annotated[str | None, typer.Option(
        help="For a job: break it down by node, rank or device.")] = None,
    rank: Annotated[int | None, typer.Option(
        help="For a job: show this rank's metrics and units (default rank 0).")] = None,
    basis: Annotated[str, typer.Option(
        "--basis", help="Account a run on its components (default) or on node: the node's "
                        "wall power from its BMC.")] = "components",
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """Show one run: devices, energy, metrics; or a distributed job.

    Examples:
      wattprint show last
      wattprint show 6b12 --json
      wattprint show slurm:4242.0 --by node
      wattprint show torchelastic:abc --by rank --json
      wattprint show last --basis node
    """
    from wattprint.accounting.account import account_run
    from wattprint.errors import RunNotFound

    if by is not None and by not in ("node", "rank", "device"):
        handle_error(ConfigError(f"--by {by!r}: choose node, rank or device"))
    settings = settings_from()
    try:
        store = Store(settings.store_target)
        try:
            doc = run_document(store, run_id)
        except RunNotFound as not_a_run:
            from wattprint.store.jobs import resolve_job

            try:
                job_id = resolve_job(store, run_id) if run_id != "last" else None
            except RunNotFound:
                job_id = None
            if job_id is None:
                raise not_a_run from None
            if basis != "components":
                raise ConfigError("--basis node accounts one run; show the job's measuring "
                                  "runs one by one (`show JOB --by rank` lists them)") from None
            _show_job(store, job_id, by, rank, as_json, precision, wide)
            return
        from wattprint.cli.accounting import options

        accounted = account_run(store, doc["id"], options(basis=basis))
    except WattprintError as exc:
        handle_error(exc)
    from wattprint.accounting.uncertainty import with_interval
    from wattprint.report.importers.common import peer_figures

    footprint = with_interval(accounted.footprint).to_dict()
    # an imported run's own tool's figures, as it logged them (null for wattprint's runs)
    doc["peer"] = peer_figures(accounted.run.info)
    doc["co2e_kg"] = footprint["co2e_kg"]["total"]
    doc["region"] = accounted.region.code
    doc["region_how"] = accounted.region.how
    doc["footprint"] = footprint
    doc["phases"] = accounted.phases
    if as_json:
        print_json(doc)
        return
    out.print(f"run {doc['id']}  project={doc['project']}  name={doc['name']}  "
              f"phase={doc['phase']}  status={doc['status']}")
    duration = "—" if doc["duration_s"] is None else format_duration_s(doc["duration_s"],
                                                                          precision)
    exit_code = "" if doc["exit_code"] is None else f"  exit {doc['exit_code']}"
    out.print(f"started {doc['started_at']}  ended {doc['ended_at']}  "
              f"duration {duration}{exit_code}")
    if doc["command"]:
        out.print(f"command: {doc['command']}")
    device_table(doc["devices"], "energy by device", precision=precision, wide=wide)
    from wattprint.report.runview import share_rule_rows

    print_share_rules(share_rule_rows(doc["devices"]), precision=precision, wide=wide)
    out.print(f"total ({doc['attribution']} attribution): "
              f"{format_energy_j(doc['energy_j'], precision)}")
    if doc["node_power"] is not None:
        from wattprint.report.runview import node_power_lines

        for line in node_power_lines(doc["node_power"], precision):
            out.print(line)
    if basis == "node":
        out.print("accounted on node power (the BMC's wall power, not the components)")
    if doc["phases"]:
        print_phases(doc["phases"], precision=precision, wide=wide)
    if doc["metrics"]:
        out.print("metrics: " + ", ".join(f"{m['name']}={format_number(m['value'], precision)}"
                                          for m in doc["metrics"]))
    if doc["units"]:
        out.print("units: " + ", ".join(f"{format_number(v, precision)} {k}"
                                        for k, v in doc["units"].items()))
    if doc.get("prediction"):
        from wattprint.report.runview import prediction_lines

        for line in prediction_lines(doc["prediction"], precision):
            out.print(line, highlight=False)
    from wattprint.cli.accounting import print_footprint

    print_footprint(footprint, accounted.region.label, accounted.region.hint,
                    precision=precision, wide=wide)


@app.command("sensors")
def sensors_cmd(as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Show the sensors found on this machine, what was skipped, and why.

    Examples:
      wattprint sensors
      wattprint sensors --json
    """
    settings = settings_from()
    try:
        found, skipped = open_sensors(settings)
    except WattprintError as exc:
        handle_error(exc)
    devices: list[dict[str, Any]] = [
        {"sensor": s.name, "id": d.id, "kind": d.kind, "name": d.name, "measured": d.measured,
         "counter": d.counter, "model": d.model, "extra": dict(d.extra)}
        for s in found for d in s.devices()
    ]
    for sensor in found:
        sensor.close()
    skips = [{"sensor": k.sensor, "reason": k.reason, "whole_sensor": k.whole} for k in skipped]
    if as_json:
        print_json({"sensors": [s.name for s in found], "devices": devices, "skipped": skips})
        return
    notes = Notes()
    rows = []
    for d in devices:
        if d["measured"]:
            basis = "measured"
        elif wide:
            basis = f"estimated: {d['model']}"
        else:
            basis = "estimated " + notes.mark(f"{d['name']}: estimated by {d['model']}")
        rows.append([d["sensor"], d["id"], d["kind"], d["name"], basis])
    print_table(out, "devices",
                [Column("sensor", "id"), Column("id", "id"), Column("kind", "id"),
                 Column("name"), Column("basis", "text" if wide else "id")],
                rows, notes=notes, wide=wide)
    if skips:
        print_table(out, "skipped",
                    [Column("sensor", "id"), Column("reason")],
                    [[str(k["sensor"]) + ("" if k["whole_sensor"] else " (domain)"),
                      str(k["reason"])] for k in skips], wide=wide)


@app.command("config")
def config_cmd(as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Print the effective settings and where each came from.

    Examples:
      wattprint config
      WATTPRINT_REGION=FR wattprint config --json
    """
    settings = settings_from()
    eff = settings.effective()
    if as_json:
        print_json({k: {"value": v, "origin": o} for k, (v, o) in eff.items()})
        return
    print_table(out, "effective settings",
                [Column("setting", "id"), Column("value"), Column("from")],
                [[k, str(v), o] for k, (v, o) in eff.items()], wide=wide)
