"""``wattprint jobs``: one line per distributed job (``show JOB`` is in :mod:`.core`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wattprint import validate
from wattprint.cli.app import JsonOpt, app, handle_error, out, print_json, settings_from
from wattprint.cli.tables import Column, PrecisionOpt, WideOpt, print_table
from wattprint.errors import WattprintError
from wattprint.store import Store
from wattprint.units import DEFAULT_PRECISION, format_duration_s, format_energy_j, format_mass_kg


@app.command("jobs")
def jobs_cmd(
    limit: Annotated[int, typer.Option(help="At most this many jobs.")] = 50,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """List distributed jobs, newest first: nodes, ranks, energy, carbon.

    Examples:
      wattprint jobs
      wattprint jobs --json
      wattprint show slurm:4242.0 --by node
    """
    from wattprint.cli.accounting import options
    from wattprint.report.jobview import job_document
    from wattprint.store.jobs import jobs

    try:
        limit = validate.limit(limit, "--limit")
    except WattprintError as exc:
        handle_error(exc)
    settings = settings_from()
    docs: list[dict[str, Any]] = []
    try:
        store = Store(settings.store_target)
        for job in jobs(store, limit=limit):
            doc = job_document(store, job.job_id, options())
            docs.append({k: doc[k] for k in ("job_id", "status", "launcher", "nodes", "ranks",
                                            "runs", "started_at", "ended_at", "wall_s",
                                            "energy_j", "energy_kwh", "co2e_kg")})
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json({"jobs": docs})
        return
    rows = [[d["job_id"], d["status"], str(len(d["nodes"])), str(d["ranks"]),
             (d["started_at"] or "")[:16].replace("T", " "),
             "—" if d["wall_s"] is None else format_duration_s(d["wall_s"], precision),
             format_energy_j(d["energy_j"], precision),
             format_mass_kg(d["co2e_kg"], precision)] for d in docs]
    print_table(out, f"jobs in {store.where}",
                [Column("job", "id"), Column("status"), Column("nodes", "num"),
                 Column("ranks", "num"), Column("started (UTC)", "id"), Column("wall", "num"),
                 Column("energy", "num"), Column("CO2e", "num")], rows, wide=wide)


__all__ = ["jobs_cmd"]
