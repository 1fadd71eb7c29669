"""The run store's one interface: writes, reads and spooling, the same on every backend.

The store is a SQLite file (WAL mode, many writers on one node) by
default, or a PostgreSQL database that the nodes of a cluster share
(:mod:`wattprint.store.postgres`). This module holds everything they do the
same way; a backend only connects, names its errors and says how its
columns are listed (:mod:`wattprint.store.sqlite`,
:mod:`wattprint.store.postgres`).

Energy is the stored fact (carbon is derived later, see
:mod:`wattprint.accounting`). A run is written as it happens: the run row at
start, each device's energy intervals as the sampler takes them (in batches
every 0.25 s when sampling faster than that), metrics,
phases, units and pauses as the user logs them, and the final status at stop.
A run whose process died without stopping (SIGKILL, power loss) keeps every
interval written so far and is shown as ``interrupted`` once its process is
provably gone (see :mod:`wattprint.store.liveness`).

Every write is one named operation (:data:`~wattprint.store.ops.OPS`) applied in one
transaction; a store opened for a run (:meth:`Store.for_run`) sends the
operations it cannot apply to a spool file instead of failing the job
(:mod:`wattprint.store.spool`), and a store opened for writing ingests the
waiting spool files. A store that cannot be written is opened read-only,
without migrating: it can still be read.

Reads never write. A stored value no reader can use (``runs.info`` that is
not JSON, an energy or time outside physical ranges) makes its run skipped
in listings, with a warning, and a :class:`~wattprint.errors.StoreError`
naming the run and the repair when the run is asked for by id.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattprint.errors import RunNotFound, StoreError
from wattprint.records import DeviceRecord, IntervalRecord, RunRecord
from wattprint.store import liveness, schema, spool
from wattprint.store.dialect import Conn, RowLike
from wattprint.store.ops import OPS
from wattprint.store.schema import RUN_STATUSES

if TYPE_CHECKING:
    from wattprint.distributed import Launch

log = logging.getLogger(__name__)

__all__ = ["Store", "backend_of", "hostname", "new_run_id"]

#: the latest time a stored value may hold (9999-12-31T23:59:59Z)
MAX_TIME_S = 253402300799.0
#: more energy than any device spends in one stored interval (278 GWh)
MAX_ENERGY_J = 1e15

#: what can go wrong reading a spool file, beside the driver's errors
_INGEST_ERRORS: tuple[type[Exception], ...] = (OSError, KeyError, TypeError, ValueError,
                                               StoreError)

_REPAIR = "run `wattprint store check` to see what is wrong and how to repair it"


def new_run_id() -> str:
    """A new run id: sortable by time (hex seconds) then random."""
    return f"{int(time.time()):08x}{os.urandom(4).hex()}"


def hostname() -> str:
    """This machine's host name."""
    return os.uname().nodename


def _finite(value: Any, low: float, high: float) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value)
                             and low <= value <= high)


def backend_of(target: Path | str) -> str:
    """``postgresql`` for a PostgreSQL URL, else ``sqlite`` (a path or a ``sqlite://`` URL)."""
    text = str(target)
    return "postgresql" if text.startswith(("postgresql:", "postgres:")) else "sqlite"


class Store:
    """The run store: one interface, SQLite by default, PostgreSQL for clusters.

    ``Store(target)`` opens the backend the target names: a file path or a
    ``sqlite:///path`` URL opens :class:`~wattprint.store.sqlite.SqliteStore`,
    a ``postgresql://`` URL :class:`~wattprint.store.postgres.PostgresStore`
    (psycopg is imported only then). Both take the same statements and the
    same migrations (:mod:`wattprint.store.dialect`).

    One connection per :class:`Store`, shared by the threads of one process
    under a lock (the sampler thread appends intervals while the main thread
    logs metrics). Other processes, on this node or others, open their own.

    A store that cannot be written (read-only or full disk, locked) is
    opened read-only: reading works, writing raises :class:`StoreError`.

    Args:
        target: the database file, ``sqlite:///path``, or ``postgresql://...``.
        timeout_s: how long a writer waits for another's lock (or a server to answer).
        read_only: open for reading only (no migration, no spool ingestion).

    Raises:
        StoreError: the store cannot be opened, is not a wattprint store, or has a
            newer schema.
    """

    #: the driver's errors, each turned into a StoreError
    _errors: tuple[type[Exception], ...] = ()
    path: Path
    #: where the store is, as said in messages (a PostgreSQL URL without its password)
    where: str
    _conn: Conn
    _columns: frozenset[str]

    def __new__(cls, target: Path | str | None = None, *args: Any, **kwargs: Any) -> Store:
        """Pick the backend the target names when called as ``Store(...)``."""
        if cls is Store:
            if target is None:
                raise TypeError("Store() needs a path or a URL")
            if backend_of(target) == "postgresql":
                from wattprint.store.postgres import PostgresStore
                cls = PostgresStore
            else:
                from wattprint.store.sqlite import SqliteStore
                cls = SqliteStore
        return object.__new__(cls)

    def __init__(self, target: Path | str, *, timeout_s: float = 60.0,
                 read_only: bool = False) -> None:
        self._init_fields(target, read_only)
        if read_only:
            self._conn = self._open_read_only(timeout_s)
            self._columns = self._run_columns()
            return
        try:
            self._conn = self._open_read_write(timeout_s)
        except StoreError as exc:
            if not self._readable_anyway(exc):
                raise
            log.debug("store %s opened read-only: %s", self.where, exc)
            self._conn = self._open_read_only(timeout_s)
            self._columns = self._run_columns()
            self.read_only = True
            return
        self._columns = self._run_columns()
        self._opened()
        self.ingest_spools()

    # -- what each backend provides ------------------------------------------------------
    def _locate(self, target: Path | str) -> None:
        """Set :attr:`path` (the file that keys the spool) and :attr:`where`."""
        raise NotImplementedError

    def _open_read_write(self, timeout_s: float) -> Conn:
        """Connect for writing, and migrate to the newest schema."""
        raise NotImplementedError

    def _open_read_only(self, timeout_s: float) -> Conn:
        """Connect for reading only; refuses a newer schema."""
        raise NotImplementedError

    def _readable_anyway(self, exc: StoreError) -> bool:
        """Whether a store that could not be opened for writing can still be read."""
        return False

    def _opened(self) -> None:
        """Called once a store is open for writing (warnings about where it is)."""

    # -- opening ------------------------------------------------------------------------
    def _init_fields(self, target: Path | str, read_only: bool) -> None:
        self._locate(target)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._depth = 0
        self._spool: spool.Spool | None = None
        self._spool_on_error = False
        self._max_spool_bytes = spool.MAX_BYTES
        self._columns = frozenset()
        #: runs the last listing skipped, as (run id, why)
        self.skipped: list[tuple[str, str]] = []

    def _run_columns(self) -> frozenset[str]:
        return frozenset(self._conn.columns("runs"))

    def columns(self, table: str) -> list[str]:
        """The columns of one of :data:`~wattprint.store.schema.TABLES`, as stored.

        Read from the store itself, so a column a migration added is included.
        """
        try:
            with self._lock:
                return self._conn.columns(table)
        except self._errors as exc:
            raise StoreError(f"cannot read the run store at {self.where}: {exc}") from exc

    def _newer(self, version: int) -> StoreError:
        return StoreError(
            f"the run store at {self.where} has schema version {version}, newer than this "
            f"wattprint understands ({schema.latest()}); upgrade wattprint, or set "
            "WATTPRINT_HOME to another directory")

    @classmethod
    def for_run(cls, path: Path | str, *, timeout_s: float = 60.0,
                max_spool_bytes: int = spool.MAX_BYTES) -> Store:
        """Open the store to record a run: never fails, spools what it cannot write.

        If the store cannot be opened or written (read-only or full disk,
        locked beyond ``timeout_s``, a corrupted file, a newer schema), one
        warning names the problem and the writes go to a spool file that the
        next ``wattprint`` command ingests. Opening also marks this
        namespace's runs whose process is provably gone as ``interrupted``.

        Args:
            path: the database file, or a store URL.
            timeout_s: how long a write waits for another writer's lock.
            max_spool_bytes: bound of the spool file.
        """
        try:
            store = cls(path, timeout_s=timeout_s)
        except StoreError as exc:
            store = cls.__new__(cls, path)
            store._init_fields(path, True)
            store._conn = None  # type: ignore[assignment]
            store._spool_on_error = True
            store._max_spool_bytes = max_spool_bytes
            store._start_spooling(exc)
            return store
        store._spool_on_error = True
        store._max_spool_bytes = max_spool_bytes
        if store.read_only:
            store._start_spooling(StoreError(f"the run store at {store.where} is not writable"))
        else:
            with suppress(StoreError, *store._errors):
                store.mark_interrupted()
        return store

    def _start_spooling(self, exc: BaseException) -> None:
        self._spool = spool.Spool(self.path, max_bytes=self._max_spool_bytes)
        where = (f"kept in {self._spool.path}" if self._spool.path is not None
                 else "kept in memory (no spool file could be written)")
        reason = str(exc).split("; ")[0]
        log.warning("wattprint cannot write its store (%s); this run is %s and will be added "
                    "to the store by the next wattprint command", reason, where)

    @property
    def spool_path(self) -> Path | None:
        """The spool file this store writes to instead of the database, if any."""
        return None if self._spool is None else self._spool.path

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        with self._lock:
            if self._depth:  # inside transaction(): the outer one commits
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            # An exception may arrive anywhere in here, KeyboardInterrupt included
            # (raised between two bytecodes): whatever it interrupts, the
            # transaction is rolled back and the lock released, so the connection
            # is never left inside a transaction that the next write would trip on.
            try:
                self._conn.execute(self._conn.dialect.begin)
                self._depth = 1
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    with suppress(*self._errors):
                        self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every write inside the block one transaction: all stored, or none.

        Raises:
            StoreError: the store cannot be written.
        """
        if self.read_only:
            raise StoreError(f"the run store at {self.where} is read-only")
        try:
            with self._tx():
                yield
        except self._errors as exc:
            raise StoreError(f"writing the run store at {self.where} failed: {exc}") from exc

    def _write(self, op: str, doc: dict[str, Any]) -> Any:
        """Apply one write operation, or spool it when the store cannot take it."""
        if self._spool is not None:
            if op in ("open_phase", "pause"):
                rowid = self._spool.new_rowid()
                self._spool.write(op, {**doc, "rowid": rowid})
                return rowid
            self._spool.write(op, doc)
            if op == "finish_run":
                self._spool.close()  # the run is complete: the next command may add it
            return None
        if self.read_only:
            raise StoreError(f"the run store at {self.where} is read-only; "
                             "set WATTPRINT_HOME to a writable directory")
        try:
            with self._tx() as c:
                return OPS[op](c, doc)
        except self._errors as exc:
            if not self._spool_on_error or self._depth:
                raise StoreError(f"writing the run store at {self.where} failed: {exc}") from exc
            self._start_spooling(exc)
            return self._write(op, doc)

    def _migrate(self) -> None:
        """Apply the migrations this store lacks, in one transaction, once across writers."""
        with self._tx() as c:
            if c.dialect.migration_lock:
                c.execute(c.dialect.migration_lock)
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            latest = schema.latest()
            if version > latest:
                raise self._newer(version)
            for target in range(version + 1, latest + 1):
                for statement in schema.statements(target, c.dialect):
                    c.execute(statement)
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target),),
                )

    def schema_version(self) -> int:
        """The schema version of the open store."""
        row = self._read_one("SELECT value FROM meta WHERE key='schema_version'", ())
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection and release the spool file; idempotent."""
        with self._lock:
            if self._spool is not None:
                self._spool.close()
            if self._conn is not None:
                with suppress(*self._errors):
                    self._conn.close()

    # -- spool ingestion ----------------------------------------------------------------
    def ingest_spools(self) -> int:
        """Add the waiting spool files of this store, each in one transaction.

        A file still held by its (running) writer is left for later; one that
        cannot be added is kept, with a warning.

        Returns:
            How many files were added.
        """
        if self.read_only or self._conn is None:
            return 0
        added = 0
        rowids: dict[int, int] = {}
        for path in spool.spool_files(self.path):
            with spool.locked_for_ingest(path) as free:
                if not free:
                    continue
                try:
                    self._ingest_one(path, rowids)
                except self._errors + _INGEST_ERRORS as exc:
                    log.warning("the spool file %s could not be added to the store (%s); it is "
                                "kept", path, exc)
                    continue
            with suppress(OSError):
                path.unlink()
            added += 1
        return added

    def _ingest_one(self, path: Path, rowids: dict[int, int]) -> None:
        ops = spool.read_spool(path)
        with self._tx() as c:
            if c.execute("SELECT 1 FROM spool_ingested WHERE name = ?",
                         (path.name,)).fetchone():
                return
            for doc in ops:
                op = doc.pop("op")
                if op == "header":
                    continue
                if op in ("close_phase", "end_pause"):
                    doc["rowid"] = rowids.get(doc["rowid"], doc["rowid"])
                result = OPS[op](c, doc)
                if op in ("open_phase", "pause"):
                    rowids[int(doc["rowid"])] = int(result)
            c.execute("INSERT INTO spool_ingested VALUES (?, ?)", (path.name, time.time()))

    # -- writing ------------------------------------------------------------------------
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
        here = liveness.this_process()
        self._write("create_run", {
            "id": rid, "project": project, "name": name, "phase": phase, "status": status,
            "started_at": started_at, "attribution": attribution, "interval_s": interval_s,
            "command": command, "host": hostname(), "pid": owner,
            "pid_started_at": liveness.pid_started_at(owner), "region": region, "tool": tool,
            "info": info or {}, "boot_id": here.boot_id, "pid_ns": here.pid_ns,
        })
        return rid

    def add_devices(self, run_id: str, devices: Iterable[DeviceRecord]) -> None:
        """Record the devices a run measures."""
        self._write("devices", {"run_id": run_id, "rows": [
            [d.device_id, d.kind, d.name, d.source, int(d.measured), int(d.counter), d.model,
             d.share_rule, d.extra] for d in devices]})

    def append_intervals(self, run_id: str, intervals: Sequence[IntervalRecord]) -> None:
        """Append intervals in one transaction (as the sampler takes them)."""
        if not intervals:
            return
        self._write("intervals", {"run_id": run_id, "rows": [
            [i.device_id, i.t_start, i.t_end, i.energy_j, i.attributed_j, int(i.paused)]
            for i in intervals]})

    def add_gap(self, run_id: str, device_id: str, t_start: float, t_end: float,
                reason: str) -> None:
        """Record a span where a device could not be read."""
        self._write("gap", {"run_id": run_id, "device_id": device_id, "t_start": t_start,
                            "t_end": t_end, "reason": reason})

    def log_metric(self, run_id: str, name: str, value: float, step: int | None,
                   t: float) -> None:
        """Record one metric value."""
        self._write("metric", {"run_id": run_id, "name": name, "value": value, "step": step,
                               "t": t})

    def add_units(self, run_id: str, unit: str, count: float) -> None:
        """Add ``count`` functional units (samples, requests...) to a run."""
        self._write("units", {"run_id": run_id, "unit": unit, "count": count})

    def open_phase(self, run_id: str, name: str, depth: int, t_start: float) -> int:
        """Open a phase window; returns its row id for :meth:`close_phase`."""
        return int(self._write("open_phase", {"run_id": run_id, "name": name, "depth": depth,
                                              "t_start": t_start}))

    def close_phase(self, rowid: int, t_end: float) -> None:
        """Close a phase window."""
        self._write("close_phase", {"rowid": rowid, "t_end": t_end})

    def add_pause(self, run_id: str, t_start: float, t_end: float | None, reason: str) -> int:
        """Record a pause; ``t_end`` may be set later with :meth:`end_pause`."""
        return int(self._write("pause", {"run_id": run_id, "t_start": t_start, "t_end": t_end,
                                         "reason": reason}))

    def end_pause(self, rowid: int, t_end: float) -> None:
        """Close a pause."""
        self._write("end_pause", {"rowid": rowid, "t_end": t_end})

    def set_idle(self, run_id: str, device_id: str, power_w: float, method: str) -> None:
        """Record a device's idle power and how it was obtained."""
        self._write("idle", {"run_id": run_id, "device_id": device_id, "power_w": power_w,
                             "method": method})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set free-form tags on a run."""
        self._write("tags", {"run_id": run_id, "tags": dict(tags)})

    def update_info(self, run_id: str, info: dict[str, Any]) -> None:
        """Merge keys into a run's info document."""
        self._write("update_info", {"run_id": run_id, "info": info})

    def set_job(self, run_id: str, launch: Launch) -> None:
        """Link a run to its distributed job (a :class:`wattprint.distributed.Launch`)."""
        self._write("job", {"run_id": run_id, "job_id": launch.job_id, "node": launch.node,
                            "rank": launch.rank, "local_rank": launch.local_rank,
                            "world_size": launch.world_size, "launcher": launch.launcher})

    def finish_run(self, run_id: str, *, status: str, ended_at: float,
                   exit_code: int | None = None, error: str | None = None) -> None:
        """Record the end of a run."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}")
        self._write("finish_run", {"run_id": run_id, "status": status, "ended_at": ended_at,
                                   "exit_code": exit_code, "error": error})

    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything stored with it."""
        if self.read_only:
            raise StoreError(f"the run store at {self.where} is read-only; nothing was deleted")
        try:
            self.delete_rows(run_id)
        except self._errors as exc:
            raise StoreError(f"deleting run {run_id} from {self.where} failed: {exc}; "
                             f"{_REPAIR}") from exc

    # -- whole rows, for copying between stores -------------------------------------------
    def table_rows(self, table: str, run_id: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """One run's rows of a table (``runs``: the run row), in the order they were written.

        Args:
            table: one of :data:`~wattprint.store.schema.TABLES`.
            run_id: the run.
            columns: the columns to read (from :meth:`columns`).
        """
        key = "id" if table == "runs" else "run_id"
        order = " ORDER BY rowid" if table in schema.ORDERED_TABLES else ""
        rows = self._read(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ?{order}",
                          (run_id,), run_id)
        return [tuple(r[i] for i in range(len(columns))) for r in rows]

    def put_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert whole rows into a table (inside :meth:`transaction` to make them one write)."""
        if not rows:
            return
        marks = ", ".join("?" * len(columns))
        with self._tx() as c:
            c.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def delete_rows(self, run_id: str) -> None:
        """Delete a run's rows in one transaction (or in the caller's :meth:`transaction`)."""
        with self._tx() as c:
            for table in reversed(schema.TABLES):
                c.execute(f"DELETE FROM {table} WHERE {'id' if table == 'runs' else 'run_id'}"
                          " = ?", (run_id,))

    def mark_interrupted(self) -> list[str]:
        """Write ``interrupted`` on this namespace's runs whose process is provably gone.

        The explicit write-path step of liveness (reads only show the verdict).

        Returns:
            The ids marked.
        """
        rows = self._read(
            "SELECT * FROM runs WHERE status = 'running' AND host = ?", (hostname(),))
        dead = [r["id"] for r in rows if liveness.is_gone(self._row_dict(r))]
        if not dead:
            return []
        with self._tx() as c:
            for rid in dead:
                c.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = COALESCE("
                    "(SELECT MAX(t_end) FROM intervals WHERE run_id = ?), started_at), error = ?"
                    " WHERE id = ? AND status = 'running'",
                    (rid, "the tracking process ended without stopping the run", rid),
                )
        return dead

    # -- reading ------------------------------------------------------------------------
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
        """Runs among ``ids`` holding values no reader can use, and why."""
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
        stored: list[IntervalRecord] = []
        if self._conn is not None:
            sql = "SELECT * FROM intervals WHERE run_id = ?"
            args: list[Any] = [run_id]
            if device_id is not None:
                sql += " AND device_id = ?"
                args.append(device_id)
            stored = [
                IntervalRecord(r["device_id"], r["t_start"], r["t_end"], r["energy_j"],
                               r["attributed_j"], bool(r["paused"]))
                for r in self._read(sql, args, run_id)
            ]
        if self._spool is not None:
            stored += self._spooled_intervals(run_id, device_id)
        return sorted(stored, key=lambda i: (i.t_start, i.device_id))

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
