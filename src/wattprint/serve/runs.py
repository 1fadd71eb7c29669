"""The agent's read-only view of the run store, for ``GET /v1/runs``.

The agent answers GET requests, and a GET never writes: the store file is
opened with SQLite's ``mode=ro``, so listing runs neither migrates the schema,
nor checkpoints the write-ahead log, nor judges whether a ``running`` run's
process is still alive (the run may belong to another container or pid
namespace, which the agent cannot see). A run shows the status its own
process, or the next ``wattprint runs`` on its machine, last wrote.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from wattprint.errors import StoreError
from wattprint.serve.monitor import iso
from wattprint.store import SCHEMA_VERSION

__all__ = ["RunsReader"]

_RUN_COLUMNS = ("id, project, name, phase, status, started_at, ended_at, host, pid, region,"
                " tool, attribution")


class RunsReader:
    """Stored runs with their energy totals, read without ever writing the store.

    Documents are kept per query and served again while the store is
    unchanged, which SQLite's ``PRAGMA data_version`` tells exactly (it
    changes whenever another connection commits): :meth:`cached_doc` is that
    cheap check, :meth:`runs_doc` the full read.

    Args:
        db_path: the store's SQLite file; a missing file lists no runs.
    """

    _CACHE_SIZE = 64

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._conn: sqlite3.Connection | None = None  # full reads
        self._check: sqlite3.Connection | None = None  # data_version only
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._cache: dict[tuple[str | None, int], tuple[int, dict[str, Any]]] = {}

    def _open(self) -> sqlite3.Connection:
        uri = self.db_path.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=1.0)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.Error:
            conn.close()
            raise
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"the run store at {self.db_path} has schema version {version}, newer than "
                f"this wattprint understands ({SCHEMA_VERSION}); upgrade wattprint")
        return conn

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None:
            if not self.db_path.is_file():
                return None
            self._conn = self._open()
        return self._conn

    def _data_version(self) -> int | None:
        """The store's data version (``None`` without a store file); changes on every commit."""
        with self._check_lock:
            if self._check is None:
                if not self.db_path.is_file():
                    return None
                self._check = self._open()
            return int(self._check.execute("PRAGMA data_version").fetchone()[0])

    def cached_doc(self, project: str | None, limit: int) -> dict[str, Any] | None:
        """The document :meth:`runs_doc` last read for this query, if the store is unchanged.

        Raises:
            StoreError: the store is of a newer schema.
            sqlite3.Error: it cannot be read.
        """
        version = self._data_version()
        if version is None:
            return {"runs": []}
        hit = self._cache.get((project, limit))
        return hit[1] if hit is not None and hit[0] == version else None

    def runs_doc(self, project: str | None, limit: int) -> dict[str, Any]:
        """The ``/v1/runs`` document: stored runs, newest first.

        Raises:
            StoreError: the store is of a newer schema.
            sqlite3.Error: it cannot be read.
        """
        # read before the runs: a commit in between only costs one more read later
        version = self._data_version()
        with self._lock:
            conn = self._connect()
            if conn is None or version is None:
                return {"runs": []}
            sql = f"SELECT {_RUN_COLUMNS} FROM runs"
            args: list[Any] = []
            if project is not None:
                sql += " WHERE project = ?"
                args.append(project)
            sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
            args.append(limit)
            rows = conn.execute(sql, args).fetchall()
            ids = [row[0] for row in rows]
            marks = ",".join("?" * len(ids))
            totals: dict[str, tuple[float, float]] = {}
            units: dict[str, dict[str, float]] = {rid: {} for rid in ids}
            if ids:
                # per device first, then summed per run in device order, as `wattprint show` does
                for rid, energy_j, attributed_j in conn.execute(
                        "SELECT run_id, SUM(energy_j), SUM(attributed_j) FROM intervals"
                        f" WHERE run_id IN ({marks}) AND paused = 0"
                        " GROUP BY run_id, device_id ORDER BY run_id, device_id", ids):
                    e, a = totals.get(rid, (0.0, 0.0))
                    totals[rid] = (e + float(energy_j), a + float(attributed_j))
                for rid, unit, count in conn.execute(
                        f"SELECT run_id, unit, count FROM units WHERE run_id IN ({marks})", ids):
                    units[rid][unit] = float(count)
        runs = []
        for (rid, proj, name, phase, status, started_at, ended_at, host, pid, region, tool,
             attribution) in rows:
            energy_j, attributed_j = totals.get(rid, (0, 0))
            runs.append({
                "id": rid, "project": proj, "name": name, "phase": phase, "status": status,
                "started_at": iso(started_at), "ended_at": iso(ended_at),
                "duration_s": None if ended_at is None else ended_at - started_at,
                "host": host, "pid": pid, "region": region, "tool": tool,
                "attribution": attribution,
                "energy_j": attributed_j if attribution == "process" else energy_j,
                "device_energy_j": energy_j, "attributed_energy_j": attributed_j,
                "units": units[rid],
            })
        doc = {"runs": runs}
        if len(self._cache) >= self._CACHE_SIZE:
            self._cache.clear()
        self._cache[(project, limit)] = (version, doc)
        return doc

    def running_jobs(self, host: str) -> dict[int, str]:
        """``pid -> job id`` of the runs of a job still ``running`` on ``host``.

        Raises:
            StoreError: the store is of a newer schema.
            sqlite3.Error: it cannot be read (or predates job columns).
        """
        with self._lock:
            conn = self._connect()
            if conn is None:
                return {}
            rows = conn.execute("SELECT pid, job_id FROM runs WHERE status = 'running' AND"
                                " job_id IS NOT NULL AND host = ?", (host,)).fetchall()
        return {int(pid): str(job) for pid, job in rows}

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock, self._check_lock:
            for conn in (self._conn, self._check):
                if conn is not None:
                    conn.close()
            self._conn = self._check = None
            self._cache.clear()
