"""What every peer importer shares: the run it produces, its errors, the parsing helpers.

A peer importer (:mod:`.codecarbon`, :mod:`.carbontracker`, :mod:`.eco2ai`)
turns one tool's log into :class:`PeerRun` objects: the run's span, one
:class:`~wattprint.store.DeviceRecord` per energy the tool reports (``source``
the tool, ``measured`` false, a ``model`` text naming where the number came
from), the **device energy** as intervals (the tool's figure divided by the
PUE it applied), the spans it has no figure for as :class:`PeerGap`, and the
tool's own figures under ``peer_*`` keys. :mod:`.storing` writes them.

**Epochs, one rule for every peer** (:func:`epoch_intervals`). A peer logs
each span it measured -- a codecarbon row, a carbontracker epoch, an eco2AI
row -- as one time and a duration: codecarbon and carbontracker the end,
eco2AI the start, all three **truncated to the whole second**, the durations
to the hundredth or finer. So consecutive epochs can appear to overlap by up
to a second (carbontracker: epoch 2 logged as ending at 08:09:13 after 1.5 s,
epoch 3 at 08:09:14 after 1.5 s). Every importer places them the same way:

1. each epoch is stored over the span its log gives -- its logged time and
   its logged duration -- with its energy, so each interval's mean power is
   the power the peer logged, and each device's total is the peer's total;
2. an apparent overlap is kept as logged, never squeezed (squeezing a 1.5 s,
   240 W epoch into the 1 s left after the previous one would store 360 W,
   a power nobody logged) nor moved (the log gives no other time); the
   overlap, summed over the run, is kept as ``peer_overlap_s`` in the run's
   info, and an overlap longer than the second the truncation explains is
   logged as a warning (the log contradicts itself);
3. an epoch with no figure (carbontracker's ``None``: too short to sample)
   is a :class:`PeerGap` over its span, never 0 J;
4. an epoch of zero duration has no span to hold energy: its energy is added
   to the previous epoch's interval of the same device (the next one's when
   it is the first); alone, it is kept as a zero-length interval.

The helpers read the tools' conventions once: naive local timestamps read in
a given zone, numbers that must be finite and non-negative, CSV files whose
header must hold the columns a tool always writes. Every problem is a
:class:`PeerLogError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from wattprint import validate
from wattprint.errors import PeerLogError, RegionError, WattprintError
from wattprint.store import DeviceRecord, IntervalRecord

__all__ = ["PEERS", "TIME_RESOLUTION_S", "ImportResult", "PeerEpoch", "PeerGap", "PeerLogError",
           "PeerRun", "epoch_intervals", "peer_figures"]

log = logging.getLogger(__name__)

#: the resolution of the times the peers log: all three truncate to the whole second
TIME_RESOLUTION_S = 1.0

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



@dataclass(frozen=True)
class PeerEpoch:
    """One span a peer logged figures for, placed as logged.

    Attributes:
        t_start: start, UTC epoch seconds (the logged time, or the logged end
            minus the logged duration).
        t_end: end, UTC epoch seconds.
        energy_j: device id -> device energy over the span (PUE removed);
            ``None`` where the peer logged no figure.
        gap_reason: why a device has no figure (for its :class:`PeerGap`).
    """

    t_start: float
    t_end: float
    energy_j: Mapping[str, float | None]
    gap_reason: str = "the peer logged no figure for this span"


def epoch_intervals(epochs: Sequence[PeerEpoch], *, what: str = "run"
                    ) -> tuple[list[IntervalRecord], list[PeerGap], float]:
    """Place a run's epochs by the one rule every importer follows (see the module docstring).

    Args:
        epochs: the run's epochs in the order the peer logged them.
        what: names the run in the warning about an overlap the truncation
            of logged times cannot explain.

    Returns:
        The intervals (in epoch order, device order within an epoch), the gaps,
        and the summed overlap of consecutive epochs (seconds).
    """
    intervals: list[IntervalRecord] = []
    gaps: list[PeerGap] = []
    last: dict[str, int] = {}  # device -> index in intervals of its latest interval
    carry: dict[str, float] = {}  # energy of leading zero-duration epochs, per device
    overlap_s = 0.0
    previous_end: float | None = None
    for epoch in epochs:
        span_s = epoch.t_end - epoch.t_start
        if previous_end is not None and epoch.t_start < previous_end and span_s > 0:
            overlap = min(previous_end, epoch.t_end) - epoch.t_start
            overlap_s += overlap
            if overlap > TIME_RESOLUTION_S:
                log.warning("%s: an epoch starts %.3g s before the previous one ends, more "
                            "than the %g s its logged times are truncated to; both are kept "
                            "as logged", what, overlap, TIME_RESOLUTION_S)
        for device_id, energy_j in epoch.energy_j.items():
            if energy_j is None:
                gaps.append(PeerGap(device_id, epoch.t_start, epoch.t_end, epoch.gap_reason))
            elif span_s > 0:
                energy_j += carry.pop(device_id, 0.0)
                last[device_id] = len(intervals)
                intervals.append(IntervalRecord(device_id, epoch.t_start, epoch.t_end,
                                                energy_j, energy_j))
            elif device_id in last:
                k = last[device_id]
                merged = intervals[k].energy_j + energy_j
                intervals[k] = IntervalRecord(device_id, intervals[k].t_start,
                                              intervals[k].t_end, merged, merged)
            else:
                carry[device_id] = carry.get(device_id, 0.0) + energy_j
        if span_s > 0:
            previous_end = epoch.t_end if previous_end is None else max(previous_end,
                                                                        epoch.t_end)
    for device_id, energy_j in carry.items():  # only zero-duration epochs: kept as they are
        t = next(e.t_start for e in epochs if e.energy_j.get(device_id) is not None)
        intervals.append(IntervalRecord(device_id, t, t, energy_j, energy_j))
    return intervals, gaps, overlap_s


#: the figures a ``peer`` object always has (``None`` when the peer's log has no such figure)
PEER_FIGURES = ("tool", "version", "energy_kwh", "co2e_kg", "intensity_g_per_kwh", "pue",
                "duration_s")


def peer_figures(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """An imported run's own tool's figures: its ``peer_*`` info keys, prefix removed.

    Always has :data:`PEER_FIGURES` (``tool``, ``version``, ``energy_kwh`` and
    ``co2e_kg`` as the peer reported them, PUE included, ``intensity_g_per_kwh``,
    ``pue``, ``duration_s``), ``None`` where the log has none; then every other
    ``peer_*`` key the importer kept.

    Returns:
        The figures, or ``None`` for a run that was not imported.
    """
    found = {k[len("peer_"):]: v for k, v in sorted(info.items()) if k.startswith("peer_")}
    if not found:
        return None
    return {**{k: found.pop(k, None) for k in PEER_FIGURES}, **found}


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
