"""Writing peer runs into the store, whole file or nothing, and choosing the parser by name.

:func:`import_peer_log` is the one entry point (``wattprint import``): it
picks the peer's parser from :data:`~wattprint.report.importers.common.PEERS`
by name, parses the whole file first (so a malformed line stores nothing),
then writes each run with :func:`import_runs`: the run row (``tool`` the
peer, status ``imported``, the ``peer_*`` figures in its info), its devices,
intervals, gaps and metrics, then the run is finished with its end time.

Run ids are derived from the peer's own identity of the run
(:attr:`~wattprint.report.importers.common.PeerRun.run_id`, the store's
primary key), so importing a file again skips the runs already stored. The
whole file is written in one transaction (:meth:`Store.transaction`): a
failure, or a SIGKILL at any moment, leaves every run of the file absent,
never half-written, and a rollback only ever removes this call's own rows.
Concurrent imports of one file take turns on the store's write lock; the
later one finds the runs stored and skips them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import tzinfo
from pathlib import Path

from wattprint.errors import ConfigError, StoreError
from wattprint.report.importers.carbontracker import parse_carbontracker
from wattprint.report.importers.codecarbon import parse_codecarbon
from wattprint.report.importers.common import PEERS, ImportResult, PeerRun
from wattprint.report.importers.eco2ai import parse_eco2ai
from wattprint.store import Store

__all__ = ["import_peer_log", "import_runs", "parse_peer_log"]


def parse_peer_log(tool: str, path: Path, *, tz: tzinfo | None = None,
                   peer_pue: float | None = None) -> list[PeerRun]:
    """Parse a peer's log by the peer's name.

    Args:
        tool: ``codecarbon``, ``carbontracker`` or ``eco2ai``.
        path: its file (or carbontracker's log directory).
        tz: zone of its timestamps (``None``: this machine's).
        peer_pue: the PUE eco2AI was given (eco2AI only; the others record theirs).

    Returns:
        The runs found.

    Raises:
        ConfigError: an unknown tool, or ``peer_pue`` given for a tool that records its own.
        PeerLogError: the log cannot be read.
    """
    key = tool.strip().lower()
    if key not in PEERS:
        raise ConfigError(f"unknown tool {tool!r}: choose one of {', '.join(PEERS)}")
    if peer_pue is not None and key != "eco2ai":
        raise ConfigError(f"{key} records the PUE it applied; --peer-pue is for eco2ai only")
    if key == "codecarbon":
        return parse_codecarbon(path, tz=tz)
    if key == "carbontracker":
        return parse_carbontracker(path, tz=tz)
    return parse_eco2ai(path, tz=tz, peer_pue=1.0 if peer_pue is None else peer_pue)


def import_runs(
    store: Store,
    runs: Sequence[PeerRun],
    *,
    path: Path,
    project: str | None = None,
    default_project: str = "default",
    phase: str = "training",
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Store parsed peer runs, all or none.

    Args:
        store: the run store.
        runs: runs from one file (all the same tool).
        path: the file they came from (for the result).
        project: file every run under this project (default: the peer's project
            name, else ``default_project``).
        default_project: project for runs whose peer records none.
        phase: life-cycle phase of the runs.
        progress: called with ``(done, total)`` after each run.

    Returns:
        The ids imported and the ids skipped (already in the store).

    Raises:
        WattprintError: storing failed; nothing of this call is stored.
    """
    tool = runs[0].tool if runs else "unknown"
    imported: list[str] = []
    skipped: list[str] = []
    try:
        with store.transaction():
            for n, peer in enumerate(runs, start=1):
                rid = peer.run_id
                if store.has_run(rid):
                    skipped.append(rid)
                else:
                    _create(store, peer, rid, project or peer.project or default_project, phase)
                    _fill(store, peer, rid)
                    imported.append(rid)
                if progress is not None:
                    progress(n, len(runs))
    except (sqlite3.Error, StoreError) as exc:
        raise StoreError(f"importing {path} into {store.path} failed: {exc}; nothing from "
                         "this file was kept") from exc
    return ImportResult(Path(path), tool, imported, skipped)


def _create(store: Store, peer: PeerRun, rid: str, project: str, phase: str) -> None:
    duration = max(peer.ended_at - peer.started_at, 0.0)
    info = {k: v for k, v in peer.info.items() if v is not None}
    store.create_run(
        project=project, phase=phase, attribution=peer.attribution,
        interval_s=duration / max(len({(i.t_start, i.t_end) for i in peer.intervals}), 1),
        started_at=peer.started_at, name=peer.name, region=peer.region, tool=peer.tool,
        status="imported", info=info, run_id=rid,
    )


def _fill(store: Store, peer: PeerRun, rid: str) -> None:
    store.add_devices(rid, peer.devices)
    store.append_intervals(rid, peer.intervals)
    for gap in peer.gaps:
        store.add_gap(rid, gap.device_id, gap.t_start, gap.t_end, gap.reason)
    for name, value, step, t in peer.metrics:
        store.log_metric(rid, name, value, step, t)
    store.finish_run(rid, status="imported", ended_at=peer.ended_at)


def import_peer_log(
    store: Store,
    tool: str,
    path: Path,
    *,
    project: str | None = None,
    default_project: str = "default",
    phase: str = "training",
    tz: tzinfo | None = None,
    peer_pue: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Parse a peer's log and store its runs (the whole file or nothing).

    Args:
        store: the run store.
        tool: ``codecarbon``, ``carbontracker`` or ``eco2ai``.
        path: the peer's file (or carbontracker's log directory).
        project: file every run under this project (default: the peer's
            project name, else ``default_project``).
        default_project: project for runs whose peer records none.
        phase: life-cycle phase of the runs.
        tz: zone of the peer's naive timestamps (``None``: this machine's).
        peer_pue: the PUE eco2AI was given (eco2AI only).
        progress: called with ``(done, total)`` after each run stored.

    Returns:
        What was imported and skipped.

    Raises:
        ConfigError: an unknown tool or a bad ``peer_pue``.
        PeerLogError: the log cannot be read (nothing is stored).
        StoreError: the store cannot be written (nothing is left stored).
    """
    runs = parse_peer_log(tool, path, tz=tz, peer_pue=peer_pue)
    return import_runs(store, runs, path=Path(path), project=project,
                       default_project=default_project, phase=phase, progress=progress)
