"""What every peer importer shares: the run it produces, its errors, the parsing helpers.

A peer importer (:mod:`.codecarbon`, :mod:`.carbontracker`, :mod:`.eco2ai`)
turns one tool's log into :class:`PeerRun` objects: the run's span, one
:class:`~wattprint.store.DeviceRecord` per energy the tool reports (``source``
the tool, ``measured`` false, a ``model`` text naming where the number came
from), the **device energy** as intervals (the tool's figure divided by the
PUE it applied), the spans it has no figure for as :class:`PeerGap`, and the
tool's own figures under ``peer_*`` keys. :mod:`.storing` writes them.

The helpers read the tools' conventions once: naive local timestamps read in
a given zone, numbers that must be finite and non-negative, CSV files whose
header must hold the columns a tool always writes. Every problem is a
:class:`PeerLogError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from wattprint import validate
from wattprint.errors import PeerLogError, RegionError, WattprintError
from wattprint.store import DeviceRecord, IntervalRecord

__all__ = ["PEERS", "ImportResult", "PeerGap", "PeerLogError", "PeerRun"]

PEERS = ("codecarbon", "carbontracker", "eco2ai")


@dataclass(frozen=True)
class PeerGap:
    """A span of an imported device with no energy figure (e.g. an epoch too short to sample)."""

    device_id: str
    t_start: float
    t_end: float
    reason: str


@dataclass(frozen=True)
class PeerRun:
    """One run read from a peer's log, ready to store.

    Attributes:
        tool: the peer (``codecarbon``, ``carbontracker``, ``eco2ai``).
        key: the peer's identity of the run (its run id, or the log's name).
        project: the peer's project name, if it records one.
        name: the run's name (codecarbon experiment id, eco2AI experiment
            description, carbontracker log prefix).
        started_at: start, UTC epoch seconds.
        ended_at: end, UTC epoch seconds.
        attribution: ``machine`` or ``process`` (codecarbon's tracking mode).
        region: wattprint region code, when the peer's location is known to
            wattprint.
        devices: one per energy the peer reports.
        intervals: device energy (PUE removed) over time.
        gaps: spans without a figure.
        metrics: ``(name, value, step, t)`` logged by the peer (eco2AI epochs).
        info: the peer's own figures (``peer_*`` keys).
    """

    tool: str
    key: str
    project: str | None
    name: str | None
    started_at: float
    ended_at: float
    attribution: str
    region: str | None
    devices: tuple[DeviceRecord, ...]
    intervals: tuple[IntervalRecord, ...]
    gaps: tuple[PeerGap, ...] = ()
    metrics: tuple[tuple[str, float, int | None, float], ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The stored run id: start time (hex seconds) then a hash of tool and key."""
        digest = hashlib.sha1(f"{self.tool}\0{self.key}".encode()).hexdigest()[:8]
        return f"{max(int(self.started_at), 0):08x}{digest}"

    @property
    def energy_j(self) -> float:
        """Total device energy over all intervals (joules)."""
        return sum(i.energy_j for i in self.intervals)


@dataclass(frozen=True)
class ImportResult:
    """What importing one file did.

    Attributes:
        path: the file or directory read.
        tool: the peer.
        imported: ids of the runs stored.
        skipped: ids of runs already in the store (imported before), left as they were.
    """

    path: Path
    tool: str
    imported: list[str]
    skipped: list[str]



#: How carbontracker and eco2AI write times (naive, local).
_TS_FORMAT = "%Y-%m-%d %H:%M:%S"


def _epoch(text: str, fmt: str, tz: tzinfo | None, where: str) -> float:
    try:
        naive = datetime.strptime(text.strip(), fmt)
    except ValueError:
        raise PeerLogError(
            f"{where}: cannot read the time {text!r} (expected {fmt}); is this file from the "
            "right tool?"
        ) from None
    try:
        t_s = (naive.astimezone() if tz is None else naive.replace(tzinfo=tz)).timestamp()
        return validate.timestamp_s(t_s, f"{where}: the time {text.strip()!r}")
    except (OverflowError, ValueError, OSError, WattprintError):
        raise PeerLogError(
            f"{where}: the time {text.strip()!r} is outside 1970 to 2200; check the file"
        ) from None


def _number(text: str | None, column: str, where: str, *, default: float | None = None,
            minimum: float | None = 0.0) -> float:
    if text is None or text.strip() == "":
        if default is not None:
            return default
        raise PeerLogError(f"{where}: column {column!r} is empty; it must be a number")
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        value = float(text)
    except ValueError:
        raise PeerLogError(f"{where}: column {column!r} is {shown!r}, not a number") from None
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise PeerLogError(
            f"{where}: column {column!r} is {shown!r}; it must be a finite number"
            + (f" >= {minimum:g}" if minimum is not None else "")
        )
    if abs(value) > NUMBER_MAX:
        raise PeerLogError(
            f"{where}: column {column!r} is {shown!r}, beyond any physical value "
            f"(at most {NUMBER_MAX:g}); check the file"
        )
    return value


#: the largest number an imported column may hold: 10^9 (1 TWh in kWh, 31 years in
#: seconds, 1 GW: beyond any real run; 1e308 would overflow every sum made from it)
NUMBER_MAX = 1e9


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PeerLogError(f"{path}: no such file; check the path") from None
    except UnicodeDecodeError as exc:
        raise PeerLogError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise PeerLogError(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def _csv_rows(path: Path, required: Sequence[str], tool: str, what: str
              ) -> list[tuple[int, dict[str, str]]]:
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines())
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise PeerLogError(f"{path} line {reader.line_num}: not valid CSV: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise PeerLogError(
            f"{path}: not {what}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(header) or 'nothing'}); give the CSV file {tool} wrote"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if None in row:
                raise PeerLogError(
                    f"{path} line {reader.line_num}: more cells than the header has columns")
            rows.append((reader.line_num, {k: (v or "") for k, v in row.items()}))
    except csv.Error as exc:
        raise PeerLogError(f"{path} line {reader.line_num}: not valid CSV: {exc}") from None
    if not rows:
        raise PeerLogError(f"{path}: has a header but no rows; nothing to import")
    return rows


def _region(*candidates: str) -> str | None:
    """The first candidate wattprint knows as a region, canonical, else ``None``."""
    from wattprint.accounting.intensity import canonical_region

    for code in candidates:
        if code and code.strip():
            try:
                return canonical_region(code.strip())
            except RegionError:
                continue
    return None


def _device(tool: str, local_id: str, kind: str, name: str, model: str,
            extra: dict[str, Any] | None = None) -> DeviceRecord:
    return DeviceRecord(device_id=f"{tool}:{local_id}", kind=kind, name=name, source=tool,
                        measured=False, counter=False, model=model, share_rule=f"peer:{tool}",
                        extra=extra or {})



def _is_number(text: str | None) -> bool:
    try:
        return text is not None and math.isfinite(float(text))
    except ValueError:
        return False
