"""The document of one distributed job: totals, by node, by rank, by device.

Energy comes from :mod:`wattprint.store.jobs` (summed in SQL, every device
measured once); carbon is each measuring run accounted on its own (its
node's region, its hours) and summed, so nodes in different places are each
accounted where they are. A node's **embodied** carbon (its server's share)
is charged once per node, not once per measuring run: over the node's
measured wall span (the union of its measuring runs' spans, less their
pauses), at the highest hourly rate any of them charged (they agree unless
process attribution gave them different shares). GPU cards stay with the run
that measured them, for that run's hours. Metrics and units are rank 0's (or the lowest
rank that logged any) unless another rank is asked for.

**Naming a job where a run is expected.** Commands that take a run
(``show``, ``report``, ``account``, ``compare``, ``export --job``) take a job
too; :func:`resolve_target` decides which one an argument names:

1. ``job:<id>`` is always a job (an exact id, a unique prefix, or
   ``job:last`` for the newest job);
2. an argument that is exactly a stored job id (``slurm:4242.0``,
   ``torchelastic:...``, ``run:<run id>``) is that job;
3. otherwise it is a run (an id, a unique prefix, or ``last``), as always;
4. and, when no run matches, a unique prefix of a job id.

A job is **final** once none of its ranks runs: its status is then
``finished``, ``failed`` or ``partial`` (a node whose runs ended without
stopping; what it measured is kept and counted) and its end is the last
end of its runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wattprint.errors import RunNotFound
from wattprint.store import Store
from wattprint.store.jobs import job_members, job_totals, resolve_job, summary
from wattprint.time import iso_utc
from wattprint.units import j_to_kwh

if TYPE_CHECKING:
    from wattprint.accounting.account import AccountedRun, AccountingOptions
    from wattprint.records import RunRecord

__all__ = ["JOB_PREFIX", "JOB_SCHEMA", "is_job_id", "job_document", "job_links", "job_row",
           "resolve_target"]

#: the prefix that makes an argument a job, whatever runs there are
JOB_PREFIX = "job:"
#: schema identifier of the job appendix (``report JOB --format json``)
JOB_SCHEMA = "wattprint.appendix.job/1"

_ENERGY_TERMS = ("dynamic", "idle", "infrastructure", "total")
_CO2_TERMS = ("dynamic", "idle", "infrastructure", "embodied", "total")


def is_job_id(store: Store, ref: str) -> bool:
    """Whether ``ref`` is exactly the id of a stored job."""
    return store._read_one("SELECT 1 FROM runs WHERE job_id = ? LIMIT 1", (ref,)) is not None


def resolve_target(store: Store, ref: str) -> tuple[str, str]:
    """What a RUN|JOB argument names: ``("job", job_id)`` or ``("run", run_id)``.

    See the module docstring for the order.

    Raises:
        RunNotFound: neither a run nor a job matches, or a prefix is ambiguous.
    """
    if ref.startswith(JOB_PREFIX):
        return "job", resolve_job(store, ref)
    if is_job_id(store, ref):
        return "job", ref
    try:
        return "run", store.resolve_id(ref)
    except RunNotFound as not_a_run:
        if ref == "last":
            raise
        try:
            return "job", resolve_job(store, ref)
        except RunNotFound:
            raise not_a_run from None


def _terms(fp: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    return ({t: float(fp["energy_kwh"][t]) for t in _ENERGY_TERMS},
            {t: float(fp["co2e_kg"][t]) for t in _CO2_TERMS})


def job_document(store: Store, job_id: str, options: AccountingOptions | None = None,
                 metrics_rank: int | None = None) -> dict[str, Any]:
    """Everything ``show JOB --json`` prints, and what ``report JOB`` renders.

    Args:
        store: the store.
        job_id: a resolved job id.
        options: :class:`~wattprint.accounting.account.AccountingOptions`.
        metrics_rank: whose metrics and units to show (default rank 0).

    Returns:
        The job's ``job_id, status, final, partial, launcher, nodes, ranks,
        runs, started_at, ended_at, wall_s, energy_j, energy_kwh,
        attributed_j, co2e_kg, footprint`` (energy and carbon terms summed
        over the measuring runs, plus each node's embodied once), ``dead_nodes``,
        ``by_node`` (each with its ``regions``, ``embodied_node_kg`` and
        ``embodied_node_hours``), ``by_rank``, ``by_device``, ``accounted``
        (one entry per measuring run: its node, rank, region and terms, the
        node's embodied left out), ``metrics_from_rank``,
        ``metrics`` and ``units``.

    Raises:
        RunNotFound: no such job.
    """
    from wattprint.accounting.account import account_run

    members = job_members(store, job_id)
    rows = job_totals(store, job_id)
    head = summary(store, job_id, members, rows)
    by_id = {m.run_id: m for m in members}
    measuring = sorted({str(r["run_id"]) for r in rows})
    co2e: dict[str, float] = {}
    region: dict[str, str] = {}
    accounted_runs: list[dict[str, Any]] = []
    energy_kwh = dict.fromkeys(_ENERGY_TERMS, 0.0)
    co2e_kg = dict.fromkeys(_CO2_TERMS, 0.0)
    node_rate: dict[str, float] = {}
    node_spans: dict[str, list[tuple[float, float]]] = {}
    for rid in measuring:
        accounted = account_run(store, rid, options)
        fp = accounted.footprint.to_dict()
        e_terms, c_terms = _terms(fp)
        # the server's share leaves the run: it is charged once per node, below
        rate = _node_rate_kg_per_h(accounted)
        if rate > 0:
            node = by_id[rid].node or "?"
            charged = rate * accounted.embodied_hours
            c_terms["embodied"] -= charged
            c_terms["total"] -= charged
            node_rate[node] = max(node_rate.get(node, 0.0), rate)
            node_spans.setdefault(node, []).extend(_active_spans(store, accounted.run))
        for t in _ENERGY_TERMS:
            energy_kwh[t] += e_terms[t]
        for t in _CO2_TERMS:
            co2e_kg[t] += c_terms[t]
        co2e[rid] = c_terms["total"]
        region[rid] = accounted.region.code
        member = by_id[rid]
        accounted_runs.append({
            "run_id": rid, "node": member.node or "?", "rank": member.rank,
            "region": accounted.region.code, "region_how": accounted.region.how,
            "intensity_g_per_kwh": fp["intensity"]["mean_g_per_kwh"],
            "intensity_source": fp["intensity"]["source"],
            "intensity_method": fp["intensity"]["method"],
            "pue": fp["pue"], "energy_kwh": e_terms, "co2e_kg": c_terms})
    node_embodied: dict[str, tuple[float, float]] = {}
    for node, rate in node_rate.items():
        hours = _union_s(node_spans.get(node, [])) / 3600.0
        node_embodied[node] = (hours, rate * hours)
        co2e_kg["embodied"] += rate * hours
        co2e_kg["total"] += rate * hours
    by_node: dict[str, dict[str, Any]] = {}
    by_rank: dict[tuple[str, int | None], dict[str, Any]] = {}
    by_device: dict[tuple[str, str], dict[str, Any]] = {}
    for m in members:
        node = m.node or "?"
        hours, kg = node_embodied.get(node, (0.0, 0.0))
        by_node.setdefault(node, {"node": node, "regions": [], "energy_j": 0.0, "co2e_kg": kg,
                                  "ranks": [], "runs": 0,
                                  "dead": node in head.dead_nodes,
                                  "embodied_node_kg": kg, "embodied_node_hours": hours})
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
        "job_id": job_id, "status": head.status, "final": head.status != "running",
        "partial": head.status == "partial", "launcher": head.launcher,
        "nodes": head.nodes, "ranks": head.ranks, "runs": head.runs,
        "started_at": iso_utc(head.started_at),
        "ended_at": iso_utc(head.ended_at) if head.ended_at is not None else None,
        "wall_s": head.wall_s, "energy_j": head.energy_j, "energy_kwh": j_to_kwh(head.energy_j),
        "attributed_j": head.attributed_j, "co2e_kg": co2e_kg["total"],
        "footprint": {"energy_kwh": energy_kwh, "co2e_kg": co2e_kg},
        "dead_nodes": head.dead_nodes,
        "by_node": sorted(by_node.values(), key=lambda d: d["node"]),
        "by_rank": sorted(by_rank.values(), key=lambda d: (d["rank"] is None, d["rank"] or 0)),
        "by_device": sorted(by_device.values(), key=lambda d: (d["node"], d["device_id"])),
        "accounted": accounted_runs,
        "metrics_from_rank": source.rank if source else None,
        "metrics": store.metrics(source.run_id) if source else [],
        "units": store.units(source.run_id) if source else {},
    }


def _node_rate_kg_per_h(accounted: AccountedRun) -> float:
    """The server's embodied carbon a run charged per hour (0 without embodied)."""
    params = accounted.embodied
    if params is None or params.node_kg is None:
        return 0.0
    return float(params.per_hour_kg(params.node_kg) * params.nodes * params.node_share)


def _active_spans(store: Store, run: RunRecord) -> list[tuple[float, float]]:
    """A run's span, start to end, less its closed pauses (none for a run without an end)."""
    if run.ended_at is None:
        return []
    spans = [(float(run.started_at), float(run.ended_at))]
    for pause in store.pauses(run.id):
        if pause["t_end"] is None:
            continue
        p0, p1 = float(pause["t_start"]), float(pause["t_end"])
        spans = [piece for a, b in spans
                 for piece in ((a, min(b, p0)), (max(a, p1), b)) if piece[1] > piece[0]]
    return spans


def _union_s(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the union of spans."""
    total = 0.0
    end = float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def job_links(store: Store, run_ids: list[str] | None = None) -> dict[str, str]:
    """The job of each run that belongs to one (``run id -> job id``), of ``run_ids`` or all."""
    rows = store._read("SELECT id, job_id FROM runs WHERE job_id IS NOT NULL", ())
    wanted = None if run_ids is None else set(run_ids)
    return {str(r[0]): str(r[1]) for r in rows if wanted is None or r[0] in wanted}


def job_row(store: Store, job_id: str, options: AccountingOptions | None = None
            ) -> dict[str, Any]:
    """A job as one entry among runs (``leaderboard``, ``compare``).

    Returns:
        ``id`` (the job id), ``name`` and ``phase`` (of its lowest rank's run),
        ``project``, ``status``, ``started_at`` (ISO), ``t`` (epoch seconds),
        ``duration_s`` (the wall span), ``energy_kwh`` and ``co2e_kg`` (the
        summed footprint's terms), ``device_kwh`` (device energy by kind,
        before PUE), ``intensity_g_per_kwh`` (operational carbon over IT
        energy), ``region`` (the nodes' regions, comma-separated),
        ``metrics`` (the last value of each metric of the metrics rank) and
        ``tags`` (that rank's run's tags).
    """
    doc = job_document(store, job_id, options)
    members = job_members(store, job_id)
    ranked = sorted(members, key=lambda m: (m.rank is None, m.rank or 0, m.started_at))
    lead = store.run(ranked[0].run_id)
    source = next((m for m in ranked if m.rank == doc["metrics_from_rank"]), ranked[0])
    last: dict[str, float] = {}
    for m in doc["metrics"]:
        last[str(m["name"])] = float(m["value"])
    device_kwh: dict[str, float] = {}
    for d in doc["by_device"]:
        kind = str(d["kind"] or "other")
        device_kwh[kind] = device_kwh.get(kind, 0.0) + j_to_kwh(d["energy_j"])
    fp = doc["footprint"]
    operational_kg = fp["co2e_kg"]["total"] - fp["co2e_kg"]["embodied"]
    it_kwh = fp["energy_kwh"]["total"] - fp["energy_kwh"]["infrastructure"]
    regions = sorted({r for n in doc["by_node"] for r in n["regions"]})
    started = min(m.started_at for m in members)
    return {"id": job_id, "name": lead.name, "project": lead.project, "phase": lead.phase,
            "status": doc["status"], "started_at": doc["started_at"], "t": started,
            "duration_s": doc["wall_s"], "energy_kwh": fp["energy_kwh"],
            "co2e_kg": fp["co2e_kg"], "device_kwh": device_kwh,
            "intensity_g_per_kwh": (operational_kg * 1000.0 / it_kwh if it_kwh > 0 else None),
            "region": ",".join(regions) or None, "metrics": last,
            "tags": store.tags(source.run_id)}
