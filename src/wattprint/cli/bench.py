"""``wattprint bench``: energy per unit of a command over a grid of settings.

The harness is :mod:`wattprint.decide.bench` and its report
:mod:`wattprint.decide.bench_report`; this module parses the options, prints
a line per configuration as it ends, and writes the ranked table (or the
Markdown, HTML or JSON report). The commands' own output goes to stderr, so
stdout holds only the table or report.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wattprint.cli.app import (
    RegionOpt,
    app,
    err,
    fail,
    handle_error,
    out,
    settings_from,
    setup_logging,
)
from wattprint.cli.tables import Column, PrecisionOpt, WideOpt, print_table
from wattprint.errors import WattprintError
from wattprint.units import DEFAULT_PRECISION, format_energy_j, format_number

_CMD = {"allow_extra_args": True, "ignore_unknown_options": True}
_FORMATS = ("table", "md", "html", "json")
_SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md",
                   ".json": "json"}


def _format(fmt: str | None, as_json: bool, output: Path | None) -> str:
    chosen = (fmt or ("json" if as_json else None)
              or (_SUFFIX_FORMATS.get(output.suffix.lower()) if output else None) or "table")
    chosen = chosen.lower()
    if chosen not in _FORMATS:
        fail(f"--format must be one of {', '.join(_FORMATS)}, not {chosen!r}")
    if chosen == "table" and output is not None:
        fail("a table goes to the terminal; use --format md, html or json with -o")
    return chosen


def _progress_line(result: Any, precision: int) -> str:
    where = f"run {result.run_id}" if result.run_id else "not stored"
    if not result.ok:
        return (f"bench: {result.label}: {result.status}, exit code {result.exit_code} "
                f"({result.error}); {where}")
    per = (format_energy_j(result.energy_j_per_unit, precision)
           if result.energy_j_per_unit is not None else "—")
    rate = (format_number(result.throughput_per_s, precision)
            if result.throughput_per_s is not None else "—")
    return (f"bench: {result.label}: {per}/{result.unit}, {rate} {result.unit}/s; {where}")


@app.command(context_settings=_CMD)
def bench(
    ctx: typer.Context,
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", "-g", metavar="NAME=V1,V2",
        help="A dimension of the grid (repeatable; every combination runs). The command "
             "template reads its value as {NAME}.")] = None,
    warmup: Annotated[int, typer.Option(
        "--warmup", min=0, help="Unmeasured repetitions per configuration, first.")] = 0,
    repeat: Annotated[int, typer.Option(
        "--repeat", min=1, help="Measured repetitions per configuration.")] = 3,
    devices: Annotated[list[str] | None, typer.Option(
        "--devices", metavar="LIST",
        help="CUDA_VISIBLE_DEVICES of the runs: GPU indices or GPU-/MIG- UUIDs, "
             "comma-separated. Given more than once, each list is a configuration "
             "(the grid dimension 'devices').")] = None,
    project: Annotated[str, typer.Option(
        "--project", "-p", help="Project the configurations are stored in.")] = "bench",
    name: Annotated[str | None, typer.Option(
        "--name", help="Prefix of the runs' names (default: the command's name).")] = None,
    phase: Annotated[str, typer.Option(
        "--phase", help="Life-cycle phase of the runs.")] = "experimentation",
    interval: Annotated[float | None, typer.Option(
        "--interval", help="Sampling interval in seconds (default 1, down to 0.01).")] = None,
    attribution: Annotated[str | None, typer.Option(
        "--attribution", help="machine (whole devices) or process (the command's share).")
    ] = None,
    sensors: Annotated[str | None, typer.Option(
        "--sensors", help="Comma-separated sensors to use (default: detect).")] = None,
    region: RegionOpt = None,
    quality: Annotated[str | None, typer.Option(
        "--quality", metavar="METRIC",
        help="Pareto front of energy per unit against this reported metric instead of "
             "throughput.")] = None,
    maximize: Annotated[bool, typer.Option(
        "--maximize/--minimize", help="Whether a larger --quality metric is better.")] = True,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="table (default), md, html or json.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report to FILE (format from its suffix).",
        dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Hide the commands' output and the progress lines.")] = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Benchmark a command's energy per unit over a grid: wattprint bench [OPTIONS] -- CMD...

    Each configuration (one value of every --grid) runs --warmup unmeasured
    and --repeat measured times; the measured ones are one stored run,
    tagged with the grid values. The command reports its work with a line
    'WATTPRINT_UNITS <n> <unit>' on stdout (else each repetition is one
    unit), and may print 'WATTPRINT_METRIC <name> <value>' and
    'WATTPRINT_LATENCY_S <seconds>' lines. Prints the configurations by
    energy per unit with the Pareto front; exits 1 if one failed.

    Examples:
      wattprint bench --grid batch=16,32,64 --repeat 5 -- python infer.py --batch {batch}
      wattprint bench -g batch=16,32 -g precision=fp32,bf16 --warmup 1 -o bench.html
          -- python infer.py --batch {batch} --precision {precision}   (one line)
      wattprint bench --devices 0 --devices MIG-4b2c... -- python infer.py
      wattprint leaderboard -p bench -m throughput_sample_per_s --cost energy_j_per_sample
    """
    from wattprint.decide.bench import BenchOptions, run_bench
    from wattprint.decide.bench_grid import DEVICES_DIMENSION, parse_devices, parse_grid
    from wattprint.decide.bench_report import bench_document

    setup_logging(verbose)
    chosen = _format(fmt, as_json, output)
    cmd = list(ctx.args)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        fail("no command given: put the command template after --, e.g. "
             "wattprint bench --grid batch=16,32 -- python infer.py --batch {batch}")
    try:
        dimensions: dict[str, list[Any]] = dict(parse_grid(grid or []))
        device_lists = [parse_devices(d) for d in devices or []]
        if len(device_lists) > 1:
            if DEVICES_DIMENSION in dimensions:
                fail("give the device lists either as --devices (repeated) or as "
                     "--grid devices=..., not both")
            dimensions[DEVICES_DIMENSION] = device_lists
        options = BenchOptions(warmup=warmup, repeat=repeat,
                               devices=device_lists[0] if len(device_lists) == 1 else None,
                               name=name, phase=phase)
        settings = settings_from(project=project, interval_s=interval,
                                 attribution=attribution, region=region, sensors=sensors)
        if settings.region:
            from wattprint.run import resolve_settings_region

            resolve_settings_region(settings)

        def progress(result: Any) -> None:
            if not quiet:
                err.print(_progress_line(result, precision), markup=False, soft_wrap=True)

        result = run_bench(cmd, dimensions, options, settings,
                           echo=None if quiet else sys.stderr.buffer, on_result=progress)
        doc = bench_document(result, quality=quality, maximize=maximize)
        text = _render(doc, chosen, precision)
    except WattprintError as exc:
        handle_error(exc)
    except KeyboardInterrupt:
        fail("interrupted; the configurations that ended are stored in project "
             f"{project!r}", 130)
    if chosen == "table":
        _print_table(doc, precision, wide, quality)
    elif output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        from wattprint.atomic import write_atomic

        try:
            write_atomic(output, text)
        except WattprintError as exc:
            fail(f"{exc}; choose another path with -o")
        if not quiet:
            err.print(f"wrote {output}", soft_wrap=True, markup=False)
    if doc["failed"]:
        from wattprint.decide.bench_report import failure_lines

        for line in failure_lines(doc):
            err.print(f"failed: {line}", markup=False, soft_wrap=True)
        raise typer.Exit(1)


def _render(doc: dict[str, Any], chosen: str, precision: int) -> str:
    if chosen == "json":
        import json

        from wattprint.validate import json_safe

        clean, _ = json_safe(doc)
        return json.dumps(clean, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if chosen == "md":
        from wattprint.decide.bench_report import bench_markdown

        return bench_markdown(doc, precision)
    if chosen == "html":
        from wattprint.decide.bench_report import bench_html

        return bench_html(doc, precision)
    return ""


def _print_table(doc: dict[str, Any], precision: int, wide: bool, quality: str | None) -> None:
    from wattprint.decide.bench_report import basis_line, summary_rows

    headers, rows = summary_rows(doc, precision, quality)
    kinds = {"#": "num", "configuration": "text", "Pareto": "id"}
    columns = [Column(h, kinds.get(h, "num")) for h in headers]
    print_table(out, f"bench {doc['bench_id']}, project {doc['project']}: lowest energy "
                     "per unit first", columns, rows, wide=wide)
    out.print(f"Pareto front: energy per unit against {quality or 'throughput'}; "
              f"{basis_line(doc)}", soft_wrap=wide)
