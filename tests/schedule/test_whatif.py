from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from wattprint.accounting.series import IntensitySeries as Series
from wattprint.errors import ConfigError, IntensityDataError, RegionError
from wattprint.schedule import whatif as whatif_module
from wattprint.schedule.whatif import (
    STRATEGIES,
    baseline_co2e_g,
    flexible_start_co2e_g,
    job_profile_w,
    pause_resume_co2e_g,
    pause_resume_slots,
    profile_from_intervals,
    threshold_co2e_g,
    whatif,
)

from . import naive

HOUR = 3600.0
T0 = datetime(2022, 1, 1, tzinfo=timezone.utc).timestamp()
ROW_KEYS = {
    "region",
    "strategy",
    "window_h",
    "duration_h",
    "mean_reduction",
    "median_reduction",
    "p90_reduction",
    "mean_pauses",
}


def _stats(reduction: Sequence[float]) -> tuple[float, float, float]:
    r = np.asarray(reduction, dtype=float)
    return float(np.mean(r)), float(np.median(r)), float(np.percentile(r, 90))


def _row(rows: list, region: str, strategy: str, window_h: float) -> dict:
    found = [
        r
        for r in rows
        if r["region"] == region and r["strategy"] == strategy and r["window_h"] == window_h
    ]
    assert len(found) == 1, (region, strategy, window_h, rows)
    return found[0]


# ---------------------------------------------------------------- hand-made series
# 1000 W for one hour is 1 kWh, so grams equal the sum of the intensities used.


def test_one_clean_hour_each_strategy() -> None:
    ci = np.full(12, 100.0)
    ci[6] = 10.0
    p = np.full(2, 1000.0)  # D = 2 steps
    w = 3
    # starts t = 0..7 (t + D + W <= 12)
    assert baseline_co2e_g(ci, p, HOUR, w) == pytest.approx(
        [200, 200, 200, 200, 200, 110, 110, 200], rel=1e-12
    )
    # best contiguous start in [t, t+3]: the clean hour is reachable from t = 2..6
    assert flexible_start_co2e_g(ci, p, HOUR, w) == pytest.approx(
        [200, 200, 110, 110, 110, 110, 110, 200], rel=1e-12
    )
    grams, pauses = pause_resume_co2e_g(ci, p, HOUR, w)
    assert grams == pytest.approx([200, 200, 110, 110, 110, 110, 110, 200], rel=1e-12)
    # ties go to the earliest slot: for t = 2..4 the chosen set is {t, 6}, one pause
    assert pauses.tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    # threshold 50: only slot 6 is clean. t=4 (deadline 9): skip 4, 5, run 6, skip 7
    # (third skip = W), forced to run 8 -> {6, 8}: 110 g, one pause.
    grams, pauses = threshold_co2e_g(ci, p, HOUR, w, 50.0)
    assert grams == pytest.approx([200, 200, 110, 110, 110, 110, 110, 200], rel=1e-12)
    assert pauses.tolist() == [0, 0, 0, 0, 1, 1, 1, 0]


def test_step_each_strategy() -> None:
    ci = np.array([400.0] * 6 + [100.0] * 6)
    p = np.full(3, 500.0)  # 0.5 kWh per step
    w = 3
    assert baseline_co2e_g(ci, p, HOUR, w) == pytest.approx(
        [600, 600, 600, 600, 450, 300, 150], rel=1e-12
    )
    assert flexible_start_co2e_g(ci, p, HOUR, w) == pytest.approx(
        [600, 450, 300, 150, 150, 150, 150], rel=1e-12
    )
    grams, pauses = pause_resume_co2e_g(ci, p, HOUR, w)
    # t=1: window 1..6 holds one 100: 0.5 * (100 + 400 + 400) = 450, slots {1, 2, 6}
    assert grams == pytest.approx([600, 450, 300, 150, 150, 150, 150], rel=1e-12)
    assert pauses.tolist() == [0, 1, 1, 0, 0, 0, 0]
    # threshold 200: skip the first three dirty hours, then run to the deadline
    grams, pauses = threshold_co2e_g(ci, p, HOUR, w, 200.0)
    assert grams == pytest.approx([600, 450, 300, 150, 150, 150, 150], rel=1e-12)
    assert pauses.tolist() == [0] * 7


def test_threshold_forced_run_through_dirty_hours() -> None:
    ci = np.array([300.0, 50.0, 300.0, 300.0, 300.0, 50.0, 50.0])
    p = np.full(3, 1000.0)
    # t=0, W=2, deadline 5: skip 0, run 1, skip 2 (slack spent), forced 3, 4
    grams, pauses = threshold_co2e_g(ci, p, HOUR, 2, 100.0)
    assert grams[0] == pytest.approx(50 + 300 + 300, rel=1e-12)
    assert pauses[0] == 1
    # t=1, deadline 6: run 1, skip 2, skip 3, forced 4, 5
    assert grams[1] == pytest.approx(50 + 300 + 50, rel=1e-12)
    assert pauses[1] == 1


def test_ramp_through_whatif_rows() -> None:
    ci = 500.0 - 20.0 * np.arange(20)
    s = Series.regular(T0, HOUR, ci, region="RAMP")
    result = whatif(
        s,
        duration_s=4 * HOUR,
        power_w=2000.0,
        windows_s=[5 * HOUR],
        threshold_g_per_kwh=300.0,
    )
    t = np.arange(12)  # 20 - 4 - 5 + 1 start times
    baseline = 2 * (4 * 500 - 20 * (4 * t + 6))
    best = 2 * (4 * 500 - 20 * (4 * (t + 5) + 6))  # the last four hours of the window
    # threshold: clean from hour 10; up to t=5 the slack runs out first (run t+5..t+8),
    # up to t=10 the job waits for hours 10..13, from t=11 it runs at once
    thr = np.where(
        t <= 5, best, np.where(t <= 10, 2 * (4 * 500 - 20 * (10 + 11 + 12 + 13)), baseline)
    )
    for strategy, grams in (("flexible-start", best), ("pause-resume", best), ("threshold", thr)):
        row = _row(result.rows, "RAMP", strategy, 5.0)
        assert set(row) == ROW_KEYS
        mean, median, p90 = _stats(1 - grams / baseline)
        assert row["mean_reduction"] == pytest.approx(mean, rel=1e-12)
        assert row["median_reduction"] == pytest.approx(median, rel=1e-12)
        assert row["p90_reduction"] == pytest.approx(p90, rel=1e-12)
        assert row["mean_pauses"] == 0.0
        assert row["duration_h"] == 4.0
    assert result.inputs["threshold_g_per_kwh"] == {"RAMP": 300.0}
    assert result.inputs["start_times"] == {"RAMP": {"5": 12}}


def test_profile_order_matters_in_pause_resume() -> None:
    # a heavy second step wants the clean slot; a constant-mean job would not see it
    ci = np.array([100.0, 200.0, 10.0, 300.0])
    p = np.array([1000.0, 3000.0])
    grams, pauses = pause_resume_co2e_g(ci, p, HOUR, 2)
    # options i < j: 1*ci[i] + 3*ci[j]; best i=0, j=2: 100 + 30 = 130
    assert grams.tolist() == pytest.approx([130.0], rel=1e-12)
    assert pauses.tolist() == [1]
    assert pause_resume_slots(ci, p, 2).tolist() == [0, 2]


# ---------------------------------------------------------------- naive reference

CASES = [
    # n slots, step s, job steps, window steps, profile kind, tied values, seed
    (40, HOUR, 1, 0, "constant", False, 1),
    (60, HOUR, 3, 5, "constant", False, 2),
    (60, HOUR, 3, 5, "constant", True, 3),
    (100, HOUR, 6, 6, "constant", False, 4),
    (120, 900.0, 8, 12, "constant", False, 5),
    (120, 900.0, 8, 12, "constant", True, 6),
    (50, HOUR, 3, 4, "profile", False, 7),
    (60, 900.0, 4, 5, "profile", False, 8),
    (45, 900.0, 5, 3, "profile", False, 9),
    (30, HOUR, 2, 0, "profile", False, 10),
]


def _random_case(
    n: int, d: int, kind: str, tied: bool, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    ci = rng.uniform(20.0, 700.0, n)
    if tied:
        ci = np.round(ci / 100.0) * 100.0
    p = np.full(d, 250.0) if kind == "constant" else rng.uniform(50.0, 400.0, d)
    thr = float(np.percentile(ci, 35))
    return ci, p, thr


@pytest.mark.parametrize(("n", "step_s", "d", "w", "kind", "tied", "seed"), CASES)
def test_engine_equals_naive(
    n: int, step_s: float, d: int, w: int, kind: str, tied: bool, seed: int
) -> None:
    ci, p, thr = _random_case(n, d, kind, tied, seed)
    ref = naive.all_starts(ci.tolist(), p.tolist(), step_s, w, thr)
    np.testing.assert_allclose(baseline_co2e_g(ci, p, step_s, w), ref["baseline"], rtol=1e-12)
    np.testing.assert_allclose(flexible_start_co2e_g(ci, p, step_s, w), ref["flexible"], rtol=1e-12)
    grams, pauses = pause_resume_co2e_g(ci, p, step_s, w)
    np.testing.assert_allclose(grams, ref["pause"], rtol=1e-12)
    np.testing.assert_array_equal(pauses, ref["pause_n"])
    grams, pauses = threshold_co2e_g(ci, p, step_s, w, thr)
    np.testing.assert_allclose(grams, ref["threshold"], rtol=1e-12)
    np.testing.assert_array_equal(pauses, ref["threshold_n"])


@pytest.mark.parametrize(("n", "step_s", "d", "w", "kind", "tied", "seed"), CASES)
def test_slots_of_one_start_agree_with_all_starts(
    n: int, step_s: float, d: int, w: int, kind: str, tied: bool, seed: int
) -> None:
    ci, p, _ = _random_case(n, d, kind, tied, seed)
    grams, pauses = pause_resume_co2e_g(ci, p, step_s, w)
    for t in range(0, n - d - w + 1, 7):
        slots = pause_resume_slots(ci[t : t + d + w], p, w) + t
        assert np.all(np.diff(slots) > 0)
        assert naive.cost(ci, p, step_s, slots.tolist()) == pytest.approx(grams[t], rel=1e-12)
        assert naive.pauses(slots.tolist()) == pauses[t]


@pytest.mark.parametrize("kind", ["constant", "profile"])
def test_chunk_edges(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    # a tiny chunk size so that every strategy is computed in many chunks
    monkeypatch.setattr(whatif_module, "_CHUNK_ELEMENTS", 50)
    ci, p, thr = _random_case(150, 4, kind, False, 12)
    w = 6
    ref = naive.all_starts(ci.tolist(), p.tolist(), HOUR, w, thr)
    grams, pauses = pause_resume_co2e_g(ci, p, HOUR, w)
    np.testing.assert_allclose(grams, ref["pause"], rtol=1e-12)
    np.testing.assert_array_equal(pauses, ref["pause_n"])
    grams, pauses = threshold_co2e_g(ci, p, HOUR, w, thr)
    np.testing.assert_allclose(grams, ref["threshold"], rtol=1e-12)
    np.testing.assert_array_equal(pauses, ref["threshold_n"])


def test_long_window() -> None:
    rng = np.random.default_rng(11)
    ci = rng.uniform(0.0, 500.0, 2000)
    p = np.full(24, 100.0)
    w = 500
    grams, _ = pause_resume_co2e_g(ci, p, HOUR, w)
    flex = flexible_start_co2e_g(ci, p, HOUR, w)
    for t in (0, 700, 1475):
        ref, _ = naive.pause_resume(ci.tolist(), p.tolist(), HOUR, t, w)
        assert grams[t] == pytest.approx(ref, rel=1e-12)
        assert flex[t] == pytest.approx(naive.flexible(ci.tolist(), p.tolist(), HOUR, t, w))


def test_whatif_rows_equal_naive_with_gaps_and_regions() -> None:
    rng = np.random.default_rng(21)
    n, d, w = 80, 3, 4
    a = rng.uniform(100.0, 600.0, n)
    b = rng.uniform(50.0, 400.0, n)
    a[30] = np.nan
    b[60] = np.nan
    series = {
        "A": Series.regular(T0, HOUR, a, region="A", method="average", provenance={"src": "x"}),
        "B": Series.regular(T0, HOUR, b, region="B"),
    }
    result = whatif(series, duration_s=d * HOUR, power_w=300.0, windows_s=[w * HOUR])
    p = [300.0] * d
    for name, ci in (("A", a), ("B", b)):
        thr = float(np.percentile(ci[~np.isnan(ci)], 30))
        starts = [t for t in range(n - d - w + 1) if not np.isnan(ci[t : t + d + w]).any()]
        vals = ci.tolist()
        base = [naive.baseline(vals, p, HOUR, t) for t in starts]
        flex = [naive.flexible(vals, p, HOUR, t, w) for t in starts]
        pr = [naive.pause_resume(vals, p, HOUR, t, w) for t in starts]
        th = [naive.threshold(vals, p, HOUR, t, w, thr) for t in starts]
        expected = {
            "flexible-start": (flex, [0] * len(starts)),
            "pause-resume": ([x[0] for x in pr], [x[1] for x in pr]),
            "threshold": ([x[0] for x in th], [x[1] for x in th]),
        }
        for strategy, (grams, pauses) in expected.items():
            row = _row(result.rows, name, strategy, float(w))
            red = 1 - np.asarray(grams) / np.asarray(base)
            mean, median, p90 = _stats(red)
            assert row["mean_reduction"] == pytest.approx(mean, rel=1e-12, abs=1e-15)
            assert row["median_reduction"] == pytest.approx(median, rel=1e-12, abs=1e-15)
            assert row["p90_reduction"] == pytest.approx(p90, rel=1e-12, abs=1e-15)
            assert row["mean_pauses"] == pytest.approx(float(np.mean(pauses)), rel=1e-12)
        assert result.inputs["start_times"][name] == {"4": len(starts)}
    # region: B against A (the first series) at the same start times, both gap-free
    starts = [
        t
        for t in range(n - d + 1)
        if not (np.isnan(a[t : t + d]).any() or np.isnan(b[t : t + d])).any()
    ]
    red = [
        1 - naive.baseline(b.tolist(), p, HOUR, t) / naive.baseline(a.tolist(), p, HOUR, t)
        for t in starts
    ]
    row = _row(result.rows, "B", "region", 0.0)
    mean, median, p90 = _stats(red)
    assert row["mean_reduction"] == pytest.approx(mean, rel=1e-12)
    assert row["median_reduction"] == pytest.approx(median, rel=1e-12)
    assert row["p90_reduction"] == pytest.approx(p90, rel=1e-12)
    assert row["mean_pauses"] == 0.0
    assert not [r for r in result.rows if r["strategy"] == "region" and r["region"] == "A"]
    out = json.loads(json.dumps(result.to_json()))
    assert all(set(r) == ROW_KEYS for r in out["rows"])
    assert {r["strategy"] for r in out["rows"]} == set(STRATEGIES)
    assert out["provenance"]["A"] == {
        "region": "A",
        "method": "average",
        "provenance": {"src": "x"},
    }


def test_region_strategy_hand_made_with_offset_grids() -> None:
    # B starts two hours later than A; only the common hours count
    a = Series.regular(T0, HOUR, [200.0] * 10, region="A")
    b = Series.regular(T0 + 2 * HOUR, HOUR, [50.0] * 4 + [400.0] * 6, region="B")
    result = whatif(
        {"A": a, "B": b},
        duration_s=2 * HOUR,
        windows_s=[],
        strategies=["region"],
        baseline_region="B",
    )
    # common hours T0+2h .. T0+10h: B = 50,50,50,50,400,400,400,400; A = 200 throughout
    b_common = [50.0] * 4 + [400.0] * 4
    red = [1 - 400.0 / (b_common[t] + b_common[t + 1]) for t in range(7)]
    (row,) = result.rows
    assert row["region"] == "A" and row["strategy"] == "region" and row["window_h"] == 0.0
    mean, median, p90 = _stats(red)
    assert row["mean_reduction"] == pytest.approx(mean, rel=1e-12)
    assert row["median_reduction"] == pytest.approx(median, rel=1e-12)
    assert row["p90_reduction"] == pytest.approx(p90, rel=1e-12)


def test_period_restricts_slots() -> None:
    ci = np.array([500.0] * 10 + [100.0, 500.0, 500.0, 500.0] + [10.0] * 10)
    s = Series.regular(T0, HOUR, ci, region="X")
    result = whatif(
        s,
        duration_s=HOUR,
        windows_s=[3 * HOUR],
        strategies=["flexible-start"],
        period=(T0 + 9 * HOUR, T0 + 14 * HOUR),
    )
    # slots 9..13 = 500, 100, 500, 500, 500; two start times: slot 9 can move to the
    # 100 hour (reduction 0.8), slot 10 is already there (0)
    (row,) = result.rows
    assert row["mean_reduction"] == pytest.approx(0.4, rel=1e-12)
    assert row["p90_reduction"] == pytest.approx(0.72, rel=1e-12)
    assert result.inputs["start_times"] == {"X": {"3": 2}}


def test_constant_power_does_not_change_reductions() -> None:
    rng = np.random.default_rng(3)
    s = Series.regular(T0, HOUR, rng.uniform(100, 500, 200), region="R")
    one = whatif(s, duration_s=5 * HOUR, power_w=1.0, windows_s=[6 * HOUR]).rows
    big = whatif(s, duration_s=5 * HOUR, power_w=40000.0, windows_s=[6 * HOUR]).rows
    for r1, r2 in zip(one, big, strict=True):
        assert r1["mean_reduction"] == pytest.approx(r2["mean_reduction"], rel=1e-12)


def test_measured_profile_through_whatif() -> None:
    rng = np.random.default_rng(5)
    ci = rng.uniform(100, 500, 60)
    s = Series.regular(T0, 900.0, ci, region="Q")
    # measured at 5 min, resampled to the 15-min series: 3 intervals per step
    measured = np.repeat([100.0, 400.0, 250.0], 3)
    result = whatif(
        s,
        profile_w=measured,
        profile_step_s=300.0,
        windows_s=[3600.0],
        strategies=["pause-resume"],
    )
    p = [100.0, 400.0, 250.0]
    starts = range(60 - 3 - 4 + 1)
    red = [
        1
        - naive.pause_resume(ci.tolist(), p, 900.0, t, 4)[0]
        / naive.baseline(ci.tolist(), p, 900.0, t)
        for t in starts
    ]
    (row,) = result.rows
    assert row["mean_reduction"] == pytest.approx(float(np.mean(red)), rel=1e-12)
    assert row["duration_h"] == pytest.approx(0.75)


# ---------------------------------------------------------------- profiles


def test_profile_from_intervals_spreads_energy() -> None:
    # [0,30) 30 J and [30,90) 120 J, 60 s steps: step 0 gets 30 + 60 J, step 1 60 J
    out = profile_from_intervals([0, 30], [30, 90], [30, 120], 60.0)
    np.testing.assert_allclose(out, [90 / 60, 60 / 60], rtol=1e-12)


def test_profile_from_intervals_overlapping_devices_and_points() -> None:
    # two devices over the same 2 minutes, a zero-length sample at 100 s; origin 1000 s
    starts = [1000, 1000, 1100]
    ends = [1120, 1120, 1100]
    energy = [240, 120, 6]
    out = profile_from_intervals(starts, ends, energy, 60.0)
    np.testing.assert_allclose(out, [(120 + 60) / 60, (120 + 60 + 6) / 60], rtol=1e-12)
    assert out.sum() * 60.0 == pytest.approx(sum(energy), rel=1e-12)


def test_profile_from_intervals_partial_last_step_and_epoch_times() -> None:
    t = 1.7e9
    out = profile_from_intervals([t, t + 10], [t + 10, t + 75], [100, 650], 60.0)
    # 10 W throughout; the second step holds only 15 s of it
    np.testing.assert_allclose(out, [10.0, 150 / 60], rtol=1e-9)


@pytest.mark.parametrize(
    ("starts", "ends", "energy", "step"),
    [
        ([0, 1], [1], [1, 1], 60.0),
        ([], [], [], 60.0),
        ([0], [1], [-1], 60.0),
        ([5], [1], [1], 60.0),
        ([0], [float("nan")], [1], 60.0),
        ([0], [1], [1], 0.0),
    ],
)
def test_profile_from_intervals_rejects_bad_input(
    starts: list, ends: list, energy: list, step: float
) -> None:
    with pytest.raises(ConfigError):
        profile_from_intervals(starts, ends, energy, step)


def test_job_profile_partial_step_and_resampling() -> None:
    np.testing.assert_allclose(
        job_profile_w(HOUR, duration_s=1.5 * HOUR, power_w=100.0), [100.0, 50.0]
    )
    np.testing.assert_allclose(job_profile_w(HOUR, duration_s=2 * HOUR), [1.0, 1.0])
    np.testing.assert_allclose(
        job_profile_w(HOUR, profile_w=[100, 200, 300, 400], profile_step_s=1800.0), [150, 350]
    )
    with pytest.raises(ConfigError):
        job_profile_w(HOUR)
    with pytest.raises(ConfigError):
        job_profile_w(HOUR, duration_s=HOUR, power_w=1.0, profile_w=[1.0])
    with pytest.raises(ConfigError):
        job_profile_w(HOUR, profile_w=[0.0, 0.0])
    with pytest.raises(ConfigError):
        job_profile_w(HOUR, duration_s=-1.0)


# ---------------------------------------------------------------- errors


def test_errors_name_the_problem() -> None:
    s = Series.regular(T0, HOUR, np.arange(30.0) + 1, region="CISO")
    with pytest.raises(ConfigError, match="unknown strategy 'later'"):
        whatif(s, duration_s=HOUR, windows_s=[HOUR], strategies=["later"])
    with pytest.raises(ConfigError, match="multiple of 3600"):
        whatif(s, duration_s=HOUR, windows_s=[1800.0])
    with pytest.raises(RegionError, match="did you mean CISO"):
        whatif({"CISO": s}, duration_s=HOUR, windows_s=[HOUR], baseline_region="CIS0")
    with pytest.raises(IntensityDataError, match="longer series"):
        whatif(s, duration_s=20 * HOUR, windows_s=[12 * HOUR])
    # IntensitySeries refuses to be built irregular; the engine checks what it is given
    irregular = SimpleNamespace(start_s=np.array([0.0, 3600.0, 9000.0]), step_s=HOUR,
                                g_per_kwh=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(IntensityDataError, match="slots 1 and 2"):
        whatif(irregular, duration_s=HOUR, windows_s=[HOUR])
    with pytest.raises(IntensityDataError, match="NaN"):
        baseline_co2e_g([1.0, np.nan, 3.0], [1.0], HOUR)
    with pytest.raises(IntensityDataError, match="gap-free"):
        gappy = Series.regular(T0, HOUR, [1.0, np.nan, 1.0, np.nan, 1.0], region="G")
        whatif(gappy, duration_s=HOUR, windows_s=[HOUR])
    other_grid = Series.regular(T0 + 1800, HOUR, np.ones(30), region="B")
    with pytest.raises(IntensityDataError, match="different time grids"):
        whatif({"A": s, "B": other_grid}, duration_s=HOUR, windows_s=[HOUR])


def test_single_series_skips_region_with_a_note() -> None:
    s = Series.regular(T0, HOUR, np.arange(30.0) + 1, region="R")
    result = whatif(s, duration_s=HOUR, windows_s=[HOUR])
    assert {r["strategy"] for r in result.rows} == {"flexible-start", "pause-resume", "threshold"}
    assert result.inputs["notes"]


# ---------------------------------------------------------------- real 2022 US data


EIA_2022 = Path("grid_ci_hourly_us_eia_2022", "us_ba_hourly_2022.csv")


@pytest.fixture(scope="module")
def us_2022(shared_data: Path | None) -> dict[str, Series]:
    if shared_data is None:  # no reference folder: the same series as shipped in the package
        from wattprint.accounting.hourly import hourly_series

        out = {}
        for ba in ("CISO", "ERCO", "BPAT", "PJM", "MISO", "NYIS", "SOCO", "AZPS"):
            shipped = hourly_series(ba)
            out[ba] = Series.regular(float(shipped.start_s[0]), HOUR, shipped.g_per_kwh,
                                     region=ba)
        return out
    return _read_eia(shared_data / EIA_2022)


def _read_eia(path: Path) -> dict[str, Series]:
    """One series per balancing authority of an EIA table (full year or extract), gaps as NaN."""
    values: dict[str, list[float]] = defaultdict(list)
    first: dict[str, float] = {}
    with path.open(newline="") as f:
        for rec in csv.DictReader(f):
            ba = rec["ba_code"]
            if ba not in first:
                first[ba] = datetime.fromisoformat(rec["timestamp_utc"]).timestamp()
            v = rec["avg_ci_gco2eq_per_kwh"]
            values[ba].append(float(v) if v else math.nan)
    return {ba: Series.regular(first[ba], HOUR, v, region=ba) for ba, v in values.items()}


REAL = ("CISO", "ERCO", "BPAT", "PJM")


def test_real_short_jobs_gain_more_from_flexible_start(us_2022: dict[str, Series]) -> None:
    series = {r: us_2022[r] for r in REAL}
    strategies = ["flexible-start", "pause-resume"]
    short = whatif(series, duration_s=HOUR, windows_s=[12 * HOUR], strategies=strategies).rows
    long = whatif(series, duration_s=24 * HOUR, windows_s=[12 * HOUR], strategies=strategies).rows
    for region in REAL:
        s_flex = _row(short, region, "flexible-start", 12.0)["mean_reduction"]
        l_flex = _row(long, region, "flexible-start", 12.0)["mean_reduction"]
        assert s_flex > l_flex > 0
        # and long jobs gain most from pause and resume (Dodge et al. 2022)
        l_pause = _row(long, region, "pause-resume", 12.0)["mean_reduction"]
        s_pause = _row(short, region, "pause-resume", 12.0)["mean_reduction"]
        assert l_pause - l_flex > s_pause - s_flex


@pytest.mark.parametrize("hours", [1, 4, 24])
def test_real_pause_resume_never_loses_to_flexible_start(
    us_2022: dict[str, Series], hours: int
) -> None:
    for region in REAL:
        ci = np.nan_to_num(us_2022[region].g_per_kwh)
        p = np.full(hours, 300.0)
        for w in (6, 24):
            flex = flexible_start_co2e_g(ci, p, HOUR, w)
            base = baseline_co2e_g(ci, p, HOUR, w)
            pause, _ = pause_resume_co2e_g(ci, p, HOUR, w)
            good = base > 0
            assert np.all(1 - pause[good] / base[good] >= 1 - flex[good] / base[good] - 1e-12)
            assert np.all(flex <= base * (1 + 1e-12))


def test_real_series_against_naive_on_a_month(us_2022: dict[str, Series]) -> None:
    ci = us_2022["ERCO"].g_per_kwh[: 24 * 31]  # ERCO 2022 has no gaps
    p = np.full(4, 300.0)
    thr = float(np.percentile(ci, 30))
    ref = naive.all_starts(ci.tolist(), p.tolist(), HOUR, 8, thr)
    np.testing.assert_allclose(flexible_start_co2e_g(ci, p, HOUR, 8), ref["flexible"], rtol=1e-12)
    grams, pauses = pause_resume_co2e_g(ci, p, HOUR, 8)
    np.testing.assert_allclose(grams, ref["pause"], rtol=1e-12)
    np.testing.assert_array_equal(pauses, ref["pause_n"])
    grams, pauses = threshold_co2e_g(ci, p, HOUR, 8, thr)
    np.testing.assert_allclose(grams, ref["threshold"], rtol=1e-12)
    np.testing.assert_array_equal(pauses, ref["threshold_n"])


def test_real_gaps_are_left_out(reference_data: Path) -> None:
    # the full year, or the extract's week of PJM around its 22 empty hours of March 2022
    pjm = _read_eia(reference_data / EIA_2022)["PJM"]
    result = whatif(pjm, duration_s=2 * HOUR, windows_s=[6 * HOUR], strategies=["pause-resume"])
    values = np.asarray(pjm.g_per_kwh)
    n_ok = sum(1 for t in range(values.size - 8 + 1) if not np.isnan(values[t : t + 8]).any())
    assert n_ok < values.size - 7  # PJM 2022 has gaps
    assert result.inputs["start_times"] == {"PJM": {"6": n_ok}}
    assert 0 < result.rows[0]["mean_reduction"] < 1


def test_series_for_regions_feeds_whatif() -> None:
    pytest.importorskip("wattprint.accounting.intensity")
    from wattprint.schedule.whatif import series_for_regions

    series = series_for_regions(["CISO", "ERCO"])
    assert list(series) == ["CISO", "ERCO"]
    result = whatif(series, duration_s=HOUR, windows_s=[6 * HOUR], baseline_region="CISO")
    (row,) = [r for r in result.rows if r["strategy"] == "region"]
    # Texas's 2022 grid (about 347 g/kWh a year) is dirtier than California's (about 256)
    assert row["region"] == "ERCO" and row["mean_reduction"] < 0
    assert result.to_json()["provenance"]["CISO"]["method"] == "average"
