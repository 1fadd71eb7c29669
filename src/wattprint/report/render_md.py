"""Markdown renderings of the appendix, leaderboard and comparison (GitHub-flavoured).

Pure functions: a document from :mod:`wattprint.report.appendix`,
:mod:`~wattprint.report.leaderboard` or :mod:`~wattprint.report.compare` in,
a Markdown string out. Tables are GitHub pipe tables (cells with ``|`` are
escaped); every figure goes through :mod:`wattprint.units` (three
significant figures unless ``precision`` asks for more, energy and mass in
the unit that fits, never e-notation); the JSON block keeps full precision.
GitHub does not render inline SVG, so the Markdown appendix has no plots:
the power over time is summarised by each device's mean and peak power, and
the HTML appendix carries the plots. The complete document (all inputs
included) closes the appendix as a fenced ``json`` block inside a collapsed
``<details>`` element, so a reviewer can recompute every number from the
paper's supplementary material.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
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


def cell(value: Any, precision: int = DEFAULT_PRECISION) -> str:
    """One table cell: numbers formatted, ``None`` as ``—``, pipes and newlines escaped."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = fmt_num(value, precision) if isinstance(value, (int, float)) else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          align: str | None = None, precision: int = DEFAULT_PRECISION) -> str:
    """A GitHub pipe table.

    Args:
        headers: column titles.
        rows: cell values (formatted with :func:`cell`).
        align: one letter per column, ``l`` or ``r`` (default: all left).
        precision: significant figures of plain numbers.

    Returns:
        The table, one line per row, with a trailing newline.
    """
    align = align or "l" * len(headers)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(cell(v, precision) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _kv(rows: Iterable[tuple[str, Any]], precision: int = DEFAULT_PRECISION) -> str:
    return table(("field", "value"), [(k, v) for k, v in rows if v is not None and v != ""],
                 precision=precision)


def _longest_backtick_run(text: str) -> int:
    runs = re.findall(r"`+", text)
    return max((len(r) for r in runs), default=0)


def code(text: str) -> str:
    """Inline code that survives backticks in ``text`` (a longer fence, padded)."""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def data_block(doc: Mapping[str, Any], summary: str) -> str:
    """The collapsed fenced JSON block that closes a Markdown report.

    The fence is longer than any run of backticks in the JSON, so text such
    as a command line with backticks cannot end the block early.
    """
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return (f"<details>\n<summary>{summary}</summary>\n\n{fence}json\n{text}\n{fence}\n\n"
            "</details>\n")


def _gpus(hw: Mapping[str, Any]) -> str:
    return ", ".join(f"{g['count']} × {g['name']}" for g in hw["gpus"]) or "none recorded"


def _git(sw: Mapping[str, Any]) -> str | None:
    git = sw.get("git")
    if not git:
        return None
    return f"{git.get('commit')}" + (" (uncommitted changes)" if git.get("dirty") else "")


def run_markdown(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The Markdown appendix of one run (a ``wattprint.appendix.run/1`` document).

    Args:
        doc: the document of :func:`~wattprint.report.appendix.run_appendix`.
        precision: significant figures of the figures shown (the JSON keeps all).
    """
    p = precision
    run, hw, sw = doc["run"], doc["hardware"], doc["software"]
    energy, fp, acc = doc["energy"], doc["footprint"], doc["accounting"]
    intensity, co2, kwh = fp["intensity"], fp["co2e_kg"], fp["energy_kwh"]
    title = f"run `{run['id']}`" + (f" ({run['name']})" if run.get("name") else "")
    parts = [f"# Energy and carbon appendix: {title}\n\n"]
    parts.append(
        f"Project **{run['project']}**, stage **{run['phase']}**: the run took "
        f"{fmt_duration(run['duration_s'], p)} and used **{fmt_qty(kwh['total'], 'kWh', p)}** "
        f"({fmt_qty(energy['counted_energy_kwh'], 'kWh', p)} at the devices under "
        f"{energy['attribution']} attribution, PUE {fmt_num(fp['pue'], p)}), emitting "
        f"**{fmt_qty(co2['total'], 'kgCO2e', p)} CO2e** including "
        f"{fmt_qty(co2['embodied'], 'kgCO2e', p)} embodied, at a mean grid intensity of "
        f"{fmt_qty(intensity['mean_g_per_kwh'], 'gCO2e/kWh', p)} "
        f"({intensity['method']}, {acc.get('region_label') or intensity['region']}).\n")
    parts.append("\n## Run\n\n")
    parts.append(_kv([("command", code(run["command"]) if run.get("command") else None),
                      ("status", run["status"]), ("tool", run["tool"]),
                      ("started (UTC)", run["started_at"]), ("ended (UTC)", run["ended_at"]),
                      ("duration", fmt_duration(run["duration_s"], p)),
                      ("exit code", run["exit_code"]),
                      ("sampling interval", fmt_qty(run["interval_s"], "s", p)),
                      ("error", run.get("error"))], p))
    parts.append("\n## Hardware\n\n")
    if not hw["recorded"]:
        parts.append("Hardware facts were not recorded for this run.\n\n")
    cores = (f"{hw['cpu_physical']} physical / {hw['cpu_logical']} logical"
             if hw.get("cpu_logical") else None)
    parts.append(_kv([("host", hw["host"]), ("CPU", hw.get("cpu_model")), ("CPU cores", cores),
                      ("memory (GB)", hw.get("memory_gb")), ("GPUs", _gpus(hw)),
                      ("GPU driver", hw.get("gpu_driver") or "not recorded"),
                      ("OS", hw.get("os")), ("machine", hw.get("machine")),
                      ("CUDA_VISIBLE_DEVICES", hw.get("cuda_visible_devices"))], p))
    parts.append("\n## Software\n\n")
    parts.append(_kv([("Python", sw.get("python") or "not recorded"),
                      ("wattprint", sw.get("wattprint") or "not recorded"),
                      ("git commit of the code", _git(sw) or "not recorded (not a git checkout)")]
                     + [(f"`{k}`", v) for k, v in sorted(sw["packages"].items())
                        if k != "wattprint"], p))
    parts.append("\n## Energy by device\n\n")
    parts.append(table(
        ("device", "kind", "source", "basis", "share rule", "device energy", "counted energy",
         "mean power", "peak power"),
        [(d["name"], d["kind"], d["source"],
          d["basis"] + (f" ({d['model']})" if d["basis"] == "estimated" and d["model"] else ""),
          d["share_rule"], fmt_qty(d["energy_j"], "J", p),
          fmt_qty(d["counted_energy_kwh"], "kWh", p), fmt_qty(d["mean_power_w"], "W", p),
          fmt_qty(d["peak_power_w"], "W", p)) for d in energy["devices"]]
        + [("**total**", "", "", "", "", "", fmt_qty(energy["counted_energy_kwh"], "kWh", p),
            "", "")],
        "lllllrrrr", p))
    parts.append(f"\nCounted energy follows the run's **{energy['attribution']}** attribution "
                 "(machine: whole devices; process: the tracked processes' share by the "
                 "device's share rule).\n")
    if energy.get("node_power"):
        from wattprint.report.runview import node_power_lines

        parts.append("\nNode power (the BMC's wall power) contains the devices above and is "
                     "never added to them"
                     + ("; this run is accounted on it (`--basis node`)" if
                        energy.get("basis") == "node" else "") + ":\n\n"
                     + "".join(f"- {line}\n" for line in node_power_lines(
                         energy["node_power"], p)))
    parts.append(_share_rules_md(energy.get("share_rules") or []))
    if doc.get("phases"):
        parts.append("\n## Phases (`run.phase()` sections)\n\n")
        parts.append(table(("phase", "started (UTC)", "duration", "energy", "CO2e"),
                           phase_rows(doc["phases"], p), "llrrr", p))
        parts.append("\nEnergy of the intervals inside each phase (an interval crossing a "
                     "boundary split in proportion to time), under the run's attribution; CO2e "
                     "at the intensity applied to each interval, × PUE (embodied not divided).\n")
    parts.append("\n## Carbon breakdown\n\n")
    parts.append(table(
        ("term", "energy", "CO2e"),
        [(t, fmt_qty(kwh.get(t), "kWh", p), fmt_qty(co2.get(t), "kgCO2e", p)) for t in CO2_TERMS],
        "lrr", p))
    parts.append(f"\nInfrastructure is energy × (PUE − 1) with PUE {fmt_num(fp['pue'], p)}; "
                 "embodied is manufacturing carbon amortised per device-hour.\n")
    sure = uncertainty_text(fp, p)
    if sure:
        parts.append("\n## Uncertainty\n\n" + sure + "\n\n")
        parts.append(table(("input", "shape", "low ×", "high ×", "source"),
                           uncertainty_rows(fp, p), "llrrl", p))
    parts.append("\n## Grid intensity\n\n")
    parts.append(_kv([("region", acc.get("region_label") or intensity["region"]),
                      ("source", intensity["source"]), ("method", intensity["method"]),
                      ("data", intensity.get("provenance")),
                      ("mean, energy-weighted",
                       fmt_qty(intensity["mean_g_per_kwh"], "gCO2e/kWh", p)),
                      ("min", fmt_qty(intensity["min_g_per_kwh"], "gCO2e/kWh", p)),
                      ("max", fmt_qty(intensity["max_g_per_kwh"], "gCO2e/kWh", p)),
                      ("fallback", intensity.get("fallback"))], p))
    parts.append("\n## SCI per functional unit\n\n")
    if fp["sci"]:
        parts.append(table(("unit", "count", "CO2e per unit", "energy per unit"),
                           [(s["unit"], s["count"], fmt_qty(s["co2e_g_per_unit"], "g", p),
                             fmt_qty(s["energy_kwh_per_unit"], "kWh", p)) for s in fp["sci"]],
                           "lrrr", p))
    else:
        parts.append("No functional units were counted (`run.add_units(...)`), so no SCI.\n")
    if doc["metrics"]:
        parts.append("\n## Metrics (last logged value)\n\n")
        parts.append(table(("metric", "value"), sorted(doc["metrics"].items()), "lr", p))
    if doc.get("pauses"):
        parts.append("\n## Pauses (carbon-aware; their energy is excluded)\n\n")
        parts.append(table(("paused at (UTC)", "resumed at (UTC)", "paused for", "reason"),
                           [(a, b, fmt_duration(s, p), r)
                            for a, b, s, r in pause_rows(doc["pauses"])], "llrl", p))
    parts.append(prediction_markdown(doc, p))
    parts.append("\n## Assumptions and sources\n\n")
    parts.append(table(("factor", "device / region", "value", "unit", "source"),
                       provenance_rows(fp["provenance"]), "llrll", p))
    if doc["notes"]:
        parts.append("\n## Notes\n\n")
        parts.append("".join(f"- {n}\n" for n in doc["notes"]))
    parts.append("\n## Machine-readable data\n\n")
    parts.append("Every stored interval of every device with the intensity applied to it, the "
                 "idle power, PUE and embodied parameters are in `inputs` below, in base SI "
                 "units at full precision; the formulas are in `inputs.formulas`.\n\n")
    parts.append(data_block(doc, "All inputs and results (JSON)"))
    return "".join(parts)


def prediction_markdown(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The section "Predicted and actual" of a run that predicted itself ("" otherwise)."""
    found = doc.get("prediction")
    if not found:
        return ""
    head, rows = prediction_table(found, precision)
    return ("\n## Predicted and actual\n\n" + head + "\n\n"
            + table(PREDICTION_COLUMNS, rows, "rrrrr", precision))


def project_markdown(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The Markdown life-cycle report of a project (a ``wattprint.appendix.project/1`` doc).

    Args:
        doc: the document of :func:`~wattprint.report.appendix.project_appendix`.
        precision: significant figures of the figures shown (the JSON keeps all).
    """
    p = precision
    total = doc["total"]
    name = doc["project"] if doc["project"] is not None else "all projects"
    parts = [f"# Life-cycle energy and carbon: project `{name}`\n\n"]
    parts.append(f"{total['runs']} runs, {fmt_duration(total['duration_s'], p)} in total: "
                 f"**{fmt_qty(total['energy_kwh']['total'], 'kWh', p)}**, "
                 f"**{fmt_qty(total['co2e_kg']['total'], 'kgCO2e', p)} CO2e**.\n")
    parts.append(f"\n## By {doc['by']}\n\n")
    header = (doc["by"], "runs", "duration", "energy", "dynamic CO2e", "idle CO2e",
              "infrastructure CO2e", "embodied CO2e", "total CO2e")
    rows: list[Sequence[Any]] = [
        (g["key"] or "(none)", g["runs"], fmt_duration(g["duration_s"], p),
         fmt_qty(g["energy_kwh"]["total"], "kWh", p),
         *(fmt_qty(g["co2e_kg"][t], "kgCO2e", p) for t in CO2_TERMS)) for g in doc["groups"]]
    rows.append(("**total**", total["runs"], fmt_duration(total["duration_s"], p),
                 fmt_qty(total["energy_kwh"]["total"], "kWh", p),
                 *(fmt_qty(total["co2e_kg"][t], "kgCO2e", p) for t in CO2_TERMS)))
    parts.append(table(header, rows, "lrrrrrrrr", p))
    parts.append("\n## Runs\n\n")
    parts.append(table(("id", "name", doc["by"], "status", "started (UTC)", "duration",
                        "energy", "CO2e", "intensity", "region"),
                       [(f"`{r['id']}`", r["name"], r["group"], r["status"],
                         (r["started_at"] or "")[:19].replace("T", " "),
                         fmt_duration(r["duration_s"], p),
                         fmt_qty(r["energy_kwh"]["total"], "kWh", p),
                         fmt_qty(r["co2e_kg"]["total"], "kgCO2e", p),
                         fmt_qty(r["intensity_mean_g_per_kwh"], "gCO2e/kWh", p), r["region"])
                        for r in doc["runs"]],
                       "llllrrrrrl", p))
    if doc["excluded"]:
        parts.append("\nNot counted: " + ", ".join(f"`{e['id']}` ({e['reason']})"
                                                   for e in doc["excluded"]) + "\n")
    parts.append("\n## Hardware\n\n")
    parts.append(table(("host", "CPU", "GPUs", "runs"),
                       [(h["host"], h["cpu_model"], h["gpus"], h["runs"])
                        for h in doc["hardware"]], "lllr", p))
    parts.append("\n## Assumptions and sources\n\n")
    parts.append(table(("factor", "device / region", "value", "unit", "source", "runs"),
                       project_provenance_rows(doc["assumptions"]), "llrllr", p))
    parts.append("\nEach run's intervals and intensities are in its own appendix "
                 "(`wattprint report RUN --format json`).\n\n")
    parts.append(data_block(doc, "All totals and per-run results (JSON)"))
    return "".join(parts)


def appendix_markdown(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The Markdown of a run or project appendix (by its ``kind``)."""
    if doc["kind"] == "run":
        return run_markdown(doc, precision)
    return project_markdown(doc, precision)


def leaderboard_markdown(board: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The Markdown leaderboard: ranked table with Pareto-front membership marked."""
    p = precision
    name = board["project"] if board["project"] is not None else "all projects"
    better = "higher" if board["maximize"] else "lower"
    cost_names = ", ".join(c["name"] for c in board["costs"])
    parts = [f"# Leaderboard: `{board['metric']}` in project `{name}`\n\n",
             f"Ranked by `{board['metric']}` ({better} is better). **front** marks the Pareto "
             f"front over `{board['metric']}` and {cost_names}: no other run is at least as good "
             "in every dimension and strictly better in one. Dominated runs are marked "
             "*dominated*.\n\n"]
    extra = [c for c in board["costs"] if c["column"] not in
             ("energy_kwh", "co2e_kg", "duration_s", "embodied_kg")]
    weighted = bool(board.get("weights"))
    header = ["rank", "run", "name", board["metric"], "energy", "CO2e", "duration",
              "embodied CO2e", *(c["name"] for c in extra), "Pareto",
              *(["utility"] if weighted else [])]
    rows = [[r["rank"], f"`{r['id']}`", r["name"], r["metric"],
             fmt_qty(r["energy_kwh"], "kWh", p), fmt_qty(r["co2e_kg"], "kgCO2e", p),
             fmt_duration(r["duration_s"], p), fmt_qty(r["embodied_kg"], "kgCO2e", p),
             *(fmt_qty(r[c["column"]], c.get("unit") or "", p) for c in extra),
             "**front**" if r["pareto"] else "*dominated*",
             *([fmt_num(r["utility"], p)] if weighted else [])] for r in board["runs"]]
    parts.append(table(header, rows, "rll" + "r" * (5 + len(extra)) + "l"
                       + ("r" if weighted else ""), p))
    if weighted:
        parts.append("\n" + utility_text(board, p, code=True) + "\n")
    if board["excluded"]:
        parts.append("\n## Excluded\n\n")
        parts.append(table(("run", "name", "reason"),
                           [(f"`{e['id']}`", e["name"], e["reason"]) for e in board["excluded"]]))
    return "".join(parts)


def utility_text(board: Mapping[str, Any], precision: int = DEFAULT_PRECISION, *,
                 code: bool = False) -> str:
    """The weighted utility ranking of a leaderboard made with ``weights``, as one sentence."""
    weights = ", ".join(f"{k}={fmt_num(v, precision)}" for k, v in board["weights"].items())
    ids = [f"`{i}`" if code else str(i) for i in board["utility_ranking"]]
    return (f"By utility ({weights}; each weighted dimension min-max normalised over these "
            "runs; 1 = best), highest first: " + ", ".join(ids) + ". The Pareto front stays "
            "the main answer: one choice of weights hides the trade-offs.")


def compare_cells(row: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> list[str]:
    """The cells of one comparison row: the baseline, then ``value (difference, ×ratio)``.

    Values and differences are shown in the row's unit (:func:`fmt_qty`);
    a run without the quantity is ``—``.
    """
    unit = row["unit"]
    cells = [fmt_qty(row["values"][0], unit, precision)]
    for v, d, q in zip(row["values"][1:], row["diff"][1:], row["ratio"][1:], strict=True):
        if v is None:
            cells.append("—")
            continue
        change = f"{'+' if (d or 0) >= 0 else ''}{fmt_qty(d, unit, precision)}"
        ratio = f", ×{fmt_num(q, precision)}" if q is not None else ""
        cells.append(f"{fmt_qty(v, unit, precision)} ({change}{ratio})")
    return cells


def compare_markdown(cmp: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The Markdown comparison: values per run, and difference and ratio against the first."""
    runs = cmp["runs"]
    header = ["quantity"] + [f"`{r['id']}`" + (f" {r['name']}" if r["name"] else "")
                             for r in runs]
    rows = [[row["quantity"], *compare_cells(row, precision)] for row in cmp["rows"]]
    parts = [f"# Comparison against `{cmp['baseline']}`\n\n",
             "Each later run shows its value, then (difference, ×ratio) against the first.\n\n",
             table(header, rows, "l" + "r" * len(runs), precision)]
    return "".join(parts)


def _share_rules_md(rows: list[dict[str, Any]]) -> str:
    """The share rules applied per device (a fallback named as such)."""
    if not rows:
        return ""
    body = table(
        ("device", "rule applied", "intervals", "seconds", "note"),
        [(r["device"], r["rule"], r["intervals"], r["seconds"],
          "not recorded" if r["intervals"] is None
          else f"fallback from {r['intended']}" if r["fallback"] else "intended")
         for r in rows],
        "llrrl")
    return ("\n### Share rules applied\n\n" + body
            + "\nEach interval counts the share rule it actually followed; a fallback "
            "(no per-process data in that interval, pids in another namespace, the first "
            "CPU-time window) is named as such.\n")


__all__ = ["appendix_markdown", "cell", "code", "compare_cells", "compare_markdown",
           "data_block", "leaderboard_markdown", "project_markdown", "run_markdown", "table",
           "utility_text"]

