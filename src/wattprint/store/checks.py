"""``wattprint store check`` and ``store recover``: say what is wrong, save what is readable.

:func:`check` opens the file read-only and never changes it. It reports,
each with its repair: a file that is not a SQLite database or fails
SQLite's integrity check (recover it), a schema newer than this wattprint
(upgrade), missing tables (recover), runs holding values no reader can use
(delete them), runs left ``running`` whose process is provably gone, spool
files waiting to be added, and a store on a network filesystem.

:func:`recover` copies what is readable into a new store, like the
``sqlite3`` shell's ``.recover``: table by table, in rowid ranges, falling
back to single rows around damage, skipping every row that cannot be read or
whose run is missing. The damaged file is never written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wattprint.errors import StoreError
from wattprint.store import liveness, spool
from wattprint.store.fstype import network_filesystem
from wattprint.store.schema import SCHEMA_VERSION, TABLES
from wattprint.store.sqlite import SqliteStore

__all__ = ["CheckReport", "RecoverReport", "check", "recover"]


@dataclass
class CheckReport:
    """What :func:`check` found: problems (each with its repair) and notes."""

    path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the store has no problem."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"path": str(self.path), "ok": self.ok, "problems": self.problems,
                "notes": self.notes}


def _recover_hint(path: Path) -> str:
    return (f"copy out what is readable with `wattprint store recover --to {path}.recovered`, "
            f"then move {path} aside and the recovered file in its place")


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro&immutable=1", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def check(path: Path) -> CheckReport:
    """Inspect a store without changing it.

    Args:
        path: the database file.

    Returns:
        The problems found, each saying how to repair it, and notes.
    """
    report = CheckReport(path)
    fs = network_filesystem(path)
    if fs is not None:
        report.notes.append(f"the store is on {fs}: set WATTPRINT_HOME to a node-local directory")
    waiting = spool.spool_files(path)
    if waiting:
        report.notes.append(f"{len(waiting)} spool file(s) wait to be added ({waiting[0].parent}); "
                            "any wattprint command that can write the store adds them")
    if not path.exists():
        report.notes.append(f"there is no store at {path} yet; `wattprint run` creates it")
        return report
    try:
        conn = _connect_ro(path)
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    except sqlite3.Error as exc:
        report.problems.append(f"{path} cannot be read as a SQLite database ({exc}); "
                               + _recover_hint(path))
        return report
    try:
        if integrity != ["ok"]:
            report.problems.append(f"{path} is damaged ({'; '.join(integrity[:3])}); "
                                   + _recover_hint(path))
        _check_schema(conn, report)
        if report.problems:
            return report
        _check_runs(path, report)
    except sqlite3.Error as exc:
        report.problems.append(f"{path} cannot be read ({exc}); " + _recover_hint(path))
    finally:
        conn.close()
    return report


def _check_schema(conn: sqlite3.Connection, report: CheckReport) -> None:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in names:
        report.problems.append(f"{report.path} is not a wattprint store (no meta table); set "
                               "WATTPRINT_HOME to another directory")
        return
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        report.problems.append(f"the store has schema version {version}, newer than this "
                               f"wattprint ({SCHEMA_VERSION}); upgrade wattprint")
        return
    missing = [t for t in TABLES if t not in names]
    if missing:
        report.problems.append(f"tables missing: {', '.join(missing)}; " + _recover_hint(
            report.path))


def _check_runs(path: Path, report: CheckReport) -> None:
    store = SqliteStore(path, read_only=True)
    try:
        ids = store.run_ids()
        bad = store._bad_values(ids)
        for rid in ids:
            try:
                if rid in bad:
                    raise store._bad(rid, bad[rid])
                store.run(rid)
            except StoreError as exc:
                report.problems.append(str(exc).split("; run `wattprint store check`")[0]
                                       + f"; remove it with `wattprint delete {rid}`")
        here = liveness.this_process()
        for row in store._read("SELECT * FROM runs WHERE status = 'running'", ()):
            doc = store._row_dict(row)
            if liveness.is_gone(doc, here):
                report.notes.append(f"run {doc['id']} is stored as running but its process is "
                                    "gone; the next `wattprint run` marks it interrupted")
        report.notes.append(f"{len(ids)} run(s), schema version {store.schema_version()}")
    finally:
        store.close()


@dataclass
class RecoverReport:
    """What :func:`recover` copied and skipped, per table."""

    source: Path
    destination: Path
    copied: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"source": str(self.source), "destination": str(self.destination),
                "copied": self.copied, "skipped": self.skipped, "errors": self.errors}


def recover(source: Path, destination: Path, *, chunk_rows: int = 512) -> RecoverReport:
    """Copy every readable row of a damaged store into a new store.

    Args:
        source: the damaged store (opened read-only, never written).
        destination: the new store; must not exist yet.
        chunk_rows: rows read per query before falling back to single rows.

    Returns:
        Rows copied and skipped per table.

    Raises:
        StoreError: the destination exists, or the source cannot be opened at all.
    """
    if destination.exists():
        raise StoreError(f"{destination} exists; recover into a new file")
    if source.resolve() == destination.resolve():
        raise StoreError("recover into another file than the damaged one")
    try:
        src = _connect_ro(source)
        src.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"{source} cannot be read as a SQLite database ({exc}); nothing can "
                         "be recovered from it") from exc
    report = RecoverReport(source, destination)
    dest = SqliteStore(destination)
    try:
        dest_conn = dest._conn.raw
        run_ids: set[str] = set()
        for table in TABLES:
            copied = skipped = 0
            try:
                columns = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
                top = src.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
            except sqlite3.Error as exc:
                report.errors.append(f"{table}: {exc}")
                continue
            wanted = [c for c in columns if c in _dest_columns(dest_conn, table)]
            for start in range(0, int(top) + 1, chunk_rows):
                for row in _read_range(src, table, wanted, start, start + chunk_rows):
                    if row is None:
                        skipped += 1
                        continue
                    doc = dict(zip(wanted, row, strict=True))
                    if table == "runs":
                        doc["info"] = _json_text(doc.get("info"))
                    elif doc.get("run_id") not in run_ids:
                        skipped += 1
                        continue
                    try:
                        dest_conn.execute(
                            f"INSERT OR IGNORE INTO {table} ({', '.join(doc)}) VALUES "
                            f"({', '.join('?' * len(doc))})", list(doc.values()))
                    except sqlite3.Error:
                        skipped += 1
                        continue
                    if table == "runs":
                        run_ids.add(str(doc["id"]))
                    copied += 1
            report.copied[table] = copied
            report.skipped[table] = skipped
    finally:
        src.close()
        dest.close()
    return report


def _dest_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _read_range(src: sqlite3.Connection, table: str, columns: list[str], low: int,
                high: int) -> list[tuple[Any, ...] | None]:
    """Rows with ``low <= rowid < high``; ``None`` for each row that cannot be read."""
    select = f"SELECT {', '.join(columns)} FROM {table} WHERE rowid"
    try:
        return [tuple(r) for r in src.execute(f"{select} >= ? AND rowid < ?", (low, high))]
    except sqlite3.Error:
        pass
    rows: list[tuple[Any, ...] | None] = []
    for rowid in range(low, high):
        try:
            row = src.execute(f"{select} = ?", (rowid,)).fetchone()
        except sqlite3.Error:
            rows.append(None)
            continue
        if row is not None:
            rows.append(tuple(row))
    return rows


def _json_text(value: Any) -> str:
    """Valid JSON for ``runs.info``: the stored text, or the text kept under a key."""
    try:
        if isinstance(json.loads(value), dict):
            return str(value)
    except (TypeError, ValueError):
        pass
    return json.dumps({"unreadable_info": str(value)})
