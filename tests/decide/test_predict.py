"""The prediction model and the budget rule, with every expected value worked by hand."""

from __future__ import annotations

import math

import pytest

from wattprint.decide.predict import (
    Budget,
    EpochMark,
    Prediction,
    forecast_totals,
    predict,
    t_quantile_975,
)
from wattprint.errors import ConfigError

#: four epochs: 12 s / 1300 J (a slow first one), then 10 s / 1000 J, 11 s / 1020 J, 10 s / 980 J
ENDS = [EpochMark(12.0, 1300.0), EpochMark(22.0, 2300.0), EpochMark(33.0, 3320.0),
        EpochMark(43.0, 4300.0)]


def test_t_quantiles_match_the_tables() -> None:
    assert t_quantile_975(1) == 12.706
    assert t_quantile_975(2) == 4.303
    assert t_quantile_975(30) == 2.042
    # beyond the table: 2.0211 (df 40), 2.0003 (df 60), 1.9799 (df 120) in the printed tables
    assert t_quantile_975(40) == pytest.approx(2.0211, abs=5e-4)
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=5e-4)
    assert t_quantile_975(120) == pytest.approx(1.9799, abs=5e-4)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_after_four_epochs_the_first_is_left_out_and_the_t_interval_is_used() -> None:
    totals = forecast_totals(EpochMark(0.0, 0.0), ENDS, 10)
    # steady energies 1000, 1020, 980: mean 1000, sd 20; 6 to go
    assert totals.energy_j == pytest.approx(4300.0 + 6 * 1000.0)
    half = 4.303 * 20.0 * math.sqrt(6 + 36 / 3)  # 365.12 J
    assert totals.energy_j_interval == pytest.approx((10300.0 - half, 10300.0 + half))
    # steady durations 10, 11, 10 s: mean 31/3, sd sqrt(1/3)
    assert totals.duration_s == pytest.approx(43.0 + 6 * 31 / 3)
    half_s = 4.303 * math.sqrt(1 / 3) * math.sqrt(18)
    assert totals.duration_s_interval == pytest.approx((105.0 - half_s, 105.0 + half_s))
    assert (totals.after_epochs, totals.remaining_epochs, totals.steady_epochs) == (4, 6, 3)
    assert "first left out" in totals.rule


def test_after_two_epochs_the_second_alone_with_the_assumed_spread() -> None:
    totals = forecast_totals(EpochMark(0.0, 0.0), ENDS[:2], 10)
    assert totals.energy_j == pytest.approx(2300.0 + 8 * 1000.0)
    assert totals.energy_j_interval == pytest.approx((10300.0 - 1600.0, 10300.0 + 1600.0))
    assert "±20%" in totals.rule


def test_after_one_epoch_it_is_all_there_is() -> None:
    totals = forecast_totals(EpochMark(0.0, 0.0), ENDS[:1], 10)
    assert totals.energy_j == pytest.approx(13000.0)
    assert totals.energy_j_interval == pytest.approx((13000.0 - 2340.0, 13000.0 + 2340.0))
    assert totals.duration_s == pytest.approx(120.0)


def test_the_first_epoch_counts_from_its_start_and_setup_stays_measured() -> None:
    # 5 s and 200 J of set-up before the first epoch starts
    start = EpochMark(5.0, 200.0)
    ends = [EpochMark(15.0, 1200.0), EpochMark(25.0, 2200.0)]
    totals = forecast_totals(start, ends, 4)
    assert totals.energy_j == pytest.approx(2200.0 + 2 * 1000.0)
    assert totals.duration_s == pytest.approx(25.0 + 2 * 10.0)


def test_the_low_end_never_falls_below_what_is_measured() -> None:
    ends = [EpochMark(1.0, 100.0), EpochMark(2.0, 200.0), EpochMark(3.0, 1000.0)]
    totals = forecast_totals(EpochMark(0.0, 0.0), ends, 10)
    # steady 100 and 800 J: mean 450, 7 to go: 1000 + 3150
    assert totals.energy_j == pytest.approx(4150.0)
    assert totals.energy_j_interval[0] == 1000.0


def test_all_epochs_done_gives_the_measured_totals() -> None:
    totals = forecast_totals(EpochMark(0.0, 0.0), ENDS, 4)
    assert totals.energy_j == 4300.0 and totals.energy_j_interval == (4300.0, 4300.0)
    assert totals.duration_s == 43.0


def _prediction(energy_j: float, so_far_j: float, co2e_kg: float | None = None) -> Prediction:
    totals = forecast_totals(EpochMark(0.0, 0.0), ENDS[:2], 10)
    made = predict(totals, made_at=0.0, carbon=None)
    return Prediction(**{**made.__dict__, "energy_j": energy_j, "energy_so_far_j": so_far_j,
                         "co2e_kg": co2e_kg,
                         "co2e_kg_interval": None if co2e_kg is None else (co2e_kg, co2e_kg)})


def test_a_budget_is_exceeded_by_the_central_prediction_or_by_what_is_measured() -> None:
    budget = Budget(energy_kwh=1.0)  # 3.6 MJ; 3.7 MJ is 1.03 kWh
    assert budget.exceeded(_prediction(3.5e6, 1e6)) is None
    assert "predicted 1.03 kWh" in (budget.exceeded(_prediction(3.7e6, 1e6)) or "")
    assert "measured 1.03 kWh" in (budget.exceeded(_prediction(3.0e6, 3.7e6)) or "")
    assert budget.exceeded_now(3.7e6) is not None and budget.exceeded_now(3.5e6) is None
    carbon = Budget(co2e_kg=2.0, action="warn")
    assert carbon.exceeded(_prediction(1.0, 0.0, co2e_kg=1.9)) is None
    assert "over the budget of 2 kg" in (carbon.exceeded(_prediction(1.0, 0.0, 2.1)) or "")


def test_a_budget_needs_a_cap_and_a_known_action() -> None:
    with pytest.raises(ConfigError):
        Budget()
    with pytest.raises(ConfigError):
        Budget(energy_kwh=-1.0)
    with pytest.raises(ConfigError):
        Budget(energy_kwh=1.0, action="explode")


def test_a_prediction_round_trips_as_a_mapping() -> None:
    made = predict(forecast_totals(EpochMark(0.0, 0.0), ENDS, 10), made_at=1.0, carbon=None)
    doc = made.as_dict()
    assert doc["energy_j_interval"] == list(made.energy_j_interval)
    assert doc["energy_kwh"] == pytest.approx(10300.0 / 3.6e6)
    assert Prediction.from_dict(doc) == made
