"""The forecast models: what each one reads, how it is fitted, and which one is the default.

Every model forecasts the intensity ``y[j]`` of a target step ``j`` from an
origin ``o`` (the first step not known; ``j = o + h``, ``h`` the steps ahead)
out of two kinds of input, both known at the origin:

* **calendar** terms of the target: hour of day, day of week, season (the
  day of the year as a sine and a cosine);
* **recent lags**: the same hour on the last day before the origin (24 h
  back for the first day ahead, 48 h for the second, ...), the same hour one
  week before the target (168 h), the last value before the origin and the
  mean of the 24 h before it.

Two models share these inputs:

``linear``
    A ridge-regularised least-squares regression in numpy (no extra
    dependency): one-hot hour and weekday, the season and season x hour
    terms, and the lags, with the last value's weight fading with the steps
    ahead. Fitted in milliseconds.
``gbm``
    scikit-learn's ``HistGradientBoostingRegressor`` (extra ``[forecast]``,
    imported only when used) on hour of day and weekday (as categories), the
    steps ahead and the lags, so that trees find the interactions themselves
    (a windy night differs from a windy noon). The target and the lags are
    taken relative to the mean of the last 24 h, so the trees learn the
    shape around the current level rather than the level itself, which they
    cannot extrapolate; that level also carries the season (a day-of-year
    column let the trees learn each past week's weather by its date, and
    did worse). Fitted with the absolute-error loss (the median); the p10
    and p90 of a forecast are quantile-loss fits of the same model.

Each model is fitted on origins spread over the history before the
forecast's origin, at most :data:`MAX_ROWS` rows (:data:`GBM_MAX_ROWS` for
the trees, which fit slower). The linear model's band
is the 10th and 90th percentile of its residuals per step ahead.

:func:`default_model` picks the model the CLI, plans and pausing use when
none is named: the first of :data:`PREFERENCE` that is installed. The
linear model is first: over every shipped series the trees did not save
more on the 6 h flexible start (docs/forecast.md).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from wattprint.errors import IntensityError

__all__ = [
    "GBM_MAX_ROWS",
    "MAX_ROWS",
    "MODELS",
    "FittedModel",
    "GbmModel",
    "LinearModel",
    "default_model",
    "fit_model",
    "model_available",
]

DAY_S = 86400.0
WEEK_DAYS = 7
#: Training rows kept at most (origins thinned evenly, phases of the day mixed).
MAX_ROWS = 40_000
#: Training rows of the trees at most (each fit takes seconds; more rows gained little).
GBM_MAX_ROWS = 20_000
#: Ridge strength relative to the mean diagonal of X'X: small, against collinearity.
_RIDGE = 1e-4

#: Model name -> (what it is, the extra it needs or ``None``).
MODELS: dict[str, tuple[str, str | None]] = {
    "linear": ("seasonal linear model (calendar + 24 h/168 h lags, ridge least squares)", None),
    "gbm": ("gradient-boosted trees (scikit-learn HistGradientBoostingRegressor on calendar "
            "+ 24 h/168 h lags)", "forecast"),
}
#: The default model first, then the others. Over every shipped region the trees save
#: no more on the 6 h flexible start (level on average, behind in FR and GB; docs/forecast.md).
PREFERENCE = ("linear", "gbm")


def steps_per_day(step_s: float) -> int:
    """Steps in a day of a series of this step.

    Raises:
        IntensityError: the step does not divide a day.
    """
    spd = DAY_S / step_s
    if abs(spd - round(spd)) > 1e-6 or round(spd) < 1:
        raise IntensityError(f"a forecast needs a step that divides a day, not {step_s:g} s")
    return round(spd)


def model_available(name: str) -> bool:
    """Whether the model's library is installed (the numpy model always is).

    Raises:
        IntensityError: an unknown model name.
    """
    if name not in MODELS:
        raise IntensityError(f"unknown forecast model {name!r}; choose from "
                             f"{', '.join(MODELS)}")
    return name != "gbm" or importlib.util.find_spec("sklearn") is not None


def default_model() -> tuple[str, str | None]:
    """The model to use when none is named, and a note when the preferred one is missing."""
    for name in PREFERENCE:
        if model_available(name):
            if name == PREFERENCE[0]:
                return name, None
            from wattprint.extras import install_hint

            return name, (f"the {PREFERENCE[0]} model (the default, docs/forecast.md) "
                          f"needs scikit-learn: {install_hint('forecast')}; used the "
                          f"{name} model")
    raise AssertionError("the linear model is always available")


def _calendar_parts(times_s: np.ndarray, spd: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                            np.ndarray]:
    """(slot of the day, weekday with 0 = Monday, sine and cosine of the day of year)."""
    t = np.asarray(times_s, dtype=np.float64)
    slot = np.floor((t % DAY_S) / (DAY_S / spd)).astype(np.int64)
    dow = (np.floor(t / DAY_S).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    year_s = 365.2425 * DAY_S
    doy = (t - np.floor(t / year_s) * year_s) / year_s
    return slot, dow, np.sin(2 * np.pi * doy), np.cos(2 * np.pi * doy)


@dataclass(frozen=True)
class Rows:
    """Model inputs for a set of (origin, steps ahead) pairs.

    Attributes:
        j: target index of each row.
        h: steps ahead of each row.
        lags: ``[lag_day, lag_week, last, mean_day]`` per row.
        t_s: target time of each row (UTC epoch seconds).
    """

    j: np.ndarray
    h: np.ndarray
    lags: np.ndarray
    t_s: np.ndarray


def rows(y: np.ndarray, t0: float, step_s: float, origins: np.ndarray, horizon: int) -> Rows:
    """The inputs of every origin (indices into ``y``; ``y[:o]`` known) and step ahead.

    Only ``y[o - 168 h .. o - 1]`` and, for the weekly lag, ``y[j - 168 h]``
    with ``h < 168 h`` are read: never a value at or after the origin.
    """
    spd = steps_per_day(step_s)
    i = np.repeat(origins, horizon)
    h = np.tile(np.arange(horizon), origins.size)
    j = i + h
    lag_day = y[j - (h // spd + 1) * spd]
    lag_week = y[j - WEEK_DAYS * spd]
    last = y[i - 1]
    csum = np.concatenate([[0.0], np.cumsum(y[: int(origins.max())])])
    mean_day = np.repeat((csum[origins] - csum[origins - spd]) / spd, horizon)
    return Rows(j, h, np.column_stack([lag_day, lag_week, last, mean_day]), t0 + j * step_s)


class FittedModel(Protocol):
    """A fitted forecast model.

    Attributes:
        name: the model's name (a key of :data:`MODELS`).
        horizon: steps ahead it was fitted for.
        step_s: the series step.
        rows: training rows.
    """

    @property
    def name(self) -> str:
        """The model's name."""
        ...

    @property
    def horizon(self) -> int:
        """Steps ahead it was fitted for."""
        ...

    @property
    def step_s(self) -> float:
        """The series step."""
        ...

    @property
    def rows(self) -> int:
        """Training rows."""
        ...

    def predict(self, y: np.ndarray, t0: float, origin: int, *, band: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p50, p10, p90) for ``horizon`` steps from ``origin``; reads only ``y[:origin]``."""
        ...


def _linear_design(r: Rows, spd: int) -> np.ndarray:
    slot, dow, s, c = _calendar_parts(r.t_s, spd)
    n = r.j.size
    hour = np.zeros((n, spd))
    hour[np.arange(n), slot] = 1.0
    week = np.zeros((n, 7))
    week[np.arange(n), dow] = 1.0
    week = week[:, 1:]  # Monday is the reference (the hour one-hot carries the level)
    lag_day, lag_week, last, mean_day = r.lags.T
    fade = np.exp(-r.h / (spd / 4.0))
    lags = np.column_stack([lag_day, lag_week, last * fade, mean_day, (last - mean_day) * fade])
    return np.hstack([hour, week, s[:, None], c[:, None], hour * s[:, None], hour * c[:, None],
                      lags])


@dataclass(frozen=True, eq=False)
class LinearModel:
    """The fitted linear model: coefficients and residual quantiles per step ahead.

    Attributes:
        coef: least-squares coefficients of the design columns.
        p10_offset: 10th percentile of the residuals per step ahead, gCO2e/kWh.
        p90_offset: 90th percentile of the residuals per step ahead.
        horizon: steps ahead it was fitted for.
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
    name: str = "linear"

    def predict(self, y: np.ndarray, t0: float, origin: int, *, band: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p50, p10, p90) for ``horizon`` steps from ``origin``, clipped at 0."""
        spd = steps_per_day(self.step_s)
        r = rows(y, t0, self.step_s, np.array([origin]), self.horizon)
        p50 = np.maximum(_linear_design(r, spd) @ self.coef, 0.0)
        return (p50, np.maximum(p50 + self.p10_offset, 0.0),
                np.maximum(p50 + self.p90_offset, 0.0))


def _gbm_columns(r: Rows, spd: int) -> np.ndarray:
    slot, dow, _, _ = _calendar_parts(r.t_s, spd)
    lag_day, lag_week, last, mean_day = r.lags.T
    # lags relative to the recent level, like the target; no day-of-year column: with a
    # year of history the trees would learn each past week's weather by its date
    return np.column_stack([slot, dow, r.h, lag_day - mean_day, lag_week - mean_day,
                            last - mean_day, mean_day])


def _gbm(loss: str, quantile: float | None = None) -> Any:
    try:
        from sklearn.ensemble import HistGradientBoostingRegressor  # type: ignore[import-untyped]
    except ImportError as exc:
        from wattprint.extras import install_hint

        raise IntensityError(f"the gbm forecast model needs scikit-learn: "
                             f"{install_hint('forecast')}") from exc
    extra: dict[str, Any] = {"quantile": quantile} if quantile is not None else {}
    # slot and weekday are categories: the trees split them by value, not by order
    return HistGradientBoostingRegressor(
        loss=loss, learning_rate=0.1, max_iter=200, max_leaf_nodes=31, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=False, random_state=0,
        categorical_features=[0, 1], **extra)


@dataclass(frozen=True, eq=False)
class GbmModel:
    """The fitted gradient-boosted model: a median fit and, for a band, p10 and p90 fits.

    Attributes:
        p50: the fitted median regressor.
        p10: the 10th-percentile regressor, or ``None`` when fitted without a band.
        p90: the 90th-percentile regressor, or ``None``.
        horizon: steps ahead it was fitted for.
        step_s: the series step.
        trained_until_s: end of the data it was fitted on.
        rows: number of training rows.
    """

    p50: Any
    p10: Any
    p90: Any
    horizon: int
    step_s: float
    trained_until_s: float
    rows: int
    name: str = "gbm"

    def predict(self, y: np.ndarray, t0: float, origin: int, *, band: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p50, p10, p90) for ``horizon`` steps from ``origin``, clipped at 0 and ordered."""
        spd = steps_per_day(self.step_s)
        r = rows(y, t0, self.step_s, np.array([origin]), self.horizon)
        x = _gbm_columns(r, spd)
        level = r.lags[:, 3]
        with _one_thread():
            p50 = np.maximum(self.p50.predict(x) + level, 0.0)
            if not band or self.p10 is None or self.p90 is None:
                return p50, p50, p50
            low, high = self.p10.predict(x), self.p90.predict(x)
        # quantile fits are separate models: order them, and keep the median inside
        p10 = np.minimum(np.maximum(low + level, 0.0), p50)
        p90 = np.maximum(high + level, p50)
        return p50, p10, p90


def training_origins(n: int, horizon: int, spd: int, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Origins over ``y[:n]`` for fitting, thinned to at most ``max_rows`` rows.

    Raises:
        IntensityError: too little history.
    """
    first = (WEEK_DAYS + 1) * spd
    last = n - horizon
    if last - first < 7 * spd:
        raise IntensityError(
            f"a forecast needs at least {(first + 7 * spd + horizon) / spd:.0f} days of "
            f"history before its origin; this one has {n / spd:.1f}"
        )
    stride = max(1, math.ceil((last - first + 1) * horizon / max_rows))
    if stride > 1 and stride % spd == 0:
        stride += 1  # keep the phase of the day moving
    return np.arange(last, first - 1, -stride)[::-1]


def fit_model(name: str, y: np.ndarray, t0: float, step_s: float, horizon: int, *,
              band: bool = True) -> FittedModel:
    """Fit model ``name`` on the whole of ``y`` (gap-free, the history before the origin).

    Args:
        name: a key of :data:`MODELS`.
        y: the history, gCO2e/kWh per step.
        t0: start of ``y[0]``, UTC epoch seconds.
        step_s: the step.
        horizon: steps ahead to fit for.
        band: also fit what the p10-p90 band needs (the backtest needs only the p50).

    Returns:
        The fitted model.

    Raises:
        IntensityError: too little history, an unknown model, or its library missing.
    """
    if not model_available(name):
        _gbm("absolute_error")  # raises with the install hint
    spd = steps_per_day(step_s)
    origins = training_origins(y.size, horizon, spd,
                               MAX_ROWS if name == "linear" else GBM_MAX_ROWS)
    r = rows(y, t0, step_s, origins, horizon)
    target = y[r.j]
    until = t0 + y.size * step_s
    if name == "linear":
        x = _linear_design(r, spd)
        gram = x.T @ x
        ridge = _RIDGE * float(np.trace(gram)) / gram.shape[0]
        coef = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), x.T @ target)
        resid = (target - x @ coef).reshape(origins.size, horizon)
        return LinearModel(coef, np.quantile(resid, 0.1, axis=0),
                           np.quantile(resid, 0.9, axis=0), horizon, step_s, until,
                           int(target.size))
    x = _gbm_columns(r, spd)
    rel = target - r.lags[:, 3]
    with _one_thread():
        p50 = _gbm("absolute_error").fit(x, rel)
        p10 = _gbm("quantile", 0.1).fit(x, rel) if band else None
        p90 = _gbm("quantile", 0.9).fit(x, rel) if band else None
    return GbmModel(p50, p10, p90, horizon, step_s, until, int(target.size))


def _one_thread() -> Any:
    """One OpenMP thread for the trees.

    scikit-learn's histogram trees spin-wait in OpenMP threads; on a machine
    whose cores are busy with other work a fit then took minutes instead of
    seconds. One thread keeps a fit to a few seconds whatever the load.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=1, user_api="openmp")
