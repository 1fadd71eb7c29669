"""Forecast hourly carbon intensity from the history at hand, and measure how well it does.

Planning a job and pausing one both need the intensity of the coming hours.
A live API's forecast is best where one is configured; without one,
wattprint forecasts from the history it has (a shipped series, a user's
series, cached live values) with a **seasonal linear model**:

* calendar terms of the target hour: hour of day (one-hot), day of week
  (one-hot), season (sine and cosine of the day of year) and the season's
  effect on each hour of day (solar noon is deeper in summer);
* recent lags known at the forecast's origin: the same hour on the last day
  before the origin (24 h ago, or 48 h for the second day ahead, ...), the
  same hour a week before the target (168 h), the last value before the
  origin (its weight fades with the hours ahead) and the mean of the last
  24 h.

The model is fitted by ridge-regularised least squares (numpy only: no
extra dependency, see docs/forecast.md for why this simpler model was kept)
on origins spread over the history before the forecast's origin. The p10-p90
band comes from the model's residual quantiles per hour ahead. A forecast
never reads a value at or after its origin: the history is cut there first.

When the history ends before the origin (the shipped series are past
years), the gap is bridged with the typical-year replay
(:mod:`wattprint.accounting.replay`) so that the lags have values, and the
result says so: such a forecast carries the shape of the season, not the
weather of the week.

:func:`evaluate` backtests the model on held-out weeks (rolling origin, no
look-ahead) against two baselines -- *persistence* (the same hour of the last
day known, "yesterday") and *typical year* (the value at the same date and
time in another year of the history; with a single year, the mean of the
same hour over the two weeks either side of the target week) -- by MAPE,
MAE and the saving a 6 h flexible-start plan achieves with each forecast
compared with perfect knowledge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from wattprint.accounting.series import IntensitySeries
from wattprint.errors import IntensityError

__all__ = [
    "Forecast",
    "ForecastModel",
    "evaluate",
    "fit",
    "forecast",
    "forecast_window",
]

_DAY_S = 86400.0
_WEEK_DAYS = 7
#: Ridge strength relative to the mean diagonal of X'X: small, against collinearity.
_RIDGE = 1e-4
#: Training rows kept at most (origins thinned evenly, phases of the day mixed).
_MAX_ROWS = 40_000
MODEL_NAME = "seasonal linear model (calendar + 24 h/168 h lags, ridge least squares)"


def _steps_per_day(step_s: float) -> int:
    spd = _DAY_S / step_s
    if abs(spd - round(spd)) > 1e-6 or round(spd) < 1:
        raise IntensityError(f"a forecast needs a step that divides a day, not {step_s:g} s")
    return round(spd)


def _calendar(times_s: np.ndarray, spd: int) -> np.ndarray:
    """Calendar columns of target times: hour one-hot, weekday one-hot, season, season x hour."""
    t = np.asarray(times_s, dtype=np.float64)
    slot = np.floor((t % _DAY_S) / (_DAY_S / spd)).astype(np.int64)
    day = np.floor(t / _DAY_S).astype(np.int64)
    dow = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    doy = (t - np.floor(t / (365.2425 * _DAY_S)) * 365.2425 * _DAY_S) / (365.2425 * _DAY_S)
    s, c = np.sin(2 * np.pi * doy), np.cos(2 * np.pi * doy)
    hour = np.zeros((t.size, spd))
    hour[np.arange(t.size), slot] = 1.0
    week = np.zeros((t.size, 7))
    week[np.arange(t.size), dow] = 1.0
    week = week[:, 1:]  # Monday is the reference (the hour one-hot carries the level)
    return np.hstack([hour, week, s[:, None], c[:, None], hour * s[:, None], hour * c[:, None]])


def _rows(y: np.ndarray, t0: float, step_s: float, spd: int, origins: np.ndarray,
          horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix for origins (indices into ``y``; ``y[:i]`` known) and hours ahead."""
    i = np.repeat(origins, horizon)
    h = np.tile(np.arange(horizon), origins.size)
    j = i + h
    lag_day = y[j - (h // spd + 1) * spd]
    lag_week = y[j - _WEEK_DAYS * spd]
    last = y[i - 1]
    csum = np.concatenate([[0.0], np.cumsum(y)])
    mean_day = (csum[origins] - csum[origins - spd]) / spd
    mean_day = np.repeat(mean_day, horizon)
    fade = np.exp(-h / (spd / 4.0))
    lags = np.column_stack([lag_day, lag_week, last * fade, mean_day, (last - mean_day) * fade])
    x = np.hstack([_calendar(t0 + j * step_s, spd), lags])
    return x, j


@dataclass(frozen=True, eq=False)
class ForecastModel:
    """A fitted model: coefficients and residual quantiles per hour ahead.

    Attributes:
        coef: least-squares coefficients of the design columns.
        p10_offset: 10th percentile of the residuals per hour ahead, gCO2e/kWh.
        p90_offset: 90th percentile of the residuals per hour ahead.
        horizon: hours (steps) ahead the model was fitted for.
        step_s: the series step.
        trained_until_s: end of the data it was fitted on (UTC epoch seconds).
        rows: number of training rows.
    """

    coef: np.ndarray
    p10_offset: np.ndarray
    p90_offset: np.ndarray
    horizon: int
    step_s: float
    trained_until_s: float
    rows: int


def _min_history(spd: int) -> int:
    return (_WEEK_DAYS + 1) * spd


def fit(history: IntensitySeries, horizon_steps: int, *, until_s: float | None = None
        ) -> ForecastModel:
    """Fit the seasonal model on a gap-free history (only values before ``until_s``).

    Args:
        history: the history (regular, gap-free).
        horizon_steps: steps ahead to fit for (24 for a day of hourly steps), at most a week.
        until_s: use only steps that end by this time (default: the whole history).

    Returns:
        The fitted model.

    Raises:
        IntensityError: the history is shorter than two weeks, has missing
            steps, or the horizon is longer than a week.
    """
    spd = _steps_per_day(history.step_s)
    if horizon_steps < 1 or horizon_steps > _WEEK_DAYS * spd:
        raise IntensityError(f"forecast horizon must be 1 to {_WEEK_DAYS * spd} steps")
    y = np.asarray(history.g_per_kwh, dtype=np.float64)
    t0 = float(history.start_s[0])
    n = y.size
    if until_s is not None:
        n = min(n, math.floor((until_s - t0) / history.step_s + 1e-9))
    y = y[: max(n, 0)]
    if np.isnan(y).any():
        raise IntensityError("the history has missing steps; fill them (make_series) first")
    first = _min_history(spd)
    last = y.size - horizon_steps
    if last - first < 7 * spd:
        raise IntensityError(
            f"a forecast needs at least {(first + 7 * spd + horizon_steps) / spd:.0f} days of "
            f"history before its origin; this one has {y.size / spd:.1f}"
        )
    stride = max(1, math.ceil((last - first + 1) * horizon_steps / _MAX_ROWS))
    if stride > 1 and stride % spd == 0:
        stride += 1  # keep the phase of the day moving
    origins = np.arange(last, first - 1, -stride)[::-1]
    x, j = _rows(y, t0, history.step_s, spd, origins, horizon_steps)
    target = y[j]
    gram = x.T @ x
    ridge = _RIDGE * float(np.trace(gram)) / gram.shape[0]
    coef = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), x.T @ target)
    resid = (target - x @ coef).reshape(origins.size, horizon_steps)
    return ForecastModel(
        coef=coef,
        p10_offset=np.quantile(resid, 0.1, axis=0),
        p90_offset=np.quantile(resid, 0.9, axis=0),
        horizon=horizon_steps,
        step_s=history.step_s,
        trained_until_s=t0 + y.size * history.step_s,
        rows=int(target.size),
    )


def _predict(model: ForecastModel, y: np.ndarray, t0: float, origin: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spd = _steps_per_day(model.step_s)
    x, _ = _rows(y, t0, model.step_s, spd, np.array([origin]), model.horizon)
    p50 = np.maximum(x @ model.coef, 0.0)
    return p50, np.maximum(p50 + model.p10_offset, 0.0), np.maximum(p50 + model.p90_offset, 0.0)


@dataclass(frozen=True, eq=False)
class Forecast:
    """An hourly intensity forecast with its p10-p90 band.

    Attributes:
        region: the history's region.
        origin_s: start of the first forecast step (UTC epoch seconds); no
            value at or after it was read.
        step_s: the step, seconds.
        p50_g_per_kwh: the forecast, gCO2e/kWh per step.
        p10_g_per_kwh: lower edge of the band (10th percentile).
        p90_g_per_kwh: upper edge of the band (90th percentile).
        method: ``"average"`` or ``"marginal"``, as the history.
        basis: ``"lifecycle"``, ``"direct"`` or ``"unknown"``, as the history.
        model: what made it.
        history: where the history came from (its provenance's source and dataset).
        history_end_s: end of the real history used.
        notes: what the user should know (a replay bridging old history).
    """

    region: str
    origin_s: float
    step_s: float
    p50_g_per_kwh: np.ndarray
    p10_g_per_kwh: np.ndarray
    p90_g_per_kwh: np.ndarray
    method: str
    basis: str
    model: str
    history: str
    history_end_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def start_s(self) -> np.ndarray:
        """Start of each forecast step."""
        return self.origin_s + self.step_s * np.arange(self.p50_g_per_kwh.size)

    def as_series(self, base: IntensitySeries) -> IntensitySeries:
        """The p50 forecast as an :class:`IntensitySeries`, its provenance saying it is one."""
        note = f"forecast by the {self.model} from {self.history}" + (
            f"; {'; '.join(self.notes)}" if self.notes else "")
        return IntensitySeries.regular(
            self.origin_s, self.step_s, self.p50_g_per_kwh, region=self.region,
            method=self.method, provenance=base.provenance.with_fallback(note),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (times as UTC epoch seconds and ISO text)."""
        return {
            "region": self.region,
            "origin_s": self.origin_s,
            "origin": _iso(self.origin_s),
            "step_s": self.step_s,
            "method": self.method,
            "basis": self.basis,
            "model": self.model,
            "history": self.history,
            "history_end": _iso(self.history_end_s),
            "notes": list(self.notes),
            "hours": [
                {"start": _iso(float(t)), "start_s": float(t), "p10": round(float(a), 2),
                 "p50": round(float(b), 2), "p90": round(float(c), 2)}
                for t, a, b, c in zip(self.start_s, self.p10_g_per_kwh, self.p50_g_per_kwh,
                                      self.p90_g_per_kwh, strict=True)
            ],
        }


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _known_until(history: IntensitySeries, origin_s: float) -> tuple[np.ndarray, float, list[str]]:
    """History values strictly before the origin's step, bridged by a replay if they end early."""
    from wattprint.accounting.replay import series_year, typical_year_window

    t0, step = float(history.start_s[0]), history.step_s
    n = math.floor((origin_s - t0) / step + 1e-9)
    if n <= 0:
        raise IntensityError(f"the history starts after the forecast origin {_iso(origin_s)}")
    y = np.array(history.g_per_kwh[: min(n, len(history))], dtype=np.float64)
    notes: list[str] = []
    if n > len(history):
        bridge = typical_year_window(history, history.end_s, t0 + n * step)
        y = np.concatenate([y, np.asarray(bridge.g_per_kwh)[: n - len(history)]])
        notes.append(
            f"the history ends {_iso(history.end_s)}, {(origin_s - history.end_s) / _DAY_S:.0f} "
            "days before the origin; the hours between take the intensity at the same date "
            f"and time (UTC) in {series_year(history)} (a typical year), so this forecast "
            "keeps the season's shape, not this week's weather"
        )
    return y, t0, notes


def forecast(history: IntensitySeries, origin_s: float, horizon_steps: int = 24) -> Forecast:
    """Forecast ``horizon_steps`` steps from ``origin_s`` using only the history before it.

    Args:
        history: a gap-free series (shipped, a user's, cached live values).
        origin_s: the forecast's first step starts at this time, rounded down
            to the history's grid (UTC epoch seconds).
        horizon_steps: steps to forecast (24 or 72 for hourly data; at most a week).

    Returns:
        The forecast with its band.

    Raises:
        IntensityError: too little history before the origin, missing steps,
            or a horizon longer than a week.
    """
    t0, step = float(history.start_s[0]), history.step_s
    origin_s = t0 + math.floor((origin_s - t0) / step + 1e-9) * step
    y, t0, notes = _known_until(history, origin_s)
    past = IntensitySeries.regular(t0, step, y, region=history.region, method=history.method,
                                   provenance=history.provenance)
    model = fit(past, horizon_steps)
    origin = y.size
    padded = np.concatenate([y, np.zeros(horizon_steps)])  # targets are never read
    p50, p10, p90 = _predict(model, padded, t0, origin)
    p = history.provenance
    return Forecast(
        region=history.region, origin_s=origin_s, step_s=step, p50_g_per_kwh=p50,
        p10_g_per_kwh=p10, p90_g_per_kwh=p90, method=history.method, basis=p.basis,
        model=MODEL_NAME, history=f"{p.source}: {p.dataset}",
        history_end_s=min(history.end_s, origin_s), notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- backtest


def _typical_year(y: np.ndarray, t0: float, step_s: float, j: np.ndarray) -> tuple[np.ndarray, str]:
    """The typical-year baseline for target indices ``j`` (see the module docstring)."""
    spd = _steps_per_day(step_s)
    back = 365 * spd
    if np.all(j - back >= 0):
        return y[j - back], "replay of the same date and time one year earlier (365 days)"
    offsets = np.array([d * spd for d in range(8, 15)])
    idx = np.concatenate([j[:, None] - offsets[None, :], j[:, None] + offsets[None, :]], axis=1)
    ok = (idx >= 0) & (idx < y.size)
    vals = np.where(ok, y[np.clip(idx, 0, y.size - 1)], 0.0)
    return vals.sum(axis=1) / np.maximum(ok.sum(axis=1), 1), (
        "single year of history: mean of the same hour 8-14 days before and after the target "
        "(a stand-in for a replay of another year; it sees data on both sides of the week)"
    )


def _flexible_saving(true: np.ndarray, guess: np.ndarray, job_steps: int) -> tuple[float, float]:
    """(saving of the start chosen from ``guess``, saving of the best start), vs starting now."""
    kernel = np.ones(job_steps)
    actual = np.convolve(true, kernel, mode="valid")
    guessed = np.convolve(guess, kernel, mode="valid")
    chosen = int(np.argmin(guessed))
    now = float(actual[0])
    return (now - float(actual[chosen])) / now, (now - float(actual.min())) / now


def _scores(true: np.ndarray, guess: np.ndarray) -> dict[str, float]:
    err = np.abs(guess - true)
    ok = true > 0
    return {"mape": float(np.mean(err[ok] / true[ok]) * 100.0), "mae": float(np.mean(err))}


def evaluate(history: IntensitySeries, *, weeks: int = 8, horizon_steps: int = 24,
             job_hours: float = 6.0) -> dict[str, Any]:
    """Backtest the model and the baselines on held-out weeks (rolling origin).

    The held-out weeks are spread evenly over the last year of the history
    (after its first five weeks). For each week the model is fitted on the
    history before the week; each day of the week at 00:00 UTC is an origin,
    forecast from the values before it. Each forecast also picks the start of
    a ``job_hours`` job within its horizon (flexible start); its saving
    against starting at the origin is compared with the best start in hindsight.

    Args:
        history: a gap-free series of at least about ten weeks.
        weeks: number of held-out weeks.
        horizon_steps: steps per forecast (24 for a day ahead).
        job_hours: length of the flexible-start job, hours.

    Returns:
        ``{"mape", "mae", "saving", "baselines": {"persistence": {...},
        "typical_year": {...}}, "perfect_saving", ...}``: MAPE in %, MAE in
        gCO2e/kWh, savings as mean fractions of starting now.

    Raises:
        IntensityError: the history is too short or has missing steps.
    """
    spd = _steps_per_day(history.step_s)
    y = np.asarray(history.g_per_kwh, dtype=np.float64)
    if np.isnan(y).any():
        raise IntensityError("the history has missing steps; fill them (make_series) first")
    t0, step = float(history.start_s[0]), history.step_s
    job_steps = max(1, round(job_hours * 3600.0 / step))
    day0 = (-round(t0 / step)) % spd  # first step at 00:00 UTC
    year_days = min(365, y.size // spd)
    first_day = max(35, y.size // spd - year_days + 35)
    last_day = y.size // spd - _WEEK_DAYS - math.ceil(horizon_steps / spd)
    if last_day <= first_day:
        raise IntensityError("the history is too short to hold out weeks for a backtest")
    starts = np.linspace(first_day, last_day, weeks).round().astype(int)
    truth, model_f, persist_f, typical_f = [], [], [], []
    typical_kind = ""
    for week_day in starts:
        week_start = day0 + week_day * spd
        model = fit(history, horizon_steps, until_s=t0 + week_start * step)
        for d in range(_WEEK_DAYS):
            o = week_start + d * spd
            j = o + np.arange(horizon_steps)
            padded = np.concatenate([y[:o], np.zeros(horizon_steps)])
            p50, _, _ = _predict(model, padded, t0, o)
            h = np.arange(horizon_steps)
            persist = y[j - (h // spd + 1) * spd]
            typical, typical_kind = _typical_year(y, t0, step, j)
            truth.append(y[j])
            model_f.append(p50)
            persist_f.append(persist)
            typical_f.append(typical)
    true = np.concatenate(truth)

    def summary(guesses: list[np.ndarray]) -> dict[str, float]:
        scores = _scores(true, np.concatenate(guesses))
        pairs = [_flexible_saving(t, g, job_steps) for t, g in zip(truth, guesses, strict=True)]
        scores["saving"] = float(np.mean([p[0] for p in pairs]))
        return scores

    perfect = float(np.mean([_flexible_saving(t, t, job_steps)[1] for t in truth]))
    result: dict[str, Any] = {
        "region": history.region,
        "basis": history.provenance.basis,
        "model": MODEL_NAME,
        **summary(model_f),
        "perfect_saving": perfect,
        "baselines": {
            "persistence": {**summary(persist_f),
                            "rule": "the same hour of the last day before the origin"},
            "typical_year": {**summary(typical_f), "rule": typical_kind},
        },
        "weeks": [_iso(t0 + (day0 + int(w) * spd) * step)[:10] for w in starts],
        "origins": len(truth),
        "horizon_steps": horizon_steps,
        "job_hours": job_hours,
        "saving_rule": (
            f"mean fraction saved by starting a {job_hours:g} h job at the start the forecast "
            f"rates cleanest within {horizon_steps * step / 3600:g} h, against starting at the "
            "origin, on the real values; perfect_saving uses the real values to choose"
        ),
    }
    return result


#: The longest forecast made for a plan or a pause: a week of steps.
MAX_HORIZON_DAYS = _WEEK_DAYS


def forecast_window(history: IntensitySeries, start_s: float, end_s: float
                    ) -> tuple[IntensitySeries, Forecast]:
    """A forecast covering ``[start_s, end_s)`` as a series, for plans and live pausing.

    The horizon is the window rounded up to whole steps, at least a day and
    at most a week (a longer window is cut at a week; the caller says so).

    Args:
        history: the history to forecast from (only values before ``start_s`` are read).
        start_s: the plan's or the job's start (the forecast's origin).
        end_s: the deadline.

    Returns:
        ``(series, forecast)``: the p50 as a series whose provenance names the
        model and the history, and the full forecast with its band.

    Raises:
        IntensityError: as :func:`forecast`.
    """
    spd = _steps_per_day(history.step_s)
    t0, step = float(history.start_s[0]), history.step_s
    origin = t0 + math.floor((start_s - t0) / step + 1e-9) * step
    steps = math.ceil((end_s - origin) / step - 1e-9)
    horizon = min(max(steps, spd), MAX_HORIZON_DAYS * spd)
    result = forecast(history, origin, horizon)
    return result.as_series(history), result
