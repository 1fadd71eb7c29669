"""Report commands: ``report`` (run appendix, project life-cycle), ``leaderboard``, ``compare``.

Everything is computed by :mod:`wattprint.report` as data and rendered to a
string; only these commands write: to ``-o FILE`` when given, else to
stdout. Progress bars for long renders (a project's runs, a leaderboard)
go to stderr and disappear when done; ``--quiet`` turns them off for scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from wattprint.accounting.account import AccountingOptions
from wattprint.cli.app import (
    HourlyOpt,
    IntensityFileOpt,
    MethodOpt,
    ProjectOpt,
    PueOpt,
    QuietOpt,
    RegionOpt,
    app,
    err,
    fail,
    handle_error,
    out,
    print_json,
    require_project,
    settings_from,
    setup_logging,
)
from wattprint.cli.tables import Column, Notes, PrecisionOpt, WideOpt, print_table
from wattprint.errors import WattprintError
from wattprint.report.appendix import ProgressFn, fmt_duration, fmt_num, fmt_qty
from wattprint.store import Store
from wattprint.units import DEFAULT_PRECISION

EmbodiedOpt = Annotated[bool, typer.Option(
    "--embodied/--no-embodied", help="Include embodied (manufacturing) carbon.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to FILE instead of stdout.", dir_okay=False)]

_SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md",
                   ".json": "json"}


def _options(region: str | None, intensity: Path | None, method: str, pue: float | None,
             hourly: bool, embodied: bool, basis: str = "components") -> AccountingOptions:
    # the same validation and configuration (PUE, hardware overrides) as `wattprint account`
    from wattprint.cli.accounting import options

    opts: AccountingOptions = options(region, intensity, method, pue, hourly, embodied,
                                      basis=basis)
    return opts


def _format(fmt: str | None, output: Path | None, default: str, allowed: tuple[str, ...]) -> str:
    chosen = fmt or (_SUFFIX_FORMATS.get(output.suffix.lower()) if output else None) or default
    chosen = chosen.lower()
    if chosen not in allowed:
        fail(f"--format must be one of {', '.join(allowed)}, not {chosen!r}")
    return chosen


def _emit(text: str, output: Path | None, quiet: bool) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    from wattprint.atomic import write_atomic

    try:
        write_atomic(output, text)
    except WattprintError as exc:
        fail(f"{exc}; choose another path with -o")
    if not quiet:
        err.print(f"wrote {output}", soft_wrap=True, markup=False)


def _json_text(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[ProgressFn | None]:
    if quiet or not err.is_terminal:  # a bar is for people; logs and pipes get none
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _store() -> Store:
    try:
        return Store(settings_from().store_target)
    except WattprintError as exc:
        handle_error(exc)


@app.command()
def report(
    run_id: Annotated[str | None, typer.Argument(
        metavar="[RUN]", help="Run id, unique prefix, or 'last'; or a job id, or "
                                  "job:ID (or use --project).")] = None,
    project: ProjectOpt = None,
    by: Annotated[str, typer.Option(
        "--by", help="Group a project by stage (the runs' life-cycle stage; 'phase' is an "
                     "old alias), name, status, tool or project.")] = "stage",
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="md (default), html or json; -o FILE.html implies html.")] = None,
    output: OutputOpt = None,
    region: RegionOpt = None,
    intensity: IntensityFileOpt = None,
    method: MethodOpt = "average",
    pue: PueOpt = None,
    hourly: HourlyOpt = False,
    embodied: EmbodiedOpt = True,
    quiet: QuietOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
    mlflow_run: Annotated[str | None, typer.Option(
        "--mlflow-run", metavar="ID",
        help="Attach the run's appendix (HTML and JSON) and footprint to this MLflow run "
             "(tracking URI from MLFLOW_TRACKING_URI).")] = None,
    basis: Annotated[str, typer.Option(
        "--basis", help="Account a run on its components (default) or on node: the node's "
                        "wall power from its BMC.")] = "components",
    explain: Annotated[bool, typer.Option(
        "--explain", help="With --project: split each run's carbon difference from the "
                          "project's median run into exact Shapley contributions.")] = False,
    rank: Annotated[int | None, typer.Option(
        help="For a job: show this rank's metrics and units (default rank 0).")] = None,
) -> None:
    """The standard appendix of a run, or the life-cycle report of a project.

    A run's appendix lists hardware, software, energy per device, power and
    intensity over time, the carbon breakdown, SCI and every assumption with
    its source, and embeds all inputs as JSON so a reader can recompute it.

    Examples:
      wattprint report last
      wattprint report last --format html -o appendix.html
      wattprint report --project bert --by stage -o bert.md
      wattprint report --project bert --by name -o bert.md
      wattprint report last --mlflow-run 3f2a9c...
      wattprint report --project bert --explain -o bert.md
      wattprint report slurm:4242.0 --format html -o job.html
    """
    setup_logging()
    if (run_id is None) == (project is None):
        fail("give a RUN for its appendix or --project P for a life-cycle report (not both)")
    if mlflow_run is not None:
        if run_id is None:
            fail("--mlflow-run attaches one run's appendix: give a RUN, not --project")
        _attach_to_mlflow(run_id, mlflow_run, quiet)
        return
    if explain and project is None:
        fail("--explain explains a project's runs against its median run: give --project P "
             "(for two runs: wattprint compare A B --explain)")
    chosen = _format(fmt, output, "md", ("md", "html", "json"))
    opts = _options(region, intensity, method, pue, hourly, embodied, basis)
    from wattprint.report import appendix

    store = _store()
    try:
        if run_id is not None and _job_report(store, run_id, opts, rank, chosen, precision,
                                              output, quiet):
            return
        if run_id is not None:
            doc = appendix.run_appendix(store, run_id, opts)
        else:
            require_project(store, project)
            from wattprint.accounting.totals import resolve_grouping

            by_note = resolve_grouping(by)[1]
            if by_note and not quiet:
                err.print(f"note: {by_note}", markup=False)
            with _progress("accounting runs", quiet) as progress:
                doc = appendix.project_appendix(store, project, by=by, opts=opts,
                                                progress=progress)
            if not doc["runs"] and not doc["excluded"] and not quiet:
                err.print(f"note: project {project!r} has no runs; list runs with "
                          "`wattprint runs`", markup=False)
        explained: dict[str, Any] | None = None
        if explain and project is not None:
            from wattprint.report.compare import explain_project

            explained = explain_project(store, project, opts)
            doc["explain"] = explained
        if chosen == "json":
            text = _json_text(doc)
        elif chosen == "html":
            from wattprint.report.render_html import appendix_html

            text = appendix_html(doc, precision)
            if explained is not None:
                from wattprint.report.compare import explain_project_html

                head, sep, tail = text.rpartition("</body>")
                text = head + explain_project_html(explained, precision) + sep + tail
        else:
            from wattprint.report.render_md import appendix_markdown

            text = appendix_markdown(doc, precision)
            if explained is not None:
                from wattprint.report.compare import explain_project_markdown

                text = text.rstrip("\n") + "\n\n" + explain_project_markdown(explained, precision)
    except WattprintError as exc:
        handle_error(exc)
    finally:
        store.close()
    _emit(text, output, quiet)


def _job_report(store: Store, ref: str, opts: AccountingOptions, rank: int | None, fmt: str,
                precision: int, output: Path | None, quiet: bool) -> bool:
    """Render the appendix of the job ``ref`` names; ``False`` when it names a run."""
    from wattprint.report.jobview import resolve_target

    what, ident = resolve_target(store, ref)
    if what != "job":
        return False
    from wattprint.report import jobreport

    doc = jobreport.job_appendix(store, ident, opts, metrics_rank=rank)
    text = (_json_text(doc) if fmt == "json" else jobreport.job_html(doc, precision)
            if fmt == "html" else jobreport.job_markdown(doc, precision))
    _emit(text, output, quiet)
    return True


def _attach_to_mlflow(run_id: str, mlflow_run: str, quiet: bool) -> None:
    from wattprint.integrations.mlflow import attach_appendix

    store = _store()
    try:
        paths = attach_appendix(store, run_id, mlflow_run)
    except WattprintError as exc:
        handle_error(exc)
    except Exception as exc:  # MLflow's own errors: an unknown run id, an unreachable server
        fail(f"MLflow refused the appendix: {exc}")
    finally:
        store.close()
    if not quiet:
        err.print(f"attached {', '.join(paths)} to MLflow run {mlflow_run}", markup=False,
                  soft_wrap=True)


def _print_leaderboard(board: dict[str, Any], precision: int, wide: bool) -> None:
    p = precision
    extra = [c for c in board["costs"] if c["column"] not in
             ("energy_kwh", "co2e_kg", "duration_s", "embodied_kg")]
    columns = [Column("rank", "num"), Column("run", "id"), Column("name"),
               Column(board["metric"], "num"), Column("energy", "num"), Column("CO2e", "num"),
               Column("duration", "num"), *(Column(c["name"], "num") for c in extra),
               Column("Pareto", "id")]
    weighted = bool(board.get("weights"))
    if weighted:
        columns.append(Column("utility", "num"))
    rows = [[str(r["rank"]), r["id"], r["name"] or "", fmt_num(r["metric"], p),
             fmt_qty(r["energy_kwh"], "kWh", p), fmt_qty(r["co2e_kg"], "kgCO2e", p),
             fmt_duration(r["duration_s"], p),
             *(fmt_qty(r[c["column"]], c.get("unit") or "", p) for c in extra),
             "front" if r["pareto"] else "dominated",
             *([fmt_num(r["utility"], p)] if weighted else [])] for r in board["runs"]]
    print_table(out, f"leaderboard: {board['metric']} "
                     f"({'higher' if board['maximize'] else 'lower'} is better)",
                columns, rows, wide=wide)
    if weighted:
        weights = ",".join(f"{k}={fmt_num(v, p)}" for k, v in board["weights"].items())
        out.print(f"by utility ({weights}; costs normalised over these runs, 1 = best): "
                  + ", ".join(board["utility_ranking"]), soft_wrap=True)


@app.command()
def leaderboard(
    metric: Annotated[str, typer.Option("--metric", "-m", help="Task metric to rank by.")],
    project: ProjectOpt = None,
    maximize: Annotated[bool, typer.Option(
        "--maximize/--minimize", help="Whether a larger metric is better.")] = True,
    cost: Annotated[str, typer.Option(
        "--cost", help="Cost dimensions, comma-separated: energy, co2e, duration, embodied, "
                       "or a logged cost, metric or tag name such as usd.")] = "energy",
    weights: Annotated[str | None, typer.Option(
        "--weights", metavar="NAME=W,...",
        help="Also rank by a weighted utility of normalised costs, e.g. co2e=1,usd=0.2 "
             "(the Pareto front stays the main answer).")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="table (default), md, html or json.")] = None,
    output: OutputOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    region: RegionOpt = None,
    intensity: IntensityFileOpt = None,
    method: MethodOpt = "average",
    pue: PueOpt = None,
    hourly: HourlyOpt = False,
    embodied: EmbodiedOpt = True,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """Rank a project's runs by a task metric and mark the Pareto front over metric and costs.

    The runs of a distributed job are one entry: its rank 0's metric, its summed costs.

    Examples:
      wattprint leaderboard --project bert --metric accuracy
      wattprint leaderboard -p bert -m loss --minimize --cost energy,co2e
      wattprint leaderboard -p bert -m accuracy --cost co2e,usd --weights co2e=1,usd=0.2
    """
    setup_logging()
    chosen = "json" if as_json else _format(fmt, output, "table",
                                            ("table", "md", "html", "json"))
    opts = _options(region, intensity, method, pue, hourly, embodied)
    from wattprint.report import leaderboard as lb

    store = _store()
    require_project(store, project)
    try:
        with _progress("accounting runs", quiet) as progress:
            board = lb.leaderboard(store, project, metric, maximize=maximize,
                                   costs=lb.parse_costs(cost), opts=opts, progress=progress,
                                   weights=lb.parse_weights(weights))
        if not board["runs"] and not quiet:
            err.print(f"note: no run of {'project ' + repr(project) if project else 'the store'} "
                      f"has a value of {metric!r}; log it with run.log_metric({metric!r}, value)",
                      markup=False, soft_wrap=True)
        if chosen == "json":
            text = _json_text(board)
        elif chosen == "html":
            from wattprint.report.render_html import leaderboard_html

            text = leaderboard_html(board, precision)
        elif chosen == "md":
            from wattprint.report.render_md import leaderboard_markdown

            text = leaderboard_markdown(board, precision)
        else:
            text = ""
    except WattprintError as exc:
        handle_error(exc)
    finally:
        store.close()
    if chosen == "table":
        if output is not None:
            fail("a table goes to the terminal; use --format md, html or json with -o")
        _print_leaderboard(board, precision, wide)
        if board["excluded"] and not quiet:
            err.print(f"{len(board['excluded'])} run(s) excluded: "
                      + "; ".join(f"{e['id']} ({e['reason']})" for e in board["excluded"][:10])
                      + (" ..." if len(board["excluded"]) > 10 else ""))
        return
    _emit(text, output, quiet)


def _print_compare(cmp: dict[str, Any], precision: int, wide: bool) -> None:
    from wattprint.report.render_md import compare_cells

    runs = cmp["runs"]
    notes = Notes()
    columns = [Column("quantity")] + [
        Column(r["id"] + (f"\n{r['name']}" if wide and r["name"] else ""), "num")
        for r in runs]
    if not wide:  # a long run name would widen a column of figures: names go below
        for r in runs:
            if r["name"]:
                notes.mark(f"{r['id']}: {r['name']}")
    rows = []
    if wide or any(r.get("tool", "wattprint") != "wattprint" for r in runs):
        rows.append(["tool", *(r.get("tool") or "" for r in runs)])  # which tool measured it
    for row in cmp["rows"]:
        cells = compare_cells(row, precision)
        # the change goes on its own line, so a column is as wide as its widest figure
        rows.append([row["quantity"], *(c.replace(" (", "\n(", 1) for c in cells)])
    print_table(out, f"compared with {cmp['baseline']}", columns, rows, notes=notes, wide=wide)


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(
        metavar="RUN1 RUN2 [RUN3...]", help="Runs (or jobs: a job id, or job:ID) to compare; "
                                             "the first is the baseline.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="table (default), md or json.")] = None,
    output: OutputOpt = None,
    region: RegionOpt = None,
    intensity: IntensityFileOpt = None,
    method: MethodOpt = "average",
    pue: PueOpt = None,
    hourly: HourlyOpt = False,
    embodied: EmbodiedOpt = True,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Split the carbon difference of two runs into exact Shapley "
                          "contributions: energy by device kind, intensity, PUE, embodied.")
    ] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="With --explain: write the contributions' bar plot to FILE "
                       "(.svg or .png; needs the report extra).", dir_okay=False)] = None,
) -> None:
    """Compare runs side by side: energy by kind, carbon, duration, metrics; diff and ratio.

    Examples:
      wattprint compare 6b12 9f3a
      wattprint compare 6b12 9f3a 0c77 --format md -o cmp.md
      wattprint compare 6b12 9f3a --explain
      wattprint compare 6b12 slurm:4242.0
    """
    setup_logging()
    chosen = "json" if as_json else _format(fmt, output, "table", ("table", "md", "json"))
    if plot is not None and not explain:
        fail("--plot draws the explanation: add --explain")
    opts = _options(region, intensity, method, pue, hourly, embodied)
    from wattprint.report.compare import compare_runs

    store = _store()
    try:
        cmp = compare_runs(store, runs, opts, explain=explain)
    except WattprintError as exc:
        handle_error(exc)
    finally:
        store.close()
    if plot is not None:
        from wattprint.cli.decide import write_plot
        from wattprint.decide.explain import explain_plot

        write_plot(plot, lambda f: explain_plot(cmp["explain"], f), quiet)
    if chosen == "json":
        if output is None:
            print_json(cmp)
            return
        _emit(_json_text(cmp), output, quiet)
    elif chosen == "md":
        from wattprint.report.render_md import compare_markdown

        text = compare_markdown(cmp, precision)
        if explain:
            from wattprint.decide.explain import explain_markdown

            text = text.rstrip("\n") + "\n\n## Explained\n\n" + explain_markdown(
                cmp["explain"], precision)
        _emit(text, output, quiet)
    else:
        if output is not None:
            fail("a table goes to the terminal; use --format md or json with -o")
        _print_compare(cmp, precision, wide)
        if explain:
            _print_explain(cmp["explain"], precision, wide)


def _print_explain(doc: dict[str, Any], precision: int, wide: bool) -> None:
    from wattprint.decide.explain import format_factor

    p = precision
    rows = []
    for c in doc["contributions"]:
        a, b = (format_factor(v, c["unit"], p) for v in c["values"])
        share = "" if c["share"] is None else fmt_num(100 * c["share"], p) + " %"
        rows.append([c["label"], a, b, fmt_qty(c["co2e_kg"], "kgCO2e", p), share])
    rows.append(["difference", fmt_qty(doc["co2e_kg"][0], "kgCO2e", p),
                 fmt_qty(doc["co2e_kg"][1], "kgCO2e", p),
                 fmt_qty(doc["difference_kg"], "kgCO2e", p),
                 "100 %" if doc["difference_kg"] else ""])
    print_table(out, f"explained: {doc['run']} - {doc['baseline']} (exact Shapley values)",
                [Column("factor"), Column(doc["baseline"], "num"), Column(doc["run"], "num"),
                 Column("contribution", "num"), Column("share", "num")], rows, wide=wide,
                sections=[len(rows) - 1])
