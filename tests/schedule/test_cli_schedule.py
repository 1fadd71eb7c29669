"""End-to-end: `wattprint whatif` and `wattprint plan` as subprocesses, against a temporary home."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.schedule.cli import wattprint

from wattprint.accounting.hourly import hourly_series
from wattprint.store import IntervalRecord, Store

H = 3600.0
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
ROW_KEYS = {
    "region", "strategy", "window_h", "duration_h",
    "mean_reduction", "median_reduction", "p90_reduction", "mean_pauses",
}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_series(path: Path, values: list[float], start: float = T0, step: float = H) -> Path:
    lines = ["timestamp,g_per_kwh"]
    lines += [f"{iso(start + i * step)},{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- hand references


def p90(values: list[float]) -> float:
    """90th percentile, linear interpolation between order statistics (type 7)."""
    s = sorted(values)
    h = (len(s) - 1) * 0.9
    lo = int(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def gaps(slots: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(slots) if b != a + 1)


def best_ordered(ci: list[float], p: list[float], lo: int, hi: int) -> tuple[float, list[int]]:
    """Cheapest increasing slots in [lo, hi) for the steps of p, by brute force (earliest tie)."""
    best: tuple[float, list[int]] = (float("inf"), [])
    for slots in itertools.combinations(range(lo, hi), len(p)):
        cost = sum(pj * ci[s] for pj, s in zip(p, slots, strict=True))
        if cost < best[0] - 1e-9:
            best = (cost, list(slots))
    return best


def threshold_slots(ci: list[float], d: int, w: int, t: int, thr: float) -> list[int]:
    """Run while ci <= thr; each dirty slot skipped spends one step of slack; then run on."""
    slots: list[int] = []
    slack = w
    s = t
    while len(slots) < d:
        if ci[s] <= thr or slack == 0:
            slots.append(s)
        else:
            slack -= 1
        s += 1
    return slots


def expected_rows(ci: list[float], p: list[float], w: int,
                  thr: float) -> dict[str, dict[str, float]]:
    d = len(p)
    red: dict[str, list[float]] = {"flexible-start": [], "pause-resume": [], "threshold": []}
    pz: dict[str, list[int]] = {"flexible-start": [], "pause-resume": [], "threshold": []}
    for t in range(len(ci) - d - w + 1):
        base = sum(p[j] * ci[t + j] for j in range(d))
        flex = min(sum(p[j] * ci[u + j] for j in range(d)) for u in range(t, t + w + 1))
        pr, pr_slots = best_ordered(ci, p, t, t + d + w)
        th_slots = threshold_slots(ci, d, w, t, thr)
        th = sum(p[j] * ci[s] for j, s in enumerate(th_slots))
        for name, cost, n in (("flexible-start", flex, 0), ("pause-resume", pr, gaps(pr_slots)),
                              ("threshold", th, gaps(th_slots))):
            red[name].append(1 - cost / base)
            pz[name].append(n)
    return {
        name: {
            "mean_reduction": sum(r) / len(r),
            "median_reduction": median(r),
            "p90_reduction": p90(r),
            "mean_pauses": sum(pz[name]) / len(pz[name]),
        }
        for name, r in red.items()
    }


def check_rows(rows: list[dict[str, Any]], expect: dict[float, dict[str, dict[str, float]]],
               duration_h: float) -> None:
    assert len(rows) == sum(len(v) for v in expect.values())
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["duration_h"] == pytest.approx(duration_h)
        want = expect[row["window_h"]][row["strategy"]]
        for key, value in want.items():
            assert row[key] == pytest.approx(value, abs=1e-12), (row, key)


# --------------------------------------------------------------------------- whatif

CI = [100.0, 400.0, 300.0, 50.0, 200.0, 500.0, 100.0, 250.0, 350.0, 80.0]


def test_whatif_constant_power_on_a_hand_made_series(tmp_path: Path, env: dict[str, str]) -> None:
    series = write_series(tmp_path / "ci.csv", CI)
    result = wattprint("whatif", "--duration", "2h", "--power-w", "1000", "--intensity",
                       str(series), "--windows", "1h,2h", "--threshold", "150",
                       "--strategies", "flexible-start,pause-resume,threshold", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    expect = {float(w): expected_rows(CI, [1000.0, 1000.0], w, 150.0) for w in (1, 2)}
    check_rows(doc["rows"], expect, 2.0)
    # a point checked by eye: W = 1, start 2 (300, 50) -> best start 3 (50, 200): 1 - 250/350
    assert doc["inputs"]["threshold_g_per_kwh"] == {"ci": 150.0}


def test_whatif_of_a_stored_run_uses_its_profile_without_pauses(
        tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    store = Store(home / "wattprint.db")
    rid = store.create_run(project="p", phase="training", attribution="machine", interval_s=1.0,
                           started_at=T0, status="finished")
    a, b = "fake:cpu-0", "fake:gpu-0"
    store.append_intervals(rid, [
        IntervalRecord(a, T0, T0 + H, 3.6e6, 3.6e6),                  # 1000 W
        IntervalRecord(b, T0, T0 + H, 3.6e6, 3.6e6),                  # 1000 W
        IntervalRecord(a, T0 + H, T0 + 1.5 * H, 9e5, 9e5, True),      # paused: cut out
        IntervalRecord(b, T0 + H, T0 + 1.5 * H, 9e5, 9e5, True),
        IntervalRecord(a, T0 + 1.5 * H, T0 + 2.5 * H, 7.2e6, 7.2e6),  # 2000 W
        IntervalRecord(b, T0 + 1.5 * H, T0 + 2.5 * H, 3.6e6, 3.6e6),  # 1000 W
    ])
    store.close()
    series = write_series(tmp_path / "ci.csv", CI)
    result = wattprint("whatif", rid[:10], "--intensity", str(series), "--windows", "1h,3h",
                       "--strategies", "flexible-start,pause-resume,threshold",
                       "--threshold", "150", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    # the profile is 2000 W then 3000 W: the pause is cut out, the order kept
    expect = {float(w): expected_rows(CI, [2000.0, 3000.0], w, 150.0) for w in (1, 3)}
    check_rows(doc["rows"], expect, 2.0)
    assert doc["inputs"]["run"] == rid
    assert doc["inputs"]["energy_kwh"] == pytest.approx(5.0)  # 18 MJ outside the pause


def test_whatif_on_the_shipped_us_series(env: dict[str, str]) -> None:
    result = wattprint("whatif", "--duration", "6h", "--power-w", "300", "--regions",
                       "US-CAL-CISO,US-TEX-ERCO", "--windows", "6h,12h", "--strategies", "all",
                       "--period", "2022", "--json", env=env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert {r["strategy"] for r in rows} == {"flexible-start", "pause-resume", "threshold",
                                            "region"}
    by = {(r["region"], r["strategy"], r["window_h"]): r for r in rows}
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["duration_h"] == 6.0
        assert row["mean_reduction"] <= 1.0
    for region in ("US-CAL-CISO", "US-TEX-ERCO"):
        for window in (6.0, 12.0):
            flex = by[(region, "flexible-start", window)]
            pause = by[(region, "pause-resume", window)]
            for key in ("mean_reduction", "median_reduction", "p90_reduction"):
                assert 0.0 <= flex[key] <= 1.0 and 0.0 <= pause[key] <= 1.0
            # pausing can always do what a flexible start does
            assert pause["mean_reduction"] >= flex["mean_reduction"] - 1e-12
        assert by[(region, "flexible-start", 12.0)]["mean_reduction"] >= \
            by[(region, "flexible-start", 6.0)]["mean_reduction"]
    assert ("US-TEX-ERCO", "region", 0.0) in by  # compared with the first region


def test_whatif_period_of_one_month(env: dict[str, str]) -> None:
    result = wattprint("whatif", "--duration", "6h", "--region", "US-CAL-CISO", "--windows",
                       "6h", "--strategies", "flexible-start", "--period", "2022-06", "--json",
                       env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    # June has 30 * 24 = 720 hours; a 6 h job with 6 h of slack has 720 - 12 + 1 starts
    assert doc["inputs"]["start_times"]["US-CAL-CISO"]["6"] == 720 - 12 + 1


def test_whatif_region_without_hourly_series_is_a_clear_error(env: dict[str, str]) -> None:
    # no region of the list has an hourly series: nothing to compare against
    result = wattprint("whatif", "--duration", "6h", "--regions", "JP,IN",
                       "--windows", "6h", env=env)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "no shipped hourly series for JP" in message
    for region in ("US-CAL-CISO", "US-TEX-ERCO", "US-MIDA-PJM", "US-SW-AZPS"):
        assert region in message
    assert "--intensity" in message


def test_whatif_needs_one_job_description(env: dict[str, str]) -> None:
    both = wattprint("whatif", "last", "--duration", "6h", "--region", "CISO", env=env)
    assert both.returncode == 2 and "not both" in both.stderr
    none = wattprint("whatif", "--region", "CISO", env=env)
    assert none.returncode == 2 and "--duration" in none.stderr
    bad = wattprint("whatif", "--duration", "6h", "--region", "CISO", "--strategies",
                    "greedy", env=env)
    assert bad.returncode == 2 and "greedy" in bad.stderr


# --------------------------------------------------------------------------- plan

PLAN_CI = [300.0, 250.0, 400.0, 80.0, 90.0, 350.0, 60.0, 500.0, 500.0, 500.0]


def test_plan_on_a_hand_made_series(tmp_path: Path, env: dict[str, str]) -> None:
    series = write_series(tmp_path / "ci.csv", PLAN_CI)
    now = T0 + 600  # ten minutes into slot 0
    result = wattprint("plan", "--duration", "2h", "--deadline", "7h", "--intensity",
                       str(series), "--power-w", "1000", "--now", iso(now), "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    # 1 kW for one hour emits ci grams; the deadline now + 7 h rounds down to slot 7
    starts = {s: PLAN_CI[s] + PLAN_CI[s + 1] for s in range(0, 6)}
    best = min(starts, key=lambda s: starts[s])
    assert best == 3
    assert doc["start_now"]["co2e_g"] == pytest.approx(starts[0])
    assert doc["flexible_start"]["start_s"] == T0 + best * H
    assert doc["flexible_start"]["co2e_g"] == pytest.approx(starts[best])
    assert doc["flexible_start"]["saving_fraction"] == pytest.approx(1 - starts[best] / starts[0])
    two_cleanest = sorted(range(7), key=lambda s: PLAN_CI[s])[:2]  # slots 6 and 3
    assert doc["pause_resume"]["co2e_g"] == pytest.approx(sum(PLAN_CI[s] for s in two_cleanest))
    assert doc["pause_resume"]["segments_s"] == [[T0 + 3 * H, T0 + 4 * H], [T0 + 6 * H, T0 + 7 * H]]
    assert doc["pause_resume"]["pauses"] == 1
    assert doc["data"]["age_s"] == pytest.approx(now - (T0 + 10 * H))
    assert doc["data"]["source"]["provenance"]["dataset"] == "ci.csv"
    assert doc["replay"] is False and doc["now_rule"] == "given with --now"


def test_plan_within_2022_uses_the_real_2022_hours(env: dict[str, str]) -> None:
    now = datetime(2022, 6, 1, 8, tzinfo=timezone.utc).timestamp()
    result = wattprint("plan", "--duration", "6h", "--deadline", "24h", "--region",
                       "US-CAL-CISO", "--now", iso(now), "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    series = hourly_series("US-CAL-CISO")
    i0 = int((now - series.start_s[0]) // H)
    ci = np.asarray(series.g_per_kwh[i0:i0 + 24])
    sums = [float(ci[s:s + 6].sum()) for s in range(24 - 6 + 1)]
    best = int(np.argmin(sums))
    assert doc["flexible_start"]["start_s"] == pytest.approx(now + best * H)
    assert doc["flexible_start"]["saving_fraction"] == pytest.approx(1 - sums[best] / sums[0])
    assert doc["replay"] is False


def test_plan_with_the_shipped_series_and_no_now_replays_2022(env: dict[str, str]) -> None:
    result = wattprint("plan", "--duration", "3h", "--deadline", "12h", "--region", "CISO",
                       "--power-w", "400", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["replay"] is True
    assert "2022" in doc["now_rule"] and "typical year" in doc["now_rule"]
    assert any("2022" in note for note in doc["notes"])
    now, deadline = doc["now_s"], doc["deadline_s"]
    assert deadline == pytest.approx(now + 12 * H)
    assert now - H <= doc["flexible_start"]["start_s"] <= deadline - 3 * H
    assert 0.0 <= doc["flexible_start"]["saving_fraction"] <= 1.0
    assert doc["pause_resume"]["co2e_g"] <= doc["flexible_start"]["co2e_g"] + 1e-9
    assert doc["data"]["end_s"] == datetime(2023, 1, 1, tzinfo=timezone.utc).timestamp()
    assert doc["data"]["age_s"] == pytest.approx(now - doc["data"]["end_s"])
    text = wattprint("plan", "--duration", "3h", "--deadline", "12h", "--region", "CISO",
                     env=env)
    assert text.returncode == 0, text.stderr
    flat = " ".join(text.stdout.split())
    assert "same date and time (UTC) in 2022" in flat and "flexible start" in flat


def test_plan_errors(tmp_path: Path, env: dict[str, str]) -> None:
    no_region = wattprint("plan", "--duration", "3h", "--deadline", "12h", env=env)
    assert no_region.returncode == 2 and "--region" in no_region.stderr
    japan = wattprint("plan", "--duration", "3h", "--deadline", "12h", "--region", "JP",
                      env=env)
    assert japan.returncode == 2 and "US-CAL-CISO" in japan.stderr
    series = write_series(tmp_path / "ci.csv", PLAN_CI)
    too_soon = wattprint("plan", "--duration", "6h", "--deadline", "3h", "--intensity",
                         str(series), "--now", iso(T0), env=env)
    assert too_soon.returncode == 2 and "deadline" in too_soon.stderr


def test_whatif_region_without_hourly_series_joins_at_its_annual_average(
        tmp_path: Path) -> None:
    env = dict(os.environ, WATTPRINT_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "wattprint", "whatif", "--duration", "6h",
                        "--power-w", "300", "--regions", "US-CAL-CISO,JP", "--windows", "6h",
                        "--strategies", "all", "--json"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "JP: no shipped hourly series" in r.stderr
    rows = json.loads(r.stdout)["rows"]
    jp_flex = [x for x in rows if x["region"] == "JP" and x["strategy"] == "flexible-start"]
    # a flat series gains nothing from moving in time
    assert jp_flex and jp_flex[0]["mean_reduction"] == 0.0
    assert any(x["region"] == "JP" and x["strategy"] == "region" for x in rows)


def test_whatif_plot_is_written(tmp_path: Path) -> None:
    env = dict(os.environ, WATTPRINT_HOME=str(tmp_path / "home"))
    svg = tmp_path / "whatif.svg"
    r = subprocess.run([sys.executable, "-m", "wattprint", "whatif", "--duration", "2h",
                        "--power-w", "300", "--regions", "US-CAL-CISO,US-TEX-ERCO",
                        "--windows", "6h,12h", "--plot", str(svg), "--json"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert text.startswith("<svg") or "<svg" in text[:500]
    assert "US-CAL-CISO" in text and "US-TEX-ERCO" in text
    assert json.loads(r.stdout)["rows"]  # the JSON still goes to stdout
