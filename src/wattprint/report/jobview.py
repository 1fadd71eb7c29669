"""The document of one distributed job: totals, by node, by rank, by device.

Energy comes from :mod:`wattprint.store.jobs` (summed in SQL, every device
measured once); carbon is each measuring run accounted on its own (its
node's region, its hours) and summed, so nodes in different places are each
accounted where they are. Metrics and units are rank 0's (or the lowest
rank that logged any) unless another rank is asked for.
"""

from __future__ import annotations

from typing import Any

from wattprint.store import Store
from wattprint.store.jobs import job_members, job_totals, summary
from wattprint.time import iso_utc
from wattprint.units import j_to_kwh

__all__ = ["job_document"]


def job_document(store: Store, job_id: str, options: Any = None,
                 metrics_rank: int | None = None) -> dict[str, Any]:
    """Everything ``show JOB --json`` prints.

    Args:
        store: the store.
        job_id: a resolved job id.
        options: :class:`~wattprint.accounting.account.AccountingOptions`.
        metrics_rank: whose metrics and units to show (default rank 0).

    Raises:
        RunNotFound: no such job.
    """
    from wattprint.accounting.account import account_run

    head = summary(store, job_id)
    members = job_members(store, job_id)
    rows = job_totals(store, job_id)
    measuring = sorted({str(r["run_id"]) for r in rows})
    co2e: dict[str, float] = {}
    region: dict[str, str] = {}
    for rid in measuring:
        accounted = account_run(store, rid, options)
        co2e[rid] = float(accounted.footprint.to_dict()["co2e_kg"]["total"])
        region[rid] = accounted.region.code
    by_node: dict[str, dict[str, Any]] = {}
    by_rank: dict[tuple[str, int | None], dict[str, Any]] = {}
    by_device: dict[tuple[str, str], dict[str, Any]] = {}
    for m in members:
        node = m.node or "?"
        by_node.setdefault(node, {"node": node, "regions": [], "energy_j": 0.0, "co2e_kg": 0.0,
                                  "ranks": [], "runs": 0})
        by_node[node]["runs"] += 1
        if m.rank is not None:
            by_node[node]["ranks"].append(m.rank)
        by_rank.setdefault((node, m.rank), {"rank": m.rank, "node": node, "runs": [],
                                            "energy_j": 0.0, "co2e_kg": 0.0, "status": m.status})
        by_rank[(node, m.rank)]["runs"].append(m.run_id)
        by_rank[(node, m.rank)]["co2e_kg"] += co2e.get(m.run_id, 0.0)
        by_node[node]["co2e_kg"] += co2e.get(m.run_id, 0.0)
        if m.run_id in region and region[m.run_id] not in by_node[node]["regions"]:
            by_node[node]["regions"].append(region[m.run_id])
    for r in rows:
        node = str(r["node"] or "?")
        by_node[node]["energy_j"] += r["energy_j"]
        by_rank[(node, r["rank"])]["energy_j"] += r["energy_j"]
        dev = by_device.setdefault((node, str(r["device_id"])), {
            "node": node, "device_id": r["device_id"], "kind": r["kind"], "name": r["name"],
            "measured": r["measured"], "energy_j": 0.0, "covered_s": 0.0, "measured_by": []})
        dev["energy_j"] += r["energy_j"]
        dev["covered_s"] += r["covered_s"]
        if r["rank"] not in dev["measured_by"]:
            dev["measured_by"].append(r["rank"])
    ranked = sorted(members, key=lambda m: (m.rank is None, m.rank or 0, m.started_at))
    chosen = [m for m in ranked if m.rank == metrics_rank] if metrics_rank is not None else [
        m for m in ranked if store.metrics(m.run_id) or store.units(m.run_id)][:1]
    source = chosen[0] if chosen else None
    return {
        "job_id": job_id, "status": head.status, "launcher": head.launcher,
        "nodes": head.nodes, "ranks": head.ranks, "runs": head.runs,
        "started_at": iso_utc(head.started_at),
        "ended_at": iso_utc(head.ended_at) if head.ended_at is not None else None,
        "wall_s": head.wall_s, "energy_j": head.energy_j, "energy_kwh": j_to_kwh(head.energy_j),
        "attributed_j": head.attributed_j, "co2e_kg": sum(co2e.values()),
        "dead_nodes": head.dead_nodes,
        "by_node": sorted(by_node.values(), key=lambda d: d["node"]),
        "by_rank": sorted(by_rank.values(), key=lambda d: (d["rank"] is None, d["rank"] or 0)),
        "by_device": sorted(by_device.values(), key=lambda d: (d["node"], d["device_id"])),
        "metrics_from_rank": source.rank if source else None,
        "metrics": store.metrics(source.run_id) if source else [],
        "units": store.units(source.run_id) if source else {},
    }
