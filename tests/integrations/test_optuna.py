"""The Optuna integration on real studies: every trial a run, totals, Pareto front, budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from wattprint.errors import ConfigError  # noqa: E402
from wattprint.integrations.optuna import (  # noqa: E402
    EnergyBudget,
    study_footprint,
    tracked_objective,
)
from wattprint.report.leaderboard import leaderboard  # noqa: E402
from wattprint.store import Store  # noqa: E402

TRACKING = {"sensors": ["model"], "interval_s": 0.01, "region": "FR"}


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3.0, 3.0)
    if trial.number == 4:
        _busy(0.02)
        raise ValueError("diverged")
    for step in range(3):
        _busy(0.02)
        trial.report(x * x + step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return x * x


def test_every_trial_is_a_run_pruned_and_failed_included(home: Path) -> None:
    study = optuna.create_study(study_name="search", direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=1),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2,
                                                                   n_warmup_steps=0))
    study.optimize(tracked_objective(objective, **TRACKING), n_trials=10, catch=(ValueError,))
    trials = study.get_trials()
    states = {t.state.name for t in trials}
    assert len(trials) == 10
    assert "FAIL" in states and "PRUNED" in states and "COMPLETE" in states
    store = Store(home / "wattprint.db")
    runs = store.runs("search")
    assert len(runs) == 10
    by_id = {r.id: r for r in runs}
    for t in trials:
        run_id = t.user_attrs["wattprint_run"]
        assert run_id in by_id
        tags = store.tags(run_id)
        assert tags["optuna.state"] == t.state.name
        assert tags["optuna.trial"] == str(t.number)
        assert float(tags["x"]) == pytest.approx(t.params["x"])
        assert by_id[run_id].name == f"trial-{t.number}"
        assert t.user_attrs["energy_j"] > 0
        assert t.user_attrs["energy_kwh"] == pytest.approx(t.user_attrs["energy_j"] / 3.6e6)
        assert t.user_attrs["co2e_kg"] > 0
    assert by_id[trials[4].user_attrs["wattprint_run"]].status == "failed"
    assert by_id[trials[4].user_attrs["wattprint_run"]].error == "ValueError: diverged"
    # the study total is the sum of every trial, whatever its state
    total = study_footprint(study)
    assert total.trials == 10
    assert total.energy_j == pytest.approx(sum(t.user_attrs["energy_j"] for t in trials))
    assert total.co2e_kg == pytest.approx(sum(t.user_attrs["co2e_kg"] for t in trials))
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert total.by_state["PRUNED"]["trials"] == len(pruned)
    assert total.by_state["PRUNED"]["energy_j"] == pytest.approx(
        sum(t.user_attrs["energy_j"] for t in pruned))
    # completed trials logged their value for the leaderboard
    done = [t for t in trials if t.state.name == "COMPLETE"]
    for t in done:
        [m] = [m for m in store.metrics(t.user_attrs["wattprint_run"]) if m["name"] == "value"]
        assert m["value"] == pytest.approx(t.value)


def test_multi_objective_front_equals_the_leaderboards(home: Path) -> None:
    def accuracy(trial: optuna.Trial) -> float:
        width = trial.suggest_int("width", 1, 6)
        _busy(0.01 * width)
        return 1.0 - 1.0 / (width + 1)

    study = optuna.create_study(study_name="acc-vs-kwh", directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(tracked_objective(accuracy, objectives=("value", "energy_kwh"),
                                     metric="accuracy", **TRACKING), n_trials=8)
    for t in study.get_trials():
        assert t.values[1] == t.user_attrs["energy_kwh"]
    front = {t.user_attrs["wattprint_run"] for t in study.best_trials}
    board = leaderboard(Store(home / "wattprint.db"), "acc-vs-kwh", "accuracy", maximize=True,
                        costs=["energy"])
    assert len(board["runs"]) == 8
    assert set(board["front"]) == front
    for row in board["runs"]:
        [t] = [t for t in study.get_trials() if t.user_attrs["wattprint_run"] == row["id"]]
        assert row["energy_kwh"] == pytest.approx(t.values[1], rel=1e-12)
        assert row["metric"] == pytest.approx(t.values[0])


def test_budget_callback_stops_the_study(home: Path) -> None:
    def work(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        _busy(0.03)
        return 0.0

    # calibrate: one trial's energy, then a budget of about three trials
    probe = optuna.create_study(study_name="probe")
    probe.optimize(tracked_objective(work, **TRACKING), n_trials=1)
    one_kwh = probe.trials[0].user_attrs["energy_kwh"]
    budget = EnergyBudget(kwh=2.5 * one_kwh)
    study = optuna.create_study(study_name="budgeted")
    study.optimize(tracked_objective(work, **TRACKING), n_trials=50, callbacks=[budget])
    n = len(study.trials)
    assert 2 <= n < 50
    spent = study_footprint(study)
    assert spent.energy_kwh >= budget.kwh
    # without the last trial the budget was not yet spent
    assert spent.energy_kwh - study.trials[-1].user_attrs["energy_kwh"] < budget.kwh
    assert budget.stopped_at is not None and budget.stopped_at.trials == n


def test_carbon_budget_and_bad_arguments(home: Path) -> None:
    with pytest.raises(ConfigError, match="kwh= or co2e_kg="):
        EnergyBudget()
    with pytest.raises(ConfigError, match="positive"):
        EnergyBudget(co2e_kg=-1.0)
    with pytest.raises(ConfigError, match="objectives"):
        tracked_objective(lambda t: 0.0, objectives=("value", "watts"))
    budget = EnergyBudget(co2e_kg=1e-12)
    study = optuna.create_study(study_name="tiny-carbon")
    study.optimize(tracked_objective(lambda t: 0.0, **TRACKING), n_trials=5, callbacks=[budget])
    assert len(study.trials) == 1


def test_docs_example_runs(home: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    from integrations.docsnippets import blocks

    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    [code] = blocks("Optuna")
    exec(compile(code, "docs/integrations.md", "exec"), {})
    out = capsys.readouterr().out
    assert "trials:" in out and "Pareto front:" in out
    assert len(Store(home / "wattprint.db").runs("quadratic")) >= 1
