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

Reads never write; they are told in :mod:`wattprint.store.reads`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattprint.errors import StoreError
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.store import liveness, schema, spool
from wattprint.store.dialect import Conn
from wattprint.store.ops import OPS
from wattprint.store.reads import _REPAIR as _REPAIR
from wattprint.store.reads import MAX_ENERGY_J as MAX_ENERGY_J
from wattprint.store.reads import MAX_TIME_S as MAX_TIME_S
from wattprint.store.reads import _Reads
from wattprint.store.schema import RUN_STATUSES

if TYPE_CHECKING:
    from wattprint.distributed import Launch

log = logging.getLogger(__name__)

__all__ = ["Store", "backend_of", "hostname", "new_run_id"]

#: what can go wrong reading a spool file, beside the driver's errors
_INGEST_ERRORS: tuple[type[Exception], ...] = (OSError, KeyError, TypeError, ValueError,
                                               StoreError)


def new_run_id() -> str:
    """A new run id: sortable by time (hex seconds) then random."""
    return f"{int(time.time()):08x}{os.urandom(4).hex()}"


def hostname() -> str:
    """This machine's host name."""
    return os.uname().nodename


def backend_of(target: Path | str) -> str:
    """``postgresql`` for a PostgreSQL URL, else ``sqlite`` (a path or a ``sqlite://`` URL)."""
    text = str(target)
    return "postgresql" if text.startswith(("postgresql:", "postgres:")) else "sqlite"


class Store(_Reads):
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

    # -- what each backend provides (SqliteStore, PostgresStore) ---------------------------
    #: set :attr:`path` (the file that keys the spool) and :attr:`where`
    _locate: Callable[[Path | str], None]
    #: connect for writing, and migrate to the newest schema
    _open_read_write: Callable[[float], Conn]
    #: connect for reading only; refuses a newer schema
    _open_read_only: Callable[[float], Conn]

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
        self._clean_ended: set[str] = set()

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
        self._clean_ended.clear()  # what was checked may change
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
        self._clean_ended.clear()
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

    def add_prediction(self, run_id: str, prediction: dict[str, Any]) -> None:
        """Record one prediction of a run (a ``Prediction.as_dict()`` mapping)."""
        self._write("prediction", {"run_id": run_id, "prediction": prediction})

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

