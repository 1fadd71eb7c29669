from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from wattprint.accounting.series import IntensitySeries as Series
from wattprint.errors import ConfigError, IntensityDataError, IntensityError
from wattprint.schedule.plan import plan

H = 3600.0
T0 = 1_699_999_200.0  # a whole hour, UTC epoch seconds
VALUES = [300.0, 250.0, 400.0, 80.0, 90.0, 350.0, 60.0, 500.0, 500.0, 500.0]


def _series(values: list[float] = VALUES) -> Series:
    return Series.regular(T0, H, values, region="TEST", method="average", provenance="hand-made")


def test_plan_constant_power() -> None:
    # 1 kW for 2 h: grams are sums of intensities. Now is 10 min into slot 0;
    # the deadline T0 + 7 h leaves slots 0..6.
    result = plan(_series(), 2 * H, T0 + 7 * H, power_w=1000.0, now_s=T0 + 600)
    assert result.start_now_co2e_g == pytest.approx(300 + 250, rel=1e-12)
    # contiguous sums from slots 0..5: 550, 650, 480, 170, 440, 410
    assert result.start_s == T0 + 3 * H
    assert result.end_s == T0 + 5 * H
    assert result.flexible_start_co2e_g == pytest.approx(80 + 90, rel=1e-12)
    # the two cleanest of slots 0..6: 60 (slot 6) and 80 (slot 3)
    assert result.segments_s == ((T0 + 3 * H, T0 + 4 * H), (T0 + 6 * H, T0 + 7 * H))
    assert result.pauses == 1
    assert result.pause_resume_co2e_g == pytest.approx(140, rel=1e-12)
    assert result.flexible_saving_g == pytest.approx(380, rel=1e-12)
    assert result.flexible_saving_fraction == pytest.approx(380 / 550, rel=1e-12)
    assert result.pause_resume_saving_g == pytest.approx(410, rel=1e-12)
    assert result.pause_resume_saving_fraction == pytest.approx(410 / 550, rel=1e-12)
    assert result.energy_kwh == pytest.approx(2.0, rel=1e-12)
    assert result.data_end_s == T0 + 10 * H
    assert result.data_age_s == pytest.approx(600 - 10 * H)
    assert result.data_source == {"region": "TEST", "method": "average", "provenance": "hand-made"}
    assert result.notes == ()
    out = json.loads(json.dumps(result.to_json()))
    assert out["flexible_start"]["start_s"] == T0 + 3 * H
    assert out["pause_resume"]["segments_s"] == [[T0 + 3 * H, T0 + 4 * H], [T0 + 6 * H, T0 + 7 * H]]
    assert out["data"]["age_s"] == pytest.approx(600 - 10 * H)


def test_plan_profile_keeps_step_order() -> None:
    # 1 kW then 3 kW: each start costs 1*ci[s] + 3*ci[s+1]
    result = plan(
        _series(), 2 * H, T0 + 7 * H, profile_w=np.array([1000.0, 3000.0]), now_s=T0 + 600
    )
    assert result.start_now_co2e_g == pytest.approx(300 + 3 * 250, rel=1e-12)
    # starts 0..5: 1050, 1450, 640, 350, 1140, 530
    assert result.start_s == T0 + 3 * H
    assert result.flexible_start_co2e_g == pytest.approx(350, rel=1e-12)
    # slots i < j minimise ci[i] + 3 ci[j]: j = 6 (180) with i = 3 (80)
    assert result.pause_resume_co2e_g == pytest.approx(260, rel=1e-12)
    assert result.segments_s == ((T0 + 3 * H, T0 + 4 * H), (T0 + 6 * H, T0 + 7 * H))
    assert result.energy_kwh == pytest.approx(4.0, rel=1e-12)


def test_plan_starting_now_is_best() -> None:
    values = [50.0, 60.0, 400.0, 400.0, 400.0]
    result = plan(_series(values), 2 * H, T0 + 5 * H, power_w=500.0, now_s=T0 + 1200)
    assert result.start_s == T0 + 1200
    assert result.end_s == T0 + 1200 + 2 * H
    assert result.segments_s == ((T0 + 1200, T0 + 2 * H),)
    assert result.pauses == 0
    assert result.flexible_saving_g == 0.0
    assert result.pause_resume_saving_fraction == 0.0
    assert result.start_now_co2e_g == pytest.approx(0.5 * (50 + 60), rel=1e-12)


def test_plan_within_data_when_it_ends_before_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="wattprint.schedule.plan"):
        result = plan(_series(), H, T0 + 20 * H, power_w=1000.0, now_s=T0)
    assert result.notes and "before the deadline" in result.notes[0]
    assert caplog.records
    # the cleanest of all ten slots: 60 at slot 6
    assert result.start_s == T0 + 6 * H
    assert result.flexible_start_co2e_g == pytest.approx(60, rel=1e-12)


def test_plan_deadline_rounds_down_to_a_slot() -> None:
    # deadline at T0 + 6.5 h: slot 6 (60) would end after it, so only slots 0..5
    result = plan(_series(), H, T0 + 6.5 * H, power_w=1000.0, now_s=T0)
    assert result.start_s == T0 + 3 * H
    assert result.flexible_start_co2e_g == pytest.approx(80, rel=1e-12)


def test_plan_errors() -> None:
    with pytest.raises(ConfigError, match="move the deadline"):
        plan(_series(), 3 * H, T0 + 2 * H, power_w=1.0, now_s=T0)
    with pytest.raises(ConfigError, match="not after now"):
        plan(_series(), H, T0, power_w=1.0, now_s=T0 + H)
    with pytest.raises(IntensityError, match="covers now"):
        plan(_series(), H, T0 + 30 * H, power_w=1.0, now_s=T0 + 11 * H)
    with pytest.raises(IntensityError, match="reaches further"):
        plan(_series(), 3 * H, T0 + 30 * H, power_w=1.0, now_s=T0 + 8 * H)
    gappy = [*VALUES[:4], float("nan"), *VALUES[5:]]
    with pytest.raises(IntensityDataError, match="no value"):
        plan(_series(gappy), H, T0 + 8 * H, power_w=1.0, now_s=T0)
