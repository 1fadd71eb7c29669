"""Distributed jobs in the store: the runs of one job, summed by node, rank and device.

Every rank of a job writes its own run, linked to the job by the columns of
migration 3 (``job_id``, ``job_node``, ``job_rank``, ...; see
:mod:`wattprint.distributed`). Each device's intervals are written by the one
process that measured them, so a job's energy is the plain sum of its runs'
intervals: by node, by rank (who measured), by device (a device id is per
node: ``node/rapl:package-0``). The sums run in SQL, so a job of a million
intervals is summed without loading them.

A job's **status** is judged from its runs: ``running`` while a run is (on a
node whose runs still write), ``finished`` (or ``failed`` when a rank failed)
once every rank is gone, and ``partial`` when a node's runs ended without
stopping (``interrupted``, or ``running`` on a node silent for
:data:`STALE_INTERVALS` sampling intervals while the job's other nodes have
finished): what was measured is kept and summed all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wattprint.errors import RunNotFound

if TYPE_CHECKING:
    from wattprint.store.base import Store

__all__ = ["STALE_INTERVALS", "JobMember", "JobSummary", "job_members", "job_runs",
           "job_status", "job_totals", "jobs", "resolve_job", "running_jobs", "summary"]

#: a running run silent this many of its intervals, in a job whose other nodes ended, is dead
STALE_INTERVALS = 30.0


@dataclass(frozen=True)
class JobMember:
    """One run of a job: where it ran and which rank it was."""

    run_id: str
    node: str | None
    rank: int | None
    local_rank: int | None
    world_size: int | None
    launcher: str | None
    status: str
    started_at: float
    ended_at: float | None
    region: str | None
    interval_s: float


@dataclass
class JobSummary:
    """A job's totals.

    Attributes:
        job_id: the job.
        status: ``running``, ``finished``, ``failed`` or ``partial``.
        nodes: node names, sorted.
        ranks: distinct ranks (runs without a rank not counted).
        runs: number of runs.
        started_at: the first run's start (UTC epoch seconds).
        ended_at: the last end (``None`` while running).
        energy_j: whole-device energy of every device, measured once.
        attributed_j: the tracked processes' share.
        launcher: what named the job.
        dead_nodes: nodes whose runs ended without stopping.
    """

    job_id: str
    status: str
    nodes: list[str]
    ranks: int
    runs: int
    started_at: float
    ended_at: float | None
    energy_j: float
    attributed_j: float
    launcher: str | None
    dead_nodes: list[str] = field(default_factory=list)

    @property
    def wall_s(self) -> float | None:
        """The job's wall-clock span, first start to last end."""
        return None if self.ended_at is None else self.ended_at - self.started_at


def job_runs(store: Store, job_id: str) -> list[str]:
    """Ids of the runs linked to a job, oldest first."""
    return [str(r[0]) for r in store._read(
        "SELECT id FROM runs WHERE job_id = ? ORDER BY started_at, id", (job_id,))]


def resolve_job(store: Store, ref: str) -> str:
    """A job id from an exact id, a unique prefix, or ``last`` (each may start ``job:``).

    Raises:
        RunNotFound: no job matches, or a prefix matches several.
    """
    if ref.startswith("job:") and store._read_one(
            "SELECT 1 FROM runs WHERE job_id = ?", (ref,)) is None:
        ref = ref[len("job:"):]  # the prefix that marks a job, not part of its id
    if ref == "last":
        row = store._read_one("SELECT job_id FROM runs WHERE job_id IS NOT NULL "
                              "ORDER BY started_at DESC LIMIT 1", ())
        if row is None:
            raise RunNotFound("the store has no jobs yet")
        return str(row[0])
    if store._read_one("SELECT 1 FROM runs WHERE job_id = ?", (ref,)) is not None:
        return ref
    pattern = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = store._read("SELECT DISTINCT job_id FROM runs WHERE job_id LIKE ? ESCAPE '\\' "
                       "LIMIT 3", (pattern,))
    if not rows:
        raise RunNotFound(f"no run or job {ref!r} in {store.where}; list jobs with "
                          "`wattprint jobs`")
    if len(rows) > 1:
        raise RunNotFound(f"job id prefix {ref!r} is ambiguous; give more characters")
    return str(rows[0][0])


def job_members(store: Store, job_id: str) -> list[JobMember]:
    """The runs of a job with their node and rank, statuses judged as readers see them.

    One read of the job's run rows (by the ``runs_job`` index); each row's
    values are checked as :meth:`~wattprint.store.Store.run` checks them.
    """
    out = []
    for row in store._read("SELECT * FROM runs WHERE job_id = ? ORDER BY started_at, id",
                           (job_id,)):
        run = store._run_from_row(row)
        out.append(JobMember(run.id, row["job_node"], row["job_rank"], row["job_local_rank"],
                             row["job_world_size"], row["job_launcher"], run.status,
                             run.started_at, run.ended_at, run.region, run.interval_s))
    return out


def job_totals(store: Store, job_id: str) -> list[dict[str, Any]]:
    """Energy summed in SQL per (node, rank, run, device), paused spans excluded.

    The intervals are summed per (run, device) first, read in the order of
    the covering index of migration 4 (``intervals_totals``), and only those
    few sums are joined to their runs and devices.

    Returns:
        Rows with ``node``, ``rank``, ``run_id``, ``device_id``, ``kind``,
        ``name``, ``measured``, ``energy_j``, ``attributed_j``, ``covered_s``,
        ``intervals``, ``t_start``, ``t_end``.
    """
    rows = store._read(
        "SELECT r.job_node, r.job_rank, r.id, t.device_id, d.kind, d.name, d.measured,"
        " t.energy_j, t.attributed_j, t.covered_s, t.n, t.t0, t.t1"
        " FROM (SELECT run_id, device_id, SUM(energy_j) AS energy_j,"
        " SUM(attributed_j) AS attributed_j, SUM(t_end - t_start) AS covered_s,"
        " COUNT(*) AS n, MIN(t_start) AS t0, MAX(t_end) AS t1 FROM intervals"
        " WHERE run_id IN (SELECT id FROM runs WHERE job_id = ?) AND paused = 0"
        " GROUP BY run_id, device_id) t"
        " JOIN runs r ON r.id = t.run_id"
        " LEFT JOIN devices d ON d.run_id = t.run_id AND d.device_id = t.device_id"
        " ORDER BY r.job_node, r.job_rank, t.device_id, r.id", (job_id,))
    return [{"node": r[0], "rank": r[1], "run_id": r[2], "device_id": r[3], "kind": r[4],
             "name": r[5], "measured": bool(r[6]), "energy_j": float(r[7]),
             "attributed_j": float(r[8]), "covered_s": float(r[9]), "intervals": int(r[10]),
             "t_start": float(r[11]), "t_end": float(r[12])} for r in rows]


def job_status(members: Sequence[JobMember]) -> tuple[str, list[str]]:
    """The job's status and its dead nodes (see the module docstring)."""
    ended = [m.ended_at for m in members if m.ended_at is not None]
    last_end = max(ended) if ended else None
    by_node: dict[str, list[JobMember]] = {}
    for m in members:
        by_node.setdefault(m.node or "?", []).append(m)
    dead: list[str] = []
    running = False
    for node, runs in by_node.items():
        if all(m.status == "interrupted" for m in runs):
            dead.append(node)
            continue
        live = [m for m in runs if m.status == "running"]
        if not live:
            continue
        others_done = last_end is not None and all(
            m.status != "running" for n, rs in by_node.items() if n != node for m in rs)
        silent = last_end is not None and all(
            last_end - m.started_at > STALE_INTERVALS * m.interval_s for m in live)
        if others_done and silent and len(by_node) > 1:
            dead.append(node)
        else:
            running = True
    if running:
        return "running", sorted(dead)
    if dead:
        return "partial", sorted(dead)
    if any(m.status in ("failed", "terminated", "interrupted") for m in members):
        return "failed", []
    return "finished", []


def jobs(store: Store, limit: int | None = None) -> list[JobSummary]:
    """Every job in the store, newest first, with its totals."""
    sql = ("SELECT job_id, MIN(started_at) AS first FROM runs WHERE job_id IS NOT NULL"
           " GROUP BY job_id ORDER BY first DESC")
    args: list[Any] = []
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [summary(store, str(r[0])) for r in store._read(sql, args)]


def summary(store: Store, job_id: str, members: Sequence[JobMember] | None = None,
            totals: Sequence[dict[str, Any]] | None = None) -> JobSummary:
    """One job's totals.

    Args:
        store: the store.
        job_id: the job.
        members: its :func:`job_members`, when already read.
        totals: its :func:`job_totals`, when already read (the energy is their sum).

    Raises:
        RunNotFound: no such job.
    """
    members = list(members) if members is not None else job_members(store, job_id)
    if not members:
        raise RunNotFound(f"no job {job_id!r} in {store.where}")
    if totals is not None:
        energy_j = sum(float(r["energy_j"]) for r in totals)
        attributed_j = sum(float(r["attributed_j"]) for r in totals)
    else:
        row = store._read_one(
            "SELECT SUM(energy_j), SUM(attributed_j) FROM intervals WHERE run_id IN"
            " (SELECT id FROM runs WHERE job_id = ?) AND paused = 0", (job_id,))
        energy_j = float(row[0] or 0.0) if row else 0.0
        attributed_j = float(row[1] or 0.0) if row else 0.0
    status, dead = job_status(members)
    ends = [m.ended_at for m in members]
    return JobSummary(
        job_id=job_id, status=status,
        nodes=sorted({m.node or "?" for m in members}),
        ranks=len({m.rank for m in members if m.rank is not None}), runs=len(members),
        started_at=min(m.started_at for m in members),
        ended_at=None if status == "running" or all(e is None for e in ends)
        else max(e for e in ends if e is not None),
        energy_j=energy_j, attributed_j=attributed_j,
        launcher=next((m.launcher for m in members if m.launcher), None), dead_nodes=dead)


def running_jobs(store: Store, host: str) -> dict[int, str]:
    """``pid -> job id`` of the runs of a job still ``running`` on ``host``.

    What the node agent reads to put a process under its tracked run's job
    (:mod:`wattprint.serve.jobs`), on either backend.
    """
    rows = store._read("SELECT pid, job_id FROM runs WHERE status = 'running' AND"
                       " job_id IS NOT NULL AND host = ? AND pid IS NOT NULL", (host,))
    return {int(r[0]): str(r[1]) for r in rows}
