"""Benchmark the what-if engine against the plain-loop reference.

Usage::

    python bench/bench_whatif.py [--data PATH] [--repeat 3] [--quick]

Reads the 2022 hourly US series (8 balancing authorities, 8,760 h each) and
times, for 4 windows (6, 12, 18, 24 h) x 6 durations (1, 2, 4, 8, 16, 24 h):

* the engine (flexible start, pause and resume, threshold, every start time)
  against the naive reference (``tests/schedule/naive.py``) on one region;
  and on all 8 regions (about a minute of plain Python); with ``--quick`` the
  naive time for 8 regions is one region's time x 8 (the regions are the
  same size and independent), and the table says so;
* the full ``whatif()`` call (8 regions, region rows included);
* pause and resume with a non-constant power profile (the exact DP).

Prints a markdown table and the machine it ran on.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType

import numpy as np

from wattprint.accounting.series import IntensitySeries as Series
from wattprint.schedule.whatif import (
    flexible_start_co2e_g,
    pause_resume_co2e_g,
    threshold_co2e_g,
    whatif,
)

HOUR = 3600.0
WINDOWS_H = (6, 12, 18, 24)
DURATIONS_H = (1, 2, 4, 8, 16, 24)
REL = Path("data", "grid_ci_hourly_us_eia_2022", "us_ba_hourly_2022.csv")


def _naive() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "tests" / "schedule" / "naive.py"
    spec = importlib.util.spec_from_file_location("whatif_naive", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data_path(given: str | None) -> Path:
    if given:
        return Path(given)
    repo = Path(__file__).resolve().parents[1]
    for root in (repo / "shared", repo.parent / "shared"):
        if (root / REL).is_file():
            return root / REL
    sys.exit(f"cannot find {REL}; pass --data PATH")


def _load(path: Path) -> dict[str, Series]:
    values: dict[str, list[float]] = defaultdict(list)
    first: dict[str, float] = {}
    with path.open(newline="") as f:
        for rec in csv.DictReader(f):
            ba = rec["ba_code"]
            first.setdefault(ba, datetime.fromisoformat(rec["timestamp_utc"]).timestamp())
            v = rec["avg_ci_gco2eq_per_kwh"]
            values[ba].append(float(v) if v else math.nan)
    return {ba: Series.regular(first[ba], HOUR, v, region=ba) for ba, v in values.items()}


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{model}, {cores} usable cores (nproc), Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )


def _engine_all(ci: np.ndarray, p: np.ndarray, thr: float) -> list[np.ndarray]:
    out = []
    for w in WINDOWS_H:
        out.append(flexible_start_co2e_g(ci, p, HOUR, w))
        out.append(pause_resume_co2e_g(ci, p, HOUR, w)[0])
        out.append(threshold_co2e_g(ci, p, HOUR, w, thr)[0])
    return out


def _best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="path of us_ba_hourly_2022.csv")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--quick", action="store_true", help="time the naive code on one region, extrapolate to 8"
    )
    args = ap.parse_args()
    naive = _naive()
    series = _load(_data_path(args.data))
    regions = sorted(series)
    filled = {r: np.nan_to_num(np.asarray(series[r].g_per_kwh)) for r in regions}
    thr = {r: float(np.percentile(filled[r], 30)) for r in regions}
    combos = len(WINDOWS_H) * len(DURATIONS_H)

    def engine(rs: list[str]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for r in rs:
            for d in DURATIONS_H:
                out += _engine_all(filled[r], np.full(d, 300.0), thr[r])
        return out

    def naive_run(rs: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for r in rs:
            ci = filled[r].tolist()
            for d in DURATIONS_H:
                p = [300.0] * d
                for w in WINDOWS_H:
                    n_starts = len(ci) - d - w + 1
                    out.append([naive.flexible(ci, p, HOUR, t, w) for t in range(n_starts)])
                    out.append([naive.pause_resume(ci, p, HOUR, t, w)[0] for t in range(n_starts)])
                    out.append(
                        [naive.threshold(ci, p, HOUR, t, w, thr[r])[0] for t in range(n_starts)]
                    )
        return out

    one = [regions[0]]
    t_engine_one = _best_of(args.repeat, lambda: engine(one))
    t0 = time.perf_counter()
    ref = naive_run(one)
    t_naive_one = time.perf_counter() - t0
    worst = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))))
        for a, b in zip(engine(one), ref, strict=True)
    )
    t_engine_all = _best_of(args.repeat, lambda: engine(regions))
    if not args.quick:
        t0 = time.perf_counter()
        naive_run(regions)
        t_naive_all = time.perf_counter() - t0
        naive_note = "measured"
    else:
        t_naive_all = t_naive_one * len(regions)
        naive_note = f"extrapolated: {len(regions)} x one region"

    def full_whatif() -> None:
        for d in DURATIONS_H:
            whatif(
                series, duration_s=d * HOUR, power_w=300.0, windows_s=[w * HOUR for w in WINDOWS_H]
            )

    t_whatif = _best_of(args.repeat, full_whatif)

    rng = np.random.default_rng(0)

    def profile_dp() -> None:
        for r in regions:
            for d in DURATIONS_H:
                p = rng.uniform(200.0, 400.0, d)
                for w in WINDOWS_H:
                    pause_resume_co2e_g(filled[r], p, HOUR, w)

    t_dp = _best_of(args.repeat, profile_dp)

    n_year = len(filled[regions[0]])
    print(f"Machine: {_machine()}\n")
    print(
        f"Hourly 2022 data, {n_year} h per region; {len(WINDOWS_H)} windows "
        f"{WINDOWS_H} h x {len(DURATIONS_H)} durations {DURATIONS_H} h = {combos} combinations "
        "per region, every start time.\n"
    )
    print("| case | engine (s) | naive (s) | speed-up |")
    print("|---|---:|---:|---:|")
    print(
        f"| 1 region ({one[0]}), flexible start + pause-resume + threshold | "
        f"{t_engine_one:.3f} | {t_naive_one:.1f} (measured) | {t_naive_one / t_engine_one:,.0f}x |"
    )
    print(
        f"| {len(regions)} regions, same | {t_engine_all:.3f} | {t_naive_all:.1f} ({naive_note}) "
        f"| {t_naive_all / t_engine_all:,.0f}x |"
    )
    print(
        f"| {len(regions)} regions, full `whatif()` (all strategies, region rows, summaries) "
        f"| {t_whatif:.3f} | | |"
    )
    print(
        f"| {len(regions)} regions, pause-resume with a varying power profile (exact DP) "
        f"| {t_dp:.3f} | | |"
    )
    print(f"\nEngine vs naive, largest relative difference: {worst:.1e}")
    print(f"Engine times: best of {args.repeat}; naive: one run.")


if __name__ == "__main__":
    main()
