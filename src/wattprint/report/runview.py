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
    }
