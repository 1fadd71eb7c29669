"""Core commands: ``runs``, ``show``, ``sensors``, ``config`` (``run`` is in :mod:`.measure`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

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
from wattprint.cli.measure import DEVICE_COLUMNS, device_cells
from wattprint.errors import WattprintError
from wattprint.report.runview import device_rows, run_document, run_energy_j
from wattprint.run import DeviceEnergy, open_sensors
from wattprint.store import Store
from wattprint.time import iso_utc as iso
from wattprint.units import j_to_kwh


def device_table(devices: list[DeviceEnergy] | list[dict[str, Any]], title: str) -> Table:
    """The per-device energy table shown by ``show`` (``run`` prints the same as text)."""
    table = Table(title=title, title_justify="left")
    for col, justify in DEVICE_COLUMNS:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    rows, total = device_cells(devices)
    for row in rows:
        table.add_row(*row)
    table.add_section()
    table.add_row(*total)
    return table


@app.command()
def runs(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first.

    Examples:
      wattprint runs
      wattprint runs --project bert --limit 10
      wattprint runs --json
    """
    settings = settings_from()
    try:
        store = Store(settings.db_path)
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
    table = Table(title=f"runs in {settings.db_path}", title_justify="left")
    for col in ("id", "project", "name", "phase", "status", "started (UTC)", "s", "kWh"):
        table.add_column(col)
    for d in docs:
        table.add_row(d["id"], d["project"], d["name"] or "", d["phase"], d["status"],
                      (d["started_at"] or "")[:19], f"{d['duration_s'] or 0:.1f}",
                      f"{d['energy_kwh']:.6f}")
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique prefix, or 'last'.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one run: devices, energy, metrics.

    Examples:
      wattprint show last
      wattprint show 6b12 --json
    """
    from wattprint.accounting.account import account_run

    settings = settings_from()
    try:
        store = Store(settings.db_path)
        doc = run_document(store, run_id)
        from wattprint.cli.accounting import options

        accounted = account_run(store, doc["id"], options())
    except WattprintError as exc:
        handle_error(exc)
    footprint = accounted.footprint.to_dict()
    doc["co2e_kg"] = footprint["co2e_kg"]["total"]
    doc["region"] = accounted.region.code
    doc["region_how"] = accounted.region.how
    doc["footprint"] = footprint
    if as_json:
        print_json(doc)
        return
    out.print(f"run {doc['id']}  project={doc['project']}  name={doc['name']}  "
              f"phase={doc['phase']}  status={doc['status']}")
    out.print(f"started {doc['started_at']}  ended {doc['ended_at']}  "
              f"duration {doc['duration_s'] or 0:.1f} s  exit {doc['exit_code']}")
    if doc["command"]:
        out.print(f"command: {doc['command']}")
    out.print(device_table(doc["devices"], "energy by device"))
    out.print(f"total ({doc['attribution']} attribution): {doc['energy_kwh']:.6f} kWh")
    if doc["metrics"]:
        out.print("metrics: " + ", ".join(f"{m['name']}={m['value']:g}" for m in doc["metrics"]))
    if doc["units"]:
        out.print("units: " + ", ".join(f"{v:g} {k}" for k, v in doc["units"].items()))
    from wattprint.cli.accounting import print_footprint

    print_footprint(footprint, accounted.region.label, accounted.region.hint)


@app.command("sensors")
def sensors_cmd(as_json: JsonOpt = False) -> None:
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
    table = Table(title="devices", title_justify="left")
    for col in ("sensor", "id", "kind", "name", "basis"):
        table.add_column(col)
    for d in devices:
        table.add_row(d["sensor"], d["id"], d["kind"], d["name"],
                      "measured" if d["measured"] else f"estimated: {d['model']}")
    out.print(table)
    if skips:
        st = Table(title="skipped", title_justify="left")
        st.add_column("sensor")
        st.add_column("reason")
        for k in skips:
            st.add_row(str(k["sensor"]) + ("" if k["whole_sensor"] else " (domain)"),
                       str(k["reason"]))
        out.print(st)


@app.command("config")
def config_cmd(as_json: JsonOpt = False) -> None:
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
    table = Table(title="effective settings", title_justify="left")
    for col in ("setting", "value", "from"):
        table.add_column(col)
    for k, (v, o) in eff.items():
        table.add_row(k, str(v), o)
    out.print(table)
