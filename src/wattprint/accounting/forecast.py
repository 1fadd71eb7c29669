"""Forecast hourly carbon intensity from the history at hand, and measure how well it does.

Planning a job and pausing one both need the intensity of the coming hours.
A live API's forecast is best where one is configured; without one,
wattprint forecasts from the history it has (a shipped series, a user's
series, cached live values) with one of the models of
:mod:`wattprint.accounting.forecast_models`: a **seasonal linear model**
(numpy) or **gradient-boosted trees** (scikit-learn, extra ``[forecast]``),
both on calendar terms of the target hour (hour of day, day of week,
season) and recent lags known at the origin (the same hour 24 h and 168 h
before, the last value, the mean of the last 24 h). Without a model named,
:func:`~wattprint.accounting.forecast_models.default_model` picks the one
that measured best (docs/forecast.md) among those installed. The p10-p90
band comes from quantile fits (trees) or residual quantiles (linear). A
forecast never reads a value at or after its origin: the history is cut
there first.

When the history ends before the origin (the shipped series are past
years), the gap is bridged with the typical-year replay
(:mod:`wattprint.accounting.replay`) so that the lags have values, and the
result says so: such a forecast carries the shape of the season, not the
weather of the week.

:func:`evaluate` backtests every model on held-out weeks (rolling origin, no
look-ahead) against two baselines -- *persistence* (the same hour of the last
day known, "yesterday") and *typical year* (the value at the same date and
time in another year of the history; with a single year, the mean of the
same hour over the two weeks either side of the target week) -- by MAPE,
MAE and the saving a 6 h flexible-start plan achieves with each forecast
compared with perfect knowledge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from wattprint.accounting.forecast_models import (
    DAY_S,
    MODELS,
    WEEK_DAYS,
    FittedModel,
    default_model,
    fit_model,
    model_available,
    steps_per_day,
)
from wattprint.accounting.series import IntensitySeries
from wattprint.errors import IntensityError

__all__ = [
    "Forecast",
    "ForecastModel",
    "evaluate",
    "fit",
    "forecast",
    "forecast_window",
    "installed_models",
    "resolve_model",
]

_DAY_S = DAY_S
_WEEK_DAYS = WEEK_DAYS
#: The linear model's description (kept for callers of the first version).
MODEL_NAME = MODELS["linear"][0]
#: A fitted model (see :mod:`wattprint.accounting.forecast_models`).
ForecastModel = FittedModel


def _cut(history: IntensitySeries, until_s: float | None) -> np.ndarray:
    y = np.asarray(history.g_per_kwh, dtype=np.float64)
    n = y.size
    if until_s is not None:
        n = min(n, math.floor((until_s - float(history.start_s[0])) / history.step_s + 1e-9))
    y = y[: max(n, 0)]
    if np.isnan(y).any():
        raise IntensityError("the history has missing steps; fill them (make_series) first")
    return y


def fit(history: IntensitySeries, horizon_steps: int, *, until_s: float | None = None,
        model: str = "linear", band: bool = True) -> FittedModel:
    """Fit a forecast model on a gap-free history (only values before ``until_s``).

    Args:
        history: the history (regular, gap-free).
        horizon_steps: steps ahead to fit for (24 for a day of hourly steps), at most a week.
        until_s: use only steps that end by this time (default: the whole history).
        model: ``"linear"`` or ``"gbm"`` (:data:`~wattprint.accounting.forecast_models.MODELS`).
        band: also fit what the p10-p90 band needs.

    Returns:
        The fitted model.

    Raises:
        IntensityError: the history is shorter than two weeks, has missing
            steps, the horizon is longer than a week, or the model's library
            is not installed.
    """
    spd = steps_per_day(history.step_s)
    if horizon_steps < 1 or horizon_steps > WEEK_DAYS * spd:
        raise IntensityError(f"forecast horizon must be 1 to {WEEK_DAYS * spd} steps")
    y = _cut(history, until_s)
    return fit_model(model, y, float(history.start_s[0]), history.step_s, horizon_steps,
                     band=band)


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
        model_name: the model's short name (``"linear"``, ``"gbm"``).
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
    model_name: str = "linear"

    @property
    def label(self) -> str:
        """One line naming the forecast, for plans and pausing.

        ``"forecast: gbm model on history to 2025-12-31"``.
        """
        return (f"forecast: {self.model_name} model on history to "
                f"{_iso(self.history_end_s - 1)[:10]}")

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
            "model_name": self.model_name,
            "label": self.label,
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


def resolve_model(model: str | None) -> tuple[str, list[str]]:
    """The model to use (``None``: the default) and the notes that choice needs.

    Raises:
        IntensityError: an unknown model, or a named one whose library is missing.
    """
    if model is None:
        name, note = default_model()
        return name, [note] if note else []
    if not model_available(model):
        fit_model(model, np.zeros(0), 0.0, 3600.0, 1)  # raises with the install hint
    return model, []


def installed_models(first: str | None = None) -> list[str]:
    """Every installed model, ``first`` (default: the measured default) first."""
    head = resolve_model(first)[0]
    return [head, *(m for m in MODELS if m != head and model_available(m))]


def forecast(history: IntensitySeries, origin_s: float, horizon_steps: int = 24, *,
             model: str | None = "linear") -> Forecast:
    """Forecast ``horizon_steps`` steps from ``origin_s`` using only the history before it.

    Args:
        history: a gap-free series (shipped, a user's, cached live values).
        origin_s: the forecast's first step starts at this time, rounded down
            to the history's grid (UTC epoch seconds).
        horizon_steps: steps to forecast (24 or 72 for hourly data; at most a week).
        model: ``"linear"`` (the default here: always installed, so a
            program's results do not depend on the extras) or ``"gbm"``;
            ``None`` picks the measured default among those installed
            (:func:`~wattprint.accounting.forecast_models.default_model`, what
            the CLI, plans and pausing use; a note says when the preferred
            model is not installed).

    Returns:
        The forecast with its band.

    Raises:
        IntensityError: too little history before the origin, missing steps,
            a horizon longer than a week, or a named model's library missing.
    """
    name, model_notes = resolve_model(model)
    t0, step = float(history.start_s[0]), history.step_s
    origin_s = t0 + math.floor((origin_s - t0) / step + 1e-9) * step
    y, t0, notes = _known_until(history, origin_s)
    past = IntensitySeries.regular(t0, step, y, region=history.region, method=history.method,
                                   provenance=history.provenance)
    fitted = fit(past, horizon_steps, model=name)
    origin = y.size
    padded = np.concatenate([y, np.zeros(horizon_steps)])  # targets are never read
    p50, p10, p90 = fitted.predict(padded, t0, origin)
    p = history.provenance
    return Forecast(
        region=history.region, origin_s=origin_s, step_s=step, p50_g_per_kwh=p50,
        p10_g_per_kwh=p10, p90_g_per_kwh=p90, method=history.method, basis=p.basis,
        model=MODELS[name][0], history=f"{p.source}: {p.dataset}",
        history_end_s=min(history.end_s, origin_s), notes=(*model_notes, *notes),
        model_name=name,
    )


# ----------------------------------------------------------------------------- backtest


def _typical_year(y: np.ndarray, t0: float, step_s: float, j: np.ndarray) -> tuple[np.ndarray, str]:
    """The typical-year baseline for target indices ``j`` (see the module docstring)."""
    spd = steps_per_day(step_s)
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
             job_hours: float = 6.0, models: Sequence[str | None] = ("linear",)
             ) -> dict[str, Any]:
    """Backtest the models and the baselines on held-out weeks (rolling origin).

    The held-out weeks are spread evenly over the last year of the history
    (after its first five weeks). For each week each model is fitted on the
    history before the week; each day of the week at 00:00 UTC is an origin,
    forecast from the values before it. Each forecast also picks the start of
    a ``job_hours`` job within its horizon (flexible start); its saving
    against starting at the origin is compared with the best start in hindsight.

    Args:
        history: a gap-free series of at least about ten weeks.
        weeks: number of held-out weeks.
        horizon_steps: steps per forecast (24 for a day ahead).
        job_hours: length of the flexible-start job, hours.
        models: the models to backtest; the first is the one reported at the
            top level. ``None`` in it stands for the measured default;
            :func:`installed_models` lists every installed one, the default first.

    Returns:
        ``{"model_name", "mape", "mae", "saving", "models": {name: {...}},
        "baselines": {"persistence": {...}, "typical_year": {...}},
        "perfect_saving", ...}``: MAPE in %, MAE in gCO2e/kWh, savings as mean
        fractions of starting now. The top-level scores are those of the
        first model.

    Raises:
        IntensityError: the history is too short or has missing steps, or a
            named model's library is missing.
    """
    names = list(dict.fromkeys(resolve_model(m)[0] for m in models))
    if not names:
        raise IntensityError("give at least one model to evaluate")
    spd = steps_per_day(history.step_s)
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
    truth: list[np.ndarray] = []
    persist_f: list[np.ndarray] = []
    typical_f: list[np.ndarray] = []
    model_f: dict[str, list[np.ndarray]] = {name: [] for name in names}
    typical_kind = ""
    for week_day in starts:
        week_start = day0 + week_day * spd
        fitted = [fit(history, horizon_steps, until_s=t0 + week_start * step, model=name,
                      band=False) for name in names]
        for d in range(_WEEK_DAYS):
            o = week_start + d * spd
            j = o + np.arange(horizon_steps)
            padded = np.concatenate([y[:o], np.zeros(horizon_steps)])  # targets never read
            for f in fitted:
                model_f[f.name].append(f.predict(padded, t0, o, band=False)[0])
            h = np.arange(horizon_steps)
            persist = y[j - (h // spd + 1) * spd]
            typical, typical_kind = _typical_year(y, t0, step, j)
            truth.append(y[j])
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
        "model_name": names[0],
        "model": MODELS[names[0]][0],
        **summary(model_f[names[0]]),
        "models": {name: {**summary(model_f[name]), "model": MODELS[name][0]}
                   for name in names},
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


def forecast_window(history: IntensitySeries, start_s: float, end_s: float, *,
                    model: str | None = "linear") -> tuple[IntensitySeries, Forecast]:
    """A forecast covering ``[start_s, end_s)`` as a series, for plans and live pausing.

    The horizon is the window rounded up to whole steps, at least a day and
    at most a week (a longer window is cut at a week; the caller says so).

    Args:
        history: the history to forecast from (only values before ``start_s`` are read).
        start_s: the plan's or the job's start (the forecast's origin).
        end_s: the deadline.
        model: the model (``None``: the measured default, see :func:`forecast`).

    Returns:
        ``(series, forecast)``: the p50 as a series whose provenance names the
        model and the history, and the full forecast with its band.

    Raises:
        IntensityError: as :func:`forecast`.
    """
    spd = steps_per_day(history.step_s)
    t0, step = float(history.start_s[0]), history.step_s
    origin = t0 + math.floor((start_s - t0) / step + 1e-9) * step
    steps = math.ceil((end_s - origin) / step - 1e-9)
    horizon = min(max(steps, spd), MAX_HORIZON_DAYS * spd)
    result = forecast(history, origin, horizon, model=model)
    return result.as_series(history), result
