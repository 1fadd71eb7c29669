"""Predicting a run's totals from its first epochs, and judging them against a budget.

Training is a loop: once a few epochs have run, the rest of the run is
mostly more of the same. carbontracker (Anthony, Kanding and Selvan, 2020,
arXiv:2007.03051) measures the first epoch and multiplies by the number of
epochs; this module does the same with three changes, each for a reason:

1. **What has been measured stays measured.** The prediction is the energy
   (and time) measured up to the last epoch end, set-up included, plus the
   remaining epochs times the mean epoch. Nothing already spent is
   extrapolated.
2. **The first epoch is left out of the mean once there is a second one.**
   The first epoch is often slower: data caches are cold, kernels are
   compiled or auto-tuned, and (for ``wattprint run --epochs``) the program's
   own start-up falls in it. The later epochs are what the remaining ones
   resemble. After one epoch it is all there is, and the prediction says
   so (it then errs high when the first epoch was slow).
3. **An interval comes with it.** With ``m >= 2`` steady epochs of mean
   ``μ`` and sample standard deviation ``s``, the sum of ``r`` more epochs
   drawn from the same distribution is predicted as ``r·μ`` with the 95 %
   prediction interval ``r·μ ± t(0.975, m−1) · s · sqrt(r + r²/m)``: ``r·s²``
   is the spread of the epochs to come and ``r²·s²/m`` the uncertainty of
   ``μ`` itself (Student's t, a normal model of epoch cost). With fewer than
   two steady epochs there is no spread to measure; the interval is then
   the remaining part ±20 %, a stated assumption (:data:`ASSUMED_SPREAD`),
   not a measurement.

An epoch's cost is taken from one epoch end to the next, so whatever runs
between epochs (validation, checkpoints) is part of the epoch it follows;
the first epoch counts from its start (``epoch_start()``), or from the
run's start when only ends are marked. Work after the last epoch (a final
test, saving) is not predicted.

Carbon is operational carbon: energy × PUE × grid intensity, with the
energy measured so far weighted by the intensity over the time it took and
the remaining energy by the mean intensity over the predicted remaining
window. The intensity is the region's shipped hourly series where one
exists (replayed onto the same time of year), else its annual figure
(:mod:`wattprint.accounting.hourly`, :mod:`wattprint.accounting.intensity`).
Embodied carbon is charged by the footprint once the run has ended and is
not part of the prediction. The carbon interval carries the energy
interval; the intensity is taken as known.

A :class:`Budget` caps energy and/or carbon. It is exceeded when the
central prediction exceeds it, or when what has been measured already
does. What happens then (stop the job, warn, raise in the training loop)
is the caller's to do; this module only judges.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from wattprint.errors import ConfigError
from wattprint.units import J_PER_KWH, format_duration_s, format_energy_j, format_mass_kg

__all__ = ["ASSUMED_SPREAD", "BUDGET_ACTIONS", "Budget", "CarbonForecast", "EpochMark",
           "Prediction", "Totals", "actual_carbon_kg", "forecast_carbon", "forecast_totals",
           "predict", "prediction_line", "t_quantile_975"]

#: the relative half-width of the interval on the remaining part when fewer than two
#: steady epochs give no spread to measure (an assumption, stated with each prediction)
ASSUMED_SPREAD = 0.20

#: what a budget may do when exceeded: stop the job (``wattprint run``), raise in the
#: training loop (the Python API) or only warn
BUDGET_ACTIONS = ("stop", "raise", "warn")

#: Student's t, 0.975 quantile (two-sided 95 %), by degrees of freedom (standard tables)
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
          2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
          2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_Z_975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom.

    Tabulated for 1-30; beyond, the Cornish-Fisher expansion around the
    normal quantile (within 0.0005 of the exact value from 30 on).

    Raises:
        ValueError: ``df < 1``.
    """
    if df < 1:
        raise ValueError("Student's t needs at least one degree of freedom")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = _Z_975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


@dataclass(frozen=True)
class EpochMark:
    """A point of the run: seconds since its start and joules measured since then."""

    t_s: float
    energy_j: float


@dataclass(frozen=True)
class Totals:
    """Predicted total duration and energy of a run, each with a 95 % interval.

    Attributes:
        after_epochs: epochs ended when the prediction was made.
        total_epochs: the epochs the run will have.
        duration_s: predicted total duration, s (central).
        duration_s_interval: its interval ``(low, high)``, s.
        energy_j: predicted total energy, J (central).
        energy_j_interval: its interval ``(low, high)``, J.
        elapsed_s: seconds from the run's start to the last epoch end.
        energy_so_far_j: energy measured up to the last epoch end, J.
        steady_epochs: how many epochs the mean was taken over.
        rule: how the interval was made, in words.
    """

    after_epochs: int
    total_epochs: int
    duration_s: float
    duration_s_interval: tuple[float, float]
    energy_j: float
    energy_j_interval: tuple[float, float]
    elapsed_s: float
    energy_so_far_j: float
    steady_epochs: int
    rule: str

    @property
    def remaining_epochs(self) -> int:
        """Epochs still to run."""
        return max(self.total_epochs - self.after_epochs, 0)


def _sum_ahead(so_far: float, steady: Sequence[float], remaining: int
               ) -> tuple[float, tuple[float, float]]:
    """``so_far`` plus ``remaining`` epochs like ``steady``, with the module's interval."""
    mean = statistics.fmean(steady)
    central = so_far + remaining * mean
    m = len(steady)
    if remaining == 0:
        half = 0.0
    elif m >= 2:
        half = t_quantile_975(m - 1) * statistics.stdev(steady) * math.sqrt(
            remaining + remaining**2 / m)
    else:
        half = ASSUMED_SPREAD * remaining * mean
    return central, (max(so_far, central - half), central + half)


def forecast_totals(start: EpochMark, ends: Sequence[EpochMark], total_epochs: int
                    ) -> Totals:
    """Predict a run's total duration and energy from its epochs so far.

    Args:
        start: where the first epoch started (the run's start, ``t_s = 0``,
            when only epoch ends are marked).
        ends: each epoch's end so far, in order (cumulative from the run's start).
        total_epochs: the number of epochs the run will have.

    Raises:
        ValueError: no epoch has ended, or ``total_epochs`` is smaller than 1.
    """
    if not ends:
        raise ValueError("a prediction needs at least one epoch end")
    if total_epochs < 1:
        raise ValueError("total_epochs must be at least 1")
    points = [start, *ends]
    durations = [b.t_s - a.t_s for a, b in itertools.pairwise(points)]
    energies = [b.energy_j - a.energy_j for a, b in itertools.pairwise(points)]
    k = len(ends)
    steady_d, steady_e = (durations[1:], energies[1:]) if k >= 2 else (durations, energies)
    remaining = max(total_epochs - k, 0)
    last = ends[-1]
    duration, duration_iv = _sum_ahead(last.t_s, steady_d, remaining)
    energy, energy_iv = _sum_ahead(last.energy_j, steady_e, remaining)
    m = len(steady_e)
    if remaining == 0:
        rule = "all epochs ended: the measured totals"
    elif m >= 2:
        rule = (f"mean of epochs 2-{k} (the first left out as warm-up), 95 % t-interval from "
                f"their spread over {remaining} more epoch(s)")
    else:
        which = "epoch 2 (the first left out as warm-up)" if k >= 2 else "the first epoch"
        rule = (f"{which} times {remaining} more; interval ±{ASSUMED_SPREAD:.0%} of the "
                "remaining part (assumed: no spread to measure yet)")
    return Totals(k, total_epochs, duration, duration_iv, energy, energy_iv, last.t_s,
                  last.energy_j, m, rule)


@dataclass(frozen=True)
class CarbonForecast:
    """Predicted operational carbon of a run.

    Attributes:
        co2e_kg: predicted total, kg CO2e (central).
        co2e_kg_interval: its interval, kg CO2e (the energy interval's).
        intensity_so_far_g_per_kwh: mean intensity over the run so far.
        intensity_ahead_g_per_kwh: mean intensity over the predicted remaining window.
        intensity_source: ``hourly`` (the region's series) or ``annual``.
        region: the region code.
        pue: the PUE applied.
    """

    co2e_kg: float
    co2e_kg_interval: tuple[float, float]
    intensity_so_far_g_per_kwh: float
    intensity_ahead_g_per_kwh: float
    intensity_source: str
    region: str
    pue: float


def forecast_carbon(totals: Totals, *, started_at_s: float, region: str, pue: float
                    ) -> CarbonForecast:
    """The operational carbon of predicted totals (see the module docstring).

    Args:
        totals: the predicted totals.
        started_at_s: the run's start, UTC epoch seconds.
        region: a region code the intensity tables know.
        pue: power usage effectiveness (>= 1).

    Raises:
        RegionError: the region is unknown.
        IntensityError: no intensity for it.
    """
    from wattprint.accounting.hourly import hourly_series
    from wattprint.accounting.intensity import AnnualIntensity, IntensitySource
    from wattprint.errors import RegionError

    source: IntensitySource
    try:
        hourly_series(region)
        from wattprint.accounting.hourly import HourlyIntensity

        source, name = HourlyIntensity(replay_year=True), "hourly"
    except RegionError:
        source, name = AnnualIntensity(), "annual"
    now_s = started_at_s + totals.elapsed_s
    past = source.intensity(region, started_at_s, max(now_s, started_at_s + 1.0)).g_per_kwh
    ahead_s = max(totals.duration_s - totals.elapsed_s, 1.0)
    ahead = source.intensity(region, now_s, now_s + ahead_s).g_per_kwh

    def kg(total_j: float) -> float:
        remaining_j = max(total_j - totals.energy_so_far_j, 0.0)
        return (pue * (totals.energy_so_far_j * past + remaining_j * ahead)
                / J_PER_KWH / 1000.0)

    low, high = totals.energy_j_interval
    return CarbonForecast(kg(totals.energy_j), (kg(low), kg(high)), float(past), float(ahead),
                          name, region, pue)


def actual_carbon_kg(energy_j: float, *, started_at_s: float, duration_s: float, region: str,
                     pue: float) -> float:
    """A finished run's operational carbon on the predictions' basis, to compare with them.

    Raises:
        RegionError: the region is unknown.
        IntensityError: no intensity for it.
    """
    whole = Totals(1, 1, duration_s, (duration_s, duration_s), energy_j, (energy_j, energy_j),
                   duration_s, energy_j, 1, "measured")
    return forecast_carbon(whole, started_at_s=started_at_s, region=region, pue=pue).co2e_kg


@dataclass(frozen=True)
class Prediction:
    """One forecast of a run, as :meth:`wattprint.run.Tracker.prediction` gives it.

    Attributes:
        after_epochs: epochs ended when it was made.
        total_epochs: the epochs the run will have.
        made_at: when it was made, UTC epoch seconds.
        duration_s, duration_s_interval: predicted total duration and its interval, s.
        energy_j, energy_j_interval: predicted total energy and its interval, J.
        co2e_kg, co2e_kg_interval: predicted operational carbon and its interval
            (``None`` when the run's carbon could not be accounted).
        elapsed_s: seconds from the start to the last epoch end.
        energy_so_far_j: energy measured up to the last epoch end, J.
        rule: how the central value and the interval were made.
        carbon: where the carbon came from (region, PUE, intensities and their source).
        budget: why a budget is (predicted to be) exceeded, or ``None``.
    """

    after_epochs: int
    total_epochs: int
    made_at: float
    duration_s: float
    duration_s_interval: tuple[float, float]
    energy_j: float
    energy_j_interval: tuple[float, float]
    co2e_kg: float | None
    co2e_kg_interval: tuple[float, float] | None
    elapsed_s: float
    energy_so_far_j: float
    rule: str
    carbon: dict[str, Any] = field(default_factory=dict)
    budget: str | None = None

    @property
    def energy_kwh(self) -> float:
        """Predicted total energy, kWh."""
        return self.energy_j / J_PER_KWH

    def as_dict(self) -> dict[str, Any]:
        """The prediction as a plain mapping (intervals as two-item lists)."""
        out = asdict(self)
        for key in ("duration_s_interval", "energy_j_interval", "co2e_kg_interval"):
            if out[key] is not None:
                out[key] = list(out[key])
        out["energy_kwh"] = self.energy_kwh
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Prediction:
        """The prediction :meth:`as_dict` wrote (extra keys ignored)."""
        co2e_iv = doc.get("co2e_kg_interval")
        return cls(
            int(doc["after_epochs"]), int(doc["total_epochs"]), float(doc["made_at"]),
            float(doc["duration_s"]), _pair(doc["duration_s_interval"]),
            float(doc["energy_j"]), _pair(doc["energy_j_interval"]),
            None if doc.get("co2e_kg") is None else float(doc["co2e_kg"]),
            None if co2e_iv is None else _pair(co2e_iv), float(doc["elapsed_s"]),
            float(doc["energy_so_far_j"]), str(doc["rule"]), dict(doc.get("carbon") or {}),
            doc.get("budget"))


def _pair(values: Sequence[Any]) -> tuple[float, float]:
    return float(values[0]), float(values[1])


def predict(totals: Totals, *, made_at: float, carbon: CarbonForecast | None) -> Prediction:
    """A :class:`Prediction` from predicted totals and (optionally) their carbon."""
    return Prediction(
        totals.after_epochs, totals.total_epochs, made_at, totals.duration_s,
        totals.duration_s_interval, totals.energy_j, totals.energy_j_interval,
        None if carbon is None else carbon.co2e_kg,
        None if carbon is None else carbon.co2e_kg_interval, totals.elapsed_s,
        totals.energy_so_far_j, totals.rule, {} if carbon is None else {
            "region": carbon.region, "pue": carbon.pue,
            "intensity_source": carbon.intensity_source,
            "intensity_so_far_g_per_kwh": carbon.intensity_so_far_g_per_kwh,
            "intensity_ahead_g_per_kwh": carbon.intensity_ahead_g_per_kwh})


@dataclass(frozen=True)
class Budget:
    """A cap on a run's energy and/or carbon, and what to do when it will be exceeded.

    Attributes:
        energy_kwh: the energy cap, kWh (device energy, before PUE), or ``None``.
        co2e_kg: the carbon cap, kg CO2e (operational), or ``None``.
        action: ``stop`` (end the job: ``wattprint run``), ``raise`` (raise
            :class:`~wattprint.errors.BudgetExceeded` in the training loop) or ``warn``.
        grace_s: seconds between SIGTERM and SIGKILL when stopping a job.

    Raises:
        ConfigError: no cap, a cap that is not a positive number, or an unknown action.
    """

    energy_kwh: float | None = None
    co2e_kg: float | None = None
    action: str = "stop"
    grace_s: float = 30.0

    def __post_init__(self) -> None:
        """Check the caps and the action."""
        if self.energy_kwh is None and self.co2e_kg is None:
            raise ConfigError("a budget needs an energy cap (kWh) or a carbon cap (kg CO2e)")
        for name, value in (("budget energy (kWh)", self.energy_kwh),
                            ("budget carbon (kg CO2e)", self.co2e_kg),
                            ("budget grace period (s)", self.grace_s)):
            if value is not None and not (isinstance(value, int | float) and
                                          math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number >= 0, not {value!r}")
        if self.action not in BUDGET_ACTIONS:
            raise ConfigError(f"budget action {self.action!r}: choose one of "
                              f"{', '.join(BUDGET_ACTIONS)}")

    def exceeded(self, prediction: Prediction) -> str | None:
        """Why the prediction (or what is measured already) exceeds the budget, or ``None``."""
        where = f"after epoch {prediction.after_epochs} of {prediction.total_epochs}"
        if self.energy_kwh is not None:
            cap_j = self.energy_kwh * J_PER_KWH
            if prediction.energy_so_far_j > cap_j:
                return (f"measured {format_energy_j(prediction.energy_so_far_j)} {where}, over "
                        f"the budget of {format_energy_j(cap_j)}")
            if prediction.energy_j > cap_j:
                low, high = prediction.energy_j_interval
                return (f"predicted {format_energy_j(prediction.energy_j)} [{format_energy_j(low)}"
                        f", {format_energy_j(high)}] {where}, over the budget of "
                        f"{format_energy_j(cap_j)}")
        if self.co2e_kg is not None and prediction.co2e_kg is not None:
            iv = prediction.co2e_kg_interval or (prediction.co2e_kg, prediction.co2e_kg)
            if prediction.co2e_kg > self.co2e_kg:
                return (f"predicted {format_mass_kg(prediction.co2e_kg)} CO2e "
                        f"[{format_mass_kg(iv[0])}, {format_mass_kg(iv[1])}] {where}, over the "
                        f"budget of {format_mass_kg(self.co2e_kg)} CO2e")
        return None

    def exceeded_now(self, energy_j: float) -> str | None:
        """Why the energy measured so far (before any prediction) exceeds the cap, or ``None``."""
        if self.energy_kwh is not None and energy_j > self.energy_kwh * J_PER_KWH:
            return (f"measured {format_energy_j(energy_j)}, over the budget of "
                    f"{format_energy_j(self.energy_kwh * J_PER_KWH)}")
        return None


def prediction_line(p: Prediction) -> str:
    """One line telling a prediction (what ``wattprint run --epochs`` prints on stderr)."""
    e_low, e_high = p.energy_j_interval
    d_low, d_high = p.duration_s_interval
    parts = [f"epoch {p.after_epochs}/{p.total_epochs}: predicted "
             f"{format_energy_j(p.energy_j)} [{format_energy_j(e_low)}, "
             f"{format_energy_j(e_high)}]"]
    if p.co2e_kg is not None and p.co2e_kg_interval is not None:
        c_low, c_high = p.co2e_kg_interval
        parts.append(f"{format_mass_kg(p.co2e_kg)} CO2e [{format_mass_kg(c_low)}, "
                     f"{format_mass_kg(c_high)}]")
    parts.append(f"{format_duration_s(p.duration_s)} [{format_duration_s(d_low)}, "
                 f"{format_duration_s(d_high)}]")
    line = "wattprint: " + ", ".join(parts)
    return line + (f"; BUDGET: {p.budget}" if p.budget else "")
