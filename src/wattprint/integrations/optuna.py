"""Optuna: the energy and carbon of a whole hyperparameter search, pruned and failed trials too.

A search's cost is not the cost of its best trial: every trial Optuna starts
uses energy, including the ones a pruner stops early and the ones that crash
(the "Green AutoML" argument: report the search, not the winner).
:func:`tracked_objective` wraps an objective so that each trial is one
wattprint run:

* the run's project is the study's name, its name ``trial-N``, and its tags
  the trial's parameters (plus ``optuna.study``, ``optuna.trial`` and
  ``optuna.state``: ``COMPLETE``, ``PRUNED`` or ``FAIL``);
* the trial gets the run's cost as user attributes: ``energy_j`` (the
  footprint's total energy, IT energy × PUE, J), ``energy_kwh``, ``co2e_kg``
  (operational + embodied) and ``wattprint_run``;
* the objective's value is logged as the run's metric ``value`` (or the names
  given), so ``wattprint leaderboard --project STUDY --metric value`` ranks
  the trials and marks the same Pareto front over value and energy;
* with ``objectives=("value", "energy_kwh")`` the wrapped objective returns
  the cost too, for a multi-objective study (accuracy against kWh)::

      study = optuna.create_study(directions=["maximize", "minimize"])
      study.optimize(tracked_objective(objective, objectives=("value", "energy_kwh")),
                     n_trials=20)
      study.best_trials   # the Pareto front

:func:`study_footprint` totals a study (every trial that was tracked) and
:class:`EnergyBudget` stops a study once it has spent a given energy or carbon.
Optuna is imported when a wrapped objective first runs (extra ``optuna``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wattprint.errors import ConfigError
from wattprint.integrations._common import RunCost, require, run_cost
from wattprint.run import Tracker

#: the trial user attributes this integration sets
USER_ATTRS = ("energy_j", "energy_kwh", "co2e_kg", "wattprint_run")

#: names ``objectives`` may use besides ``value``: the run's cost in each unit
COST_OBJECTIVES = ("energy_j", "energy_kwh", "co2e_kg")


def _optuna() -> Any:
    return require("optuna", "optuna", "the Optuna integration")


def _cost_value(cost: RunCost | None, name: str) -> float:
    if cost is None:
        return math.nan
    return float(getattr(cost, name))


def tracked_objective(
    objective: Callable[[Any], Any],
    *,
    objectives: Sequence[str] = ("value",),
    metric: str | Sequence[str] = "value",
    phase: str = "experimentation",
    **tracker_options: Any,
) -> Callable[[Any], Any]:
    """Wrap an Optuna objective so that every trial is measured as one run.

    Args:
        objective: the objective, ``objective(trial) -> value`` (a float, or a
            sequence of floats for a multi-objective study).
        objectives: what the wrapped objective returns, in order: ``value``
            (the objective's own value or values) and any of ``energy_j``,
            ``energy_kwh``, ``co2e_kg`` (the trial's cost). The default returns
            the objective's value unchanged.
        metric: the metric name(s) the objective's value is logged under, one
            per value it returns (default ``value``; ``value_0``, ``value_1``...
            for several values under the default).
        phase: the runs' life-cycle phase.
        **tracker_options: passed to :class:`~wattprint.run.Tracker`
            (``region``, ``sensors``, ``home``, ``interval_s``...). The
            project is the study's name unless ``project`` is given.

    Returns:
        The wrapped objective, for ``study.optimize``.

    Raises:
        ConfigError: an unknown name in ``objectives`` (when wrapping), or
            Optuna is not installed (when a trial runs).
    """
    unknown = [o for o in objectives if o != "value" and o not in COST_OBJECTIVES]
    if unknown or not objectives:
        raise ConfigError(f"objectives must name 'value' and/or {', '.join(COST_OBJECTIVES)}; "
                          f"got {list(objectives)!r}")

    @functools.wraps(objective)
    def wrapped(trial: Any) -> Any:
        optuna = _optuna()
        study_name = trial.study.study_name
        options = dict(tracker_options)
        project = options.pop("project", None) or study_name
        tags = {**options.pop("tags", {}), "optuna.study": study_name,
                "optuna.trial": str(trial.number)}
        tracker = Tracker(project, name=f"trial-{trial.number}", phase=phase, tags=tags,
                          **options)
        state = "COMPLETE"
        tracker.start()
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            state = "PRUNED"
            _finish(tracker, trial, state, status="finished")
            raise
        except BaseException as exc:
            state = "FAIL"
            _finish(tracker, trial, state, error=f"{type(exc).__name__}: {exc}")
            raise
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        names = ([metric] if isinstance(metric, str) else list(metric))
        if len(names) != len(values):
            names = ([f"{names[0]}_{i}" for i in range(len(values))] if len(names) == 1
                     else names)
        for name, v in zip(names, values, strict=False):
            if v is not None and math.isfinite(float(v)):
                tracker.log_metric(name, float(v))
        cost = _finish(tracker, trial, state)
        out: list[Any] = []
        for name in objectives:
            out.extend(values if name == "value" else [_cost_value(cost, name)])
        return out[0] if len(out) == 1 else tuple(out)

    return wrapped


def _finish(tracker: Tracker, trial: Any, state: str, *, status: str | None = None,
            error: str | None = None) -> RunCost | None:
    """Stop the trial's run, tag it with the trial's parameters and state, set the cost attrs."""
    tracker.stop(status=status, error=error)
    if tracker.store is not None and tracker.id is not None:
        tags = {str(k): str(v) for k, v in trial.params.items()}
        tags["optuna.state"] = state
        tracker.store.set_tags(tracker.id, tags)
    cost = run_cost(tracker)
    if cost is not None:
        trial.set_user_attr("energy_j", cost.energy_j)
        trial.set_user_attr("energy_kwh", cost.energy_kwh)
        trial.set_user_attr("co2e_kg", cost.co2e_kg)
        trial.set_user_attr("wattprint_run", cost.run_id)
    return cost


@dataclass(frozen=True)
class StudyFootprint:
    """The cost of a whole study: every tracked trial, whatever its state.

    Attributes:
        study: the study's name.
        trials: the number of tracked trials.
        energy_j: total energy of the tracked trials, J.
        co2e_kg: total carbon of the tracked trials, kgCO2e.
        by_state: state name (``COMPLETE``, ``PRUNED``, ``FAIL``...) ->
            ``{"trials", "energy_j", "co2e_kg"}``.
        runs: the wattprint run id of each tracked trial, in trial order.
    """

    study: str
    trials: int
    energy_j: float
    co2e_kg: float
    by_state: dict[str, dict[str, float]] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)

    @property
    def energy_kwh(self) -> float:
        """Total energy, kWh."""
        return self.energy_j / 3_600_000.0


def study_footprint(study: Any) -> StudyFootprint:
    """Total the energy and carbon of a study's tracked trials (complete, pruned and failed).

    Trials run without :func:`tracked_objective` carry no cost and are not
    counted.
    """
    energy_j = co2e_kg = 0.0
    by_state: dict[str, dict[str, float]] = {}
    runs: list[str] = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if "energy_j" not in attrs:
            continue
        state = trial.state.name
        row = by_state.setdefault(state, {"trials": 0, "energy_j": 0.0, "co2e_kg": 0.0})
        row["trials"] += 1
        row["energy_j"] += float(attrs["energy_j"])
        row["co2e_kg"] += float(attrs["co2e_kg"])
        energy_j += float(attrs["energy_j"])
        co2e_kg += float(attrs["co2e_kg"])
        runs.append(str(attrs.get("wattprint_run", "")))
    return StudyFootprint(study.study_name, len(runs), energy_j, co2e_kg, by_state, runs)


class EnergyBudget:
    """A ``study.optimize`` callback that stops the study once its budget is spent.

    After each trial the study's tracked trials are totalled
    (:func:`study_footprint`); when the total reaches ``kwh`` or ``co2e_kg``
    the study is stopped (``study.stop()``: the running trial finishes, no
    new one starts), so the search spends at most the budget plus one trial.

    Args:
        kwh: energy budget, kWh (the footprint's total energy).
        co2e_kg: carbon budget, kgCO2e.

    Raises:
        ConfigError: neither budget given, or one that is not positive.
    """

    def __init__(self, *, kwh: float | None = None, co2e_kg: float | None = None) -> None:
        if kwh is None and co2e_kg is None:
            raise ConfigError("EnergyBudget needs kwh= or co2e_kg=")
        for name, value in (("kwh", kwh), ("co2e_kg", co2e_kg)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"EnergyBudget {name} must be a positive number, not {value}")
        self.kwh = kwh
        self.co2e_kg = co2e_kg
        self.stopped_at: StudyFootprint | None = None

    def spent(self, total: StudyFootprint) -> bool:
        """Whether ``total`` reaches either budget."""
        return ((self.kwh is not None and total.energy_kwh >= self.kwh)
                or (self.co2e_kg is not None and total.co2e_kg >= self.co2e_kg))

    def __call__(self, study: Any, trial: Any) -> None:
        """Stop ``study`` when the budget is spent (Optuna calls this after each trial)."""
        total = study_footprint(study)
        if self.spent(total):
            self.stopped_at = total
            study.stop()


__all__ = ["COST_OBJECTIVES", "USER_ATTRS", "EnergyBudget", "StudyFootprint",
           "study_footprint", "tracked_objective"]
