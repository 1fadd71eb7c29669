"""Every intensity a result used, kept: so a report can be made again with the same numbers.

A live API revises its history (Electricity Maps re-estimates past hours,
NESO replaces forecasts by actuals), and a user file may change or vanish.
A footprint or a plan is only reproducible if the intensities it used are
kept. This module keeps them as **content-addressed files** under
``$WATTPRINT_HOME/series/<digest>.json``: the digest is the SHA-256 of the
canonical JSON of the values, so the same values are kept once, and a file's
name proves its content.

A kept record holds the intervals asked for (``start_s``, ``end_s``), the
intensity of each (gCO2e/kWh), the region, the method, the full
:class:`~wattprint.accounting.series.Provenance` (source, dataset, basis,
licence, fallback), what used it (``"account 3f2a..."``, ``"plan"``) and when.
:class:`KeepingSource` wraps any intensity source and records what it
answered; :class:`KeptIntensity` answers the same intervals with the kept
values, so re-accounting gives the same grams whatever the source does now.
``wattprint series list|show|export`` reads them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wattprint.accounting.intensity import interval_arrays, single_value
from wattprint.accounting.series import (
    IntensitySeries,
    IntensityValue,
    IntensityValues,
    Provenance,
)
from wattprint.errors import IntensityError

__all__ = [
    "KeepingSource",
    "KeptIntensity",
    "KeptSeries",
    "export_csv",
    "keep",
    "keep_series",
    "kept_dir",
    "list_kept",
    "load_kept",
]


def kept_dir(home: Path | str) -> Path:
    """The folder of kept series under a wattprint home."""
    return Path(home) / "series"


@dataclass(frozen=True, eq=False)
class KeptSeries:
    """One kept set of intensities.

    Attributes:
        digest: SHA-256 (hex) of the values' canonical JSON; the file name.
        region: region code.
        method: ``"average"`` or ``"marginal"``.
        provenance: where the values came from.
        start_s: start of each interval, UTC epoch seconds.
        end_s: end of each interval.
        g_per_kwh: intensity of each interval, gCO2e/kWh.
        used_by: what used them (``"account <run id>"``, ``"plan"``).
        kept_at_s: when they were kept, UTC epoch seconds.
        origin: where the values were read (``{"kind": "file", "path",
            "sha256"}``, ``{"kind": "shipped", "package_data", "sha256"}``,
            ``{"kind": "live", "api"}``), ``{}`` when not recorded.
    """

    digest: str
    region: str
    method: str
    provenance: Provenance
    start_s: np.ndarray
    end_s: np.ndarray
    g_per_kwh: np.ndarray
    used_by: str
    kept_at_s: float
    origin: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A short JSON-able description (no values)."""
        return {
            "digest": self.digest,
            "region": self.region,
            "method": self.method,
            "basis": self.provenance.basis,
            "source": self.provenance.source,
            "fallback": self.provenance.fallback,
            "intervals": int(self.start_s.size),
            "from_s": float(self.start_s.min()) if self.start_s.size else None,
            "to_s": float(self.end_s.max()) if self.end_s.size else None,
            "used_by": self.used_by,
            "kept_at_s": self.kept_at_s,
            "origin": dict(self.origin),
        }


def _content(region: str, method: str, provenance: Provenance, starts: np.ndarray,
             ends: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    return {
        "region": region,
        "method": method,
        "provenance": asdict(provenance),
        "start_s": [float(x) for x in starts],
        "end_s": [float(x) for x in ends],
        "g_per_kwh": [float(x) for x in values],
    }


def keep(home: Path | str, region: str, method: str, provenance: Provenance,
         starts_s: np.ndarray, ends_s: np.ndarray, g_per_kwh: np.ndarray, *,
         used_by: str, origin: Mapping[str, Any] | None = None) -> str:
    """Keep intensities of intervals; returns their digest (the same values keep one file).

    Args:
        home: the wattprint home (``$WATTPRINT_HOME``).
        region: region code.
        method: ``"average"`` or ``"marginal"``.
        provenance: where the values came from.
        starts_s: interval starts, UTC epoch seconds.
        ends_s: interval ends.
        g_per_kwh: intensity of each interval.
        used_by: what used them, for ``series list``.
        origin: where they were read (a file and its SHA-256, package data);
            recorded with the first keeping, not part of the digest.

    Returns:
        The digest.

    Raises:
        OSError: the folder cannot be written.
    """
    content = _content(region, method, provenance, np.asarray(starts_s, dtype=np.float64),
                       np.asarray(ends_s, dtype=np.float64),
                       np.asarray(g_per_kwh, dtype=np.float64))
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    folder = kept_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.json"
    if not path.exists():
        record = {**content, "digest": digest, "used_by": used_by, "kept_at_s": time.time(),
                  "origin": dict(origin or {})}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        tmp.replace(path)
    return digest


def keep_series(home: Path | str, series: IntensitySeries, *, used_by: str,
                origin: Mapping[str, Any] | None = None) -> str:
    """Keep a regular series (each step an interval); see :func:`keep`."""
    starts = np.asarray(series.start_s, dtype=np.float64)
    return keep(home, series.region, series.method, series.provenance, starts,
                starts + series.step_s, np.asarray(series.g_per_kwh), used_by=used_by,
                origin=origin)


def _read(path: Path) -> KeptSeries:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return KeptSeries(
        digest=doc["digest"],
        region=doc["region"],
        method=doc["method"],
        provenance=Provenance(**doc["provenance"]),
        start_s=np.array(doc["start_s"], dtype=np.float64),
        end_s=np.array(doc["end_s"], dtype=np.float64),
        g_per_kwh=np.array(doc["g_per_kwh"], dtype=np.float64),
        used_by=doc["used_by"],
        kept_at_s=float(doc["kept_at_s"]),
        origin=dict(doc.get("origin") or {}),
    )


def load_kept(home: Path | str, digest: str) -> KeptSeries:
    """The kept series with this digest, or a unique prefix of it (at least 6 characters).

    Raises:
        IntensityError: none or several match.
    """
    folder = kept_dir(home)
    key = digest.strip().lower()
    found = sorted(folder.glob(f"{key}*.json")) if len(key) >= 6 and folder.is_dir() else []
    if len(found) != 1:
        what = "no kept series" if not found else f"{len(found)} kept series"
        raise IntensityError(
            f"{what} match {digest!r}; list them with `wattprint series list`"
        )
    return _read(found[0])


def list_kept(home: Path | str) -> list[KeptSeries]:
    """Every kept series, oldest first."""
    folder = kept_dir(home)
    if not folder.is_dir():
        return []
    return sorted((_read(p) for p in folder.glob("*.json")), key=lambda k: k.kept_at_s)


def export_csv(kept: KeptSeries) -> str:
    """The kept values as CSV: ``start,end,g_per_kwh,region`` (ISO 8601 UTC)."""
    from wattprint.time import iso_utc

    lines = ["start,end,g_per_kwh,region"]
    for a, b, g in zip(kept.start_s, kept.end_s, kept.g_per_kwh, strict=True):
        lines.append(f"{iso_utc(float(a))},{iso_utc(float(b))},{float(g)!r},{kept.region}")
    return "\n".join(lines) + "\n"


class KeepingSource:
    """Wrap an intensity source and record every answer, to :meth:`keep` afterwards.

    Args:
        source: the source whose answers are kept (a live client, shipped data).
        name: the name results give the source (default: the source's).
    """

    def __init__(self, source: Any, *, name: str | None = None) -> None:
        self.source = source
        self.name = name or source.name
        self.method = source.method
        self._calls: list[tuple[str, np.ndarray, np.ndarray, IntensityValues]] = []

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray) -> IntensityValues:
        """The wrapped source's answer, recorded.

        Raises:
            RegionError: as the wrapped source.
            IntensityError: as the wrapped source.
        """
        starts, ends = interval_arrays(starts_s, ends_s)
        values: IntensityValues = self.source.intensities(region, starts, ends)
        self._calls.append((region, starts.copy(), ends.copy(), values))
        return values

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        """One interval (see :meth:`intensities`)."""
        return single_value(self.intensities(region, np.array([start_s]), np.array([end_s])))

    def keep(self, home: Path | str, *, used_by: str) -> list[str]:
        """Keep everything answered so far; returns the digests (one per call)."""
        return [
            keep(home, v.provenance.region or region, self.method, v.provenance, s, e,
                 np.asarray(v.g_per_kwh), used_by=used_by)
            for region, s, e, v in self._calls
        ]

    @property
    def provenance(self) -> Provenance | None:
        """The provenance of the first answer, ``None`` before any."""
        return self._calls[0][3].provenance if self._calls else None

    def keep_merged(self, home: Path | str, *, used_by: str,
                    origin: Mapping[str, Any] | None = None) -> str | None:
        """Keep everything answered so far as one series (each interval once).

        A run's devices ask for their intervals one call each; one kept
        series answers them all again. ``None`` when nothing was asked.
        """
        if not self._calls:
            return None
        region, _, _, first = self._calls[0]
        seen: dict[tuple[float, float], float] = {}
        for _, s, e, v in self._calls:
            for a, b, g in zip(np.ravel(s), np.ravel(e), np.ravel(v.g_per_kwh), strict=True):
                seen.setdefault((float(a), float(b)), float(g))
        keys = sorted(seen)
        return keep(home, first.provenance.region or region, self.method, first.provenance,
                    np.array([k[0] for k in keys]), np.array([k[1] for k in keys]),
                    np.array([seen[k] for k in keys]), used_by=used_by, origin=origin)


class KeptIntensity:
    """Answer intervals with kept values (the same intervals give the same numbers).

    Args:
        kept: the kept series.
        name: the name results give the source (default ``"kept"``).
    """

    name = "kept"

    def __init__(self, kept: KeptSeries, *, name: str | None = None) -> None:
        self.kept = kept
        if name:
            self.name = name
        self.method = kept.method
        self._index = {(round(float(a), 3), round(float(b), 3)): i
                       for i, (a, b) in enumerate(zip(kept.start_s, kept.end_s, strict=True))}

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray) -> IntensityValues:
        """The kept intensity of each interval.

        Raises:
            IntensityError: an interval was not among those kept.
        """
        starts, ends = interval_arrays(starts_s, ends_s)
        out = np.empty(starts.shape)
        for k, (a, b) in enumerate(zip(starts.ravel(), ends.ravel(), strict=True)):
            i = self._index.get((round(float(a), 3), round(float(b), 3)))
            if i is None:
                raise IntensityError(
                    f"kept series {self.kept.digest[:12]} has no value for the interval "
                    f"{float(a):.0f}-{float(b):.0f} s; it reproduces the result it was kept "
                    "for, not other intervals"
                )
            out.ravel()[k] = self.kept.g_per_kwh[i]
        note = f"kept series {self.kept.digest[:12]} ({self.kept.used_by})"
        return IntensityValues(out, self.kept.provenance.with_fallback(note))

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        """One interval (see :meth:`intensities`)."""
        return single_value(self.intensities(region, np.array([start_s]), np.array([end_s])))
