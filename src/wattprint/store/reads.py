"""Reading the run store: runs, their devices, intervals and annotations.

Reads never write. A stored value no reader can use (``runs.info`` that is
not JSON, an energy or time outside physical ranges) makes its run skipped
in listings, with a warning, and a :class:`~wattprint.errors.StoreError`
naming the run and the repair when the run is asked for by id. A ``running``
run whose process is provably gone is read as ``interrupted``
(:mod:`wattprint.store.liveness`).

The methods here are those of :class:`wattprint.store.Store` (mixed into it);
they run the same statements on every backend.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from wattprint.errors import RunNotFound, StoreError
from wattprint.records import DeviceRecord, IntervalRecord, RunRecord
from wattprint.store import liveness, spool
from wattprint.store.dialect import Conn, RowLike

log = logging.getLogger("wattprint.store.base")

#: the latest time a stored value may hold (9999-12-31T23:59:59Z)
MAX_TIME_S = 253402300799.0
#: more energy than any device spends in one stored interval (278 GWh)
MAX_ENERGY_J = 1e15

_REPAIR = "run `wattprint store check` to see what is wrong and how to repair it"


def _finite(value: Any, low: float, high: float) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value)
                             and low <= value <= high)


class IntervalSums(NamedTuple):
    """One device's stored intervals summed (paused spans excluded).

    Attributes:
        energy_j: whole-device energy, J.
        attributed_j: the tracked processes' share, J.
        time_s: the intervals' durations summed, s.
        intervals: how many.
        t_start: the first interval's start (UTC epoch seconds).
        t_end: the last interval's end.
        idle_j: the idle part of the counted energy (see :meth:`_Reads.interval_sums`), J.
        dynamic_j: the counted energy less its idle part, summed interval by interval, J.
    """

    energy_j: float
    attributed_j: float
    time_s: float
    intervals: int
    t_start: float
    t_end: float
    idle_j: float
    dynamic_j: float


def _sums_of(intervals: Sequence[IntervalRecord], idle_w: Mapping[str, float],
             attributed: bool) -> dict[str, IntervalSums]:
    """:meth:`_Reads.interval_sums` over intervals already read (a spooling store)."""
    rows: dict[str, list[float]] = {}
    for i in intervals:
        if i.paused:
            continue
        counted = i.attributed_j if attributed else i.energy_j
        share = (i.attributed_j / i.energy_j if i.energy_j > 0 else 1.0) if attributed else 1.0
        power = idle_w.get(i.device_id)
        idle = 0.0 if power is None else min(power * (i.t_end - i.t_start) * share, counted)
        row = rows.setdefault(i.device_id, [0.0, 0.0, 0.0, 0, i.t_start, i.t_end, 0.0, 0.0])
        row[0] += i.energy_j
        row[1] += i.attributed_j
        row[2] += i.t_end - i.t_start
        row[3] += 1
        row[4] = min(row[4], i.t_start)
        row[5] = max(row[5], i.t_end)
        row[6] += idle
        row[7] += counted - idle
    return {d: IntervalSums(r[0], r[1], r[2], int(r[3]), r[4], r[5], r[6], r[7])
            for d, r in rows.items()}


class _Reads:
    """The store's reads (mixed into :class:`wattprint.store.Store`)."""

    _errors: tuple[type[Exception], ...]
    path: Path
    where: str
    _conn: Conn
    _lock: threading.RLock
    _spool: spool.Spool | None
    skipped: list[tuple[str, str]]
    #: ended runs already found clean by :meth:`_bad_values` (cleared on every write)
    _clean_ended: set[str]

    def _read(self, sql: str, args: Sequence[Any], run_id: str | None = None
              ) -> list[RowLike]:
        if self._conn is None:
            raise StoreError(f"the run store at {self.where} cannot be read; {_REPAIR}")
        try:
            with self._lock:
                return self._conn.execute(sql, args).fetchall()
        except self._errors as exc:
            what = f"run {run_id} in " if run_id else ""
            raise StoreError(f"cannot read {what}the run store at {self.where}: {exc}; "
                             f"{_REPAIR}") from exc

    def _read_one(self, sql: str, args: Sequence[Any]) -> RowLike | None:
        rows = self._read(sql, args)
        return rows[0] if rows else None

    def _row_dict(self, row: RowLike) -> dict[str, Any]:
        doc = dict(row)
        doc.setdefault("boot_id", None)
        doc.setdefault("pid_ns", None)
        return doc

    def _run_from_row(self, row: RowLike) -> RunRecord:
        """A run record, with the judged status of a ``running`` run; checks every value."""
        doc = self._row_dict(row)
        rid = doc["id"]
        try:
            info = json.loads(doc["info"])
        except (TypeError, ValueError) as exc:
            raise self._bad(rid, "its info is not JSON") from exc
        if not isinstance(info, dict):
            raise self._bad(rid, "its info is not a JSON object")
        for key in ("started_at", "ended_at"):
            if not _finite(doc[key], 0.0, MAX_TIME_S) or (key == "started_at"
                                                         and doc[key] is None):
                raise self._bad(rid, f"its {key} ({doc[key]!r}) is not a time")
        if not _finite(doc["interval_s"], 0.0, 1e9):
            raise self._bad(rid, f"its interval_s ({doc['interval_s']!r}) is out of range")
        status, ended_at, error = doc["status"], doc["ended_at"], doc["error"]
        if status == "running" and liveness.is_gone(doc):
            last = self._read_one("SELECT MAX(t_end) FROM intervals WHERE run_id = ?", (rid,))
            status = "interrupted"
            ended_at = last[0] if last is not None and last[0] is not None else doc["started_at"]
            error = "the tracking process ended without stopping the run"
        return RunRecord(
            id=rid, project=doc["project"], name=doc["name"], phase=doc["phase"],
            status=status, started_at=doc["started_at"], ended_at=ended_at,
            exit_code=doc["exit_code"], attribution=doc["attribution"],
            interval_s=doc["interval_s"], command=doc["command"], host=doc["host"],
            pid=doc["pid"], region=doc["region"], tool=doc["tool"], error=error, info=info,
        )

    def _bad(self, run_id: str, why: str) -> StoreError:
        return StoreError(f"run {run_id} in {self.where} cannot be read: {why}; {_REPAIR}, or "
                          f"remove it with `wattprint delete {run_id}`")

    def _bad_values(self, ids: Sequence[str]) -> dict[str, str]:
        """Runs among ``ids`` holding values no reader can use, and why.

        An ended run found clean is remembered by this store object (until it
        writes or ingests a spool), so reading it again does not scan its
        intervals again.
        """
        clean = self._clean_ended
        ids = [i for i in ids if i not in clean]
        bad: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            checks = (
                ("intervals", "an interval's energy or time is out of range",
                 f"NOT (energy_j BETWEEN 0 AND {MAX_ENERGY_J} AND attributed_j BETWEEN 0 AND "
                 f"{MAX_ENERGY_J} AND t_start BETWEEN 0 AND {MAX_TIME_S} AND t_end BETWEEN 0 "
                 f"AND {MAX_TIME_S} AND t_end >= t_start)"),
                ("metrics", "a metric value is not a finite number",
                 "NOT (value BETWEEN -1.7e308 AND 1.7e308) OR value IS NULL"),
                ("units", "a unit count is not a finite number",
                 "NOT (count BETWEEN -1.7e308 AND 1.7e308) OR count IS NULL"),
            )
            for table, why, where in checks:
                for row in self._read(f"SELECT DISTINCT run_id FROM {table} WHERE run_id IN "
                                      f"({marks}) AND ({where})", chunk):
                    bad.setdefault(row[0], why)
            clean.update(row[0] for row in self._read(
                f"SELECT id FROM runs WHERE id IN ({marks}) AND status <> 'running'", chunk)
                if row[0] not in bad)
        return bad

    def runs(self, project: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Stored runs, newest first, optionally of one project.

        A run holding values no reader can use is skipped with a warning
        (listed in :attr:`skipped`), so one bad run never breaks a listing.
        """
        sql = "SELECT * FROM runs"
        args: list[Any] = []
        if project is not None:
            sql += " WHERE project = ?"
            args.append(project)
        sql += " ORDER BY started_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(0, min(int(limit), 2**62)))
        rows = self._read(sql, args)
        bad = self._bad_values([r["id"] for r in rows])
        out: list[RunRecord] = []
        self.skipped = []
        for row in rows:
            try:
                if row["id"] in bad:
                    raise self._bad(row["id"], bad[row["id"]])
                out.append(self._run_from_row(row))
            except StoreError as exc:
                self.skipped.append((str(row["id"]), str(exc)))
                log.warning("skipped: %s", exc)
        return out

    def run_ids(self, project: str | None = None) -> list[str]:
        """Ids of every stored run (of one project), unchecked, newest first."""
        if project is None:
            rows = self._read("SELECT id FROM runs ORDER BY started_at DESC, id DESC", ())
        else:
            rows = self._read("SELECT id FROM runs WHERE project = ? ORDER BY started_at DESC,"
                              " id DESC", (project,))
        return [str(r[0]) for r in rows]

    def resolve_id(self, ref: str) -> str:
        """A full run id from an id, a unique id prefix, or ``last``.

        Raises:
            RunNotFound: nothing matches, or a prefix matches several runs.
        """
        if ref == "last":
            row = self._read_one("SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1",
                                 ())
            if row is None:
                raise RunNotFound("the store has no runs yet; start one with `wattprint run`")
            return str(row[0])
        pattern = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._read("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 3", (pattern,))
        if not rows:
            raise RunNotFound(f"no run {ref!r} in {self.where}; list runs with `wattprint runs`")
        if len(rows) > 1:
            raise RunNotFound(f"run id prefix {ref!r} is ambiguous; give more characters")
        return str(rows[0][0])

    def has_run(self, run_id: str) -> bool:
        """Whether a run with exactly this id is stored."""
        return self._read_one("SELECT 1 FROM runs WHERE id = ?", (run_id,)) is not None

    def run(self, ref: str) -> RunRecord:
        """One run by id, prefix or ``last``.

        Raises:
            RunNotFound: no such run.
            StoreError: the run holds values no reader can use (names the repair).
        """
        rid = self.resolve_id(ref)
        row = self._read_one("SELECT * FROM runs WHERE id = ?", (rid,))
        if row is None:
            raise RunNotFound(f"no run {ref!r} in {self.where}")
        bad = self._bad_values([rid])
        if rid in bad:
            raise self._bad(rid, bad[rid])
        return self._run_from_row(row)

    def devices(self, run_id: str) -> list[DeviceRecord]:
        """Devices of a run."""
        rows = self._read("SELECT * FROM devices WHERE run_id = ? ORDER BY device_id",
                          (run_id,), run_id)
        try:
            return [
                DeviceRecord(r["device_id"], r["kind"], r["name"], r["source"],
                             bool(r["measured"]), bool(r["counter"]), r["model"],
                             r["share_rule"], json.loads(r["extra"]))
                for r in rows
            ]
        except (TypeError, ValueError) as exc:
            raise self._bad(run_id, "a device's extra is not JSON") from exc

    def intervals(self, run_id: str, device_id: str | None = None) -> list[IntervalRecord]:
        """Intervals of a run in time order (optionally of one device).

        On a store that is spooling, the spooled intervals of the run are included.
        """
        rows: list[tuple[Any, ...]] = []
        if self._conn is not None:
            # t_start first: sorting plain tuples compares in C, without a key function
            sql = ("SELECT t_start, device_id, t_end, energy_j, attributed_j, paused"
                   " FROM intervals WHERE run_id = ?")
            args: list[Any] = [run_id]
            if device_id is not None:
                sql += " AND device_id = ?"
                args.append(device_id)
            rows = [(r[0], r[1], r[2], r[3], r[4], r[5])
                    for r in self._read(sql + " ORDER BY t_start", args, run_id)]
        if self._spool is not None:
            rows += [(i.t_start, i.device_id, i.t_end, i.energy_j, i.attributed_j, i.paused)
                     for i in self._spooled_intervals(run_id, device_id)]
        rows.sort(key=lambda r: (r[0], r[1]))  # time, then device: nearly sorted already
        return [IntervalRecord(d, t0, t1, e, a, bool(p)) for t0, d, t1, e, a, p in rows]

    def _spooled_intervals(self, run_id: str, device_id: str | None) -> list[IntervalRecord]:
        assert self._spool is not None
        out: list[IntervalRecord] = []
        for path in self._spool.paths:
            with suppress(OSError):
                for doc in spool.read_spool(path):
                    if doc["op"] == "intervals" and doc["run_id"] == run_id:
                        out += [IntervalRecord(d, t0, t1, e, a, bool(p))
                                for d, t0, t1, e, a, p in doc["rows"]
                                if device_id is None or d == device_id]
        return out

    def device_totals(self, run_id: str) -> dict[str, tuple[float, float, float, int]]:
        """Per device: (energy_j, attributed_j, covered_s, intervals), paused spans excluded."""
        rows = self._read(
            "SELECT device_id, SUM(energy_j), SUM(attributed_j), SUM(t_end - t_start), COUNT(*)"
            " FROM intervals WHERE run_id = ? AND paused = 0 GROUP BY device_id",
            (run_id,), run_id)
        return {r[0]: (float(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows}

    def interval_sums(self, run_id: str, idle_w: Mapping[str, float] | None = None,
                      attributed: bool = False) -> dict[str, IntervalSums]:
        """Per device, its intervals summed in one aggregate query, paused spans excluded.

        The counted energy of an interval is ``attributed_j`` under process
        attribution (``attributed``), else ``energy_j``; its idle part is
        ``min(P_idle × Δt × s, counted)`` with ``s = attributed_j / energy_j``
        (1 when ``energy_j`` is 0, and 1 under machine attribution) and
        ``P_idle`` from ``idle_w`` (no idle part for a device not in it): the
        formulas of :mod:`wattprint.accounting.footprint`, summed interval by
        interval in SQL. The query reads only the covering index of migration 4
        (``intervals_totals``), never the table's rows into Python.
        """
        idle = dict(idle_w or {})
        if self._spool is not None:  # spooled intervals are not in the database yet
            return _sums_of(self.intervals(run_id), idle, attributed)
        counted = "attributed_j" if attributed else "energy_j"
        share = ("(CASE WHEN energy_j > 0 THEN attributed_j / energy_j ELSE 1.0 END)"
                 if attributed else "1.0")
        args: list[Any] = []
        power = "0.0"  # no device has an idle power: no idle part
        if idle:
            power = "CASE device_id " + " ".join("WHEN ? THEN ?" for _ in idle) + " END"
            for device_id, watts in idle.items():
                args += [device_id, float(watts)]
        raw = f"((p * (t_end - t_start)) * {share})"
        floor = (f"(CASE WHEN p IS NULL THEN 0.0 WHEN {raw} < {counted} THEN {raw}"
                 f" ELSE {counted} END)") if idle else "0.0"
        rows = self._read(
            f"SELECT device_id, SUM(energy_j), SUM(attributed_j), SUM(t_end - t_start),"
            f" COUNT(*), MIN(t_start), MAX(t_end), SUM({floor}), SUM({counted} - {floor})"
            f" FROM (SELECT device_id, energy_j, attributed_j, t_start, t_end, {power} AS p"
            f" FROM intervals WHERE run_id = ? AND paused = 0) AS i GROUP BY device_id",
            (*args, run_id), run_id)
        return {str(r[0]): IntervalSums(float(r[1]), float(r[2]), float(r[3]), int(r[4]),
                                        float(r[5]), float(r[6]), float(r[7]), float(r[8]))
                for r in rows}

    def _rows(self, sql: str, args: Sequence[Any]) -> list[RowLike]:
        return self._read(sql, args, str(args[0]) if args else None)

    def gaps(self, run_id: str) -> list[dict[str, Any]]:
        """Spans where a device could not be read."""
        return [dict(r) for r in self._rows(
            "SELECT device_id, t_start, t_end, reason FROM gaps WHERE run_id = ? ORDER BY t_start",
            (run_id,))]

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        """Metric values of a run in logging order."""
        return [dict(r) for r in self._rows(
            "SELECT name, value, step, t FROM metrics WHERE run_id = ? ORDER BY rowid", (run_id,))]

    def phases(self, run_id: str) -> list[dict[str, Any]]:
        """Phase windows of a run."""
        return [dict(r) for r in self._rows(
            "SELECT name, depth, t_start, t_end FROM phases WHERE run_id = ? ORDER BY rowid",
            (run_id,))]

    def units(self, run_id: str) -> dict[str, float]:
        """Functional units counted for a run."""
        return {r["unit"]: float(r["count"]) for r in self._rows(
            "SELECT unit, count FROM units WHERE run_id = ?", (run_id,))}

    def pauses(self, run_id: str) -> list[dict[str, Any]]:
        """Pauses of a run."""
        return [dict(r) for r in self._rows(
            "SELECT t_start, t_end, reason FROM pauses WHERE run_id = ? ORDER BY t_start",
            (run_id,))]

    def idle(self, run_id: str) -> dict[str, tuple[float, str]]:
        """Idle power per device and how it was obtained."""
        return {r["device_id"]: (float(r["power_w"]), r["method"]) for r in self._rows(
            "SELECT device_id, power_w, method FROM idle WHERE run_id = ?", (run_id,))}

    def tags(self, run_id: str) -> dict[str, str]:
        """Tags of a run."""
        return {r["key"]: r["value"] for r in self._rows(
            "SELECT key, value FROM tags WHERE run_id = ?", (run_id,))}

    def predictions(self, run_id: str) -> list[dict[str, Any]]:
        """A run's predictions from its first epochs, in the order they were made.

        Each is the mapping of :meth:`wattprint.decide.predict.Prediction.as_dict`
        (``energy_j``, ``energy_j_interval``, ``duration_s``, ``co2e_kg``,
        ``after_epochs``...). A store older than schema version 5 has none.
        """
        if "predictions" not in self._tables():
            return []
        out: list[dict[str, Any]] = []
        for r in self._rows("SELECT detail FROM predictions WHERE run_id = ?"
                            " ORDER BY after_epochs, made_at", (run_id,)):
            try:
                doc = json.loads(r["detail"])
            except (TypeError, ValueError) as exc:
                raise self._bad(run_id, "a prediction's detail is not JSON") from exc
            if isinstance(doc, dict):
                out.append(doc)
        return out

    def _tables(self) -> frozenset[str]:
        """The tables of this store (a read-only store may predate a migration)."""
        try:
            with self._lock:
                return frozenset(t for t in ("predictions",) if self._conn.columns(t))
        except self._errors:
            return frozenset()
