"""A stored run as one JSON-ready document (the shape of ``wattprint show --json``).

Keys: ``id, project, name, phase, status, started_at, ended_at, duration_s,
exit_code, attribution, energy_j`` (the run's total under its attribution),
``energy_kwh``, ``intervals`` (count), ``metrics``, ``units``, ``phases``,
``pauses``, ``gaps``, ``tags``, ``command``, ``host``, ``region``, ``tool`` and
``devices[]`` with each device's ``id, kind, name, source, measured, model,
share_rule, share_rules, energy_j, attributed_energy_j, mean_power_w``. Times
are ISO 8601 UTC strings.

``share_rule`` is the rule the device was meant to follow; ``share_rules``
counts the rules actually applied, interval by interval, fallbacks included:
``{rule: {"intervals": n, "seconds": s}}`` (empty when the run did not stop
cleanly, or was recorded before the counts were kept).
"""

from __future__ import annotations

from typing import Any

from wattprint.records import RUN_INFO_SHARE_RULES
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
    """A run's total energy under its attribution rule."""
    key = "attributed_energy_j" if run.attribution == "process" else "energy_j"
    return float(sum(d[key] for d in devices))


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
        "skipped_sensors": run.info.get("skipped_sensors", []),
        "wattprint_version": run.info.get("wattprint_version"),
    }
