"""Runs side by side: energy by device kind, carbon terms, duration and metrics, against the first.

The first run is the baseline. For every quantity each other run gets the
difference (``value − baseline``) and the ratio (``value / baseline``), so
"the mixed-precision run used 0.62× the GPU energy for the same accuracy"
can be read off directly. A ratio is ``null`` where the baseline is 0 or a
value is missing (a run without GPUs has no GPU energy row; a metric one
run never logged).

Quantities, in this order (rows of the ``rows`` list):

* ``duration_s``;
* ``device_kwh.<kind>`` for each device kind in any run, in name order (``cpu``, ``dram``,
  ``gpu``...): the energy counted under each run's attribution rule, before
  PUE;
* ``energy_kwh.dynamic|idle|infrastructure|total``: the footprint's terms;
* ``co2e_kg.dynamic|idle|infrastructure|embodied|total``;
* ``intensity_g_per_kwh``: the mean intensity the run saw;
* ``metric.<name>``: the last logged value of each metric in any run.

All runs are accounted with the same options, so differences come from the
runs, not from the accounting. With ``explain=True`` (two runs) the document
also holds ``explain``: the carbon difference split into exact Shapley
contributions of energy by device kind, grid intensity, PUE and embodied
carbon (:mod:`wattprint.decide.explain`); :func:`explain_project` explains
each run of a project against the project's median run. Each run says which ``tool`` measured it
(``wattprint``, or the peer an imported run came from: comparing tools on one
workload is what imports are for).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from wattprint.accounting.account import AccountedRun, AccountingOptions, account_run
from wattprint.errors import ConfigError
from wattprint.report.appendix import (
    CO2_TERMS,
    ENERGY_TERMS,
    accounting_block,
    json_safe,
    last_metrics,
)
from wattprint.report.runview import device_rows
from wattprint.store import Store
from wattprint.time import iso_utc as iso
from wattprint.units import j_to_kwh

#: Schema identifier of the comparison JSON.
COMPARE_SCHEMA = "wattprint.compare/1"



def _diff_ratio(values: list[float | None]) -> tuple[list[float | None], list[float | None]]:
    base = values[0]
    diffs: list[float | None] = []
    ratios: list[float | None] = []
    for v in values:
        if v is None or base is None:
            diffs.append(None)
            ratios.append(None)
            continue
        diffs.append(v - base)
        ratios.append(v / base if base != 0 and math.isfinite(base) else None)
    return diffs, ratios


def _unit(quantity: str) -> str:
    if quantity == "duration_s":
        return "s"
    if quantity.startswith(("energy_kwh.", "device_kwh.")):
        return "kWh"
    if quantity.startswith("co2e_kg."):
        return "kgCO2e"
    if quantity == "intensity_g_per_kwh":
        return "gCO2e/kWh"
    return ""


def compare_runs(store: Store, refs: Sequence[str], opts: AccountingOptions | None = None,
                 *, explain: bool = False) -> dict[str, Any]:
    """Compare stored runs against the first (schema ``wattprint.compare/1``).

    Args:
        store: the run store.
        refs: two or more run ids, unique prefixes, or ``last``; or jobs (a job id, or
            ``job:ID``), each compared as one entry (``"job": true``).
        opts: accounting options applied to every run.
        explain: add ``explain``, the second run's carbon difference from the
            first split into exact Shapley contributions (two runs only).

    Returns:
        ``{"schema", "baseline", "accounting", "runs": [{"id", "name", "project",
        "phase", "status", "started_at", "duration_s", "attribution", "region",
        "tool"}], "rows":
        [{"quantity", "unit", "values", "diff", "ratio"}]}``; ``values``,
        ``diff`` and ``ratio`` have one entry per run, in the order given;
        with ``explain``, also ``"explain": {"baseline", "run",
        "difference_kg", "co2e_kg", "contributions": [{"factor", "label",
        "co2e_kg", "share", "values", "unit"}], "model"}``.

    Raises:
        ConfigError: fewer than two runs, or ``explain`` with more than two.
        RunNotFound: a run does not exist.
        RegionError: an unknown region.
        IntensityError: the intensity source cannot be used for some run.
    """
    if len(refs) < 2:
        raise ConfigError("compare needs at least two runs: wattprint compare RUN1 RUN2 [RUN3...]")
    if explain and len(refs) != 2:
        raise ConfigError("--explain splits the difference between two runs: give exactly two")
    opts = opts or AccountingOptions()
    accounted_runs: list[AccountedRun] = []
    runs: list[dict[str, Any]] = []
    quantities: list[dict[str, float]] = []
    units: dict[str, str] = {}
    metric_names: list[str] = []
    kinds: list[str] = []
    for ref in refs:
        job = _job_quantities(store, ref, opts)  # a job compares as one entry
        if job is not None:
            runs.append(job[0])
            quantities.append(job[1])
            kinds += [k for k in job[2] if k not in kinds]
            metric_names += [m for m in job[3] if m not in metric_names]
            continue
        accounted = account_run(store, ref, opts)
        accounted_runs.append(accounted)
        run, fp = accounted.run, accounted.footprint
        runs.append({"id": run.id, "name": run.name, "project": run.project, "phase": run.phase,
                     "status": run.status, "started_at": iso(run.started_at),
                     "duration_s": run.duration_s, "attribution": run.attribution,
                     "region": accounted.region.code, "tool": run.tool or "wattprint"})
        values: dict[str, float] = {}
        if run.duration_s is not None:
            values["duration_s"] = run.duration_s
        key = "attributed_energy_j" if run.attribution == "process" else "energy_j"
        for d in device_rows(store, run):
            name = f"device_kwh.{d['kind']}"
            values[name] = values.get(name, 0.0) + j_to_kwh(d[key])
            if d["kind"] not in kinds:
                kinds.append(d["kind"])
        for term in ENERGY_TERMS:
            values[f"energy_kwh.{term}"] = fp.energy_kwh[term]
        for term in CO2_TERMS:
            values[f"co2e_kg.{term}"] = fp.co2e_kg[term]
        values["intensity_g_per_kwh"] = fp.intensity["mean_g_per_kwh"]
        for m, v in last_metrics(store.metrics(run.id)).items():
            values[f"metric.{m}"] = v
            if m not in metric_names:
                metric_names.append(m)
        quantities.append(values)
    order = (["duration_s"] + [f"device_kwh.{k}" for k in sorted(kinds)]
             + [f"energy_kwh.{t}" for t in ENERGY_TERMS]
             + [f"co2e_kg.{t}" for t in CO2_TERMS] + ["intensity_g_per_kwh"]
             + [f"metric.{m}" for m in metric_names])
    for name in order:
        units[name] = _unit(name)
    rows = []
    for name in order:
        vals: list[float | None] = []
        for q in quantities:
            got = q.get(name)
            vals.append(got if got is not None and math.isfinite(got) else None)
        diffs, ratios = _diff_ratio(vals)
        rows.append({"quantity": name, "unit": units[name], "values": vals, "diff": diffs,
                     "ratio": ratios})
    doc = {"schema": COMPARE_SCHEMA, "baseline": runs[0]["id"],
           "accounting": accounting_block(opts), "runs": runs, "rows": rows}
    if explain:
        from wattprint.decide.explain import explain_runs

        doc["explain"] = explain_runs(accounted_runs[0], accounted_runs[1])
    return dict(json_safe(doc))


def _job_quantities(store: Store, ref: str, opts: AccountingOptions
                    ) -> tuple[dict[str, Any], dict[str, float], list[str], list[str]] | None:
    """A job's column (entry, values, device kinds, metric names), or ``None`` for a run.

    A job is named as :func:`~wattprint.report.jobview.resolve_target` says.
    """
    from wattprint.report.jobview import job_row, resolve_target

    what, job_id = resolve_target(store, ref)
    if what != "job":
        return None
    row = job_row(store, job_id, opts)
    entry = {"id": job_id, "name": row["name"], "project": row["project"],
             "phase": row["phase"], "status": row["status"], "started_at": row["started_at"],
             "duration_s": row["duration_s"], "attribution": "machine",
             "region": row["region"], "tool": "wattprint", "job": True}
    values: dict[str, float] = {}
    if row["duration_s"] is not None:
        values["duration_s"] = row["duration_s"]
    for kind, kwh in row["device_kwh"].items():
        values[f"device_kwh.{kind}"] = kwh
    for term in ENERGY_TERMS:
        values[f"energy_kwh.{term}"] = row["energy_kwh"][term]
    for term in CO2_TERMS:
        values[f"co2e_kg.{term}"] = row["co2e_kg"][term]
    if row["intensity_g_per_kwh"] is not None:
        values["intensity_g_per_kwh"] = row["intensity_g_per_kwh"]
    for m, v in row["metrics"].items():
        values[f"metric.{m}"] = v
    return entry, values, list(row["device_kwh"]), list(row["metrics"])


def explain_project(store: Store, project: str, opts: AccountingOptions | None = None
                    ) -> dict[str, Any]:
    """Each ended run of a project explained against the project's median run.

    The median run is the one whose total carbon is the median of the
    project's ended runs (the lower of the two middle runs for an even
    count, so it is always a real run); every other run's difference from
    it is split into exact Shapley contributions (:mod:`wattprint.decide.explain`).

    Args:
        store: the run store.
        project: the project.
        opts: accounting options applied to every run.

    Returns:
        ``{"baseline": median run id, "baseline_co2e_kg", "runs": [explanation
        per other run, as in :func:`compare_runs`' ``explain``, with ``name``]}``;
        ``baseline`` is ``None`` for a project without ended runs.
    """
    from wattprint.decide.explain import explain_runs

    opts = opts or AccountingOptions()
    accounted = [account_run(store, run.id, opts) for run in store.runs(project)
                 if run.status != "running"]
    if not accounted:
        return {"baseline": None, "baseline_co2e_kg": None, "runs": []}
    ordered = sorted(accounted, key=lambda a: (a.footprint.co2e_kg["total"], a.run.started_at,
                                               a.run.id))
    median = ordered[(len(ordered) - 1) // 2]
    runs = [{"name": a.run.name, **explain_runs(median, a)} for a in accounted if a is not median]
    return dict(json_safe({"baseline": median.run.id,
                           "baseline_co2e_kg": median.footprint.co2e_kg["total"],
                           "runs": runs}))


def explain_project_markdown(doc: dict[str, Any], precision: int = 3) -> str:
    """The ``## Explained against the median run`` section of a project report (Markdown)."""
    from wattprint.decide.explain import explain_markdown

    lines = ["## Explained against the median run", ""]
    if doc["baseline"] is None:
        return "\n".join([*lines, "No ended run to explain.", ""])
    lines += [f"Median run: {doc['baseline']}. Each run's carbon difference from it, split into "
              "exact Shapley contributions of its factors.", ""]
    for run in doc["runs"]:
        title = run["run"] + (f" ({run['name']})" if run.get("name") else "")
        lines += [f"### {title}", "", explain_markdown(run, precision)]
    return "\n".join(lines) + "\n"


def explain_project_html(doc: dict[str, Any], precision: int = 3) -> str:
    """The same section as :func:`explain_project_markdown`, as an HTML ``<section>``."""
    from html import escape

    from wattprint.units import format_mass_kg

    parts = ['<section id="explain"><h2>Explained against the median run</h2>']
    if doc["baseline"] is None:
        return parts[0] + "<p>No ended run to explain.</p></section>\n"
    parts.append(f"<p>Median run: {escape(doc['baseline'])}. Each run's carbon difference "
                 "from it, split into exact Shapley contributions of its factors.</p>")
    for run in doc["runs"]:
        parts.append(f"<h3>{escape(run['run'])} {escape(run.get('name') or '')}</h3>"
                     f"<p>difference {escape(format_mass_kg(run['difference_kg'], precision))} "
                     "CO2e</p><table><tr><th>factor</th><th>contribution (CO2e)</th></tr>")
        parts += [f"<tr><td>{escape(c['label'])}</td><td class=\"num\">"
                  f"{escape(format_mass_kg(c['co2e_kg'], precision))}</td></tr>"
                  for c in run["contributions"]]
        parts.append("</table>")
    parts.append("</section>\n")
    return "".join(parts)


__all__ = ["COMPARE_SCHEMA", "compare_runs", "explain_project", "explain_project_html",
           "explain_project_markdown"]
