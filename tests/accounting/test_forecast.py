"""The intensity forecast: a known seasonal pattern, no look-ahead, the backtest."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from wattprint.accounting.forecast import evaluate, forecast, forecast_window
from wattprint.accounting.series import IntensitySeries, Provenance
from wattprint.errors import IntensityError

H = 3600.0
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()  # a Monday
NOISE_G = 5.0
PROV = Provenance("synthetic", "test", None, "average", "direct", "", "", "XX")


def pattern(t_s: np.ndarray) -> np.ndarray:
    """200 g/kWh, a daily swing of +/- 80 and 40 less at weekends."""
    hour = (t_s % 86400) // 3600
    weekend = ((np.floor(t_s / 86400) + 3) % 7) >= 5
    return 200.0 + 80.0 * np.sin(2 * math.pi * hour / 24) - 40.0 * weekend


def synthetic(weeks: int, seed: int = 1) -> IntensitySeries:
    t = T0 + H * np.arange(weeks * 168)
    rng = np.random.default_rng(seed)
    values = pattern(t) + rng.normal(0.0, NOISE_G, t.size)
    return IntensitySeries.regular(T0, H, values, region="XX", provenance=PROV)


def test_the_model_recovers_a_known_seasonal_pattern() -> None:
    history = synthetic(12)
    origin = T0 + 10 * 7 * 86400 + 5 * 86400  # a Saturday: the weekend drop must be there
    f = forecast(history, origin, 72)
    truth = pattern(f.start_s)
    # the noise-free pattern is recovered to within the noise (the lags carry some of it)
    assert float(np.mean(np.abs(f.p50_g_per_kwh - truth))) < NOISE_G
    assert float(np.max(np.abs(f.p50_g_per_kwh - truth))) < 4 * NOISE_G
    assert np.all(f.p10_g_per_kwh <= f.p50_g_per_kwh)
    assert np.all(f.p50_g_per_kwh <= f.p90_g_per_kwh)
    # the p10-p90 band of N(0, 5) noise alone is 2 x 1.2816 x 5 = 12.8 g wide; the
    # forecast's own error (noise in the lags) widens it, but not by more than half again
    width = float(np.mean(f.p90_g_per_kwh - f.p10_g_per_kwh))
    assert 2 * 1.2816 * NOISE_G <= width <= 1.5 * 2 * 1.2816 * NOISE_G
    assert f.basis == "direct" and f.origin_s == origin and f.p50_g_per_kwh.size == 72


def test_backtest_mape_is_near_the_noise_level() -> None:
    doc = evaluate(synthetic(20), weeks=4)
    # E|N(0, 5)| = 5 sqrt(2/pi) = 3.99 g; relative to ~200 g that is about 2 %.
    # The lags carry noise of their own, so the model stays within 1.5 times that.
    assert doc["mae"] < 1.5 * NOISE_G * math.sqrt(2 / math.pi)
    assert doc["mape"] < 1.5 * 100 * NOISE_G * math.sqrt(2 / math.pi) / 160
    # persistence carries yesterday's noise and misses the weekend edges
    assert doc["baselines"]["persistence"]["mae"] > doc["mae"]
    assert set(doc["baselines"]) == {"persistence", "typical_year"}
    assert doc["origins"] == 28 and len(doc["weeks"]) == 4
    assert doc["perfect_saving"] >= doc["saving"] - 1e-12
    assert doc["perfect_saving"] >= doc["baselines"]["persistence"]["saving"] - 1e-12


def test_a_forecast_never_reads_data_at_or_after_its_origin() -> None:
    history = synthetic(12)
    origin = T0 + 9 * 7 * 86400 + 13 * H
    k = int((origin - T0) // H)
    clean = forecast(history, origin, 24)
    for poison in (np.nan, 1e9):
        values = np.array(history.g_per_kwh)
        values[k:] = poison
        poisoned = IntensitySeries.regular(T0, H, values, region="XX", provenance=PROV)
        f = forecast(poisoned, origin, 24)
        np.testing.assert_array_equal(f.p50_g_per_kwh, clean.p50_g_per_kwh)
        np.testing.assert_array_equal(f.p90_g_per_kwh, clean.p90_g_per_kwh)
    # and the origin is part of what it may not read: poisoning one step earlier changes it
    values = np.array(history.g_per_kwh)
    values[k - 1] = 1e4
    earlier = IntensitySeries.regular(T0, H, values, region="XX", provenance=PROV)
    assert not np.array_equal(forecast(earlier, origin, 24).p50_g_per_kwh, clean.p50_g_per_kwh)


def test_old_history_is_bridged_by_the_typical_year_and_says_so() -> None:
    t = T0 + H * np.arange(366 * 24)  # all of 2024
    values = pattern(t)
    year = IntensitySeries.regular(T0, H, values, region="XX", provenance=PROV)
    now = datetime(2026, 3, 4, 10, 20, tzinfo=timezone.utc).timestamp()
    series, f = forecast_window(year, now, now + 12 * H)
    assert f.origin_s == datetime(2026, 3, 4, 10, tzinfo=timezone.utc).timestamp()
    assert len(series) == 24  # at least a day
    assert any("same date and time (UTC) in 2024" in note for note in f.notes)
    assert "forecast by the seasonal linear model" in str(series.provenance.fallback)


def test_too_little_history_is_an_error() -> None:
    with pytest.raises(IntensityError, match="days of history"):
        forecast(synthetic(2), T0 + 14 * 86400, 24)
