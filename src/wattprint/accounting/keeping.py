"""Account a run and keep the series it used, so the next accounting gives the same numbers.

A footprint read from a user file, a shipped hourly series or a live API is
only reproducible while that source gives the same values: a user edits the
file, a new release of wattprint ships revised data, an API re-estimates
its history. :func:`account_keeping` therefore keeps the values of every
interval it read (:mod:`wattprint.accounting.kept`), with where they came
from (the file's path and SHA-256, the package data file and its SHA-256,
or the API), and records the kept series' digest in the run's info under
``kept_series``, keyed by what was asked::

    "kept_series": {
        "file:/data/grid.csv:average": {"digest": "3fa2...", "origin": {...}, ...},
        "hourly:DE:average": {...},
        "live:ukgrid:GB:average": {...}
    }

Asked the same again, it accounts with the kept values instead of the
source, and says when the source has changed since; ``refresh=True``
(``wattprint account --refresh-series``) reads the source afresh and keeps
(and records) the new values. The shipped annual tables are not series and
are not kept: their year is in the provenance, and ``--year`` pins it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from wattprint.accounting.account import AccountedRun, AccountingOptions, account_run
from wattprint.accounting.kept import KeepingSource, KeptIntensity, load_kept
from wattprint.errors import IntensityError
from wattprint.store import Store

logger = logging.getLogger(__name__)

__all__ = ["KeptUse", "account_keeping", "file_sha256", "shipped_origin"]

#: The run-info key that maps what was asked to the kept series.
INFO_KEY = "kept_series"


def file_sha256(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _package_sha256(name: str) -> str | None:
    path = resources.files("wattprint") / "data" / "intensity" / name
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_origin(dataset: str) -> dict[str, Any]:
    """The package data file a shipped provenance's ``dataset`` names, with its SHA-256.

    ``{}`` when the dataset does not start with a shipped intensity file.
    """
    name = dataset.split(" ", 1)[0]
    sha = _package_sha256(name) if name and "/" not in name else None
    return {"kind": "shipped", "package_data": name, "sha256": sha} if sha else {}


@dataclass(frozen=True)
class KeptUse:
    """Which kept series an accounting used, and what to tell the user.

    Attributes:
        key: what was asked (``"file:/data/grid.csv:average"``).
        digest: the kept series' digest.
        reused: true when the values came from the series kept earlier.
        note: what the user should know (the source changed since), or ``None``.
    """

    key: str
    digest: str
    reused: bool
    note: str | None = None


@dataclass(frozen=True)
class _Asked:
    key: str
    name: str
    make: Callable[[], Any]
    origin: Callable[[Any], dict[str, Any]]  # from the answer's provenance dataset


def _asked(opts: AccountingOptions, run_region: str | None) -> _Asked | None:
    from wattprint.accounting.hourly import HourlyIntensity, SeriesIntensity
    from wattprint.accounting.intensity import AnnualIntensity
    from wattprint.accounting.seriesfile import load_series

    method = opts.method
    source = opts.source
    if source is not None:
        if isinstance(source, (KeptIntensity, KeepingSource)):
            return None
        name = str(getattr(source, "name", "source"))
        region = opts.region or run_region or ""
        return _Asked(f"live:{name}:{region}:{method}", name, lambda: source,
                      lambda _: {"kind": "live", "api": str(getattr(source, "title", name))})
    if opts.intensity_file is not None:
        path = Path(opts.intensity_file).resolve()

        def file_origin(_: Any) -> dict[str, Any]:
            return {"kind": "file", "path": str(path), "sha256": file_sha256(path)}

        return _Asked(f"file:{path}:{method}", f"series {path.name}",
                      lambda: SeriesIntensity(load_series(path, method=method)), file_origin)
    if opts.hourly:
        region = opts.region or run_region or ""
        year = opts.year
        return _Asked(f"hourly:{region}:{method}", "hourly",
                      lambda: HourlyIntensity(replay_year=True, fallback=AnnualIntensity(
                          method=method, year=year)),
                      lambda dataset: shipped_origin(str(dataset)))
    return None


def _changed(origin: dict[str, Any]) -> str | None:
    """Why the source of a kept series now gives other values, or ``None`` if it does not."""
    kind = origin.get("kind")
    if kind == "file":
        path = str(origin.get("path", ""))
        try:
            now = file_sha256(path)
        except OSError:
            return f"{path} can no longer be read"
        return None if now == origin.get("sha256") else f"{path} has changed since"
    if kind == "shipped":
        name = str(origin.get("package_data", ""))
        shipped_sha = _package_sha256(name) if name else None
        same = shipped_sha == origin.get("sha256")
        return None if same else f"the shipped {name} has changed since"
    if kind == "live":
        return None  # an API's history may have changed; only asking again would tell
    return None


def account_keeping(store: Store, ref: str, opts: AccountingOptions, home: Path | str, *,
                    refresh: bool = False) -> tuple[AccountedRun, KeptUse | None]:
    """Account a run with the series kept for it, or read the source and keep what it gave.

    Args:
        store: the run store.
        ref: run id, prefix or ``"last"``.
        opts: how to account (a user file, the shipped hourly series or a live
            source are kept; the annual tables are not series and are not).
        home: the wattprint home holding the kept series.
        refresh: read the source afresh even when a kept series exists (the
            new values are kept and recorded in its place).

    Returns:
        ``(accounted, use)``: ``use`` is ``None`` when nothing was kept.

    Raises:
        RunNotFound: no such run.
        RegionError: an unknown region code.
        IntensityError: the source cannot be used, or the series cannot be kept.
    """
    run = store.run(ref)
    asked = _asked(opts, run.region)
    if asked is None:
        return account_run(store, run.id, opts), None
    recorded_all = run.info.get(INFO_KEY)
    recorded_all = dict(recorded_all) if isinstance(recorded_all, dict) else {}
    recorded = recorded_all.get(asked.key)
    note = None
    if isinstance(recorded, dict) and not refresh:
        digest = str(recorded.get("digest", ""))
        try:
            kept = load_kept(home, digest)
            accounted = account_run(store, run.id, dataclasses.replace(
                opts, source=KeptIntensity(kept, name=asked.name)))
        except IntensityError as exc:
            note = (f"the series kept for this run ({digest[:12]}) cannot be used ({exc}); "
                    "read the source afresh")
            logger.info(note)
        else:
            changed = _changed(dict(recorded.get("origin") or {}))
            what = "" if changed is None else f"{changed}; "
            return accounted, KeptUse(asked.key, kept.digest, True, (
                f"{what}intensity from the series kept when this run was first accounted "
                f"({kept.digest[:12]}), so the numbers are the same; --refresh-series reads "
                "the source again"))
    keeping = KeepingSource(asked.make(), name=asked.name)
    accounted = account_run(store, run.id, dataclasses.replace(opts, source=keeping))
    dataset = keeping.provenance.dataset if keeping.provenance is not None else ""
    try:
        origin = asked.origin(dataset)
        new_digest = keeping.keep_merged(home, used_by=f"account {run.id}", origin=origin)
    except OSError as exc:
        raise IntensityError(f"cannot keep the series this accounting used under {home}: "
                             f"{exc}") from exc
    if new_digest is None:
        return accounted, None
    recorded_all[asked.key] = {"digest": new_digest, "origin": origin, "kept_at_s": time.time(),
                               "method": opts.method}
    store.update_info(run.id, {INFO_KEY: recorded_all})
    return accounted, KeptUse(asked.key, new_digest, False, note)
