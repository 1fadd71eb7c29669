"""Plan a future job: when to run it, or in which slots, to emit the least before a deadline.

Given an intensity series that covers the coming hours (a forecast, or past
data used as a stand-in for one), a job's run time and power, and a
deadline, the planner answers the two questions of carbon-aware scheduling
(Dodge et al. 2022):

* **flexible start** — the one contiguous start, between now and the latest
  start that still meets the deadline, with the least emissions;
* **pause and resume** — the set of slots, in order, with the least
  emissions, if the job can be checkpointed and paused.

Both are compared with starting now. The arithmetic is that of
:mod:`wattprint.schedule.whatif` for a single start time.

Time is on the series grid. The job may begin in the slot that holds
``now`` (it then starts now, and that slot counts whole); every later start
is a slot boundary. The deadline is rounded down to a slot boundary. If the
series ends before the deadline, the plan uses the slots it has and says so
in ``notes``. ``data_age_s`` is ``now`` minus the end of the data: negative
when the series reaches into the future (a forecast), large and positive when
old data stands in for a forecast — a plan is only as good as its data.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wattprint.accounting.series import IntensitySeries
from wattprint.errors import ConfigError, IntensityDataError, IntensityError
from wattprint.schedule.whatif import (
    job_profile_w,
    pause_resume_slots,
    series_provenance,
    validate_series,
)
from wattprint.time import iso_utc
from wattprint.units import J_PER_KWH

logger = logging.getLogger(__name__)

# Tolerance (in steps) when rounding times to the series grid.
_GRID_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Plan:
    """A recommended schedule for one job, with its expected emissions.

    Attributes:
        region: the series' region (empty if it has none).
        now_s: the time the plan was made for, UTC epoch seconds.
        deadline_s: the job must be done by then, UTC epoch seconds.
        duration_s: the job's run time, seconds.
        energy_kwh: the job's energy, kWh.
        step_s: the series step, seconds.
        start_now_co2e_g: expected gCO2e when started now.
        start_s: recommended start of a contiguous run (flexible start).
        end_s: its end, ``start_s + duration_s``.
        flexible_start_co2e_g: expected gCO2e of that run.
        segments_s: pause and resume: the runs ``(start_s, end_s)`` in time
            order, whole slots (the job may end before the last one ends).
        pause_resume_co2e_g: expected gCO2e when run in those segments.
        pauses: number of pauses (gaps between segments).
        data_source: the series' region, method and provenance.
        data_start_s: start of the series' first slot.
        data_end_s: end of the series' last slot.
        data_age_s: ``now_s − data_end_s`` (negative: the data reaches ahead).
        notes: anything the user should know (data ending before the deadline).
    """

    region: str
    now_s: float
    deadline_s: float
    duration_s: float
    energy_kwh: float
    step_s: float
    start_now_co2e_g: float
    start_s: float
    end_s: float
    flexible_start_co2e_g: float
    segments_s: tuple[tuple[float, float], ...]
    pause_resume_co2e_g: float
    pauses: int
    data_source: dict[str, Any]
    data_start_s: float
    data_end_s: float
    data_age_s: float
    notes: tuple[str, ...] = ()

    @property
    def flexible_saving_g(self) -> float:
        """gCO2e saved by the recommended start, against starting now."""
        return self.start_now_co2e_g - self.flexible_start_co2e_g

    @property
    def flexible_saving_fraction(self) -> float:
        """Fraction saved by the recommended start (0.25 = 25 % less)."""
        return _fraction(self.flexible_saving_g, self.start_now_co2e_g)

    @property
    def pause_resume_saving_g(self) -> float:
        """gCO2e saved by pausing and resuming, against starting now."""
        return self.start_now_co2e_g - self.pause_resume_co2e_g

    @property
    def pause_resume_saving_fraction(self) -> float:
        """Fraction saved by pausing and resuming (0.25 = 25 % less)."""
        return _fraction(self.pause_resume_saving_g, self.start_now_co2e_g)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict of the plan, savings included."""
        return {
            "region": self.region,
            "now_s": self.now_s,
            "deadline_s": self.deadline_s,
            "duration_s": self.duration_s,
            "energy_kwh": self.energy_kwh,
            "step_s": self.step_s,
            "start_now": {"co2e_g": self.start_now_co2e_g},
            "flexible_start": {
                "start_s": self.start_s,
                "end_s": self.end_s,
                "co2e_g": self.flexible_start_co2e_g,
                "saving_g": self.flexible_saving_g,
                "saving_fraction": self.flexible_saving_fraction,
            },
            "pause_resume": {
                "segments_s": [list(seg) for seg in self.segments_s],
                "pauses": self.pauses,
                "co2e_g": self.pause_resume_co2e_g,
                "saving_g": self.pause_resume_saving_g,
                "saving_fraction": self.pause_resume_saving_fraction,
            },
            "data": {
                "source": self.data_source,
                "start_s": self.data_start_s,
                "end_s": self.data_end_s,
                "age_s": self.data_age_s,
            },
            "notes": list(self.notes),
        }


def _fraction(saving: float, whole: float) -> float:
    return saving / whole if whole > 0 else 0.0


def _segments(
    slots: npt.NDArray[np.int64], first_start_s: float, step_s: float, now_s: float
) -> tuple[tuple[float, float], ...]:
    """Merge consecutive slot indices into (start_s, end_s) runs."""
    runs: list[tuple[float, float]] = []
    begin = prev = int(slots[0])
    for s in [int(x) for x in slots[1:]] + [-2]:
        if s != prev + 1:
            runs.append(
                (max(now_s, first_start_s + begin * step_s), first_start_s + (prev + 1) * step_s)
            )
            begin = s
        prev = s
    return tuple(runs)


def _when(t_s: float) -> str:
    """A time in a message: ISO 8601 UTC (epoch seconds mean nothing to a reader)."""
    try:
        return iso_utc(t_s) or str(t_s)
    except (OverflowError, OSError, ValueError):  # beyond what a datetime can hold
        return str(t_s)


def plan(
    series: IntensitySeries,
    duration_s: float,
    deadline_s: float,
    *,
    power_w: float | None = None,
    profile_w: npt.ArrayLike | None = None,
    profile_step_s: float | None = None,
    now_s: float | None = None,
) -> Plan:
    """Recommend when to run a job (and in which slots, if it can pause) before a deadline.

    Args:
        series: intensity series covering now to the deadline (a forecast).
        duration_s: the job's run time, seconds.
        deadline_s: the job must be done by then, UTC epoch seconds.
        power_w: its power, watts (``None``: 1 W; savings as fractions do not
            depend on it, grams do).
        profile_w: mean watts per profile step, instead of ``power_w``.
        profile_step_s: the profile's step (default: the series step).
        now_s: the time to plan from, UTC epoch seconds (default: now).

    Returns:
        The plan.

    Raises:
        ConfigError: a bad job description, or a deadline too soon for the job.
        IntensityError: the series does not cover now, or ends too soon.
        IntensityDataError: the series is malformed or has a gap before the
            deadline.
    """
    start_s, step_s, values = validate_series(
        series, str(getattr(series, "region", "") or "series")
    )
    now = time.time() if now_s is None else float(now_s)
    if not math.isfinite(deadline_s) or deadline_s <= now:
        raise ConfigError(
            f"deadline {_when(deadline_s)} is not after now ({_when(now)}); give a deadline "
            "in the future"
        )
    p = job_profile_w(
        step_s,
        duration_s=duration_s,
        power_w=power_w,
        profile_w=profile_w,
        profile_step_s=profile_step_s,
    )
    d = p.size
    first = float(start_s[0])
    n = values.size
    data_end = first + n * step_s
    i0 = math.floor((now - first) / step_s + _GRID_TOLERANCE)
    if i0 < 0 or i0 >= n:
        raise IntensityError(
            f"the series covers {_when(first)} to {_when(data_end)}, not now ({_when(now)}); "
            "fetch a series (forecast) that covers now"
        )
    i_end = math.floor((deadline_s - first) / step_s + _GRID_TOLERANCE)
    notes: list[str] = []
    if i_end - i0 < d:
        raise ConfigError(
            f"the deadline leaves {max(i_end - i0, 0)} slots of {step_s:g} s but the job needs "
            f"{d}; move the deadline to at least {_when(first + (i0 + d) * step_s)}"
        )
    if i_end > n:
        notes.append(
            f"the series ends at {_when(data_end)}, before the deadline; "
            "planned within the data"
        )
        logger.warning("plan: intensity data ends before the deadline; planning within the data")
        i_end = n
        if i_end - i0 < d:
            raise IntensityError(
                f"the series has {n - i0} slots left from now but the job needs {d}; "
                "fetch a series (forecast) that reaches further"
            )
    ci = values[i0:i_end]
    if np.isnan(ci).any():
        gap = first + (i0 + int(np.flatnonzero(np.isnan(ci))[0])) * step_s
        raise IntensityDataError(
            f"the series has no value for the slot starting {_when(gap)}; "
            "fill the gap or use another source"
        )
    w = ci.size - d
    g_per_w_slot = step_s / J_PER_KWH
    sums = np.correlate(ci, p, mode="valid") * g_per_w_slot  # start offsets 0..w
    best = int(np.argmin(sums))
    flexible_start = now if best == 0 else first + (i0 + best) * step_s
    slots = pause_resume_slots(ci, p, w)
    pause_resume_g = float(ci[slots] @ p) * g_per_w_slot
    segments = _segments(slots + i0, first, step_s, now)
    job_duration_s = (
        float(np.asarray(profile_w).size * (profile_step_s or step_s))
        if profile_w is not None
        else float(duration_s)
    )
    source = series_provenance(series)
    return Plan(
        region=str(getattr(series, "region", "") or ""),
        now_s=now,
        deadline_s=float(deadline_s),
        duration_s=job_duration_s,
        energy_kwh=float(p.sum()) * step_s / J_PER_KWH,
        step_s=step_s,
        start_now_co2e_g=float(sums[0]),
        start_s=flexible_start,
        end_s=flexible_start + job_duration_s,
        flexible_start_co2e_g=float(sums[best]),
        segments_s=segments,
        pause_resume_co2e_g=pause_resume_g,
        pauses=len(segments) - 1,
        data_source=source,
        data_start_s=first,
        data_end_s=data_end,
        data_age_s=now - data_end,
        notes=tuple(notes),
    )


def forecast_plan_series(history: IntensitySeries, now_s: float, deadline_s: float
                         ) -> IntensitySeries:
    """The intensity to plan over when no live forecast API is configured.

    A forecast from ``history`` (:func:`wattprint.accounting.forecast.forecast_window`)
    from ``now_s`` to the deadline (at most a week; past that the plan uses
    the slots it has and says so). Its provenance's ``fallback`` names the
    model, the history, and the typical-year replay that bridges a history
    ending before now.

    Raises:
        IntensityError: the history is too short to forecast from.
    """
    from wattprint.accounting.forecast import forecast_window

    series, _ = forecast_window(history, now_s, deadline_s)
    return series


@dataclass(frozen=True)
class PlanForecast:
    """The forecast a plan (or live pausing) runs on when no live forecast API is configured.

    Attributes:
        series: the p50 forecast from now, as a series.
        label: which forecast and history, for people: ``"forecast: linear
            model on history to 2026-11-30 (shipped 2025 + 312 kept live hours)"``.
        model: the model's description.
        basis: ``"lifecycle"``, ``"direct"`` or ``"unknown"``, as the history.
        history: what the history is made of (``"shipped 2025 + 312 kept live hours"``).
        history_start_s: start of the history, UTC epoch seconds.
        history_end_s: end of the history (the last kept live hour, or the shipped end).
        live_hours: hours of kept live values in the history.
        notes: what else the user should know (the typical-year bridge, values left out).
    """

    series: IntensitySeries
    label: str
    model: str
    basis: str
    history: str
    history_start_s: float
    history_end_s: float
    live_hours: int
    notes: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """One note for the plan or the pausing record: no live API, which forecast, and why."""
        return "; ".join((f"no live forecast API configured: intensity {self.label}, "
                          f"{self.model} ({self.basis} basis)", *self.notes))

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (no values: they are the plan's data)."""
        return {"label": self.label, "model": self.model, "basis": self.basis,
                "history": self.history, "history_start_s": self.history_start_s,
                "history_end_s": self.history_end_s, "kept_live_hours": self.live_hours,
                "notes": list(self.notes)}


def forecast_from_history(shipped: IntensitySeries, now_s: float, deadline_s: float, *,
                          home: Path | str | None) -> PlanForecast:
    """A forecast from now to the deadline from the shipped series and the live values kept.

    Args:
        shipped: the region's shipped hourly series.
        now_s: the forecast's origin (the plan's now, the job's start).
        deadline_s: the deadline (the forecast covers at most a week).
        home: the wattprint home whose kept live values extend the history
            (:func:`wattprint.accounting.forecast_history.with_kept_live`);
            ``None`` for the shipped series only (``--no-live-values``).

    Raises:
        IntensityError: the history is too short to forecast from.
    """
    from wattprint.accounting.forecast import forecast_window
    from wattprint.accounting.forecast_history import forecast_history

    history = forecast_history(shipped, home)
    series, result = forecast_window(history.series, now_s, deadline_s)
    described = history.describe()
    return PlanForecast(
        series=series,
        label=f"{result.label} ({described})",
        model=result.model,
        basis=result.basis,
        history=described,
        history_start_s=float(history.series.start_s[0]),
        history_end_s=float(history.series.end_s),
        live_hours=history.live_hours,
        notes=(*history.notes, *result.notes),
    )


def plan_forecast_note(result: Plan, year: int) -> str:
    """What a plan over :func:`forecast_plan_series` says about its data."""
    basis = result.data_source.get("provenance", {})
    basis_text = basis.get("basis") if isinstance(basis, dict) else None
    return (
        "no live forecast API configured: intensity forecast by wattprint's seasonal model "
        f"from the shipped {year} history"
        + (f" ({basis_text} basis)" if basis_text else "")
        + f"; the hours between the history's end and now take the intensity at the same "
        f"date and time (UTC) in {year} (a typical year) as the model's recent lags"
    )


def series_origin(series: IntensitySeries, *, path: Path | str | None = None
                  ) -> dict[str, Any]:
    """Where a plan's series was read, as :mod:`wattprint.accounting.keeping` records it.

    ``{"kind": "file", "path", "sha256"}`` for a user file (``path``), else
    ``{"kind": "shipped", "package_data", "sha256"}`` for a shipped series
    (``{}`` when its provenance names no shipped file).

    Raises:
        IntensityError: the file cannot be read.
    """
    from wattprint.accounting.keeping import file_sha256, shipped_origin

    if path is not None:
        resolved = Path(path).resolve()
        try:
            return {"kind": "file", "path": str(resolved), "sha256": file_sha256(resolved)}
        except OSError as exc:
            raise IntensityError(f"cannot read {resolved}: {exc}") from exc
    dataset = str(getattr(getattr(series, "provenance", None), "dataset", "") or "")
    return shipped_origin(dataset)


def forecast_origin(shipped_origin: dict[str, Any], made: PlanForecast) -> dict[str, Any]:
    """The origin of a forecast series: the model, its history, and the shipped file under it."""
    return {**shipped_origin, "kind": "forecast", "forecast": made.label,
            "history": made.history, "kept_live_hours": made.live_hours}


def keep_plan_series(home: Path | str, series: IntensitySeries, *,
                     origin: dict[str, Any] | None = None) -> str:
    """Keep the series a plan used under ``home`` (see :mod:`wattprint.accounting.kept`).

    Args:
        home: the wattprint home.
        series: the series the plan ran on.
        origin: where it was read (:func:`series_origin`), recorded with it.

    Returns:
        Its digest.

    Raises:
        IntensityError: the folder cannot be written.
    """
    from wattprint.accounting.kept import keep_series

    try:
        return keep_series(home, series, used_by="plan", origin=origin)
    except OSError as exc:
        raise IntensityError(f"cannot keep the plan's series under {home}: {exc}") from exc
