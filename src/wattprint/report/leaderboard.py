"""Leaderboards: runs ranked by a task metric, with energy, carbon, time and the Pareto front.

A leaderboard answers "which runs buy their accuracy with the least energy?"
For every run of a project it takes the **last logged value** of the task
metric (``run.log_metric("accuracy", ...)``) and the run's costs, ranks the
runs by the metric, and marks the runs on the **Pareto front** over the metric
and the chosen costs (:mod:`wattprint.report.pareto`): a run is on the front
when no other run is at least as good in every dimension and strictly better
in one. Exact duplicates both stay on the front.

Cost dimensions (all minimised):

============  ===============  =========================================================
name          column           meaning
============  ===============  =========================================================
``energy``    ``energy_kwh``   the footprint's total energy, kWh (IT energy × PUE)
``co2e``      ``co2e_kg``      the footprint's total carbon, kgCO2e (operational + embodied)
``duration``  ``duration_s``   wall-clock duration, s
``embodied``  ``embodied_kg``  the embodied (manufacturing) share of the carbon, kgCO2e
any other     the same name    a logged cost of that name (``run.log_cost("usd", 12.5)``
                               or ``wattprint run --cost-tag usd=12.5``, stored as the
                               tag ``cost.usd``: :mod:`wattprint.decide.costs`), else the
                               last logged metric of that name, else a numeric tag
============  ===============  =========================================================

The front is computed over the metric and whichever costs are chosen, so any
subset of dimensions can be examined (``--cost co2e,usd``). ``weights``
(``--weights co2e=1,usd=0.2``) adds a weighted utility to each run and a
second ranking by it (``utility_ranking``): each weighted dimension is
min-max normalised over the ranked runs, 0 the best and 1 the worst, and the
utility is ``1 − Σ w n / Σ w`` (:func:`wattprint.report.pareto.weighted_utility`).
The front stays the main answer: a utility ranking hides the trade-offs
behind one choice of weights.

The runs of a distributed job are one entry, under the job's id (``"job":
true``): the metric of its metrics rank (rank 0 unless only another logged
one), its costs summed over its runs, its wall span as duration.

Runs still running, runs that never logged the metric, and runs without a
value for some cost are not ranked; they are listed under ``excluded`` with
the reason. Ranks are competition ranks on the metric (equal metrics share a
rank; the next rank skips), ties ordered by the first cost, then start time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.decide.costs import COST_TAG_PREFIX
from wattprint.errors import ConfigError
from wattprint.report.appendix import ProgressFn, accounting_block, json_safe, last_metrics
from wattprint.report.pareto import pareto_front, weighted_utility
from wattprint.store import RunRecord, Store
from wattprint.time import iso_utc as iso

logger = logging.getLogger(__name__)

#: Schema identifier of the leaderboard JSON.
LEADERBOARD_SCHEMA = "wattprint.leaderboard/1"

#: Built-in cost dimensions: name -> (column, unit).
COSTS: dict[str, tuple[str, str]] = {
    "energy": ("energy_kwh", "kWh"),
    "co2e": ("co2e_kg", "kgCO2e"),
    "duration": ("duration_s", "s"),
    "embodied": ("embodied_kg", "kgCO2e"),
}

_FIXED = ("id", "name", "phase", "status", "started_at", "rank", "metric", "pareto", "utility",
          "energy_kwh", "co2e_kg", "duration_s", "embodied_kg")


def parse_costs(text: str | Sequence[str]) -> list[str]:
    """Cost names from ``"energy,co2e"`` (or a list), in order, without repeats.

    Raises:
        ConfigError: no cost given, or a name that clashes with a fixed column.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in items:
        name = item.strip()
        if name and name not in names:
            names.append(name)
    if not names:
        raise ConfigError("--cost needs at least one dimension, e.g. --cost energy,co2e")
    for name in names:
        if name not in COSTS and name in _FIXED:
            raise ConfigError(f"--cost {name!r} is a leaderboard column, not a cost; use one of "
                              f"{', '.join(COSTS)} or the name of a metric or tag")
    return names


def parse_weights(text: str | dict[str, float] | None) -> dict[str, float]:
    """Weights from ``"co2e=1,usd=0.2"`` (or a mapping); empty for ``None``.

    Raises:
        ConfigError: an item without ``=``, or a weight that is not a finite
            number >= 0, or weights that are all 0.
    """
    if text is None:
        return {}
    items = text.items() if isinstance(text, dict) else (
        tuple(part.split("=", 1)) if "=" in part else (part, None)
        for part in (p.strip() for p in text.split(",")) if part)
    weights: dict[str, float] = {}
    for name, value in items:
        if value is None:
            raise ConfigError(f"--weights {name!r} must be NAME=WEIGHT, e.g. co2e=1,usd=0.2")
        try:
            weight = float(value)
        except ValueError:
            raise ConfigError(f"--weights {name}={value!r}: the weight is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"--weights {name}={value}: a weight is a finite number >= 0")
        weights[str(name).strip()] = weight
    if weights and not any(w > 0 for w in weights.values()):
        raise ConfigError("--weights are all 0: give at least one positive weight")
    return weights


def _custom_value(name: str, metrics: dict[str, float], tags: dict[str, str]) -> float | None:
    logged = tags.get(COST_TAG_PREFIX + name)
    if logged is not None:
        try:
            return float(logged)
        except ValueError:
            return None
    if name in metrics:
        return metrics[name]
    if name in tags:
        try:
            return float(tags[name])
        except ValueError:
            return None
    return None


def _ranks(metric: np.ndarray) -> list[int]:
    ranks: list[int] = []
    for i, value in enumerate(metric):
        ranks.append(ranks[-1] if i and value == metric[i - 1] else i + 1)
    return ranks


def _entry(store: Store, run: RunRecord, metric: str, cost_specs: list[dict[str, str]],
           opts: AccountingOptions) -> tuple[dict[str, Any] | None, str]:
    """A run's leaderboard row, or ``None`` and the reason it is excluded."""
    if run.status == "running":
        return None, "still running"
    metrics = last_metrics(store.metrics(run.id))
    value = metrics.get(metric)
    if value is None or not math.isfinite(value):
        return None, f"no value of metric {metric!r} logged"
    fp = account_run(store, run.id, opts).footprint
    row: dict[str, Any] = {
        "id": run.id, "name": run.name, "phase": run.phase, "status": run.status,
        "started_at": iso(run.started_at), "_t": run.started_at, "metric": value,
        "energy_kwh": fp.energy_kwh["total"], "co2e_kg": fp.co2e_kg["total"],
        "duration_s": run.duration_s, "embodied_kg": fp.co2e_kg["embodied"],
    }
    tags = store.tags(run.id)
    missing = []
    for spec in cost_specs:
        if spec["name"] not in COSTS:
            row[spec["column"]] = _custom_value(spec["name"], metrics, tags)
        v = row[spec["column"]]
        if v is None or not math.isfinite(float(v)):
            missing.append(spec["name"])
    if missing:
        return None, f"no value for cost {', '.join(missing)}"
    return row, ""


def _job_links(store: Store, run_ids: list[str]) -> dict[str, str]:
    from wattprint.report.jobview import job_links

    return job_links(store, run_ids)


def _job_entry(store: Store, job_id: str, metric: str, cost_specs: list[dict[str, str]],
               opts: AccountingOptions) -> tuple[dict[str, Any] | None, str]:
    """A job's leaderboard row (its metrics rank's metric, its summed costs), or why not."""
    from wattprint.report.jobview import job_row

    job = job_row(store, job_id, opts)
    if job["status"] == "running":
        return None, "job still running"
    value = job["metrics"].get(metric)
    if value is None or not math.isfinite(value):
        return None, f"no value of metric {metric!r} logged by the job's metrics rank"
    row: dict[str, Any] = {
        "id": job_id, "name": job["name"], "phase": job["phase"], "status": job["status"],
        "started_at": job["started_at"], "_t": job["t"], "metric": value,
        "energy_kwh": job["energy_kwh"]["total"], "co2e_kg": job["co2e_kg"]["total"],
        "duration_s": job["duration_s"], "embodied_kg": job["co2e_kg"]["embodied"],
        "job": True}
    missing = []
    for spec in cost_specs:
        if spec["name"] not in COSTS:
            row[spec["column"]] = _custom_value(spec["name"], job["metrics"], job["tags"])
        v = row[spec["column"]]
        if v is None or not math.isfinite(float(v)):
            missing.append(spec["name"])
    if missing:
        return None, f"no value for cost {', '.join(missing)}"
    return row, ""


def leaderboard(store: Store, project: str | None, metric: str, *, maximize: bool = True,
                costs: Sequence[str] = ("energy",), opts: AccountingOptions | None = None,
                progress: ProgressFn | None = None,
                weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The leaderboard of a project's runs (schema ``wattprint.leaderboard/1``).

    Args:
        store: the run store.
        project: project name, or ``None`` for every run.
        metric: the task metric (its last logged value per run).
        maximize: larger metric is better (accuracy); ``False`` for a loss.
        costs: cost dimensions (see the module docstring), all minimised.
        opts: accounting options for energy and carbon.
        progress: called as ``progress(done, total)`` after each run.
        weights: cost name (or the metric's name) -> weight, for a weighted
            utility ranking beside the front (see the module docstring).

    Returns:
        ``{"schema", "project", "metric", "maximize", "costs": [{"name",
        "column", "unit"}], "accounting", "runs": [{"rank", "id", "name",
        "phase", "status", "started_at", "metric", "energy_kwh", "co2e_kg",
        "duration_s", "embodied_kg", <custom costs>, "pareto"}], "front": [ids],
        "excluded": [{"id", "name", "reason"}]}``, runs best first; with
        ``weights`` also ``"weights"``, each run's ``"utility"`` and
        ``"utility_ranking"`` (ids, highest utility first).

    Raises:
        ConfigError: bad cost names, or a weight for a dimension that is
            neither a chosen cost nor the metric.
        RegionError: an unknown region.
        IntensityError: the intensity source cannot be used for some run.
    """
    names = parse_costs(costs)
    cost_specs = [{"name": n, "column": COSTS[n][0] if n in COSTS else n,
                   "unit": COSTS[n][1] if n in COSTS else ""} for n in names]
    weights = dict(weights or {})
    dims = [metric, *names]
    for name in weights:
        if name not in dims:
            raise ConfigError(f"--weights {name}: weigh the metric or a --cost dimension "
                              f"({', '.join(dims)}); add {name} to --cost to weigh it")
    opts = opts or AccountingOptions()
    records = store.runs(project)
    rows: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    if progress is not None:
        progress(0, len(records))
    jobs = _job_links(store, [r.id for r in records])  # a job's runs are one entry
    seen: set[str] = set()
    for done, run in enumerate(records, start=1):
        row = None
        if run.id in jobs and jobs[run.id] not in seen:
            seen.add(jobs[run.id])
            row, reason = _job_entry(store, jobs[run.id], metric, cost_specs, opts)
            if row is None:
                excluded.append({"id": jobs[run.id], "name": run.name, "reason": reason})
        elif run.id not in jobs:
            row, reason = _entry(store, run, metric, cost_specs, opts)
            if row is None:
                excluded.append({"id": run.id, "name": run.name, "reason": reason})
        if row is not None:
            rows.append(row)
        if progress is not None:
            progress(done, len(records))
    if rows:
        table = np.array([[r["metric"]] + [float(r[s["column"]]) for s in cost_specs]
                          for r in rows], dtype=np.float64)
        on_front = pareto_front(table, [maximize] + [False] * len(cost_specs))
        for r, flag in zip(rows, on_front, strict=True):
            r["pareto"] = bool(flag)
        if weights:
            w = [weights.get(metric, 0.0)] + [weights.get(n, 0.0) for n in names]
            utility = weighted_utility(table, [maximize] + [False] * len(cost_specs), w)
            for r, u in zip(rows, utility, strict=True):
                r["utility"] = float(u)
        sign = -1.0 if maximize else 1.0
        rows.sort(key=lambda r: (sign * r["metric"], float(r[cost_specs[0]["column"]]), r["_t"],
                                 r["id"]))
        ranks = _ranks(np.array([r["metric"] for r in rows]))
        for r, rank in zip(rows, ranks, strict=True):
            r["rank"] = rank
    ordered = [{"rank": r["rank"], **{k: v for k, v in r.items() if k not in ("_t", "rank")}}
               for r in rows]
    doc = {
        "schema": LEADERBOARD_SCHEMA,
        "project": project,
        "metric": metric,
        "maximize": maximize,
        "costs": cost_specs,
        "accounting": accounting_block(opts),
        "runs": ordered,
        "front": [r["id"] for r in ordered if r["pareto"]],
        "excluded": excluded,
    }
    if weights:
        doc["weights"] = weights
        doc["utility_ranking"] = [r["id"] for r in sorted(
            ordered, key=lambda r: -r["utility"])]  # stable: ties keep the metric order
    return dict(json_safe(doc))


__all__ = ["COSTS", "LEADERBOARD_SCHEMA", "leaderboard", "parse_costs", "parse_weights"]
