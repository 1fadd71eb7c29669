"""What-if and plan on the shipped DE, FR and GB series, against the naive reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.hourly import hourly_series
from wattprint.accounting.series import IntensitySeries
from wattprint.schedule.pausing import PauseOptions, prepare_pausing
from wattprint.schedule.plan import plan
from wattprint.schedule.whatif import whatif

from . import naive

H = 3600.0
# a week inside each series' year (all three in March)
WEEKS = {"DE": (2025, 3, 3), "FR": (2022, 3, 7), "GB": (2023, 3, 6)}


def week(region: str) -> IntensitySeries:
    s = hourly_series(region)
    start = datetime(*WEEKS[region], tzinfo=timezone.utc).timestamp()
    i = int((start - s.start_s[0]) // H)
    return IntensitySeries.regular(start, H, s.g_per_kwh[i:i + 7 * 24], region=s.region,
                                   provenance=s.provenance)


@pytest.mark.parametrize("region", ["DE", "FR", "GB"])
def test_whatif_matches_the_naive_reference(region: str) -> None:
    s = week(region)
    ci = [float(x) for x in s.g_per_kwh]
    p = [300.0] * 6
    w = 12
    thr = 150.0
    result = whatif({region: s}, duration_s=6 * H, power_w=300.0, windows_s=[w * H],
                    strategies=["flexible-start", "pause-resume", "threshold"],
                    threshold_g_per_kwh=thr)
    ref = naive.all_starts(ci, p, H, w, thr)
    base = np.array(ref["baseline"])
    rows = {r["strategy"]: r for r in result.rows}
    for strategy, key in (("flexible-start", "flexible"), ("pause-resume", "pause"),
                          ("threshold", "threshold")):
        reduction = 1.0 - np.array(ref[key]) / base
        assert rows[strategy]["mean_reduction"] == pytest.approx(float(reduction.mean()),
                                                                 rel=1e-9, abs=1e-12)
        assert rows[strategy]["median_reduction"] == pytest.approx(
            float(np.median(reduction)), rel=1e-9, abs=1e-12)
    assert result.provenance[region]["provenance"]["basis"] == s.provenance.basis


@pytest.mark.parametrize("region", ["DE", "FR", "GB"])
def test_plan_matches_the_naive_reference(region: str) -> None:
    s = week(region)
    ci = [float(x) for x in s.g_per_kwh]
    now = float(s.start_s[0]) + 24 * H
    k = 24
    result = plan(s, 6 * H, now + 24 * H, power_w=1000.0, now_s=now)
    # starts k .. k + 18 keep a 6 h job inside the 24 h to the deadline
    sums = [naive.baseline(ci, [1000.0] * 6, H, t) for t in range(k, k + 19)]
    best = int(np.argmin(sums))
    assert result.start_now_co2e_g == pytest.approx(sums[0], rel=1e-12)
    assert result.flexible_start_co2e_g == pytest.approx(sums[best], rel=1e-12)
    assert result.start_s == now + best * H
    cheapest = sorted(ci[k:k + 24])[:6]
    assert result.pause_resume_co2e_g == pytest.approx(sum(cheapest), rel=1e-12)


def test_pausing_and_plan_forecast_when_no_live_api(tmp_path: Path) -> None:
    now = datetime(2026, 6, 3, 9, 30, tzinfo=timezone.utc).timestamp()
    setup = prepare_pausing(PauseOptions(pause_percentile=30, deadline_s=8 * H, region="GB"),
                            now_s=now)
    assert setup is not None
    assert any("no live forecast API configured" in n and "direct basis" in n
               for n in setup.notes)
    env = dict(os.environ, WATTPRINT_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "wattprint", "plan", "--duration", "3h",
                        "--deadline", "12h", "--region", "DE", "--json"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "no live forecast API configured" in doc["now_rule"]
    assert "lifecycle basis" in doc["now_rule"]
    assert "forecast by the seasonal linear model" in doc["data"]["source"]["provenance"][
        "fallback"]
    assert doc["kept_series"]
