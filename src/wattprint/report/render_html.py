"""Self-contained HTML renderings of the appendix and the leaderboard.

Pure functions: a document in, one HTML string out. The page needs nothing
but itself:

* plots are inline SVG drawn by matplotlib (:mod:`wattprint.report.plots`;
  the ``report`` extra), text as paths, so no font is fetched;
* styles are inline; there is no script to run, no CDN, no web font, no
  image file, and a Content-Security-Policy (``default-src 'none'``) makes
  the browser refuse any network request the page might otherwise make
  (the favicon is an empty ``data:`` URL for the same reason);
* a print style sheet (A4/Letter margins, black text, no page break inside
  a figure or table row) keeps it readable on paper and in a PDF;
* the complete document -- every input needed to recompute the numbers --
  is embedded as ``<script type="application/json" id="wattprint-data">``
  (JSON, never executed; ``<``, ``>`` and ``&`` written as JSON unicode escapes,
  so no text can close the element).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from wattprint.report.appendix import (
    CO2_TERMS,
    PREDICTION_COLUMNS,
    fmt_duration,
    fmt_num,
    fmt_qty,
    pause_rows,
    phase_rows,
    prediction_table,
    project_provenance_rows,
    provenance_rows,
    uncertainty_rows,
    uncertainty_text,
)
from wattprint.units import DEFAULT_PRECISION

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: #1d1d1f; background: #fff; margin: 0 auto; padding: 1.5rem;
       max-width: 62rem; line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 .5rem; border-bottom: 1px solid #ddd;
     padding-bottom: .2rem; }
p.lead { font-size: 1.02rem; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       font-size: .88em; background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
table { border-collapse: collapse; margin: .4rem 0; font-size: .88rem; }
th, td { border: 1px solid #d8d8d8; padding: .25rem .5rem; vertical-align: top; text-align: left; }
th { background: #f5f5f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { width: 14rem; }
tr.total td { font-weight: 600; background: #fafafa; }
tr.dominated td { color: #9a9a9a; }
tr.front td.pareto { color: #b02a3a; font-weight: 600; }
td.source { font-size: .8rem; max-width: 30rem; overflow-wrap: anywhere; }
figure { margin: .8rem 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: .82rem; color: #555; }
ul.notes li { margin: .15rem 0; }
.muted { color: #666; font-size: .85rem; }
@page { margin: 15mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; color: #000; }
  h2 { break-after: avoid; }
  figure, tr { break-inside: avoid; }
  th { background: #eee !important; }
  code { background: none; }
  tr.dominated td { color: #777; }
}
"""


def _text(value: Any, precision: int = DEFAULT_PRECISION) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return fmt_num(value, precision)
    return str(value)


def _td(value: Any, cls: str = "", precision: int = DEFAULT_PRECISION,
        numeric: bool = False) -> str:
    numeric = numeric or (isinstance(value, (int, float)) and not isinstance(value, bool))
    classes = " ".join(c for c in (cls, "num" if numeric else "") if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{escape(_text(value, precision))}</td>"


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
               row_classes: Sequence[str] | None = None,
               cell_classes: Sequence[str] | None = None, numeric: str = "",
               precision: int = DEFAULT_PRECISION) -> str:
    """An HTML table; numbers formatted with :func:`~wattprint.report.appendix.fmt_num`.

    Args:
        headers: column titles.
        rows: cell values (text is escaped).
        row_classes: a CSS class per row (``total``, ``dominated``...).
        cell_classes: a CSS class per column.
        numeric: one letter per column, ``r`` for right-aligned columns (figures).
        precision: significant figures of plain numbers.

    Returns:
        The ``<table>`` element.
    """
    head = "".join(
        (f'<th class="num">{escape(h)}</th>' if numeric[i:i + 1] == "r"
         else f"<th>{escape(h)}</th>") for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        cls = row_classes[n] if row_classes and n < len(row_classes) else ""
        cells = "".join(_td(v, cell_classes[i] if cell_classes and i < len(cell_classes) else "",
                            precision, numeric[i:i + 1] == "r")
                        for i, v in enumerate(row))
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>\n"


def _kv(rows: Iterable[tuple[str, Any]], precision: int = DEFAULT_PRECISION) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th>{_td(v, precision=precision)}</tr>" for k, v in rows
                    if v is not None and v != "")
    return f'<table class="kv"><tbody>{cells}</tbody></table>\n'


def data_script(doc: Mapping[str, Any]) -> str:
    """The embedded machine-readable document (never executed by the browser)."""
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<script type="application/json" id="wattprint-data">{text}</script>\n'


def page(title: str, body: str, doc: Mapping[str, Any]) -> str:
    """A complete, self-contained HTML document.

    Args:
        title: the page title.
        body: the HTML of the page's content.
        doc: the JSON document to embed as ``#wattprint-data``.

    Returns:
        The HTML text.
    """
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}{data_script(doc)}</body>\n</html>\n"
    )


def _figure(svg: str | None, caption: str) -> str:
    if svg is None:
        return f'<p class="muted">{escape(caption)}: nothing to plot.</p>\n'
    return (f'<figure role="img" aria-label="{escape(caption)}">{svg}'
            f"<figcaption>{escape(caption)}</figcaption></figure>\n")


def _assumptions(provenance: Iterable[Mapping[str, Any]],
                 precision: int = DEFAULT_PRECISION) -> str:
    return html_table(("factor", "device / region", "value", "unit", "source"),
                      provenance_rows(provenance),
                      cell_classes=("", "", "", "", "source"), precision=precision)


def _project_assumptions(assumptions: Iterable[Mapping[str, Any]],
                         precision: int = DEFAULT_PRECISION) -> str:
    return html_table(("factor", "device / region", "value", "unit", "source", "runs"),
                      project_provenance_rows(assumptions),
                      cell_classes=("", "", "", "", "source", ""), numeric="llrllr",
                      precision=precision)


def _git(sw: Mapping[str, Any]) -> str:
    git = sw.get("git")
    if not git:
        return "not recorded (not a git checkout)"
    return f"{git.get('commit')}" + (" (uncommitted changes)" if git.get("dirty") else "")


def _share_rules_html(rows: list[dict[str, Any]]) -> str:
    """The share rules applied per device (a fallback named as such)."""
    if not rows:
        return ""
    body = html_table(
        ("device", "rule applied", "intervals", "seconds", "note"),
        [(r["device"], r["rule"], r["intervals"], r["seconds"],
          "not recorded" if r["intervals"] is None
          else f"fallback from {r['intended']}" if r["fallback"] else "intended")
         for r in rows],
        numeric="llrrl")
    return ("<h3>Share rules applied</h3>\n" + body
            + '<p class="muted">Each interval counts the share rule it actually followed; a '
            "fallback (no per-process data in that interval, pids in another namespace, the "
            "first CPU-time window) is named as such.</p>\n")


def run_html(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The HTML appendix of one run (a ``wattprint.appendix.run/1`` document).

    Args:
        doc: the document of :func:`~wattprint.report.appendix.run_appendix`.
        precision: significant figures of the figures shown (the JSON keeps all).

    Raises:
        WattprintError: matplotlib is not installed (the plots need it).
    """
    from wattprint.report import plots

    plots.require_matplotlib()
    p = precision
    run, hw, sw = doc["run"], doc["hardware"], doc["software"]
    energy, fp, acc = doc["energy"], doc["footprint"], doc["accounting"]
    intensity, co2, kwh = fp["intensity"], fp["co2e_kg"], fp["energy_kwh"]
    name = f" ({run['name']})" if run.get("name") else ""
    b: list[str] = [f"<h1>Energy and carbon appendix: run <code>{escape(run['id'])}</code>"
                    f"{escape(name)}</h1>\n"]
    b.append(
        f'<p class="lead">Project <b>{escape(str(run["project"]))}</b>, stage '
        f"<b>{escape(str(run['phase']))}</b>: the run took "
        f"{escape(fmt_duration(run['duration_s'], p))} and used "
        f"<b>{fmt_qty(kwh['total'], 'kWh', p)}</b> "
        f"({fmt_qty(energy['counted_energy_kwh'], 'kWh', p)} at "
        f"the devices under {escape(energy['attribution'])} attribution, PUE "
        f"{fmt_num(fp['pue'], p)}), emitting <b>{fmt_qty(co2['total'], 'kgCO2e', p)} CO2e</b> "
        f"including {fmt_qty(co2['embodied'], 'kgCO2e', p)} embodied, at a mean grid "
        f"intensity of {fmt_qty(intensity['mean_g_per_kwh'], 'gCO2e/kWh', p)} "
        f"({escape(intensity['method'])}, "
        f"{escape(str(acc.get('region_label') or intensity['region']))}).</p>\n")
    b.append("<h2>Run</h2>\n")
    b.append(_kv([("command", run.get("command")), ("status", run["status"]),
                  ("tool", run["tool"]), ("started (UTC)", run["started_at"]),
                  ("ended (UTC)", run["ended_at"]),
                  ("duration", fmt_duration(run["duration_s"], p)),
                  ("exit code", run["exit_code"]),
                  ("sampling interval", fmt_qty(run["interval_s"], "s", p)),
                  ("error", run.get("error"))], p))
    b.append("<h2>Hardware</h2>\n")
    if not hw["recorded"]:
        b.append('<p class="muted">Hardware facts were not recorded for this run.</p>\n')
    cores = (f"{hw['cpu_physical']} physical / {hw['cpu_logical']} logical"
             if hw.get("cpu_logical") else None)
    gpus = ", ".join(f"{g['count']} × {g['name']}" for g in hw["gpus"]) or "none recorded"
    b.append(_kv([("host", hw["host"]), ("CPU", hw.get("cpu_model")), ("CPU cores", cores),
                  ("memory (GB)", hw.get("memory_gb")), ("GPUs", gpus),
                  ("GPU driver", hw.get("gpu_driver") or "not recorded"), ("OS", hw.get("os")),
                  ("machine", hw.get("machine")),
                  ("CUDA_VISIBLE_DEVICES", hw.get("cuda_visible_devices"))], p))
    b.append("<h2>Software</h2>\n")
    b.append(_kv([("Python", sw.get("python") or "not recorded"),
                  ("wattprint", sw.get("wattprint") or "not recorded"),
                  ("git commit of the code", _git(sw))]
                 + [(k, v) for k, v in sorted(sw["packages"].items()) if k != "wattprint"], p))
    b.append("<h2>Energy by device</h2>\n")
    rows: list[Sequence[Any]] = [
        (d["name"], d["kind"], d["source"],
         d["basis"] + (f" ({d['model']})" if d["basis"] == "estimated" and d["model"] else ""),
         d["share_rule"], fmt_qty(d["energy_j"], "J", p),
         fmt_qty(d["counted_energy_kwh"], "kWh", p), fmt_qty(d["mean_power_w"], "W", p),
         fmt_qty(d["peak_power_w"], "W", p)) for d in energy["devices"]]
    rows.append(("total", "", "", "", "", "", fmt_qty(energy["counted_energy_kwh"], "kWh", p),
                 "", ""))
    b.append(html_table(("device", "kind", "source", "basis", "share rule", "device energy",
                         "counted energy", "mean power", "peak power"), rows,
                        row_classes=[""] * (len(rows) - 1) + ["total"], numeric="lllllrrrr",
                        precision=p))
    b.append(f'<p class="muted">Counted energy follows the run\'s '
             f"<b>{escape(energy['attribution'])}</b> attribution (machine: whole devices; "
             "process: the tracked processes' share by the device's share rule).</p>\n")
    if energy.get("node_power"):
        from wattprint.report.runview import node_power_lines

        b.append("<p>Node power (the BMC's wall power) contains the devices above and is never "
                 "added to them" + ("; this run is accounted on it (<code>--basis node</code>)"
                                    if energy.get("basis") == "node" else "") + ":</p>\n<ul>"
                 + "".join(f"<li>{escape(line)}</li>" for line in node_power_lines(
                     energy["node_power"], p)) + "</ul>\n")
    b.append(_share_rules_html(energy.get("share_rules") or []))
    b.append(_figure(plots.power_svg(doc), "Power over time per device"))
    if doc.get("phases"):
        b.append("<h2>Phases (<code>run.phase()</code> sections)</h2>\n")
        b.append(html_table(("phase", "started (UTC)", "duration", "energy", "CO2e"),
                            phase_rows(doc["phases"], p), numeric="llrrr", precision=p))
        b.append('<p class="muted">Energy of the intervals inside each phase (an interval '
                 "crossing a boundary split in proportion to time), under the run's "
                 "attribution; CO2e at the intensity applied to each interval, × PUE "
                 "(embodied not divided). The phases are shaded on the power plot.</p>\n")
    b.append("<h2>Carbon breakdown</h2>\n")
    b.append(html_table(("term", "energy", "CO2e"),
                        [(t, fmt_qty(kwh.get(t), "kWh", p), fmt_qty(co2.get(t), "kgCO2e", p))
                         for t in CO2_TERMS],
                        row_classes=[""] * 4 + ["total"], numeric="lrr", precision=p))
    b.append(f'<p class="muted">Infrastructure is energy × (PUE − 1) with PUE '
             f"{fmt_num(fp['pue'], p)}; embodied is manufacturing carbon amortised per "
             "device-hour.</p>\n")
    sure = uncertainty_text(fp, p)
    if sure:
        b.append(f"<h2>Uncertainty</h2>\n<p>{escape(sure)}</p>\n")
        b.append(html_table(("input", "shape", "low ×", "high ×", "source"),
                            uncertainty_rows(fp, p), numeric="llrrl", precision=p))
    b.append("<h2>Grid intensity</h2>\n")
    b.append(_kv([("region", acc.get("region_label") or intensity["region"]),
                  ("source", intensity["source"]), ("method", intensity["method"]),
                  ("data", intensity.get("provenance")),
                  ("mean, energy-weighted", fmt_qty(intensity["mean_g_per_kwh"], "gCO2e/kWh", p)),
                  ("min", fmt_qty(intensity["min_g_per_kwh"], "gCO2e/kWh", p)),
                  ("max", fmt_qty(intensity["max_g_per_kwh"], "gCO2e/kWh", p)),
                  ("fallback", intensity.get("fallback"))], p))
    b.append(_figure(plots.intensity_svg(doc), "Grid intensity applied over time (gCO2e/kWh)"))
    b.append("<h2>SCI per functional unit</h2>\n")
    if fp["sci"]:
        b.append(html_table(("unit", "count", "CO2e per unit", "energy per unit"),
                            [(s["unit"], s["count"], fmt_qty(s["co2e_g_per_unit"], "g", p),
                              fmt_qty(s["energy_kwh_per_unit"], "kWh", p)) for s in fp["sci"]],
                            numeric="lrrr", precision=p))
    else:
        b.append('<p class="muted">No functional units were counted (<code>run.add_units'
                 "(...)</code>), so no SCI.</p>\n")
    if doc["metrics"]:
        b.append("<h2>Metrics (last logged value)</h2>\n")
        b.append(html_table(("metric", "value"), sorted(doc["metrics"].items()), numeric="lr",
                            precision=p))
    if doc.get("pauses"):
        b.append("<h2>Pauses (carbon-aware; their energy is excluded)</h2>\n")
        b.append(html_table(("paused at (UTC)", "resumed at (UTC)", "paused for", "reason"),
                            [(a, e, fmt_duration(s, p), r)
                             for a, e, s, r in pause_rows(doc["pauses"])], numeric="llrl",
                            precision=p))
    b.append(prediction_html(doc, p))
    b.append("<h2>Assumptions and sources</h2>\n")
    b.append(_assumptions(fp["provenance"], p))
    if doc["notes"]:
        b.append("<h2>Notes</h2>\n<ul class=\"notes\">"
                 + "".join(f"<li>{escape(n)}</li>" for n in doc["notes"]) + "</ul>\n")
    b.append("<h2>Machine-readable data</h2>\n")
    b.append('<p class="muted">This file embeds the complete document as '
             '<code>&lt;script type="application/json" id="wattprint-data"&gt;</code>: every '
             "stored interval of every device with the intensity applied to it, the idle power, "
             "PUE and embodied parameters (<code>inputs</code>), in base SI units at full "
             "precision, and the formulas (<code>inputs.formulas</code>), so every number above "
             "can be recomputed.</p>\n")
    return page(f"wattprint appendix: run {run['id']}", "".join(b), doc)


def project_html(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The HTML life-cycle report of a project (a ``wattprint.appendix.project/1`` document).

    Args:
        doc: the document of :func:`~wattprint.report.appendix.project_appendix`.
        precision: significant figures of the figures shown (the JSON keeps all).

    Raises:
        WattprintError: matplotlib is not installed (the plots need it).
    """
    from wattprint.report import plots

    plots.require_matplotlib()
    p = precision
    total = doc["total"]
    name = doc["project"] if doc["project"] is not None else "all projects"
    b = [f"<h1>Life-cycle energy and carbon: project <code>{escape(str(name))}</code></h1>\n",
         f'<p class="lead">{total["runs"]} runs, '
         f"{escape(fmt_duration(total['duration_s'], p))} in total: "
         f"<b>{fmt_qty(total['energy_kwh']['total'], 'kWh', p)}</b>, "
         f"<b>{fmt_qty(total['co2e_kg']['total'], 'kgCO2e', p)} CO2e</b>.</p>\n",
         f"<h2>By {escape(doc['by'])}</h2>\n"]
    rows: list[Sequence[Any]] = [
        (g["key"] or "(none)", g["runs"], fmt_duration(g["duration_s"], p),
         fmt_qty(g["energy_kwh"]["total"], "kWh", p),
         *(fmt_qty(g["co2e_kg"][t], "kgCO2e", p) for t in CO2_TERMS)) for g in doc["groups"]]
    rows.append(("total", total["runs"], fmt_duration(total["duration_s"], p),
                 fmt_qty(total["energy_kwh"]["total"], "kWh", p),
                 *(fmt_qty(total["co2e_kg"][t], "kgCO2e", p) for t in CO2_TERMS)))
    b.append(html_table((doc["by"], "runs", "duration", "energy", "dynamic CO2e", "idle CO2e",
                         "infrastructure CO2e", "embodied CO2e", "total CO2e"), rows,
                        row_classes=[""] * (len(rows) - 1) + ["total"], numeric="lrrrrrrrr",
                        precision=p))
    b.append(_figure(plots.breakdown_svg(doc["groups"]),
                     f"Carbon by {doc['by']} and life-cycle term (CO2e)"))
    b.append("<h2>Runs</h2>\n")
    b.append(html_table(("id", "name", doc["by"], "status", "started (UTC)", "duration",
                         "energy", "CO2e", "intensity", "region"),
                        [(r["id"], r["name"], r["group"], r["status"],
                          (r["started_at"] or "")[:19].replace("T", " "),
                          fmt_duration(r["duration_s"], p),
                          fmt_qty(r["energy_kwh"]["total"], "kWh", p),
                          fmt_qty(r["co2e_kg"]["total"], "kgCO2e", p),
                          fmt_qty(r["intensity_mean_g_per_kwh"], "gCO2e/kWh", p), r["region"])
                         for r in doc["runs"]],
                        numeric="llllrrrrrl", precision=p))
    if doc["excluded"]:
        b.append('<p class="muted">Not counted: '
                 + escape(", ".join(f"{e['id']} ({e['reason']})" for e in doc["excluded"]))
                 + "</p>\n")
    b.append("<h2>Hardware</h2>\n")
    b.append(html_table(("host", "CPU", "GPUs", "runs"),
                        [(h["host"], h["cpu_model"], h["gpus"], h["runs"])
                         for h in doc["hardware"]], numeric="lllr", precision=p))
    b.append("<h2>Assumptions and sources</h2>\n")
    b.append(_project_assumptions(doc["assumptions"], p))
    b.append('<p class="muted">The totals and per-run results are embedded as '
             '<code>#wattprint-data</code> (JSON); each run\'s intervals and intensities are in '
             "its own appendix (<code>wattprint report RUN --format json</code>).</p>\n")
    return page(f"wattprint life-cycle report: {name}", "".join(b), doc)


def appendix_html(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The HTML of a run or project appendix (by its ``kind``).

    Raises:
        WattprintError: matplotlib is not installed.
    """
    if doc["kind"] == "run":
        return run_html(doc, precision)
    return project_html(doc, precision)


def leaderboard_html(board: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The HTML leaderboard: ranked table, dominated runs greyed, and the front plot.

    Raises:
        WattprintError: matplotlib is not installed.
    """
    from wattprint.report import plots

    plots.require_matplotlib()
    name = board["project"] if board["project"] is not None else "all projects"
    better = "higher" if board["maximize"] else "lower"
    cost_names = ", ".join(c["name"] for c in board["costs"])
    b = [f"<h1>Leaderboard: <code>{escape(board['metric'])}</code> in project "
         f"<code>{escape(str(name))}</code></h1>\n",
         f'<p class="lead">Ranked by <code>{escape(board["metric"])}</code> ({better} is '
         f"better). Runs on the Pareto front over <code>{escape(board['metric'])}</code> and "
         f"{escape(cost_names)} are marked <b>front</b>: no other run is at least as good in "
         "every dimension and strictly better in one. Dominated runs are greyed.</p>\n"]
    caption = (f"{board['metric']} against {board['costs'][0]['name']}; Pareto front in red"
               if board["costs"] else "Pareto front")
    b.append(_figure(plots.front_svg(board), caption))
    extra = [c for c in board["costs"] if c["column"] not in
             ("energy_kwh", "co2e_kg", "duration_s", "embodied_kg")]
    p = precision
    weighted = bool(board.get("weights"))
    headers = ["rank", "run", "name", board["metric"], "energy", "CO2e", "duration",
               "embodied CO2e", *(c["name"] for c in extra), "Pareto",
               *(["utility"] if weighted else [])]
    rows = [[r["rank"], r["id"], r["name"], r["metric"], fmt_qty(r["energy_kwh"], "kWh", p),
             fmt_qty(r["co2e_kg"], "kgCO2e", p), fmt_duration(r["duration_s"], p),
             fmt_qty(r["embodied_kg"], "kgCO2e", p),
             *(fmt_qty(r[c["column"]], c.get("unit") or "", p) for c in extra),
             "front" if r["pareto"] else "dominated",
             *([fmt_num(r["utility"], p)] if weighted else [])] for r in board["runs"]]
    b.append(html_table(headers, rows,
                        row_classes=["front" if r["pareto"] else "dominated"
                                     for r in board["runs"]],
                        cell_classes=[""] * (9 + len(extra) - 1) + ["pareto"]
                        + ([""] if weighted else []),
                        numeric="rll" + "r" * (5 + len(extra)) + "l" + ("r" if weighted else ""),
                        precision=p))
    if weighted:
        from wattprint.report.render_md import utility_text

        b.append(f'<p class="utility">{escape(utility_text(board, p))}</p>\n')
    if board["excluded"]:
        b.append("<h2>Excluded</h2>\n")
        b.append(html_table(("run", "name", "reason"),
                            [(e["id"], e["name"], e["reason"]) for e in board["excluded"]]))
    return page(f"wattprint leaderboard: {board['metric']}", "".join(b), board)


__all__ = ["appendix_html", "data_script", "html_table", "leaderboard_html", "page",
           "project_html", "run_html"]


def prediction_html(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The section "Predicted and actual" of a run that predicted itself ("" otherwise)."""
    found = doc.get("prediction")
    if not found:
        return ""
    head, rows = prediction_table(found, precision)
    return ("<h2>Predicted and actual</h2>\n<p>" + escape(head) + "</p>\n"
            + html_table(PREDICTION_COLUMNS, rows, numeric="rrrrr", precision=precision))
