"""The spool: where a run goes when its store cannot be written.

A full or read-only disk, a database locked beyond the timeout, a corrupted
file or one of a newer schema must never break the job being measured, nor
lose what it measured. :class:`Spool` appends every write the store could
not take (the run row, devices, intervals, gaps, metrics, phases, the final
status) as JSON lines to a file in ``<store directory>/spool/``, or in the
system temporary directory when that is unwritable. The next ``wattprint``
command that opens the store for writing ingests each spool file into the
store in one transaction and records its name, so a file is never added
twice, then deletes it.

The writer holds an exclusive ``flock`` on its file while the run lasts, so
a file still being written is never ingested half-way. A spool is bounded
(:data:`MAX_BYTES`): beyond the bound, intervals are merged per device into
one interval each (the energy is kept, the time resolution is not) and
metric values are counted instead of kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

__all__ = ["MAX_BYTES", "Spool", "locked_for_ingest", "read_spool", "spool_dirs", "spool_files"]

#: the most one spool file holds before intervals are merged and metrics counted
MAX_BYTES = 64 * 1024 * 1024

#: writes that are always kept, even beyond the bound (small, and the run needs them)
_ESSENTIAL = frozenset({"create_run", "devices", "finish_run", "update_info", "close_phase",
                        "end_pause", "tags", "idle"})

#: ids handed out for phases and pauses opened while spooling, far above any real rowid
SYNTHETIC_ROWID_BASE = 1 << 62


def spool_dirs(db_path: Path) -> list[Path]:
    """Where spool files of a store are kept, in preference order."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return [db_path.parent / "spool", Path(tempfile.gettempdir()) / f"wattprint-spool-{uid}"]


def _key(db_path: Path) -> str:
    try:
        return str(db_path.resolve())
    except OSError:
        return str(db_path.absolute())


class Spool:
    """One spool file being written by this process.

    Args:
        db_path: the store the spooled writes belong to.
        max_bytes: the bound of the file.
        dirs: where to create it, in preference order (default :func:`spool_dirs`).
    """

    def __init__(self, db_path: Path, *, max_bytes: int = MAX_BYTES,
                 dirs: list[Path] | None = None) -> None:
        self.db_path = db_path
        self.max_bytes = max_bytes
        self._dirs = list(dirs) if dirs is not None else spool_dirs(db_path)
        self._fh: IO[str] | None = None
        self.path: Path | None = None
        self.paths: list[Path] = []
        self._part = 0
        self._bytes = 0
        self._merged: dict[tuple[str, str, bool], list[float]] = {}
        self._dropped_metrics: dict[str, int] = {}
        self._next_rowid = SYNTHETIC_ROWID_BASE + (int.from_bytes(os.urandom(3), "big") << 32)
        self._lost = 0
        self._open_next()

    def _open_next(self) -> None:
        """Open a new part in the first directory that takes a header."""
        self._close_fh()
        while self._dirs:
            folder = self._dirs[0]
            name = f"{self.db_path.stem}-{time.time_ns()}-{os.getpid()}-{os.urandom(3).hex()}.jsonl"
            path = folder / name
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                header = {"op": "header", "db": _key(self.db_path), "part": self._part,
                          "pid": os.getpid()}
                fh.write(json.dumps(header) + "\n")
                fh.flush()
            except OSError:
                with contextlib.suppress(OSError, UnboundLocalError):
                    fh.close()
                with contextlib.suppress(OSError):
                    path.unlink()
                self._dirs.pop(0)
                continue
            self._fh, self.path = fh, path
            self.paths.append(path)
            self._part += 1
            self._bytes = 0
            return
        self._fh = self.path = None

    def _close_fh(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None

    def new_rowid(self) -> int:
        """An id for a phase or pause opened while spooling."""
        self._next_rowid += 1
        return self._next_rowid

    def write(self, op: str, doc: dict[str, Any]) -> None:
        """Append one store write (``op`` names it) to the spool."""
        if op == "finish_run":
            self._flush_merged(doc["run_id"])
        line = json.dumps({"op": op, **doc}) + "\n"
        if self._bytes + len(line) > self.max_bytes and op not in _ESSENTIAL:
            self._absorb(op, doc)
            return
        self._append(line)

    def _append(self, line: str) -> None:
        if self._fh is None and self._dirs:
            self._open_next()  # released after a run finished, written again: a new part
        while self._fh is not None:
            try:
                self._fh.write(line)
                self._fh.flush()
            except OSError:
                self._dirs.pop(0) if self._dirs else None
                self._open_next()  # e.g. the disk filled: go on in the next directory
                continue
            self._bytes += len(line)
            return
        self._lost += 1
        if self._lost == 1:
            log.warning("wattprint can write neither its store nor a spool file; measurements "
                        "of this run are kept in memory only")

    def _absorb(self, op: str, doc: dict[str, Any]) -> None:
        """Keep an over-the-bound write in bounded form."""
        if op == "intervals":
            for device_id, t0, t1, energy_j, attributed_j, paused in doc["rows"]:
                key = (doc["run_id"], device_id, bool(paused))
                acc = self._merged.get(key)
                if acc is None:
                    self._merged[key] = [t0, t1, energy_j, attributed_j]
                else:
                    acc[0], acc[1] = min(acc[0], t0), max(acc[1], t1)
                    acc[2] += energy_j
                    acc[3] += attributed_j
        else:
            self._dropped_metrics[doc.get("run_id", "")] = (
                self._dropped_metrics.get(doc.get("run_id", ""), 0) + 1)

    def _flush_merged(self, run_id: str | None = None) -> None:
        keys = [k for k in self._merged if run_id is None or k[0] == run_id]
        for key in keys:
            t0, t1, energy_j, attributed_j = self._merged.pop(key)
            self._append(json.dumps({"op": "intervals", "run_id": key[0], "rows": [
                [key[1], t0, t1, energy_j, attributed_j, int(key[2])]]}) + "\n")
        for rid in [r for r in self._dropped_metrics if run_id is None or r == run_id]:
            n = self._dropped_metrics.pop(rid)
            self._append(json.dumps({"op": "update_info", "run_id": rid,
                                     "info": {"spool_dropped_writes": n}}) + "\n")

    def close(self) -> None:
        """Write what was merged and release the file for ingestion; idempotent.

        A later write opens a new file.
        """
        self._flush_merged()
        self._close_fh()

    def __del__(self) -> None:
        # A store dropped without close() (a meter never stopped, an app that exits
        # without finishing its run) must not leave its file handle to the garbage
        # collector: release it, and what was merged, here.
        with contextlib.suppress(Exception):  # nothing can be reported from a finaliser
            self.close()


def spool_files(db_path: Path) -> list[Path]:
    """Spool files waiting for the store at ``db_path``, oldest first."""
    key = _key(db_path)
    found: list[tuple[int, int, Path]] = []
    for folder in spool_dirs(db_path):
        try:
            candidates = sorted(folder.glob("*.jsonl"))
        except OSError:
            continue
        for path in candidates:
            try:
                with open(path, encoding="utf-8") as fh:
                    header = json.loads(fh.readline())
            except (OSError, ValueError):
                continue
            if isinstance(header, dict) and header.get("db") == key:
                created = int(path.name.rsplit("-", 3)[-3]) if path.name.count("-") >= 3 else 0
                found.append((created, int(header.get("part", 0)), path))
    return [p for _, _, p in sorted(found)]


@contextlib.contextmanager
def locked_for_ingest(path: Path) -> Iterator[bool]:
    """Hold a spool file's lock while ingesting; yields ``False`` if its writer still runs."""
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        fh.close()


def read_spool(path: Path) -> list[dict[str, Any]]:
    """The writes in a spool file, header first; a torn last line (a killed writer) is skipped."""
    ops: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and "op" in doc:
                ops.append(doc)
    return ops
