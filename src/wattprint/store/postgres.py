"""The PostgreSQL backend: one database that every node of a cluster writes to.

Selected by a ``postgresql://`` (or ``postgres://``) URL in
``WATTPRINT_STORE`` or ``store = "..."`` in a config file. Many writers on
many nodes append at once: each process holds one connection in autocommit
mode and opens a plain transaction per write (PostgreSQL locks rows, so
writers of different runs never wait for each other). The schema and its
migrations are SQLite's, rendered by :mod:`wattprint.store.dialect`; the first
writer to open an empty database creates it, under an advisory lock so nodes
starting together do not race.

Credentials come from where libpq looks for them: the URL
(``postgresql://user:password@host/db``), a password file (``PGPASSFILE``,
default ``~/.pgpass``), or a service file (``postgresql:///?service=NAME``
with ``PGSERVICEFILE``, default ``~/.pg_service.conf``). They are never
printed: messages name the store by its URL with the password masked
(:func:`wattprint.config.mask_store_url`).

When the server cannot be reached, a run is not lost: a store opened for a
run spools its writes to ``$WATTPRINT_HOME/spool/`` like a SQLite store does,
and the next ``wattprint`` command on that node that reaches the server adds
them.

The driver is psycopg 3 (``pip install 'wattprint[postgres]'``), imported
only here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wattprint.config import default_home, mask_store_url
from wattprint.errors import StoreError
from wattprint.store import schema
from wattprint.store.base import Store
from wattprint.store.dialect import POSTGRES, Conn

__all__ = ["PgConn", "PostgresStore", "Row"]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError("a PostgreSQL store needs psycopg 3: pip install 'wattprint[postgres]'"
                         ) from exc
    return psycopg


class Row(tuple[Any, ...]):
    """A result row readable by position or by column name, like :class:`sqlite3.Row`."""

    _names: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...]) -> Row:  # noqa: D102
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:  # noqa: D102
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    names = tuple(c.name for c in cursor.description or ())
    return lambda values: Row(values, names)


class PgConn(Conn):
    """A psycopg connection speaking the store's SQL."""

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:  # noqa: D102
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(self.dialect.sql(statement), [tuple(r) for r in rows])

    @property
    def in_transaction(self) -> bool:  # noqa: D102
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def columns(self, table: str) -> list[str]:  # noqa: D102
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? AND column_name <> 'rowid'"
            " ORDER BY ordinal_position", (table,)).fetchall()
        return [str(r[0]) for r in rows]


class PostgresStore(Store):
    """The run store in a PostgreSQL database (see :class:`~wattprint.store.base.Store`)."""

    def _locate(self, target: Path | str) -> None:
        self.url = str(target)
        self.where = mask_store_url(self.url)
        # the file that keys this store's spool: one per server and database, never opened
        home = Path(os.environ.get("WATTPRINT_HOME") or default_home())
        digest = hashlib.sha256(self.where.encode()).hexdigest()[:16]
        self.path = home / f"postgresql-{digest}.db"

    def __del__(self) -> None:
        # a store dropped without close() must not leave psycopg to warn about its connection
        with contextlib.suppress(Exception):
            self.close()

    def _connect(self, timeout_s: float) -> Any:
        psycopg = _psycopg()
        self._errors = (psycopg.Error,)
        try:
            raw = psycopg.connect(self.url, autocommit=True, row_factory=_row_factory,
                                  connect_timeout=max(1, int(min(timeout_s, 30))),
                                  application_name="wattprint")
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the run store at {self.where}: "
                             f"{self._masked(exc)}; check the server, the URL and the "
                             "credentials (PGPASSFILE, service file)") from exc
        except ValueError as exc:  # a malformed URL
            raise StoreError(f"the store URL {self.where} is not valid: {self._masked(exc)}"
                             ) from exc
        return raw

    def _masked(self, exc: BaseException) -> str:
        text = str(exc).strip()
        secret = _password(self.url)
        return text.replace(secret, "***") if secret else text

    def _open_read_write(self, timeout_s: float) -> Conn:
        raw = self._connect(timeout_s)
        self._conn = conn = PgConn(raw, POSTGRES)
        try:
            # a writer never waits on a lock longer than it would on SQLite's
            raw.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")
            self._migrate()
        except self._errors as exc:
            raw.close()
            raise StoreError(f"cannot initialise the run store at {self.where}: "
                             f"{self._masked(exc)}") from exc
        except StoreError:
            raw.close()
            raise
        return conn

    def _open_read_only(self, timeout_s: float) -> Conn:
        raw = self._connect(timeout_s)
        try:
            raw.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            row = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except self._errors as exc:
            raw.close()
            raise StoreError(f"cannot read the run store at {self.where}: "
                             f"{self._masked(exc)}") from exc
        version = int(row[0]) if row else 0
        if version > schema.latest():
            raw.close()
            raise self._newer(version)
        return PgConn(raw, POSTGRES)


def _password(url: str) -> str:
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(url)
        found = parts.password or parse_qs(parts.query).get("password", [""])[0]
    except ValueError:
        return ""
    return unquote(found) if found else ""
