"""The report of an energy benchmark: ranked table, Pareto front, JSON, Markdown and HTML.

:func:`bench_document` turns a :class:`~wattprint.decide.bench.BenchResult`
into one JSON document (schema ``wattprint.bench/1``, base SI units at full
precision); the renderers take that document, so a report can be redrawn
from a saved JSON file.

**Ranking.** Configurations that finished are ranked by energy per unit,
lowest first (ties by higher throughput); failed ones follow, unranked.

**The Pareto front** (:func:`wattprint.report.pareto.pareto_front`) is taken
over energy per unit (minimised) and throughput (maximised), or over energy
per unit and a quality metric the program reports (``--quality NAME``,
maximised unless told otherwise). A configuration is on the front when no
other is at least as good in both and strictly better in one: each one on it
is a defensible trade-off, each one off it is beaten outright. Only
configurations that finished with both values take part.

Figures read in one unit per quantity: energy per unit in the units of
:func:`wattprint.units.format_energy_j`, latencies below one second in
milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from wattprint.decide.bench_results import BenchResult, ConfigResult
from wattprint.units import (
    DEFAULT_PRECISION,
    format_duration_s,
    format_energy_j,
    format_number,
    format_power_w,
)

#: Schema identifier of the benchmark JSON document.
BENCH_SCHEMA = "wattprint.bench/1"


def _sort_key(c: ConfigResult) -> tuple[int, float, float]:
    if not c.ok or c.energy_j_per_unit is None:
        return (1, 0.0, 0.0)
    return (0, c.energy_j_per_unit, -(c.throughput_per_s or 0.0))


def _y_value(c: ConfigResult, quality: str | None) -> float | None:
    return c.throughput_per_s if quality is None else c.metrics.get(quality)


def front_flags(configs: Sequence[ConfigResult], quality: str | None = None,
                maximize: bool = True) -> list[bool | None]:
    """Per configuration: on the Pareto front (``True``), dominated, or ``None`` (not compared).

    Args:
        configs: the configurations.
        quality: the metric paired with energy per unit (``None``: throughput).
        maximize: whether a larger ``quality`` is better (throughput always is).
    """
    from wattprint.report.pareto import pareto_front

    points: list[tuple[float, float]] = []
    where: list[int] = []
    for i, c in enumerate(configs):
        y = _y_value(c, quality)
        if c.ok and c.energy_j_per_unit is not None and y is not None:
            points.append((c.energy_j_per_unit, y))
            where.append(i)
    flags: list[bool | None] = [None] * len(configs)
    if points:
        on = pareto_front(points, [False, maximize if quality is not None else True])
        for i, flag in zip(where, on, strict=True):
            flags[i] = bool(flag)
    return flags


def bench_document(result: BenchResult, *, quality: str | None = None,
                   maximize: bool = True) -> dict[str, Any]:
    """The benchmark as a JSON-ready document (schema ``wattprint.bench/1``).

    Keys: ``schema``, ``bench_id``, ``project``, ``target``, ``grid``,
    ``warmup``, ``repeat``, ``pareto`` (``x``, ``y``, ``maximize_y``),
    ``hardware`` (the distinct fingerprints), ``failed`` (count) and
    ``configs``: each :meth:`ConfigResult.as_dict` in ranked order, with
    ``rank`` (``None`` when failed) and ``pareto`` (``True``, ``False``, or
    ``None`` when not compared).
    """
    ordered = sorted(result.configs, key=_sort_key)
    flags = front_flags(ordered, quality, maximize)
    configs = []
    rank = 0
    for c, flag in zip(ordered, flags, strict=True):
        row = c.as_dict()
        ranked = c.ok and c.energy_j_per_unit is not None
        rank += 1 if ranked else 0
        row["rank"] = rank if ranked else None
        row["pareto"] = flag
        configs.append(row)
    hardware = list({c.hardware["id"]: c.hardware for c in result.configs
                     if c.hardware}.values())
    return {
        "schema": BENCH_SCHEMA, "bench_id": result.bench_id, "project": result.project,
        "target": result.target, "grid": {k: [str(v) for v in vs] for k, vs in result.grid.items()},
        "warmup": result.warmup, "repeat": result.repeat,
        "pareto": {"x": "energy_j_per_unit", "y": quality or "throughput_per_s",
                   "maximize_y": maximize if quality is not None else True},
        "hardware": hardware, "failed": len(result.failed), "configs": configs,
    }


# -- cells ----------------------------------------------------------------------------------

def fmt_latency(latency_s: float | None, precision: int = DEFAULT_PRECISION) -> str:
    """A latency for people: ``12.3 ms`` below one second, else as a duration; ``—`` if none."""
    if latency_s is None:
        return "—"
    if abs(latency_s) < 1.0 and latency_s != 0:
        return f"{format_number(latency_s * 1000.0, precision)} ms"
    return format_duration_s(latency_s, precision)


def _per_unit(row: Mapping[str, Any], precision: int, with_unit: bool) -> str:
    value = row.get("energy_j_per_unit")
    if value is None:
        return "—"
    text = format_energy_j(value, precision)
    return f"{text}/{row['unit']}" if with_unit else text


def _throughput(row: Mapping[str, Any], precision: int, with_unit: bool) -> str:
    value = row.get("throughput_per_s")
    if value is None:
        return "—"
    number = format_number(value, precision)
    return f"{number} {row['unit']}/s" if with_unit else number


def _front(flag: bool | None) -> str:
    return "front" if flag else ("" if flag is None else "·")


def one_unit(doc: Mapping[str, Any]) -> str | None:
    """The unit of work when every configuration has the same one, else ``None``."""
    units = {c["unit"] for c in doc["configs"] if c["repetitions"]}
    return units.pop() if len(units) == 1 else None


def summary_rows(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION,
                 quality: str | None = None) -> tuple[list[str], list[list[str]]]:
    """The terminal table: headers and cells of the configurations that finished, ranked.

    Columns: rank, configuration, energy per unit, throughput, latency p50
    and p99, mean power, the quality metric (when chosen) and the Pareto
    mark (``front``, ``·`` dominated). The unit of work goes in the headers
    when all configurations share it, else in each cell.
    """
    unit = one_unit(doc)
    headers = ["#", "configuration", f"energy/{unit}" if unit else "energy/unit",
               f"{unit}/s" if unit else "throughput", "p50", "p99", "power",
               *([quality] if quality else []), "Pareto"]
    rows = []
    for c in doc["configs"]:
        if c["rank"] is None:
            continue
        rows.append([str(c["rank"]), c["label"], _per_unit(c, precision, unit is None),
                     _throughput(c, precision, unit is None),
                     fmt_latency(c["latency_p50_s"], precision),
                     fmt_latency(c["latency_p99_s"], precision),
                     format_power_w(c["mean_power_w"], precision)
                     if c["mean_power_w"] is not None else "—",
                     *([format_number(c["metrics"][quality], precision)
                        if quality in c["metrics"] else "—"] if quality else []),
                     _front(c["pareto"])])
    return headers, rows


def failure_lines(doc: Mapping[str, Any]) -> list[str]:
    """One line per configuration that did not finish: its label, exit code, reason, run."""
    out = []
    for c in doc["configs"]:
        if c["status"] == "finished":
            continue
        run = f", run {c['run_id']}" if c["run_id"] else ", not stored"
        out.append(f"{c['label']}: {c['status']}, exit code {c['exit_code']}"
                   f" ({c['error'] or 'no reason given'}){run}")
    return out


def basis_line(doc: Mapping[str, Any]) -> str:
    """How the energy was had: measured, estimated (a power model), or mixed."""
    bases = sorted({c["basis"] for c in doc["configs"] if c["repetitions"]})
    return "energy basis: " + (", ".join(bases) or "none")


def _latency_note(doc: Mapping[str, Any]) -> str:
    kinds = sorted({c["latency_basis"] for c in doc["configs"] if c["latency_basis"]})
    return "latency: " + (", ".join(kinds) or "none")


def _hardware_text(hw: Mapping[str, Any]) -> str:
    gpus = ", ".join(hw["gpus"]) or "no GPU"
    driver = f" (driver {hw['gpu_driver']})" if hw.get("gpu_driver") else ""
    return f"{hw['id']}: {hw['cpu_model']}; {gpus}{driver}; host {hw['host_hash']}"


def _axis_label(doc: Mapping[str, Any]) -> str:
    y = doc["pareto"]["y"]
    return "throughput" if y == "throughput_per_s" else y


# -- Markdown -------------------------------------------------------------------------------

def _quality(doc: Mapping[str, Any]) -> str | None:
    y = doc["pareto"]["y"]
    return None if y == "throughput_per_s" else str(y)


def _detail_headers(doc: Mapping[str, Any]) -> list[str]:
    quality = _quality(doc)
    return [*_DETAIL_HEADERS[:7], *([quality] if quality else []), *_DETAIL_HEADERS[7:]]


def _detail_rows(doc: Mapping[str, Any], precision: int) -> list[list[Any]]:
    quality = _quality(doc)
    rows = []
    for c in doc["configs"]:
        extra = [c["metrics"].get(quality)] if quality else []
        rows.append([c["rank"] if c["rank"] is not None else "—", c["label"], c["status"],
                     _per_unit(c, precision, True), _throughput(c, precision, True),
                     fmt_latency(c["latency_p50_s"], precision),
                     fmt_latency(c["latency_p99_s"], precision), *extra,
                     format_power_w(c["mean_power_w"], precision)
                     if c["mean_power_w"] is not None else "—",
                     format_energy_j(c["energy_j"], precision)
                     if c["energy_j"] is not None else "—",
                     c["basis"], _front(c["pareto"]) or "—", c["run_id"] or "—"])
    return rows


_DETAIL_HEADERS = ("rank", "configuration", "status", "energy/unit", "throughput", "p50", "p99",
                   "mean power", "energy", "basis", "Pareto", "run")


def bench_markdown(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The benchmark as Markdown: setup, ranked table, Pareto front, failures, JSON data."""
    from wattprint.report.render_md import code, data_block, table

    grid = "; ".join(f"{k} = {', '.join(v)}" for k, v in doc["grid"].items()) or "none"
    lines = [f"# Energy benchmark {code(doc['bench_id'])}\n",
             f"- target: {code(doc['target'])}",
             f"- grid: {grid}",
             f"- repetitions: {doc['warmup']} warm-up (not measured), {doc['repeat']} measured",
             f"- project: {code(doc['project'])}",
             f"- {basis_line(doc)}; {_latency_note(doc)}",
             *(f"- hardware {code(_hardware_text(hw))}" for hw in doc["hardware"]), "",
             "## Configurations, by energy per unit\n",
             table(_detail_headers(doc), _detail_rows(doc, precision),
                   "rllrrrr" + ("r" if _quality(doc) else "") + "rrlll", precision),
             f"## Pareto front: energy per unit against {_axis_label(doc)}\n"]
    front = [c["label"] for c in doc["configs"] if c["pareto"]]
    lines.append("\n".join(f"- {label}" for label in front) + "\n" if front else
                 "No configuration finished with both values.\n")
    failures = failure_lines(doc)
    if failures:
        lines += ["## Failed configurations\n", *(f"- {line}" for line in failures), ""]
    lines.append(data_block(doc, "the benchmark as JSON (wattprint.bench/1)"))
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------

def front_svg(doc: Mapping[str, Any]) -> str | None:
    """Energy per unit against throughput (or the quality metric), the front in red."""
    import numpy as np

    from wattprint.report.plots import _figure, _style, _svg
    from wattprint.units import axis_unit

    rows = [c for c in doc["configs"] if c["pareto"] is not None]
    if not rows:
        return None
    y_key = doc["pareto"]["y"]
    energy = np.array([float(c["energy_j_per_unit"]) for c in rows])
    divisor, unit = axis_unit(float(np.abs(energy).max()), "J")
    x = energy / divisor
    y = np.array([float(c["throughput_per_s"] if y_key == "throughput_per_s"
                        else c["metrics"][y_key]) for c in rows])
    front = np.array([bool(c["pareto"]) for c in rows])
    fig = _figure(height_in=3.4)
    ax = fig.add_subplot()
    if (~front).any():
        ax.scatter(x[~front], y[~front], s=14, color="#b8b8b8", label="dominated", zorder=2)
    ax.scatter(x[front], y[front], s=26, color="#d1495b", label="Pareto front", zorder=3)
    order = np.argsort(x[front], kind="stable")
    ax.plot(x[front][order], y[front][order], color="#d1495b", linewidth=1.0, zorder=3)
    for c, px, py in zip(rows, x, y, strict=True):
        ax.annotate(c["label"], (float(px), float(py)), xytext=(4, 3),
                    textcoords="offset points", fontsize=6, color="#333333")
    units = {c["unit"] for c in rows}
    per = units.pop() if len(units) == 1 else "unit"
    ax.set_xlabel(f"energy per {per} ({unit}; lower is better)", fontsize=9)
    ax.set_ylabel(f"{per}/s (higher is better)" if y_key == "throughput_per_s" else
                  f"{y_key} ({'higher' if doc['pareto']['maximize_y'] else 'lower'} is better)",
                  fontsize=9)
    _style(ax)
    ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    ax.legend(fontsize=7, frameon=False)
    return str(_svg(fig, "wattprint-bench-front"))


def bench_html(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The benchmark as one self-contained HTML page with the Pareto plot.

    Raises:
        WattprintError: matplotlib is not installed (the ``report`` extra).
    """
    from wattprint.report import plots
    from wattprint.report.render_html import html_table, page

    plots.require_matplotlib()
    grid = "; ".join(f"{k} = {', '.join(v)}" for k, v in doc["grid"].items()) or "none"
    body = [f"<h1>Energy benchmark <code>{escape(doc['bench_id'])}</code></h1>\n",
            f"<p class=\"lead\"><code>{escape(doc['target'])}</code> over {escape(grid)}: "
            f"{doc['warmup']} warm-up repetition(s), not measured, then {doc['repeat']} "
            f"measured, per configuration; runs stored in project "
            f"<code>{escape(doc['project'])}</code>. {escape(basis_line(doc))}; "
            f"{escape(_latency_note(doc))}.</p>\n"]
    for hw in doc["hardware"]:
        body.append(f"<p class=\"muted\">hardware {escape(_hardware_text(hw))}</p>\n")
    svg = front_svg(doc)
    caption = f"energy per unit against {_axis_label(doc)}; Pareto front in red"
    body.append(f'<figure role="img" aria-label="{escape(caption)}">{svg}'
                f"<figcaption>{escape(caption)}</figcaption></figure>\n" if svg else
                f'<p class="muted">{escape(caption)}: nothing to plot.</p>\n')
    classes = ["" if c["pareto"] else "dominated" for c in doc["configs"]]
    body.append("<h2>Configurations, by energy per unit</h2>\n")
    body.append(html_table(_detail_headers(doc), _detail_rows(doc, precision),
                           row_classes=classes,
                           numeric="r--rrrr" + ("r" if _quality(doc) else "") + "rr---",
                           precision=precision))
    failures = failure_lines(doc)
    if failures:
        body.append("<h2>Failed configurations</h2>\n<ul>"
                    + "".join(f"<li>{escape(line)}</li>" for line in failures) + "</ul>\n")
    return page(f"wattprint energy benchmark {doc['bench_id']}", "".join(body), doc)


__all__ = ["BENCH_SCHEMA", "basis_line", "bench_document", "bench_html", "bench_markdown",
           "failure_lines", "fmt_latency", "front_flags", "front_svg", "one_unit", "summary_rows"]
