"""The run store: one SQLite file in WAL mode, safe for many writers at once.

Energy is the stored fact (carbon is derived later, see
:mod:`wattprint.accounting`). A run is written as it happens: the run row at
start, each device's energy intervals as the sampler takes them (in batches
every 0.25 s when sampling faster than that), metrics,
phases, units and pauses as the user logs them, and the final status at stop.
A run whose process died without stopping (SIGKILL, power loss) keeps every
interval written so far and is shown as ``interrupted`` the next time the
store is read, judged by its recorded host, pid and pid start time.

Schema changes are numbered migrations; ``meta.schema_version`` records the
newest applied. A store of a newer schema than this wattprint knows is refused
with a clear error rather than misread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from wattprint import procfs
from wattprint.errors import RunNotFound, StoreError
from wattprint.records import DeviceRecord, IntervalRecord, RunRecord

#: The records are defined in :mod:`wattprint.records`; their names stay
#: importable from here.
__all__ = [
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "DeviceRecord",
    "IntervalRecord",
    "RunRecord",
    "Store",
    "hostname",
    "new_run_id",
]

SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT,
        phase TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        exit_code INTEGER,
        attribution TEXT NOT NULL,
        interval_s REAL NOT NULL,
        command TEXT,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        pid_started_at REAL,
        region TEXT,
        tool TEXT NOT NULL DEFAULT 'wattprint',
        error TEXT,
        info TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_project ON runs(project, started_at);
    CREATE TABLE devices (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        measured INTEGER NOT NULL,
        counter INTEGER NOT NULL,
        model TEXT,
        share_rule TEXT NOT NULL,
        extra TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, device_id)
    );
    CREATE TABLE intervals (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        t_start REAL NOT NULL,
        t_end REAL NOT NULL,
        energy_j REAL NOT NULL,
        attributed_j REAL NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX intervals_run ON intervals(run_id, t_start);
    CREATE TABLE gaps (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        t_start REAL NOT NULL,
        t_end REAL NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        step INTEGER,
        t REAL NOT NULL
    );
    CREATE TABLE phases (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        depth INTEGER NOT NULL,
        t_start REAL NOT NULL,
        t_end REAL
    );
    CREATE TABLE units (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        unit TEXT NOT NULL,
        count REAL NOT NULL,
        PRIMARY KEY (run_id, unit)
    );
    CREATE TABLE pauses (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        t_start REAL NOT NULL,
        t_end REAL,
        reason TEXT NOT NULL
    );
    CREATE TABLE idle (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        power_w REAL NOT NULL,
        method TEXT NOT NULL,
        PRIMARY KEY (run_id, device_id)
    );
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    """,
}

RUN_STATUSES = ("running", "finished", "failed", "interrupted", "terminated", "imported")


def new_run_id() -> str:
    """A new run id: sortable by time (hex seconds) then random."""
    return f"{int(time.time()):08x}{os.urandom(4).hex()}"


def hostname() -> str:
    """This machine's host name."""
    return os.uname().nodename


def _pid_started_at(pid: int, proc_root: str = "/proc") -> float | None:
    """When a process started (its identity beside the pid, which the kernel reuses).

    Seconds since boot from /proc/<pid>/stat on Linux (no psutil import on the
    start path), else psutil's creation time; ``None`` if the process is gone.
    """
    try:
        return procfs.pid_start_s(pid, proc_root)
    except FileNotFoundError:
        if os.path.isdir(f"{proc_root}/self"):
            return None  # Linux, and the process is gone
    except (OSError, ValueError):
        pass
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None




class Store:
    """The SQLite run store.

    One connection per :class:`Store`, shared by the threads of one process
    under a lock (the sampler thread appends intervals while the main thread
    logs metrics). Other processes open their own :class:`Store` on the same
    file; WAL mode and a generous busy timeout make concurrent writers work.

    Args:
        path: the database file; its directory is created if missing.
        timeout_s: how long a writer waits for another's lock.

    Raises:
        StoreError: the file cannot be opened, or has a newer schema.
    """

    def __init__(self, path: Path | str, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=timeout_s, check_same_thread=False, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the run store at {self.path}: {exc}; "
                "set WATTPRINT_HOME to a writable directory"
            ) from exc
        self._lock = threading.RLock()
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot initialise the run store at {self.path}: {exc}") from exc

    # -- plumbing ---------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # An exception may arrive anywhere in here, KeyboardInterrupt included
        # (raised between two bytecodes): whatever it interrupts, the
        # transaction is rolled back and the lock released, so the connection
        # is never left inside a transaction that the next write would trip on.
        with self._lock:
            nested = self._conn.in_transaction  # BEGIN fails below; the outer one is not ours
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction and not nested:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    def _migrate(self) -> None:
        with self._tx() as c:
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the run store at {self.path} has schema version {version}, newer than this "
                    f"wattprint understands ({SCHEMA_VERSION}); upgrade wattprint"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(target),),
                )

    def schema_version(self) -> int:
        """The schema version of the open store."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()

    # -- writing ----------------------------------------------------------
    def create_run(
        self,
        *,
        project: str,
        phase: str,
        attribution: str,
        interval_s: float,
        started_at: float,
        name: str | None = None,
        command: str | None = None,
        region: str | None = None,
        pid: int | None = None,
        tool: str = "wattprint",
        status: str = "running",
        info: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Insert a new run row and return its id."""
        rid = run_id or new_run_id()
        owner = pid if pid is not None else os.getpid()
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs (id, project, name, phase, status, started_at, attribution,"
                " interval_s, command, host, pid, pid_started_at, region, tool, info)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rid, project, name, phase, status, started_at, attribution, interval_s,
                    command, hostname(), owner, _pid_started_at(owner), region, tool,
                    json.dumps(info or {}, sort_keys=True),
                ),
            )
        return rid

    def add_devices(self, run_id: str, devices: Iterable[DeviceRecord]) -> None:
        """Record the devices a run measures."""
        with self._tx() as c:
            c.executemany(
                "INSERT OR REPLACE INTO devices (run_id, device_id, kind, name, source, measured,"
                " counter, model, share_rule, extra) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (run_id, d.device_id, d.kind, d.name, d.source, int(d.measured),
                     int(d.counter), d.model, d.share_rule, json.dumps(d.extra, sort_keys=True))
                    for d in devices
                ],
            )

    def append_intervals(self, run_id: str, intervals: Sequence[IntervalRecord]) -> None:
        """Append intervals in one transaction (as the sampler takes them)."""
        if not intervals:
            return
        with self._tx() as c:
            c.executemany(
                "INSERT INTO intervals (run_id, device_id, t_start, t_end, energy_j,"
                " attributed_j, paused) VALUES (?,?,?,?,?,?,?)",
                [
                    (run_id, i.device_id, i.t_start, i.t_end, i.energy_j, i.attributed_j,
                     int(i.paused))
                    for i in intervals
                ],
            )

    def add_gap(self, run_id: str, device_id: str, t_start: float, t_end: float,
                reason: str) -> None:
        """Record a span where a device could not be read."""
        with self._tx() as c:
            c.execute("INSERT INTO gaps VALUES (?,?,?,?,?)",
                      (run_id, device_id, t_start, t_end, reason))

    def log_metric(self, run_id: str, name: str, value: float, step: int | None,
                   t: float) -> None:
        """Record one metric value."""
        with self._tx() as c:
            c.execute("INSERT INTO metrics VALUES (?,?,?,?,?)", (run_id, name, value, step, t))

    def add_units(self, run_id: str, unit: str, count: float) -> None:
        """Add ``count`` functional units (samples, requests...) to a run."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO units VALUES (?,?,?) ON CONFLICT(run_id, unit)"
                " DO UPDATE SET count = count + excluded.count",
                (run_id, unit, count),
            )

    def open_phase(self, run_id: str, name: str, depth: int, t_start: float) -> int:
        """Open a phase window; returns its row id for :meth:`close_phase`."""
        with self._tx() as c:
            cur = c.execute("INSERT INTO phases VALUES (?,?,?,?,NULL)",
                            (run_id, name, depth, t_start))
            return int(cur.lastrowid or 0)

    def close_phase(self, rowid: int, t_end: float) -> None:
        """Close a phase window."""
        with self._tx() as c:
            c.execute("UPDATE phases SET t_end = ? WHERE rowid = ?", (t_end, rowid))

    def add_pause(self, run_id: str, t_start: float, t_end: float | None, reason: str) -> int:
        """Record a pause; ``t_end`` may be set later with :meth:`end_pause`."""
        with self._tx() as c:
            cur = c.execute("INSERT INTO pauses VALUES (?,?,?,?)", (run_id, t_start, t_end, reason))
            return int(cur.lastrowid or 0)

    def end_pause(self, rowid: int, t_end: float) -> None:
        """Close a pause."""
        with self._tx() as c:
            c.execute("UPDATE pauses SET t_end = ? WHERE rowid = ?", (t_end, rowid))

    def set_idle(self, run_id: str, device_id: str, power_w: float, method: str) -> None:
        """Record a device's idle power and how it was obtained."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO idle VALUES (?,?,?,?)",
                      (run_id, device_id, power_w, method))

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set free-form tags on a run."""
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO tags VALUES (?,?,?)",
                          [(run_id, k, str(v)) for k, v in tags.items()])

    def update_info(self, run_id: str, info: dict[str, Any]) -> None:
        """Merge keys into a run's info document."""
        with self._tx() as c:
            row = c.execute("SELECT info FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(f"no run {run_id!r}")
            merged = json.loads(row[0]) | info
            c.execute("UPDATE runs SET info = ? WHERE id = ?",
                      (json.dumps(merged, sort_keys=True), run_id))

    def finish_run(self, run_id: str, *, status: str, ended_at: float,
                   exit_code: int | None = None, error: str | None = None) -> None:
        """Record the end of a run."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}")
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status = ?, ended_at = ?, exit_code = ?, error = ? WHERE id = ?",
                (status, ended_at, exit_code, error, run_id),
            )
            c.execute("UPDATE phases SET t_end = ? WHERE run_id = ? AND t_end IS NULL",
                      (ended_at, run_id))
            c.execute("UPDATE pauses SET t_end = ? WHERE run_id = ? AND t_end IS NULL",
                      (ended_at, run_id))

    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything stored with it."""
        with self._tx() as c:
            c.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # -- reading ----------------------------------------------------------
    def _mark_interrupted(self) -> None:
        """Mark runs of this host whose process is gone as ``interrupted``."""
        host = hostname()
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, pid, pid_started_at FROM runs WHERE status = 'running' AND host = ?",
                (host,),
            ).fetchall()
        dead = []
        for row in rows:
            started = _pid_started_at(int(row["pid"]))
            alive = started is not None and (
                row["pid_started_at"] is None or abs(started - float(row["pid_started_at"])) < 1.0
            )
            if not alive:
                dead.append(row["id"])
        if not dead:
            return
        with self._tx() as c:
            for rid in dead:
                last = c.execute("SELECT MAX(t_end) FROM intervals WHERE run_id = ?",
                                 (rid,)).fetchone()[0]
                start = c.execute("SELECT started_at FROM runs WHERE id = ?", (rid,)).fetchone()[0]
                c.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?, error = ?"
                    " WHERE id = ? AND status = 'running'",
                    (last if last is not None else start,
                     "the tracking process ended without stopping the run", rid),
                )

    @staticmethod
    def _run_from_row(row: sqlite3.Row) -> RunRecord:
        return RunRecord(
            id=row["id"], project=row["project"], name=row["name"], phase=row["phase"],
            status=row["status"], started_at=row["started_at"], ended_at=row["ended_at"],
            exit_code=row["exit_code"], attribution=row["attribution"],
            interval_s=row["interval_s"], command=row["command"], host=row["host"],
            pid=row["pid"], region=row["region"], tool=row["tool"], error=row["error"],
            info=json.loads(row["info"]),
        )

    def runs(self, project: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Stored runs, newest first, optionally of one project."""
        self._mark_interrupted()
        sql = "SELECT * FROM runs"
        args: list[Any] = []
        if project is not None:
            sql += " WHERE project = ?"
            args.append(project)
        sql += " ORDER BY started_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [self._run_from_row(r) for r in rows]

    def resolve_id(self, ref: str) -> str:
        """A full run id from an id, a unique id prefix, or ``last``.

        Raises:
            RunNotFound: nothing matches, or a prefix matches several runs.
        """
        with self._lock:
            if ref == "last":
                row = self._conn.execute(
                    "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1").fetchone()
                if row is None:
                    raise RunNotFound("the store has no runs yet; start one with `wattprint run`")
                return str(row[0])
            rows = self._conn.execute("SELECT id FROM runs WHERE id LIKE ? LIMIT 3",
                                      (ref.replace("%", "") + "%",)).fetchall()
        if not rows:
            raise RunNotFound(f"no run {ref!r} in {self.path}; list runs with `wattprint runs`")
        if len(rows) > 1:
            raise RunNotFound(f"run id prefix {ref!r} is ambiguous; give more characters")
        return str(rows[0][0])

    def run(self, ref: str) -> RunRecord:
        """One run by id, prefix or ``last``."""
        self._mark_interrupted()
        rid = self.resolve_id(ref)
        with self._lock:
            row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
        return self._run_from_row(row)

    def devices(self, run_id: str) -> list[DeviceRecord]:
        """Devices of a run."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM devices WHERE run_id = ? ORDER BY device_id", (run_id,)).fetchall()
        return [
            DeviceRecord(r["device_id"], r["kind"], r["name"], r["source"], bool(r["measured"]),
                         bool(r["counter"]), r["model"], r["share_rule"], json.loads(r["extra"]))
            for r in rows
        ]

    def intervals(self, run_id: str, device_id: str | None = None) -> list[IntervalRecord]:
        """Intervals of a run in time order (optionally of one device)."""
        sql = "SELECT * FROM intervals WHERE run_id = ?"
        args: list[Any] = [run_id]
        if device_id is not None:
            sql += " AND device_id = ?"
            args.append(device_id)
        sql += " ORDER BY t_start, device_id"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [
            IntervalRecord(r["device_id"], r["t_start"], r["t_end"], r["energy_j"],
                           r["attributed_j"], bool(r["paused"]))
            for r in rows
        ]

    def device_totals(self, run_id: str) -> dict[str, tuple[float, float, float, int]]:
        """Per device: (energy_j, attributed_j, covered_s, intervals), paused spans excluded."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT device_id, SUM(energy_j), SUM(attributed_j), SUM(t_end - t_start), COUNT(*)"
                " FROM intervals WHERE run_id = ? AND paused = 0 GROUP BY device_id",
                (run_id,),
            ).fetchall()
        return {r[0]: (float(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows}

    def _rows(self, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

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
