"""The library forecast model beside the numpy one, the model choice, and kept live history."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from tests.accounting.test_forecast import NOISE_G, PROV, T0, H, pattern, synthetic

from wattprint.accounting.forecast import evaluate, fit, forecast, installed_models
from wattprint.accounting.forecast_history import with_kept_live
from wattprint.accounting.forecast_models import default_model
from wattprint.accounting.kept import keep
from wattprint.accounting.series import IntensitySeries, Provenance

pytest.importorskip("sklearn")


def test_gbm_recovers_a_known_seasonal_pattern_with_an_ordered_band() -> None:
    history = synthetic(10)
    origin = T0 + 9 * 7 * 86400 + 5 * 86400  # a Saturday: the weekend drop must be there
    f = forecast(history, origin, 24, model="gbm")
    truth = pattern(f.start_s)
    # the trees recover the pattern to within about the noise (E|N(0, 5)| = 4 g)
    assert float(np.mean(np.abs(f.p50_g_per_kwh - truth))) < 1.5 * NOISE_G
    assert np.all(f.p10_g_per_kwh <= f.p50_g_per_kwh)
    assert np.all(f.p50_g_per_kwh <= f.p90_g_per_kwh)
    # the p10-p90 band of N(0, 5) is 12.8 g wide; quantile trees land within a factor 2
    width = float(np.mean(f.p90_g_per_kwh - f.p10_g_per_kwh))
    assert 0.5 * 2 * 1.2816 * NOISE_G <= width <= 2 * 2 * 1.2816 * NOISE_G
    assert f.model_name == "gbm" and "HistGradientBoostingRegressor" in f.model
    assert f.label == "forecast: gbm model on history to 2024-03-08"


def test_gbm_never_reads_data_at_or_after_its_origin() -> None:
    history = synthetic(10)
    origin = T0 + 9 * 7 * 86400 + 13 * H
    k = int((origin - T0) // H)
    fitted = fit(history, 24, until_s=origin, model="gbm", band=False)
    values = np.asarray(history.g_per_kwh, dtype=np.float64)
    clean = fitted.predict(values.copy(), T0, k, band=False)[0]
    poisoned = values.copy()
    poisoned[k:] = 1e9
    np.testing.assert_array_equal(fitted.predict(poisoned, T0, k, band=False)[0], clean)
    poisoned[k - 1] = 1e4  # the step before the origin is read
    assert not np.array_equal(fitted.predict(poisoned, T0, k, band=False)[0], clean)


def test_evaluate_reports_every_model_and_the_baselines() -> None:
    doc = evaluate(synthetic(10), weeks=1, models=["gbm", "linear"])
    assert list(doc["models"]) == ["gbm", "linear"] and doc["model_name"] == "gbm"
    assert doc["mae"] == doc["models"]["gbm"]["mae"]
    for m in doc["models"].values():
        # both models stay near the noise: E|N(0, 5)| = 3.99 g
        assert m["mae"] < 2 * NOISE_G * math.sqrt(2 / math.pi)
        assert m["saving"] <= doc["perfect_saving"] + 1e-12
    assert doc["origins"] == 7
    assert set(doc["baselines"]) == {"persistence", "typical_year"}


def test_the_default_model_and_the_installed_ones() -> None:
    assert default_model() == ("linear", None)
    assert installed_models() == ["linear", "gbm"]
    assert installed_models("gbm") == ["gbm", "linear"]


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_kept_live_values_extend_the_shipped_history(tmp_path: Path) -> None:
    t = T0 + H * np.arange(366 * 24)  # all of 2024
    shipped = IntensitySeries.regular(T0, H, pattern(t), region="XX", provenance=PROV)
    live_prov = Provenance("live API", "latest", None, "average", "direct", "", "", "XX")
    # six hours on 2025-01-03 as half-hours: 500, 510 | 520, 530 | ...
    a = utc(2025, 1, 3) + 1800 * np.arange(12)
    halves = 500.0 + 10 * np.arange(12)
    keep(tmp_path, "XX", "average", live_prov, a, a + 1800, halves, used_by="account r1",
         origin={"kind": "live", "api": "test API"})
    # a plan's series (a forecast) and a lifecycle live series are not history
    keep(tmp_path, "XX", "average", live_prov, a, a + 1800, halves + 1000, used_by="plan")
    keep(tmp_path, "XX", "average", Provenance("other", "x", None, "average", "lifecycle", "",
                                                "", "XX"),
         a, a + 1800, halves + 2000, used_by="account r2", origin={"kind": "live", "api": "x"})
    history, notes = with_kept_live(shipped, tmp_path)
    n = 366 * 24
    assert len(history) == n + 2 * 24 + 6
    # the live hours: means of their two half-hours
    np.testing.assert_allclose(np.asarray(history.g_per_kwh)[n + 48:],
                               [505, 525, 545, 565, 585, 605])
    # 2025-01-01 and 02 are the typical-year replay: 2024-01-01 and 02 at the same times
    np.testing.assert_allclose(np.asarray(history.g_per_kwh)[n:n + 48],
                               np.asarray(shipped.g_per_kwh)[:48])
    assert any("lifecycle basis were left out" in x for x in notes)
    assert any("6 hours of live values kept from test API" in x and "other 48 hours" in x
               for x in notes)
    f = forecast(history, utc(2025, 1, 3, 6), 24)
    assert f.history_end_s == utc(2025, 1, 3, 6)
    assert f.label == "forecast: linear model on history to 2025-01-03"
    # nothing newer kept: the shipped series as it is
    assert with_kept_live(shipped, tmp_path / "empty") == (shipped, [])
