"""Exchange commands: ``export`` (CSV, JSON, Parquet, codecarbon CSV) and ``import`` (peer logs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from wattprint import validate
from wattprint.cli.app import (
    JsonOpt,
    ProjectOpt,
    QuietOpt,
    app,
    err,
    fail,
    handle_error,
    print_json,
    require_project,
    settings_from,
)
from wattprint.errors import WattprintError
from wattprint.report.exchange import (
    collect_runs,
    render_codecarbon_csv,
    render_csv,
    render_json,
    render_parquet,
)
from wattprint.report.importers import PEERS, import_peer_log
from wattprint.store import Store
from wattprint.time import parse_time_zone

FORMATS = ("csv", "json", "parquet")



@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, as a ``(done, total)`` callback.

    Silent with ``--quiet`` and when stderr is not a terminal (scripts, pipes, CI logs).
    """
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err, transient=True, disable=quiet or not err.is_terminal) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


@app.command()
def export(
    project: ProjectOpt = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="csv, json or parquet.")] = "csv",
    codecarbon: Annotated[bool, typer.Option(
        "--codecarbon", help="CSV with codecarbon's emissions.csv columns (csv only).")] = False,
    by_device: Annotated[bool, typer.Option(
        "--by-device", help="One row per device instead of one per run (csv, parquet).")
    ] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to FILE (default: stdout; parquet needs a file).")
    ] = None,
    quiet: QuietOpt = False,
    job: Annotated[str | None, typer.Option(
        "--job", metavar="JOB", help="Only the runs of this distributed job (its id, a "
                                     "unique prefix, or 'last').")] = None,
) -> None:
    """Export stored runs (all, one project's, or one job's) as CSV, JSON or Parquet.

    Energy is device energy in kWh; carbon (kg CO2e) is accounted on export.
    --codecarbon writes the columns of codecarbon's emissions.csv so existing
    dashboards read it. Runs of distributed jobs carry job_id, job_node and
    job_rank columns.

    Examples:
      wattprint export -o runs.csv
      wattprint export --project bert --format json -o bert.json
      wattprint export --codecarbon -o emissions.csv
      wattprint export --job slurm:4242.0 -o job.csv
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if codecarbon and fmt != "csv":
        fail("--codecarbon writes codecarbon's CSV; drop --format or use --format csv")
    if codecarbon and by_device:
        fail("--codecarbon has one row per run; drop --by-device")
    if by_device and fmt == "json":
        fail("the JSON export always lists each run's devices; drop --by-device")
    if fmt == "parquet" and output is None:
        fail("Parquet is binary: give a file with -o FILE.parquet")
    settings = settings_from()
    try:
        store = Store(settings.store_target)
        require_project(store, project)
        job_id = None
        if job is not None:
            from wattprint.store.jobs import resolve_job

            job_id = resolve_job(store, job)
        with _progress("exporting runs", quiet) as tick:
            runs = collect_runs(store, project, progress=tick, job=job_id)
        data: str | bytes
        if codecarbon:
            data = render_codecarbon_csv(runs)
        elif fmt == "csv":
            data = render_csv(runs, by_device=by_device)
        elif fmt == "json":
            data = render_json(runs)
        else:
            data = render_parquet(runs, by_device=by_device)
    except WattprintError as exc:
        handle_error(exc)
    if output is None:
        assert isinstance(data, str)  # parquet always goes to a file (checked above)
        typer.echo(data, nl=False)
    else:
        from wattprint.atomic import write_atomic

        try:
            write_atomic(output, data)
        except WattprintError as exc:
            handle_error(exc)
    if not quiet:
        where = f" to {output}" if output is not None else ""
        scope = f" of project {project!r}" if project else ""
        scope += f" of job {job_id}" if job_id else ""
        kind = "codecarbon CSV" if codecarbon else fmt
        err.print(f"exported {len(runs)} run(s){scope} as {kind}{where}")


@app.command("import")
def import_cmd(
    tool: Annotated[str, typer.Argument(
        metavar="TOOL", help="The tool that wrote the log: codecarbon, carbontracker or eco2ai.")],
    path: Annotated[Path, typer.Argument(
        metavar="FILE", help="codecarbon emissions.csv, carbontracker log directory or log, "
                             "eco2AI emission.csv.")],
    project: ProjectOpt = None,
    phase: Annotated[str, typer.Option(help="Life-cycle phase of the imported runs.")
                     ] = "training",
    tz: Annotated[str | None, typer.Option(
        "--tz", help="Time zone of the log's timestamps: local (default), UTC, +02:00 or "
                     "an IANA name.")] = None,
    peer_pue: Annotated[float | None, typer.Option(
        "--peer-pue", help="eco2AI only: the PUE it was given (it does not record it).")
    ] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Import another tool's log as runs marked with that tool.

    Each run keeps the tool's own energy and carbon figures; wattprint stores
    device energy (the tool's PUE removed) so the runs can be compared and
    re-accounted like measured ones. Importing a file again skips the runs
    already imported.

    Examples:
      wattprint import codecarbon emissions.csv --project bert
      wattprint import eco2ai emission.csv --peer-pue 1.2 --tz UTC
    """
    name = tool.strip().lower()
    if name not in PEERS:
        fail(f"unknown tool {tool!r}: choose one of {', '.join(PEERS)}")
    settings = settings_from(project=project)
    try:
        peer_pue = validate.pue(peer_pue, "--peer-pue")
        zone = parse_time_zone(tz)
        store = Store(settings.store_target)
        with _progress(f"importing {path.name}", quiet) as tick:
            result = import_peer_log(store, name, path, project=project,
                                     default_project=settings.project, phase=phase, tz=zone,
                                     peer_pue=peer_pue, progress=tick)
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json({"tool": result.tool, "path": str(result.path), "imported": result.imported,
                    "skipped": result.skipped})
        return
    if not quiet:
        err.print(f"imported {len(result.imported)} {result.tool} run(s) from {path}"
                  + (f"; skipped {len(result.skipped)} already imported"
                     if result.skipped else ""))
        for rid in result.imported:
            err.print(f"  {rid}")
