"""A stored run as one JSON-ready document (the shape of ``wattprint show --json``).

Keys: ``id, project, name, phase, status, started_at, ended_at, duration_s,
exit_code, attribution, energy_j`` (the run's total under its attribution),
``energy_kwh``, ``intervals`` (count), ``metrics``, ``units``, ``phases``,
``pauses``, ``gaps``, ``tags``, ``command``, ``host``, ``region``, ``tool`` and
``devices[]`` with each device's ``id, kind, name, source, measured, model,
share_rule, share_rules, energy_j, attributed_energy_j, mean_power_w, extra``,
and ``node_power`` (``None`` unless a BMC measured the node: ``node_j``,
``components_j``, ``other_j``, ``other_share``, ``bmc_window_s``; see
:func:`node_power_summary`). The BMC's node power contains the components, so
it is never part of ``energy_j``. Times are ISO 8601 UTC strings.

``share_rule`` is the rule the device was meant to follow; ``share_rules``
counts the rules actually applied, interval by interval, fallbacks included:
``{rule: {"intervals": n, "seconds": s}}`` (empty when the run did not stop
cleanly, or was recorded before the counts were kept).

A run that predicted itself from its first epochs also has ``prediction``:
every forecast beside the actual figures (:func:`predicted_vs_actual`).
"""

from __future__ import annotations

from typing import Any

from wattprint.records import RUN_INFO_SHARE_RULES, is_node_power
from wattprint.store import RunRecord, Store
from wattprint.time import iso_utc as iso
from wattprint.units import j_to_kwh


def device_rows(store: Store, run: RunRecord) -> list[dict[str, Any]]:
    """Per-device energies of a stored run."""
    totals = store.device_totals(run.id)
    applied = run.info.get(RUN_INFO_SHARE_RULES)
    applied = applied if isinstance(applied, dict) else {}
    rows = []
    for device in store.devices(run.id):
        energy_j, attributed_j, covered_s, _ = totals.get(device.device_id, (0.0, 0.0, 0.0, 0))
        rows.append({
            "id": device.device_id, "kind": device.kind, "name": device.name,
            "source": device.source, "measured": device.measured, "model": device.model,
            "share_rule": device.share_rule,
            "share_rules": dict(applied.get(device.device_id) or {}), "energy_j": energy_j,
            "attributed_energy_j": attributed_j,
            "mean_power_w": energy_j / covered_s if covered_s > 0 else 0.0,
            "extra": dict(device.extra),
        })
    return rows


def share_rule_rows(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The share rules applied per device, one row per device and rule.

    Args:
        devices: rows of :func:`device_rows`.

    Returns:
        Rows ``device, device_id, intended, rule, intervals, seconds,
        fallback`` (``fallback``: the rule is not the intended one), the
        rules of a device by seconds, most first. A device whose counts were
        not recorded has one row with its intended rule and ``None`` counts.
    """
    rows: list[dict[str, Any]] = []
    for d in devices:
        base = {"device": d["name"], "device_id": d["id"], "intended": d["share_rule"]}
        counts = d.get("share_rules") or {}
        if not counts:
            rows.append(base | {"rule": d["share_rule"], "intervals": None, "seconds": None,
                                "fallback": False})
            continue
        for rule, c in sorted(counts.items(), key=lambda kv: (-kv[1]["seconds"], kv[0])):
            rows.append(base | {"rule": rule, "intervals": c["intervals"],
                                "seconds": c["seconds"], "fallback": rule != d["share_rule"]})
    return rows


def run_energy_j(run: RunRecord, devices: list[dict[str, Any]]) -> float:
    """A run's total energy under its attribution rule (the BMC's node power is not added)."""
    key = "attributed_energy_j" if run.attribution == "process" else "energy_j"
    return float(sum(d[key] for d in devices if not is_node_power(d["kind"], d["source"])))


def node_power_summary(devices: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The node's wall power beside its components, or ``None`` when no BMC measured it.

    ``other_j = node_j − components_j``: what the node drew beyond the CPU,
    memory and GPUs (fans, power-supply loss, disks, NICs, the board). All
    whole-device energies; node power is never added to the components.

    Returns:
        ``{"node_j", "components_j", "other_j", "other_share", "devices",
        "bmc_window_s"}``.
    """
    node = [d for d in devices if is_node_power(d["kind"], d["source"])]
    if not node:
        return None
    node_j = float(sum(d["energy_j"] for d in node))
    components_j = float(sum(d["energy_j"] for d in devices
                             if not is_node_power(d["kind"], d["source"])))
    windows = [d.get("extra", {}).get("bmc_window_s") for d in node]
    return {"node_j": node_j, "components_j": components_j, "other_j": node_j - components_j,
            "other_share": (node_j - components_j) / node_j if node_j > 0 else None,
            "devices": [d["id"] for d in node],
            "bmc_window_s": next((float(w) for w in windows if w), None)}


#: how the part of node power the components do not explain is named everywhere
OTHER_LABEL = "other (fans, PSU loss, disks, NICs) = node − (CPU + DRAM + GPU)"


def node_power_lines(node: dict[str, Any], precision: int = 3) -> list[str]:
    """``node_power_summary`` in words: the node beside its components, and the rest."""
    from wattprint.units import format_energy_j

    lines = [f"node power (BMC, contains the devices above, not added to the total): "
             f"{format_energy_j(node['node_j'], precision)}"]
    share = node.get("other_share")
    lines.append(f"{OTHER_LABEL}: {format_energy_j(node['other_j'], precision)}"
                 + (f" ({share * 100:.{max(precision - 1, 1)}g} % of node)"
                    if share is not None else ""))
    if node.get("bmc_window_s") is not None:
        lines.append(f"BMC averaging window: {node['bmc_window_s']:g} s")
    return lines


def run_document(store: Store, ref: str) -> dict[str, Any]:
    """The JSON document of one stored run."""
    run = store.run(ref)
    devices = device_rows(store, run)
    energy_j = run_energy_j(run, devices)
    with_intervals = store.intervals(run.id)
    return {
        "id": run.id,
        "project": run.project,
        "name": run.name,
        "phase": run.phase,
        "status": run.status,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "duration_s": run.duration_s,
        "exit_code": run.exit_code,
        "attribution": run.attribution,
        "energy_j": energy_j,
        "energy_kwh": j_to_kwh(energy_j),
        "intervals": len(with_intervals),
        "interval_s": run.interval_s,
        "metrics": store.metrics(run.id),
        "units": store.units(run.id),
        "phases": store.phases(run.id),
        "pauses": store.pauses(run.id),
        "gaps": store.gaps(run.id),
        "tags": store.tags(run.id),
        "idle": {d: {"power_w": p, "method": m} for d, (p, m) in store.idle(run.id).items()},
        "command": run.command,
        "host": run.host,
        "region": run.region,
        "tool": run.tool,
        "error": run.error,
        "devices": devices,
        "node_power": node_power_summary(devices),
        "skipped_sensors": run.info.get("skipped_sensors", []),
        "wattprint_version": run.info.get("wattprint_version"),
        **_prediction_key(store, run, energy_j),
    }


def _prediction_key(store: Store, run: RunRecord, energy_j: float) -> dict[str, Any]:
    found = predicted_vs_actual(store, run, energy_j)
    return {} if found is None else {"prediction": found}


def predicted_vs_actual(store: Store, run: RunRecord, energy_j: float) -> dict[str, Any] | None:
    """A run's predictions beside what it actually took, or ``None`` when it made none.

    The actual carbon is accounted as the predictions were (operational:
    energy × PUE × the intensity the prediction used, over the run's real
    span), so the two compare. ``complete`` is false when the run ended
    before its last epoch (stopped by its budget, failed, interrupted): the
    actual figures are then of the part that ran.

    Returns:
        ``{"predictions": [...], "actual": {...}, "complete": bool,
        "epochs": {...}, "budget": {...} | None, "rows": [...]}``; each row
        gives a prediction's central values and intervals, its error against
        the actual figures (``predicted / actual - 1``) and whether its
        interval holds them.
    """
    predictions = store.predictions(run.id)
    if not predictions:
        return None
    recorded = run.info.get("epochs")
    epochs: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    total = int(predictions[-1]["total_epochs"])
    done = int(epochs.get("done", predictions[-1]["after_epochs"]))
    duration_s = run.duration_s
    actual: dict[str, Any] = {"epochs": done, "duration_s": duration_s, "energy_j": energy_j,
                              "co2e_kg": _actual_co2e_kg(predictions[-1], run, energy_j)}
    complete = done >= total and run.status in ("finished", "imported")
    rows = []
    for p in predictions:
        row: dict[str, Any] = {"after_epochs": p["after_epochs"], "made_at": iso(p["made_at"])}
        for key in ("energy_j", "duration_s", "co2e_kg"):
            value, interval, real = p.get(key), p.get(f"{key}_interval"), actual[key]
            row[key] = value
            row[f"{key}_interval"] = interval
            row[f"{key}_error"] = (value / real - 1.0 if value is not None and real
                                   and complete else None)
            row[f"{key}_inside"] = (bool(interval[0] <= real <= interval[1])
                                    if interval is not None and real is not None and complete
                                    else None)
        row["budget"] = p.get("budget")
        rows.append(row)
    budget = run.info.get("budget")
    return {"predictions": predictions, "actual": actual, "complete": complete,
            "epochs": {"done": done, "total": total,
                       "predict_after": epochs.get("predict_after")},
            "budget": budget if isinstance(budget, dict) else None, "rows": rows}


def _actual_co2e_kg(latest: dict[str, Any], run: RunRecord, energy_j: float) -> float | None:
    """The run's operational carbon on the prediction's basis (``None`` if it had none)."""
    carbon = latest.get("carbon") or {}
    if not carbon.get("region") or run.duration_s is None:
        return None
    try:
        from wattprint.decide.predict import actual_carbon_kg

        return actual_carbon_kg(energy_j, started_at_s=run.started_at,
                                duration_s=run.duration_s, region=str(carbon["region"]),
                                pue=float(carbon.get("pue") or 1.0))
    except Exception:  # carbon is a nicety beside energy and time
        return None


def prediction_lines(found: dict[str, Any], precision: int = 3) -> list[str]:
    """The predictions of a run against its actual figures, as lines for ``show``."""
    from wattprint.units import format_duration_s, format_energy_j, format_mass_kg

    def pct(value: float | None) -> str:
        return "" if value is None else f" ({value:+.1%})"

    def inside(flag: bool | None) -> str:
        return "" if flag is None else (" inside" if flag else " OUTSIDE")

    actual = found["actual"]
    head = (f"predictions ({found['epochs']['done']} of {found['epochs']['total']} epochs run"
            + ("" if found["complete"] else "; the run ended early, so the actual figures "
               "are of the part that ran") + "):")
    lines = [head]
    for r in found["rows"]:
        e_lo, e_hi = r["energy_j_interval"]
        text = (f"  after epoch {r['after_epochs']}: energy "
                f"{format_energy_j(r['energy_j'], precision)} [{format_energy_j(e_lo, precision)}"
                f", {format_energy_j(e_hi, precision)}]{pct(r['energy_j_error'])}"
                f"{inside(r['energy_j_inside'])}; duration "
                f"{format_duration_s(r['duration_s'], precision)}{pct(r['duration_s_error'])}")
        if r["co2e_kg"] is not None:
            text += (f"; {format_mass_kg(r['co2e_kg'], precision)} CO2e"
                     f"{pct(r['co2e_kg_error'])}")
        lines.append(text + (f"; budget: {r['budget']}" if r["budget"] else ""))
    carbon = ("" if actual["co2e_kg"] is None else
              f", {format_mass_kg(actual['co2e_kg'], precision)} CO2e (operational)")
    lines.append(f"  actual: energy {format_energy_j(actual['energy_j'], precision)}, duration "
                 f"{format_duration_s(actual['duration_s'] or 0.0, precision)}{carbon}")
    budget = found.get("budget")
    if budget and budget.get("exceeded"):
        verb = "warned" if budget.get("action") == "warn" else "stopped the run"
        lines.append(f"  budget {verb}: {budget['exceeded']}")
    return lines
