"""The SQLite backend: one file in WAL mode, safe for many writers on one node.

The default store (``$WATTPRINT_HOME/wattprint.db``). WAL mode lets readers
go on while one writer commits; ``BEGIN IMMEDIATE`` and a generous busy
timeout queue the writers of many processes. A store that cannot be
written is opened read-only (``mode=ro``, or ``immutable=1`` on a read-only
filesystem where not even the shared-memory file can be made), without
migrating: it can still be read. A file on a network filesystem gets one
warning (:mod:`wattprint.store.fstype`): SQLite's locks are not safe there,
which is what the PostgreSQL backend is for.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wattprint.config import sqlite_url_path
from wattprint.errors import StoreError
from wattprint.store import schema
from wattprint.store.base import _REPAIR, Store, hostname, new_run_id
from wattprint.store.dialect import SQLITE, Conn
from wattprint.store.fstype import warn_if_network

log = logging.getLogger(__name__)

__all__ = ["SqliteConn", "SqliteStore", "Store", "hostname", "new_run_id", "sqlite_path"]


def sqlite_path(target: Path | str) -> Path:
    """The file a SQLite target names: a path, or ``sqlite:///abs/path`` / ``sqlite:rel/path``."""
    text = str(target)
    return sqlite_url_path(text) if text.startswith("sqlite:") else Path(target)


class SqliteConn(Conn):
    """A :mod:`sqlite3` connection speaking the store's SQL."""

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:  # noqa: D102
        self.raw.executemany(statement, rows)

    @property
    def in_transaction(self) -> bool:  # noqa: D102
        return bool(self.raw.in_transaction)

    def columns(self, table: str) -> list[str]:  # noqa: D102
        return [r[1] for r in self.raw.execute(f"PRAGMA table_info({table})").fetchall()]


class SqliteStore(Store):
    """The run store in one SQLite file (see :class:`~wattprint.store.base.Store`)."""

    _errors = (sqlite3.Error,)

    def _locate(self, target: Path | str) -> None:
        self.path = sqlite_path(target)
        self.where = str(self.path)

    def _opened(self) -> None:
        warn_if_network(self.path)

    def _open_read_write(self, timeout_s: float) -> Conn:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            raw = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False,
                                  isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the run store at {self.path}: {exc}; "
                "set WATTPRINT_HOME to a writable directory"
            ) from exc
        raw.row_factory = sqlite3.Row
        self._conn = conn = SqliteConn(raw, SQLITE)
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute("PRAGMA synchronous = NORMAL")
            raw.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            raw.close()
            raise StoreError(f"cannot initialise the run store at {self.path}: {exc}; "
                             f"{_REPAIR}") from exc
        except StoreError:
            raw.close()
            raise
        return conn

    def _readable_anyway(self, exc: StoreError) -> bool:
        cause = exc.__cause__
        if not self.path.is_file() or "newer than this wattprint" in str(exc):
            return False
        # not a database, or malformed (a DatabaseError that is no OperationalError):
        # only `store check` helps
        return not (isinstance(cause, sqlite3.DatabaseError)
                    and not isinstance(cause, sqlite3.OperationalError))

    def _open_read_only(self, timeout_s: float) -> Conn:
        last: Exception | None = None
        # immutable=1 reads a WAL store on a read-only filesystem, where even the
        # shared-memory file cannot be created; nobody can write there meanwhile
        for extra in ("", "&immutable=1"):
            uri = f"file:{quote(str(self.path.absolute()))}?mode=ro{extra}"
            try:
                raw = sqlite3.connect(uri, uri=True, timeout=timeout_s,
                                      check_same_thread=False, isolation_level=None)
            except sqlite3.Error as exc:
                last = exc
                continue
            raw.row_factory = sqlite3.Row
            try:
                row = raw.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.Error as exc:
                raw.close()
                last = exc
                continue
            version = int(row[0]) if row else 0
            if version > schema.latest():
                raw.close()
                raise self._newer(version)
            return SqliteConn(raw, SQLITE)
        raise StoreError(f"cannot read the run store at {self.path}: {last}; {_REPAIR}") from last
