"""The standard appendix: everything a reader needs to check a run's energy and carbon.

A paper that reports "training used 12 kWh and emitted 4 kg CO2e" should let
a reviewer see how: on what hardware and software, measured or estimated, by
which attribution rule, at what grid intensity from which data set, with what
PUE and embodied-carbon assumptions -- and recompute every number. This module
builds that appendix as one JSON-ready document (a plain ``dict``); the
renderers (:mod:`wattprint.report.render_md`, :mod:`wattprint.report.render_html`)
turn it into Markdown or a self-contained HTML page, and ``--format json``
prints it as it is. The schema is documented in ``docs/reports.md``.

Two kinds:

* **run** (:func:`run_appendix`): hardware (CPU and GPU models and counts,
  driver when recorded), software (Python, key framework versions, wattprint
  version, the git commit of the user's code), the command, start, end and
  duration, energy per device (measured or estimated, the attribution rule),
  the carbon breakdown (dynamic, idle, infrastructure = energy × (PUE − 1),
  embodied), SCI per functional unit, every assumption with its source (the
  footprint's provenance), and an ``inputs`` block holding every stored
  interval of every device with the grid intensity applied to it, the idle
  power, the PUE and the embodied-carbon parameters. With the formulas in
  :mod:`wattprint.accounting.footprint` (repeated in ``inputs.formulas``),
  those inputs reproduce the footprint exactly.
* **project** (:func:`project_appendix`): the life-cycle totals of a project
  grouped by the runs' life-cycle stage (or name, status, tool), each split into the four terms,
  one row per run, the hardware the runs used, and the distinct assumptions.
  The per-run inputs are in each run's own appendix.

Reading the store and accounting happen here; nothing is written, and the
renderers are pure functions of the returned document. Non-finite numbers
(a footprint of a run without intervals has no mean intensity) become
``null``, so the document is always valid JSON.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from wattprint.accounting.account import (
    AccountedRun,
    AccountingOptions,
    account_run,
    interval_arrays,
    no_intervals,
)
from wattprint.accounting.footprint import embodied_note
from wattprint.accounting.totals import GROUPING_ALIASES, GROUPINGS, resolve_grouping
from wattprint.accounting.uncertainty import with_interval
from wattprint.errors import ConfigError
from wattprint.report.runview import device_rows, node_power_summary, share_rule_rows
from wattprint.store import DeviceRecord, IntervalRecord, RunRecord, Store
from wattprint.time import iso_utc as iso
from wattprint.units import (
    DEFAULT_PRECISION,
    format_duration_s,
    format_in,
    format_number,
    j_to_kwh,
)

logger = logging.getLogger(__name__)

#: Schema identifiers of the JSON documents (bumped on incompatible changes).
RUN_SCHEMA = "wattprint.appendix.run/1"
PROJECT_SCHEMA = "wattprint.appendix.project/1"

#: Called as ``progress(done, total)`` while many runs are accounted.
ProgressFn = Callable[[int, int], None]


#: the footprint's energy terms and carbon terms, in the order reports show them
ENERGY_TERMS = ("dynamic", "idle", "infrastructure", "total")
CO2_TERMS = ("dynamic", "idle", "infrastructure", "embodied", "total")

#: The formulas of :mod:`wattprint.accounting.footprint`, for readers of the JSON.
FORMULAS: dict[str, str] = {
    "counted_j": "attributed_j under process attribution, else energy_j (paused spans excluded)",
    "share": "attributed_j / energy_j under process attribution (1 where energy_j is 0), else 1",
    "idle_j": "min(idle_w × (t_end − t_start) × share, counted_j); 0 when idle_w is null",
    "dynamic_j": "counted_j − idle_j",
    "co2e_g": "kWh (J / 3.6e6) × intensity_g_per_kwh of the same interval",
    "infrastructure": "(dynamic + idle) × (pue − 1), for kWh and for CO2e",
    "embodied_kg": ("Σ devices embodied_kg × embodied_share + node_kg × nodes × node_share, "
                    "each / (lifetime_years × 8760 × utilization) × hours"),
    "sci": "(operational CO2e + embodied CO2e) / units, per functional unit",
}


# ---------------------------------------------------------------------------- formatting


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps(allow_nan=False)`` accepts.

    Non-finite floats become ``None``; numpy scalars and arrays become Python
    numbers and lists; tuples become lists.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fmt_num(value: float | int | None, digits: int = DEFAULT_PRECISION) -> str:
    """A plain number for people: ``digits`` significant figures, ``—`` for a missing value.

    The one number format of the Markdown and HTML reports
    (:func:`wattprint.units.format_number`: separators, never e-notation);
    quantities with a unit go through :func:`fmt_qty`.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return str(value)
    return format_number(value, digits)


def fmt_qty(value: float | int | None, unit: str, precision: int = DEFAULT_PRECISION) -> str:
    """A quantity stored in ``unit`` for people (:func:`~wattprint.units.format_in`), or ``—``.

    ``fmt_qty(4.125, "kWh")`` is ``"4.13 kWh"``, ``fmt_qty(0.4625, "kgCO2e")``
    is ``"463 g"``.
    """
    if value is None or isinstance(value, bool) or (
            isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format_in(value, unit, precision)


def provenance_rows(provenance: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Footprint provenance as table rows: factor, device or region, value, unit, source."""
    rows: list[tuple[Any, ...]] = []
    for p in provenance:
        if p.get("factor") == "grid_intensity":
            detail = ", ".join(str(x) for x in (p.get("dataset"), p.get("year"), p.get("method"),
                                                  p.get("basis"), p.get("licence")) if x)
            source = "; ".join(str(x) for x in (p.get("source"), p.get("citation"),
                                                 p.get("fallback")) if x)
            rows.append(("grid_intensity", p.get("region") or "", detail, "", source))
        else:
            value = None if p.get("factor") == "region" else p.get("value")
            rows.append((p.get("factor"), p.get("device") or "", value,
                         p.get("unit") or "", p.get("source")))
    return rows


def project_provenance_rows(assumptions: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """A project's distinct assumptions as rows: those of :func:`provenance_rows` and runs."""
    listed = list(assumptions)
    return [(*row, a.get("runs")) for row, a in zip(provenance_rows(listed), listed,
                                                     strict=True)]


def phase_rows(phases: Iterable[Mapping[str, Any]], precision: int = DEFAULT_PRECISION
               ) -> list[tuple[Any, ...]]:
    """``run.phase()`` sections as rows: name (indented by depth), start, duration, energy, CO2e.

    Energy is under the run's attribution before PUE; CO2e is operational
    (each interval's share at the intensity applied to it, × PUE).
    """
    rows = []
    for p in phases:
        rows.append(("\u00a0\u00a0" * int(p.get("depth") or 0) + str(p["name"]),
                     (iso(p["t_start"]) or "")[:19].replace("T", " "),
                     fmt_duration(p.get("duration_s"), precision),
                     fmt_qty(p.get("energy_j"), "J", precision),
                     fmt_qty(p.get("co2e_kg"), "kgCO2e", precision)))
    return rows


def pause_rows(pauses: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Pauses of a run as table rows: start and end (UTC), seconds, reason."""
    rows = []
    for p in pauses:
        end = p.get("t_end")
        rows.append((iso(p["t_start"]), iso(end) if end is not None else "(open)",
                     (end - p["t_start"]) if end is not None else None, p.get("reason", "")))
    return rows


def fmt_duration(duration_s: float | None, precision: int = DEFAULT_PRECISION) -> str:
    """A duration for people: ``12.3 s`` below a minute, else ``1:02:05``; ``—`` if missing."""
    if duration_s is None:
        return "—"
    return format_duration_s(duration_s, precision)


def last_metrics(metrics: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The last logged value of each metric (metrics in logging order)."""
    out: dict[str, float] = {}
    for m in metrics:
        out[str(m["name"])] = float(m["value"])
    return out


# ---------------------------------------------------------------------------- pieces


def accounting_block(opts: AccountingOptions, accounted: AccountedRun | None = None
                     ) -> dict[str, Any]:
    """The accounting choices a report was made with (what a reader needs to redo it)."""
    block: dict[str, Any] = {
        "region_requested": opts.region,
        "intensity_file": opts.intensity_file.name if opts.intensity_file else None,
        "method": opts.method,
        "hourly": opts.hourly,
        "pue_requested": opts.pue,
        "embodied": opts.embodied,
    }
    if accounted is not None:
        fp = accounted.footprint
        block.update({
            "region": accounted.region.code,
            "region_label": accounted.region.label,
            "region_how": accounted.region.how,
            "intensity_source": fp.intensity.get("source"),
            "pue": fp.pue,
        })
    return block


def _hardware(run: RunRecord, devices: list[DeviceRecord]) -> dict[str, Any]:
    host: Mapping[str, Any] = run.info.get("host") or {}
    gpu_names = [d.name for d in devices if d.kind == "gpu"] or list(host.get("gpus") or [])
    counts = Counter(gpu_names)
    drivers = sorted({str(d.extra[k]) for d in devices for k in ("driver_version", "driver")
                      if d.kind == "gpu" and d.extra.get(k)})
    driver = host.get("gpu_driver") or (", ".join(drivers) if drivers else None)
    return {
        "recorded": bool(host),
        "host": run.host,
        "cpu_model": host.get("cpu_model"),
        "cpu_logical": host.get("cpu_logical"),
        "cpu_physical": host.get("cpu_physical"),
        "memory_gb": host.get("memory_gb"),
        "gpus": [{"name": n, "count": c} for n, c in sorted(counts.items())],
        "gpu_driver": driver,
        "os": host.get("os"),
        "machine": host.get("machine"),
        "cuda_visible_devices": host.get("cuda_visible_devices"),
    }


def _software(run: RunRecord) -> dict[str, Any]:
    host: Mapping[str, Any] = run.info.get("host") or {}
    packages = dict(host.get("packages") or {})
    return {
        "python": host.get("python"),
        "wattprint": run.info.get("wattprint_version") or packages.get("wattprint"),
        "packages": packages,
        "git": host.get("git"),
    }


def _assumption_values(provenance: list[dict[str, Any]], factor: str) -> dict[str | None, float]:
    return {p.get("device"): float(p["value"]) for p in provenance if p.get("factor") == factor}


def _device_inputs(run: RunRecord, accounted: AccountedRun, devices: list[DeviceRecord],
                   intervals: list[IntervalRecord], opts: AccountingOptions
                   ) -> list[dict[str, Any]]:
    # the intensity account_run applied to each interval (the footprint keeps only
    # their mean, min and max), so the appendix lists exactly what was used
    provenance = accounted.footprint.provenance
    idle = _assumption_values(provenance, "idle_power")
    embodied = _assumption_values(provenance, "embodied")
    process = run.attribution == "process"
    out = []
    by_device = interval_arrays(intervals)
    for device in devices:
        arrays = by_device.get(device.device_id) or no_intervals()
        starts, ends = arrays.starts_s, arrays.ends_s
        whole, attributed = arrays.energy_j, arrays.attributed_j
        ci = accounted.intensities.get(device.device_id, np.zeros_like(starts))
        share = (float(attributed.sum() / whole.sum())
                 if process and whole.sum() > 0 else 1.0)
        out.append({
            "id": device.device_id, "kind": device.kind, "name": device.name,
            "measured": device.measured,
            "idle_w": idle.get(device.device_id),
            "embodied_kg": embodied.get(device.device_id),
            "embodied_share": share if device.device_id in embodied else None,
            "intervals": {"t_start": starts.tolist(), "t_end": ends.tolist(),
                          "energy_j": whole.tolist(), "attributed_j": attributed.tolist(),
                          "intensity_g_per_kwh": np.asarray(ci, dtype=np.float64).tolist()},
        })
    return out


def _embodied_inputs(store: Store, run: RunRecord, accounted: AccountedRun,
                     devices: list[DeviceRecord], opts: AccountingOptions
                     ) -> dict[str, Any] | None:
    emb = accounted.embodied
    if not opts.embodied or emb is None:
        return None
    # exactly the parameters account_run charged with
    return {"hours": accounted.embodied_hours, "lifetime_years": emb.lifetime_years,
            "utilization": emb.utilization, "node_kg": emb.node_kg, "nodes": emb.nodes,
            "node_share": emb.node_share}


def _peak_power_w(intervals: list[IntervalRecord]) -> dict[str, float]:
    peak: dict[str, float] = {}
    for i in intervals:
        dt = i.t_end - i.t_start
        if dt > 0:
            peak[i.device_id] = max(peak.get(i.device_id, 0.0), i.energy_j / dt)
    return peak


def _energy_block(store: Store, run: RunRecord, accounted: AccountedRun,
                  intervals: list[IntervalRecord]) -> dict[str, Any]:
    by_device = {d["id"]: d for d in accounted.footprint.by_device}
    peak = _peak_power_w(intervals)
    key = "attributed_energy_j" if run.attribution == "process" else "energy_j"
    rows = []
    for d in device_rows(store, run):
        fp = by_device.get(d["id"], {})
        rows.append({
            "id": d["id"], "kind": d["kind"], "name": d["name"], "source": d["source"],
            "basis": "measured" if d["measured"] else "estimated", "model": d["model"],
            "share_rule": d["share_rule"], "share_rules": d["share_rules"],
            "energy_j": d["energy_j"],
            "attributed_energy_j": d["attributed_energy_j"], "counted_energy_j": d[key],
            "counted_energy_kwh": j_to_kwh(d[key]), "mean_power_w": d["mean_power_w"],
            "peak_power_w": peak.get(d["id"]), "dynamic_kwh": fp.get("dynamic_kwh"),
            "idle_kwh": fp.get("idle_kwh"),
            "co2e_kg": fp.get("co2e_kg"),
        })
    # the devices accounted: the components, or the BMC's node power (--basis node), never both
    used = {u.device_id for u in accounted.uses}
    counted = [r for r in rows if r["id"] in used]
    counted_j = float(sum(r["counted_energy_j"] for r in counted))
    by_kind: dict[str, float] = {}
    for r in counted:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0.0) + r["counted_energy_kwh"]
    return {"attribution": run.attribution, "counted_energy_j": counted_j,
            "counted_energy_kwh": j_to_kwh(counted_j), "by_kind_kwh": by_kind,
            "devices": rows, "share_rules": share_rule_rows(rows),
            "node_power": node_power_summary(device_rows(store, run)),
            "basis": "node" if any(r["kind"] == "node" for r in counted)
            and node_power_summary(counted) is not None else "components"}


def _notes(run: RunRecord, accounted: AccountedRun, energy: Mapping[str, Any],
           gaps: list[dict[str, Any]]) -> list[str]:
    notes: list[str] = []
    if not run.info.get("host"):
        notes.append("hardware and software facts were not recorded for this run")
    if accounted.region.is_default or accounted.region.hint:
        notes.append(f"region: {accounted.region.label}"
                     + (f"; {accounted.region.hint}" if accounted.region.hint else ""))
    fallback = accounted.footprint.intensity.get("fallback")
    if fallback:
        notes.append(f"intensity: {fallback}")
    dominant = embodied_note(accounted.footprint.co2e_kg)
    if dominant:
        notes.append(dominant)
    estimated = [d["name"] for d in energy["devices"] if d["basis"] == "estimated"]
    if estimated:
        notes.append("estimated by a power model, not measured: " + ", ".join(estimated))
    fallbacks: dict[str, float] = {}
    for r in energy["share_rules"]:
        if r["fallback"] and r["seconds"]:
            fallbacks[r["device"]] = fallbacks.get(r["device"], 0.0) + r["seconds"]
    if fallbacks:
        notes.append("share rule fell back from the intended one for "
                     + ", ".join(f"{name} ({seconds:.1f} s)" for name, seconds in
                                 fallbacks.items())
                     + "; see the share rules applied")
    if gaps:
        lost = sum(g["t_end"] - g["t_start"] for g in gaps)
        notes.append(f"{len(gaps)} gap(s) where a device could not be read, "
                     f"{fmt_duration(lost)} in total; not counted as 0 J, simply not covered")
    if run.status in ("running", "interrupted", "terminated", "failed"):
        notes.append(f"the run is {run.status}")
    return notes


# ---------------------------------------------------------------------------- builders


def uncertainty_text(fp: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str | None:
    """The footprint's p5-p95 interval in words, or ``None`` without one."""
    interval = fp.get("co2e_kg_interval")
    if not interval:
        return None
    u = fp.get("uncertainty") or {}
    widened = (" (widened to include the central value, which skewed inputs put outside the "
               "percentiles)" if u.get("widened_to_central") else "")
    return (f"The total's 5th to 95th percentile is {fmt_qty(interval[0], 'kgCO2e', precision)} "
            f"to {fmt_qty(interval[1], 'kgCO2e', precision)}{widened}: Monte Carlo, "
            f"{u.get('draws', 0):,} draws with seed {u.get('seed')}, over the ranges of the "
            "inputs that were not measured (below); a measured device's energy has none.")


def uncertainty_rows(fp: Mapping[str, Any], precision: int = DEFAULT_PRECISION
                     ) -> list[tuple[str, str, str, str, str]]:
    """Rows of the inputs' ranges: input, shape, low, high (factors on the value), source."""
    ranges = (fp.get("uncertainty") or {}).get("ranges", [])
    return [(r["factor"], r["shape"], fmt_num(r["low"], precision),
             fmt_num(r["high"], precision), r["source"]) for r in ranges]


def run_appendix(store: Store, ref: str, opts: AccountingOptions | None = None
                 ) -> dict[str, Any]:
    """The appendix document of one stored run (schema ``wattprint.appendix.run/1``).

    Args:
        store: the run store.
        ref: run id, unique id prefix, or ``last``.
        opts: accounting options (region, intensity source, method, PUE, embodied).

    Returns:
        The JSON-ready document described in ``docs/reports.md``.

    Raises:
        RunNotFound: no such run.
        RegionError: an unknown region.
        IntensityError: the intensity source cannot be used.
        ConfigError: an invalid PUE.
    """
    opts = opts or AccountingOptions()
    accounted = account_run(store, ref, opts)
    run = accounted.run
    fp = with_interval(accounted.footprint)
    devices = store.devices(run.id)
    intervals = [i for i in store.intervals(run.id) if not i.paused]
    gaps = store.gaps(run.id)
    energy = _energy_block(store, run, accounted, intervals)
    doc: dict[str, Any] = {
        "schema": RUN_SCHEMA,
        "kind": "run",
        "run": {
            "id": run.id, "project": run.project, "name": run.name, "phase": run.phase,
            "status": run.status, "tool": run.tool, "command": run.command, "host": run.host,
            "started_at": iso(run.started_at), "ended_at": iso(run.ended_at),
            "duration_s": run.duration_s, "exit_code": run.exit_code, "error": run.error,
            "interval_s": run.interval_s, "region_recorded": run.region,
        },
        "hardware": _hardware(run, devices),
        "software": _software(run),
        "accounting": accounting_block(opts, accounted),
        "energy": energy,
        "footprint": fp.to_dict(),
        "metrics": last_metrics(store.metrics(run.id)),
        "units": store.units(run.id),
        "tags": store.tags(run.id),
        "phases": accounted.phases,
        "pauses": store.pauses(run.id),
        "gaps": gaps,
        "skipped_sensors": run.info.get("skipped_sensors", []),
        "notes": _notes(run, accounted, energy, gaps),
        "inputs": {
            "attribution": run.attribution,
            "region": accounted.region.code,
            "pue": fp.pue,
            "units": store.units(run.id),
            "devices": _device_inputs(run, accounted, devices, intervals, opts),
            "embodied": _embodied_inputs(store, run, accounted, devices, opts),
            "formulas": dict(FORMULAS),
            "time": "UTC epoch seconds",
            "energy_unit": "J",
            "intensity_unit": "gCO2e/kWh",
        },
    }
    _add_prediction(doc, store, run, energy)
    return dict(json_safe(doc))


def _add_prediction(doc: dict[str, Any], store: Store, run: RunRecord,
                    energy: Mapping[str, Any]) -> None:
    """The run's predictions against its actual figures, and a note when a budget acted."""
    from wattprint.report.runview import predicted_vs_actual, run_energy_j

    found = predicted_vs_actual(store, run, run_energy_j(run, device_rows(store, run)))
    if found is None:
        return
    doc["prediction"] = found
    budget = found.get("budget") or {}
    if budget.get("exceeded"):
        verb = ("the run was stopped by its budget" if run.status == "stopped"
                else "the run's budget warned")
        doc["notes"].append(f"{verb}: {budget['exceeded']}")


#: the columns of the "Predicted and actual" table of the appendix
PREDICTION_COLUMNS = ("after epoch", "energy [95 % interval]", "vs actual", "duration",
                      "CO2e (operational)")


def prediction_table(found: Mapping[str, Any], precision: int = DEFAULT_PRECISION
                     ) -> tuple[str, list[tuple[str, ...]]]:
    """The sentence and rows that show a run's predictions against its actual figures."""
    actual = found["actual"]

    def pct(value: float | None) -> str:
        return "" if value is None else f"{value:+.1%}"

    rows: list[tuple[str, ...]] = []
    for r in found["rows"]:
        lo, hi = r["energy_j_interval"]
        inside = {True: ", inside", False: ", outside", None: ""}[r["energy_j_inside"]]
        co2e = "" if r["co2e_kg"] is None else fmt_qty(r["co2e_kg"], "kg", precision)
        rows.append((str(r["after_epochs"]),
                     f"{fmt_qty(r['energy_j'] / 3.6e6, 'kWh', precision)} "
                     f"[{fmt_qty(lo / 3.6e6, 'kWh', precision)}, "
                     f"{fmt_qty(hi / 3.6e6, 'kWh', precision)}]",
                     pct(r["energy_j_error"]) + inside,
                     fmt_duration(r["duration_s"], precision), co2e))
    done, total = found["epochs"]["done"], found["epochs"]["total"]
    head = (f"Predicted from the first epochs ({done} of {total} run); actual: "
            f"{fmt_qty(actual['energy_j'] / 3.6e6, 'kWh', precision)}, "
            f"{fmt_duration(actual['duration_s'], precision)}"
            + ("" if actual["co2e_kg"] is None else
               f", {fmt_qty(actual['co2e_kg'], 'kg', precision)} CO2e operational")
            + ("." if found["complete"] else
               "; the run ended early, so the actual figures are of the part that ran."))
    return head, rows


def _assumption_key(p: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two runs' assumptions the same one: factor, region, value, unit, source.

    An intensity is one assumption per region *and* per data set, year,
    method and basis, so a DE + FR project lists both regions with their
    own sources and run counts.
    """
    if p.get("factor") == "grid_intensity":
        return tuple(str(p.get(k)) for k in ("factor", "region", "source", "dataset", "year",
                                              "method", "basis", "fallback"))
    return (str(p.get("factor")), repr(p.get("value", p.get("year"))), str(p.get("unit", "")),
            str(p.get("source")))


def _empty_bucket() -> dict[str, Any]:
    return {"runs": 0, "duration_s": 0.0,
            "energy_kwh": dict.fromkeys(ENERGY_TERMS, 0.0),
            "co2e_kg": dict.fromkeys(CO2_TERMS, 0.0)}


def _add(bucket: dict[str, Any], run: RunRecord, fp_energy: Mapping[str, float],
         fp_co2: Mapping[str, float]) -> None:
    bucket["runs"] += 1
    bucket["duration_s"] += run.duration_s or 0.0
    for k in ENERGY_TERMS:
        bucket["energy_kwh"][k] += fp_energy[k]
    for k in CO2_TERMS:
        bucket["co2e_kg"][k] += fp_co2[k]


def project_appendix(store: Store, project: str | None, *, by: str = "stage",
                     opts: AccountingOptions | None = None,
                     progress: ProgressFn | None = None) -> dict[str, Any]:
    """The life-cycle appendix of a project (schema ``wattprint.appendix.project/1``).

    Every finished (or failed, interrupted, imported) run of the project is
    accounted with ``opts`` and summed into groups by ``by``; runs still
    running are listed under ``excluded``.

    Args:
        store: the run store.
        project: project name, or ``None`` for every run in the store.
        by: grouping: ``stage`` (the runs' life-cycle stage; ``phase`` is an
            old alias of it), ``name``, ``status``, ``tool`` or ``project``.
        opts: accounting options applied to every run.
        progress: called as ``progress(done, total)`` after each run.

    Returns:
        The JSON-ready document described in ``docs/reports.md``.

    Raises:
        ConfigError: an unknown grouping, or an invalid PUE.
        RegionError: an unknown region.
        IntensityError: the intensity source cannot be used for some run.
    """
    if by not in GROUPINGS:
        raise ConfigError(f"cannot group a report by {by!r}; use --by with one of "
                          f"{', '.join(g for g in GROUPINGS if g not in GROUPING_ALIASES)}")
    by, by_note = resolve_grouping(by)
    opts = opts or AccountingOptions()
    key_of = GROUPINGS[by]
    records = sorted(store.runs(project), key=lambda r: (r.started_at, r.id))
    groups: dict[str, dict[str, Any]] = {}
    total = _empty_bucket()
    rows: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    hardware: dict[tuple[str, str, str], int] = {}
    assumptions: dict[tuple[str, ...], dict[str, Any]] = {}
    if progress is not None:
        progress(0, len(records))
    for done, run in enumerate(records, start=1):
        if run.status == "running":
            excluded.append({"id": run.id, "name": run.name, "reason": "still running"})
        else:
            accounted = account_run(store, run.id, opts)
            fp = accounted.footprint
            key = key_of(run)
            _add(groups.setdefault(key, _empty_bucket()), run, fp.energy_kwh, fp.co2e_kg)
            _add(total, run, fp.energy_kwh, fp.co2e_kg)
            rows.append({
                "id": run.id, "name": run.name, "phase": run.phase, "status": run.status,
                "tool": run.tool, "group": key, "started_at": iso(run.started_at),
                "duration_s": run.duration_s, "energy_kwh": dict(fp.energy_kwh),
                "co2e_kg": dict(fp.co2e_kg), "region": accounted.region.code,
                "intensity_mean_g_per_kwh": fp.intensity.get("mean_g_per_kwh"),
                "pue": fp.pue,
            })
            host = run.info.get("host") or {}
            gpus = ", ".join(f"{c} × {n}" for n, c in
                             sorted(Counter(host.get("gpus") or []).items())) or "none"
            hw_key = (run.host, str(host.get("cpu_model") or "not recorded"), gpus)
            hardware[hw_key] = hardware.get(hw_key, 0) + 1
            for p in fp.provenance:
                if p.get("factor") == "energy":
                    continue
                a_key = _assumption_key(p)
                if a_key not in assumptions:
                    entry = {k: v for k, v in p.items() if k != "device"}
                    entry["runs"] = 0
                    assumptions[a_key] = entry
                assumptions[a_key]["runs"] += 1
        if progress is not None:
            progress(done, len(records))
    doc: dict[str, Any] = {
        "schema": PROJECT_SCHEMA,
        "kind": "project",
        "project": project,
        "by": by,
        "by_note": by_note,
        "accounting": accounting_block(opts),
        "groups": [{"key": k, **v} for k, v in sorted(groups.items())],
        "total": total,
        "runs": rows,
        "excluded": excluded,
        "hardware": [{"host": h, "cpu_model": c, "gpus": g, "runs": n}
                     for (h, c, g), n in sorted(hardware.items())],
        "assumptions": list(assumptions.values()),
        "formulas": dict(FORMULAS),
    }
    return dict(json_safe(doc))


__all__ = [
    "FORMULAS",
    "PROJECT_SCHEMA",
    "RUN_SCHEMA",
    "ProgressFn",
    "accounting_block",
    "fmt_duration",
    "fmt_num",
    "fmt_qty",
    "json_safe",
    "last_metrics",
    "phase_rows",
    "project_appendix",
    "project_provenance_rows",
    "run_appendix",
]
