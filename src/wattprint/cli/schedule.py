"""Scheduling commands: ``whatif`` (what a job would have emitted) and ``plan`` (when to run it).

``wattprint whatif`` runs :func:`wattprint.schedule.whatif.whatif` for a job
given as a constant power (``--duration 6h --power-w 300``) or as a stored
run's measured power profile (``wattprint whatif RUN``), over the shipped
hourly series of one or more regions (``--regions``) or a user series
(``--intensity FILE``). A stored run's profile is its energy intervals summed
over devices, with paused spans cut out (the time line closes over them, so
the profile is the job's work in order), resampled to the series step.

``wattprint plan`` runs :func:`wattprint.schedule.plan.plan` from *now* to a
deadline over a forecast: a live API (``--live``), a user series, or the
region's shipped hourly series. When the shipped series covers now and the
deadline (``--now`` inside its year) its real hours are used; otherwise the
hours to the deadline are forecast from it and from the live values kept since
(:func:`wattprint.schedule.plan.forecast_from_history`; ``--no-live-values``:
the shipped series alone). The output says which forecast and history it
used, and shows the data's source and age. The series is kept with its
origin (a file's path and SHA-256, the shipped package file and its SHA-256).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wattprint import validate
from wattprint.cli.app import (
    JsonOpt,
    app,
    err,
    fail,
    handle_error,
    out,
    print_json,
    settings_from,
)
from wattprint.cli.tables import Column, PrecisionOpt, WideOpt, print_table
from wattprint.errors import ConfigError, RegionError, WattprintError
from wattprint.schedule.profile import run_profile_w
from wattprint.store import IntervalRecord, RunRecord, Store
from wattprint.time import parse_duration_s, parse_timestamp_s
from wattprint.units import (
    DEFAULT_PRECISION,
    S_PER_H,
    format_intensity,
    format_mass_g,
    format_number,
    format_percent,
)

if TYPE_CHECKING:  # numpy and the engines load only when a command runs

    from wattprint.accounting.series import IntensitySeries
    from wattprint.schedule.plan import Plan, PlanForecast
    from wattprint.schedule.whatif import WhatIfResult

__all__ = ["plan", "run_profile_w", "whatif"]

IntensityOpt = Annotated[
    Path | None,
    typer.Option(
        "--intensity",
        help="A carbon-intensity series (CSV or Parquet: timestamp, g_per_kwh[, region]) "
        "instead of the shipped hourly data.",
    ),
]
MethodOpt = Annotated[
    str,
    typer.Option(help="What the --intensity numbers are: average or marginal."),
]


# --------------------------------------------------------------------------- parsing


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _duration_s(text: str, option: str) -> float:
    try:
        return validate.duration_s(parse_duration_s(text), option)
    except ValueError as exc:
        fail(f"{option}: {exc}")
    except WattprintError as exc:
        handle_error(exc)


def _checked(check: Any, value: Any, option: str) -> Any:
    """``check(value, option)`` (a :mod:`wattprint.validate` function), or exit with its error."""
    if value is None:
        return None
    try:
        return check(value, option)
    except WattprintError as exc:
        handle_error(exc)


def _timestamp_s(text: str, option: str) -> float:
    """An ISO 8601 time with a zone (a bare date means midnight UTC)."""
    try:
        return parse_timestamp_s(text, bare_date_is_utc=True)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _period(text: str) -> tuple[float, float]:
    """``2022``, ``2022-06`` or ``START/END`` (dates or times) as UTC epoch seconds."""
    raw = text.strip()
    if "/" in raw:
        first, _, last = raw.partition("/")
        return _timestamp_s(first, "--period"), _timestamp_s(last, "--period")
    parts = raw.split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) == 2 else None
    except ValueError:
        month = year = -1
    if year < 1 or len(parts) > 2 or (month is not None and not 1 <= month <= 12):
        fail(
            f"--period: {text!r} is not a period; give a year (2022), a month (2022-06) "
            "or START/END (2022-01-01/2022-07-01)"
        )
    if month is None:
        start = datetime(year, 1, 1, tzinfo=timezone.utc)
        end = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    else:
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
    return start.timestamp(), end.timestamp()


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _hours(seconds: float) -> str:
    return f"{seconds / S_PER_H:.1f} h"


# --------------------------------------------------------------------------- series


def _shipped(region: str) -> IntensitySeries:
    """The shipped hourly series of a region, or an error listing those that have one."""
    from wattprint.schedule.signals import shipped_hourly

    return shipped_hourly(region, instead="--intensity FILE")


def _flat_annual(region: str, like: IntensitySeries) -> IntensitySeries:
    """A region's annual average as a flat series on the grid of ``like`` (region comparison)."""
    import numpy as np

    from wattprint.accounting.intensity import annual_intensity
    from wattprint.accounting.series import make_series

    value = annual_intensity(region)
    note = ("no shipped hourly series: its annual average as a flat series, so only the "
            "region comparison is meaningful for it")
    provenance = value.provenance.with_fallback(note)
    err.print(f"note: {value.provenance.region or region}: {note} "
              f"({format_intensity(value.g_per_kwh)}, {value.provenance.year or 'undated'})")
    times = np.asarray(like.start_s, dtype=np.float64)
    return make_series(times, np.full(times.shape, value.g_per_kwh),
                       region=value.provenance.region or region, method="average",
                       provenance=provenance)


def _series(regions: list[str], intensity: Path | None, method: str) -> dict[str, IntensitySeries]:
    """Region name -> series, from the shipped data or a user file.

    Regions without a shipped hourly series take part as flat series at their
    annual average (labelled), as long as one region has an hourly series.
    """
    if intensity is None:
        from wattprint.accounting.intensity import canonical_region

        with_hourly = [r for r in regions if _has_hourly(r, canonical_region)]
        if not with_hourly:
            return {region: _shipped(region) for region in regions}  # the clear error
        grid = _shipped(with_hourly[0])
        return {region: (_shipped(region) if region in with_hourly
                         else _flat_annual(region, grid)) for region in regions}
    from wattprint.accounting.seriesfile import load_series

    if not regions:
        series = load_series(intensity, method=method)
        return {series.region or intensity.stem: series}
    return {region: load_series(intensity, region=region, method=method) for region in regions}


def _has_hourly(region: str, canonical: Any) -> bool:
    try:
        _shipped(region)
        return True
    except RegionError:
        canonical(region)  # an unknown code is still an error, with suggestions
        return False


def _check_steps(series: dict[str, IntensitySeries], span_s: float) -> None:
    """Refuse a job or horizon that would take too many steps of a fine-grained series.

    A series with a step of a microsecond turns a six-hour job into billions
    of steps (and gigabytes of arrays); the cap makes it a clear error.
    """
    for name, one in series.items():
        validate.series_steps(span_s, float(one.step_s), f"series {name}")


def _run_span_s(intervals: list[IntervalRecord]) -> float:
    kept = [i for i in intervals if not i.paused]
    if not kept:
        return 0.0
    return max(i.t_end for i in kept) - min(i.t_start for i in kept)


# --------------------------------------------------------------------------- whatif


def _print_rows(result: WhatIfResult, title: str, precision: int, wide: bool) -> None:
    rows = [[row["region"], row["strategy"],
             format_number(row["window_h"], precision),
             format_number(row["duration_h"], precision),
             format_number(row["mean_reduction"] * 100, precision),
             format_number(row["median_reduction"] * 100, precision),
             format_number(row["p90_reduction"] * 100, precision),
             format_number(row["mean_pauses"], precision)] for row in result.rows]
    print_table(out, title,
                [Column("region", "id"), Column("strategy", "id"), Column("win h", "num"),
                 Column("job h", "num"), Column("mean%", "num"), Column("med.%", "num"),
                 Column("p90%", "num"), Column("pauses", "num")], rows, wide=wide)


@app.command()
def whatif(
    run_ref: Annotated[
        str | None,
        typer.Argument(
            metavar="[RUN]",
            help="A stored run (id, unique prefix or 'last'): its measured power profile "
            "is the job.",
        ),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Run time of a constant-power job: 90m, 6h, 2d.")
    ] = None,
    power_w: Annotated[
        float | None,
        typer.Option("--power-w", help="Its power in watts (reductions do not depend on it)."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Region with a shipped hourly series (US-CAL-CISO).")
    ] = None,
    regions: Annotated[
        str | None,
        typer.Option(help="Comma-separated regions; the first is the baseline of 'region'."),
    ] = None,
    intensity: IntensityOpt = None,
    method: MethodOpt = "average",
    windows: Annotated[
        str, typer.Option(help="Comma-separated slack windows: the job may end this much later.")
    ] = "6h,12h,24h",
    strategies: Annotated[
        str,
        typer.Option(
            help="Comma-separated: flexible-start, pause-resume, threshold, region, or all."
        ),
    ] = "all",
    threshold: Annotated[
        float | None,
        typer.Option(
            help="gCO2e/kWh for 'threshold' (default: each region's 30th percentile)."
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="Only this period: a year (2022), a month (2022-06) or START/END."),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Baseline region of 'region' rows (default: the first).")
    ] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Also write the mean and p90 reductions as an SVG plot to FILE.")] = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """What a job would have emitted with a flexible start, pausing, a threshold or elsewhere.

    For every start time in the data, each strategy is compared with
    starting at once; rows give the mean, median and 90th-percentile
    reduction (0.25 = 25 % less carbon) and the mean number of pauses.

    Examples:
      wattprint whatif last --region US-CAL-CISO
      wattprint whatif --duration 6h --region US-CAL-CISO --windows 12h
      wattprint whatif --duration 2h --regions US-CAL-CISO,US-TEX-ERCO
      wattprint whatif last --region US-CAL-CISO --plot whatif.svg
    """
    from wattprint.schedule.whatif import STRATEGIES
    from wattprint.schedule.whatif import whatif as run_whatif

    names = _split(regions) + [r for r in _split(region) if r not in _split(regions)]
    chosen = _split(strategies)
    everything = chosen == ["all"]
    if everything:
        chosen = list(STRATEGIES)
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown or not chosen:
        fail(
            f"--strategies: unknown strategy {(unknown or [strategies])[0]!r}; choose from "
            f"{', '.join(STRATEGIES)} or all"
        )
    windows_s = [_duration_s(w, "--windows") for w in _split(windows)]
    if not windows_s:
        fail("--windows: give at least one slack window, e.g. 6h")
    threshold = _checked(validate.intensity_g_per_kwh, threshold, "--threshold")
    power_w = _checked(validate.power_w, power_w, "--power-w")
    if duration is not None:
        _duration_s(duration, "--duration")
    if run_ref is not None and duration is not None:
        fail("give either a stored RUN or --duration (with --power-w), not both")
    if run_ref is not None and power_w is not None:
        fail("--power-w describes a constant-power job; a stored RUN has its measured power")
    if run_ref is None and duration is None:
        fail("describe the job: a stored RUN, or --duration 6h (with --power-w 300)")
    bounds = _period(period) if period is not None else None
    job: dict[str, Any] = {}
    run: RunRecord | None = None
    try:
        if run_ref is not None:
            store = Store(settings_from().store_target)
            run = store.run(run_ref)
            intervals = store.intervals(run.id)
            if not names and intensity is None and run.region:
                names = [run.region]
        if not names and intensity is None and run is None:
            names = _split(settings_from().region)
        if not names and intensity is None:
            raise ConfigError(
                "give a region with a shipped hourly series (--region or --regions, e.g. "
                "US-CAL-CISO) or a series with --intensity FILE"
            )
        series = _series(names, intensity, method)
        if intensity is None:  # shipped series: one span, bases stated
            from wattprint.accounting.hourly import comparable_series

            series, series_notes = comparable_series(series)
            for note in series_notes:
                err.print(f"note: {note}")
        job_s = (_run_span_s(intervals) if run is not None
                 else _duration_s(duration or "", "--duration"))
        _check_steps(series, max(windows_s) + job_s)
        if everything and len(series) < 2:
            chosen.remove("region")  # one region: nothing to compare it with
        if run is not None:
            step_s = float(next(iter(series.values())).step_s)
            job = {"profile_w": run_profile_w(run, intervals, step_s), "profile_step_s": step_s}
        else:
            assert duration is not None
            job = {"duration_s": _duration_s(duration, "--duration"), "power_w": power_w}
        result = run_whatif(
            series,
            windows_s=windows_s,
            strategies=chosen,
            threshold_g_per_kwh=threshold,
            baseline_region=baseline,
            period=bounds,
            **job,
        )
    except WattprintError as exc:
        handle_error(exc)
    if run is not None:
        result.inputs["run"] = run.id
    if plot is not None:
        from wattprint.report.plots import require_matplotlib, whatif_svg

        try:
            require_matplotlib()
        except WattprintError as exc:
            handle_error(exc)
        svg = whatif_svg(result.rows, job_duration_s=job_s,
                         baseline_region=result.inputs.get("baseline_region"))
        if svg is not None:
            from wattprint.atomic import write_atomic

            try:
                write_atomic(plot, svg)
            except WattprintError as exc:
                handle_error(exc)
            err.print(f"plot written to {plot}")
    if as_json:
        print_json(result.to_json())
        return
    what = (
        f"run {run.id} ({_hours(float(result.inputs['duration_s']))} measured profile)"
        if run is not None
        else f"{_hours(float(result.inputs['duration_s']))} job"
        + (f" at {power_w:g} W" if power_w is not None else "")
    )
    _print_rows(result, f"what-if: {what}; carbon reduction against starting at once",
                precision, wide)
    if any(row["strategy"] == "region" for row in result.rows):
        out.print(f"region rows: against {result.inputs['baseline_region']} at the same times")
    thresholds = result.inputs.get("threshold_g_per_kwh") or {}
    if thresholds:
        shown = ", ".join(f"{r} {format_intensity(v, precision)}" for r, v in thresholds.items())
        out.print(f"threshold ({result.inputs['threshold_rule']}): {shown}", soft_wrap=wide)
    for name, info in result.to_json()["provenance"].items():
        provenance = info.get("provenance") or {}
        source = provenance.get("source") if isinstance(provenance, dict) else provenance
        basis = provenance.get("basis") if isinstance(provenance, dict) else None
        out.print(f"data {name}: {source or 'unknown source'} ({info.get('method') or '?'}"
                  f"{', ' + basis if basis else ''})", soft_wrap=wide)
    for note in result.inputs.get("notes", []):
        err.print(f"note: {note}")


# --------------------------------------------------------------------------- plan


def _deadline_s(text: str, now_s: float) -> float:
    try:
        return now_s + parse_duration_s(text)
    except ValueError:
        return _timestamp_s(text, "--deadline")


@dataclasses.dataclass(frozen=True)
class _PlanInput:
    """The series a plan runs on, where it was read, and the forecast it is (if one)."""

    series: IntensitySeries
    origin: dict[str, Any]
    forecast: PlanForecast | None = None


def _plan_series(
    region: str | None,
    intensity: Path | None,
    live: bool,
    live_source: str | None,
    method: str,
    now_s: float,
    deadline_s: float,
    live_values: bool = True,
) -> _PlanInput:
    """The series to plan over, its origin, and the forecast from the history (if one)."""
    import numpy as np

    from wattprint.schedule.plan import forecast_from_history, forecast_origin, series_origin
    from wattprint.schedule.signals import live_client

    if live and intensity is not None:
        raise ConfigError("give either --live or --intensity FILE, not both")
    if live:
        if not region:
            raise ConfigError("--live needs --region (e.g. GB, DE, US-CAL-CISO)")
        client = live_client(region, live_source)
        forecast: IntensitySeries = client.forecast(region)
        return _PlanInput(forecast, {"kind": "live", "api": str(getattr(
            client, "title", getattr(client, "name", "live API")))})
    if intensity is not None:
        from wattprint.accounting.seriesfile import load_series

        series = load_series(intensity, region=region or None, method=method)
        return _PlanInput(series, series_origin(series, path=intensity))
    if not region:
        raise ConfigError(
            "give --region (one with a shipped hourly series, e.g. US-CAL-CISO), "
            "--intensity FILE or --live"
        )
    shipped = _shipped(region)
    origin = series_origin(shipped)
    first = float(np.asarray(shipped.start_s)[0])
    end = first + np.asarray(shipped.start_s).size * float(shipped.step_s)
    if first <= now_s and deadline_s <= end:
        return _PlanInput(shipped, origin)
    home = settings_from().store_dir if live_values else None
    made = forecast_from_history(shipped, now_s, deadline_s, home=home)
    return _PlanInput(made.series, forecast_origin(origin, made), made)


def _plan_doc(result: Plan, now_rule: str, replay: bool) -> dict[str, Any]:
    doc = result.to_json()
    doc["now_rule"] = now_rule
    doc["replay"] = replay
    return doc


def _print_plan(result: Plan, now_rule: str, power_given: bool,
                precision: int = DEFAULT_PRECISION, wide: bool = False) -> None:
    def say(text: str) -> None:  # --wide: one line each, however long
        out.print(text, soft_wrap=wide)

    now = result.now_s
    say(
        f"plan for a {_hours(result.duration_s)} job in {result.region or 'the series region'}, "
        f"to finish by {_iso(result.deadline_s)} (in {_hours(result.deadline_s - now)})"
    )
    say(f"now: {_iso(now)} ({now_rule})")
    grams = power_given
    start_now = (f"{format_mass_g(result.start_now_co2e_g, precision)} CO2e" if grams else
                 "the baseline (give --power-w for grams; the fractions do not depend on it)")
    say(f"start now: {start_now}")
    wait = result.start_s - now
    when = "now" if wait <= 0 else f"in {_hours(wait)}"
    saving = f"{format_percent(result.flexible_saving_fraction, precision)} less"
    if grams:
        saving += f", {format_mass_g(result.flexible_start_co2e_g, precision)} CO2e"
    say(
        f"flexible start: start {_iso(max(result.start_s, now))} ({when}), end "
        f"{_iso(result.end_s)}: {saving}"
    )
    segments = ", ".join(f"{_iso(a)}-{_iso(b)[11:]}" for a, b in result.segments_s)
    saving = f"{format_percent(result.pause_resume_saving_fraction, precision)} less"
    if grams:
        saving += f", {format_mass_g(result.pause_resume_co2e_g, precision)} CO2e"
    say(f"pause and resume: run {segments} ({result.pauses} pauses): {saving}")
    source = result.data_source.get("provenance")
    label = source.get("source") if isinstance(source, dict) else source
    age = result.data_age_s
    age_text = (
        f"reaches {_hours(-age)} ahead" if age < 0 else f"ended {age / 86_400.0:.0f} days ago"
    )
    say(
        f"data: {label or 'unknown source'} ({result.data_source.get('method') or '?'}"
        f"{', ' + source['basis'] if isinstance(source, dict) and source.get('basis') else ''}), "
        f"{_iso(result.data_start_s)} to {_iso(result.data_end_s)}, {age_text}"
    )
    for note in result.notes:
        say(f"note: {note}")


@app.command()
def plan(
    duration: Annotated[str, typer.Option(help="The job's run time: 90m, 6h.")],
    deadline: Annotated[
        str,
        typer.Option(
            help="When it must be done: a time from now (24h) or a UTC time "
            "(2025-06-01T18:00Z)."
        ),
    ],
    region: Annotated[
        str | None, typer.Option(help="Grid region (default: the configured region).")
    ] = None,
    intensity: IntensityOpt = None,
    live: Annotated[
        bool, typer.Option("--live", help="Use a live API's forecast (needs credentials).")
    ] = False,
    live_source: Annotated[
        str | None,
        typer.Option(help="electricitymaps, watttime or ukgrid (default: by region and keys)."),
    ] = None,
    power_w: Annotated[
        float | None, typer.Option("--power-w", help="The job's power in watts, for grams.")
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(help="Plan as of this UTC time (2022-06-01T08:00Z) instead of now."),
    ] = None,
    method: MethodOpt = "average",
    no_live_values: Annotated[bool, typer.Option(
        "--no-live-values", help="Forecast from the shipped series only, without the live "
                                 "values kept since.")] = False,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    precision: PrecisionOpt = DEFAULT_PRECISION,
) -> None:
    """When to run a job before a deadline: the best start, or the best slots if it can pause.

    With the shipped hourly data and a "now" outside its year, the hours to
    the deadline are forecast from the shipped series and the live values
    kept since (--no-live-values: the shipped series alone). The output says
    which forecast and history it used.

    Examples:
      wattprint plan --duration 6h --deadline 24h --region US-CAL-CISO
      wattprint plan --duration 90m --deadline 12h --region US-NY-NYIS --json
    """
    from wattprint.schedule.plan import keep_plan_series
    from wattprint.schedule.plan import plan as make_plan

    duration_s = _duration_s(duration, "--duration")
    power_w = _checked(validate.power_w, power_w, "--power-w")
    now_s = _timestamp_s(now, "--now") if now is not None else time.time()
    deadline_s = _deadline_s(deadline, now_s)
    try:
        validate.horizon_s(now_s, deadline_s, "--deadline")
    except WattprintError as exc:
        handle_error(exc)
    region = region or settings_from().region
    try:
        used = _plan_series(
            region, intensity, live, live_source, method, now_s, deadline_s,
            live_values=not no_live_values,
        )
        series = used.series
        _check_steps({intensity.name if intensity else region or "": series},
                     max(deadline_s - now_s, duration_s))
        result = make_plan(series, duration_s, deadline_s, power_w=power_w, now_s=now_s)
        kept = keep_plan_series(settings_from().store_dir, series, origin=used.origin)
    except WattprintError as exc:
        handle_error(exc)
    now_rule = "given with --now" if now is not None else "the current time"
    made = used.forecast
    if made is not None:
        now_rule += f"; {made.note}"
        result = dataclasses.replace(
            result,
            data_start_s=made.history_start_s,
            data_end_s=made.history_end_s,
            data_age_s=now_s - made.history_end_s,
            notes=(*result.notes, made.note),
        )
    if as_json:
        doc = {**_plan_doc(result, now_rule, made is not None), "kept_series": kept,
               "series_origin": used.origin}
        if made is not None:
            doc["forecast"] = made.to_json()
        print_json(doc)
        return
    _print_plan(result, now_rule, power_w is not None, precision, wide)
    out.print(f"intensity kept as series {kept[:12]} (wattprint series show {kept[:12]})")
