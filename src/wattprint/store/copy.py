"""Runs from one store into another: ``wattprint store copy`` and ``wattprint merge``.

A run is copied whole, in one transaction of the destination: its row and
every row of the tables that hang off it (:data:`~wattprint.store.schema.TABLES`),
each with every column both stores have. The columns are read from the
stores themselves, never listed here, so a column a migration adds (a job
id, a node, a rank) is carried without this module knowing it; a column the
source lacks takes its default in the destination.

Copying is idempotent: a run already in the destination is left as it is,
so copying twice adds nothing. The one exception is a run the destination
holds as ``running`` that has since ended in the source: it is replaced,
so a copy taken during a job can be brought up to date after it.

:func:`merge` folds node-local SQLite files into one store, each opened
read-only (never changed); runs keep their ids and so their links to one
another (a job's runs on different nodes become one job again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattprint.errors import StoreError
from wattprint.store.base import Store
from wattprint.store.schema import TABLES

__all__ = ["CopyReport", "copy_runs", "merge"]


@dataclass
class CopyReport:
    """What a copy did: runs copied, already there, replaced; rows per table."""

    source: str
    destination: str
    copied: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, other: CopyReport) -> None:
        """Fold another report (of another source) into this one."""
        self.source = f"{self.source}, {other.source}" if self.source else other.source
        self.copied += other.copied
        self.present += other.present
        self.replaced += other.replaced
        for table, n in other.rows.items():
            self.rows[table] = self.rows.get(table, 0) + n

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"source": self.source, "destination": self.destination,
                "copied": self.copied, "already_present": self.present,
                "replaced": self.replaced, "rows": self.rows}


def copy_runs(source: Store, destination: Store, run_ids: Iterable[str] | None = None, *,
              progress: Callable[[int, int], None] | None = None) -> CopyReport:
    """Copy runs (all, or those named) from one store into another.

    Args:
        source: the store read from (may be read-only).
        destination: the store written to.
        run_ids: full run ids to copy; ``None`` for every run of the source.
        progress: called with (runs done, runs in all) after each run.

    Returns:
        Which runs were copied, already present or replaced, and rows per table.

    Raises:
        StoreError: a store cannot be read or written; the run being copied
            when it happened is not in the destination, those before it are.
    """
    report = CopyReport(source.where, destination.where, rows=dict.fromkeys(TABLES, 0))
    columns = _shared_columns(source, destination)
    status_at = columns["runs"].index("status")
    ids = list(run_ids) if run_ids is not None else list(reversed(source.run_ids()))
    for n, rid in enumerate(ids, start=1):
        src_run = source.table_rows("runs", rid, columns["runs"])
        if not src_run:
            raise StoreError(f"no run {rid!r} in {source.where}")
        there = destination.table_rows("runs", rid, ["status"])
        replace = bool(there) and there[0][0] == "running" and src_run[0][status_at] != "running"
        if there and not replace:
            report.present.append(rid)
        else:
            _copy_one(source, destination, rid, columns, src_run, replace, report)
            (report.replaced if replace else report.copied).append(rid)
        if progress is not None:
            progress(n, len(ids))
    return report


def _shared_columns(source: Store, destination: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table in TABLES:
        theirs = set(destination.columns(table))
        out[table] = [c for c in source.columns(table) if c in theirs]
    return out


def _copy_one(source: Store, destination: Store, rid: str, columns: dict[str, list[str]],
              run_row: Sequence[tuple[Any, ...]], replace: bool, report: CopyReport) -> None:
    with destination.transaction():
        if replace:
            destination.delete_rows(rid)
        for table in TABLES:
            rows = run_row if table == "runs" else source.table_rows(table, rid, columns[table])
            destination.put_rows(table, columns[table], rows)
            report.rows[table] += len(rows)


def merge(files: Sequence[Path], destination: Store, *,
          progress: Callable[[int, int], None] | None = None) -> CopyReport:
    """Fold node-local SQLite stores into one store; the files are only read.

    Args:
        files: the SQLite files (one per node).
        destination: the store that receives every run.
        progress: called with (runs done, runs in all) per file.

    Returns:
        The copies of every file, added up.

    Raises:
        StoreError: a file is missing or not a store, or the destination cannot be written.
    """
    from wattprint.store.sqlite import SqliteStore

    total = CopyReport("", destination.where, rows=dict.fromkeys(TABLES, 0))
    for path in files:
        if not Path(path).is_file():
            raise StoreError(f"{path} does not exist; name the node stores to merge")
        src = SqliteStore(path, read_only=True)
        try:
            total.add(copy_runs(src, destination, progress=progress))
        finally:
            src.close()
    return total
