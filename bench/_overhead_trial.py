"""One trial of the tracking-overhead benchmark, run as its own process.

``bench_overhead.py`` starts this script once per trial, so every
configuration pays its own imports and starts from a fresh interpreter,
exactly as a user's program would. It uses only the standard library and
numpy (plus the tracker it measures), so it runs under any interpreter that
has numpy: the one wattprint is installed in, and a separate one with
codecarbon.

Configurations (``--config``):

``untracked``
    the workload alone;
``wattprint``
    the workload inside ``wattprint.track(interval_s=...)``;
``codecarbon``
    the workload inside codecarbon's ``OfflineEmissionsTracker``
    (``country_iso_code="DEU"``, ``measure_power_secs=...``,
    ``save_to_file=False``, ``log_level="error"``);
``idle-wattprint``
    ``wattprint.track(interval_s=...)`` while the main thread sleeps
    ``--sleep-s`` seconds: what the sampler alone costs;
``calibrate``
    time ``--units`` units of the workload, untracked (the parent scales the
    unit count to the target duration from this).

Clocks: wall time is :func:`time.perf_counter`; CPU time is
``getrusage(RUSAGE_SELF)`` (every thread of the process, ended ones included)
plus ``getrusage(RUSAGE_CHILDREN)`` (children that were waited for), user +
system; the main thread's own CPU time is :func:`time.thread_time`, so the
*background* CPU during the workload (sampler threads, timer threads) is the
process's CPU minus the main thread's over the same span.

numpy is imported before the clock starts in every configuration: the
workload uses it, so a user's program has it loaded anyway.

The result is one JSON object written to ``--out`` (trackers may print to
stdout, so stdout is not used for results).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: elements of the numpy part of one work unit
_ARRAY_N = 100_000
#: iterations of the pure-Python part of one work unit
_LOOP_N = 40_000


def cpu_s() -> float:
    """User + system CPU seconds of this process (all threads) and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def work(units: int) -> float:
    """A fixed amount of single-threaded CPU work: pure Python and numpy.

    Args:
        units: how many units to run (each is the same work, about 10 ms on a
            current server core).

    Returns:
        A checksum, so the work cannot be optimised away.
    """
    rng = np.random.default_rng(12345)
    base = rng.random(_ARRAY_N)
    checksum = 0.0
    for _ in range(units):
        acc = 0
        for i in range(_LOOP_N):
            acc = (acc * 31 + i) % 1_000_003
        a = np.sqrt(base * 3.0 + 1.0)
        b = np.sort(a[::-1])
        checksum += float(b[_ARRAY_N // 2]) + float(np.dot(a, b)) * 1e-9 + acc * 1e-12
    return checksum


def _start_wattprint(interval_s: float) -> tuple[Any, Any]:
    wattprint = importlib.import_module("wattprint")
    tracker = wattprint.track(project="bench-overhead", name="overhead-trial",
                              interval_s=interval_s)
    tracker.start()
    return wattprint, tracker


def _wattprint_facts(tracker: Any) -> dict[str, Any]:
    devices = tracker.by_device()
    n_intervals = len(tracker.intervals())
    return {
        "sensors": [f"{d.id} ({'measured' if d.measured else 'estimated'})" for d in devices],
        "ticks": n_intervals / len(devices) if devices else 0.0,
        "energy_j": tracker.energy_j,
    }


def _start_codecarbon(interval_s: float) -> Any:
    codecarbon = importlib.import_module("codecarbon")
    tracker = codecarbon.OfflineEmissionsTracker(
        country_iso_code="DEU", measure_power_secs=interval_s, save_to_file=False,
        log_level="error",
    )
    tracker.start()
    return tracker


def _codecarbon_facts(tracker: Any) -> dict[str, Any]:
    conf = getattr(tracker, "_conf", {})
    hardware = conf.get("hardware", []) if isinstance(conf, dict) else []
    data = getattr(tracker, "final_emissions_data", None)
    energy_kwh = getattr(data, "energy_consumed", None)
    return {
        "sensors": [str(h) for h in hardware],
        "energy_j": None if energy_kwh is None else float(energy_kwh) * 3.6e6,
    }


def run_trial(config: str, interval_s: float, units: int, sleep_s: float) -> dict[str, Any]:
    """Run one trial in this process and return its measurements.

    Args:
        config: one of the configurations in the module docstring.
        interval_s: the tracker's sampling interval in seconds.
        units: work units to run.
        sleep_s: how long ``idle-wattprint`` sleeps.

    Returns:
        The measurements: ``import_start_s`` (before the tracker's import to
        tracker started), ``wall_s`` and ``cpu_s`` (before the import to after
        stop), ``work_wall_s``, ``work_cpu_s``, ``work_main_cpu_s`` and
        ``work_bg_cpu_s`` (over the workload or sleep only), ``sensors`` and
        tracker facts.
    """
    t0 = time.perf_counter()
    c0 = cpu_s()
    tracker: Any = None
    if config in ("wattprint", "idle-wattprint"):
        _, tracker = _start_wattprint(interval_s)
    elif config == "codecarbon":
        tracker = _start_codecarbon(interval_s)
    elif config not in ("untracked", "calibrate"):
        raise SystemExit(f"unknown configuration {config!r}")
    t1 = time.perf_counter()
    c1 = cpu_s()
    m1 = time.thread_time()
    if config == "idle-wattprint":
        time.sleep(sleep_s)
        checksum = 0.0
    else:
        checksum = work(units)
    t2 = time.perf_counter()
    c2 = cpu_s()
    m2 = time.thread_time()
    if tracker is not None:
        tracker.stop()
    t3 = time.perf_counter()
    c3 = cpu_s()
    facts: dict[str, Any] = {"sensors": []}
    if config in ("wattprint", "idle-wattprint"):
        facts = _wattprint_facts(tracker)
    elif config == "codecarbon":
        facts = _codecarbon_facts(tracker)
    return {
        "config": config,
        "interval_s": interval_s,
        "units": units,
        "checksum": checksum,
        "import_start_s": t1 - t0,
        "wall_s": t3 - t0,
        "cpu_s": c3 - c0,
        "work_wall_s": t2 - t1,
        "work_cpu_s": c2 - c1,
        "work_main_cpu_s": m2 - m1,
        "work_bg_cpu_s": (c2 - c1) - (m2 - m1),
        "stop_s": t3 - t2,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        **facts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--units", type=int, default=1)
    parser.add_argument("--sleep-s", type=float, default=10.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    result = run_trial(args.config, args.interval, args.units, args.sleep_s)
    result["pid"] = os.getpid()
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
