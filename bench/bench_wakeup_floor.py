"""The floor under 100 Hz sampling: what a bare Python thread waking 100 times a second costs.

Compares, each in a fresh process with the main thread asleep, the CPU (% of
one core) of:

* ``loop``  — a thread that only waits 10 ms in a loop (threading.Event);
* ``plain`` — wattprint's Sampler at 0.01 s with one scripted counter sensor;
* ``tree``  — the same, attributing to this process tree (CPU-time share).

Usage: python bench/bench_wakeup_floor.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def trial(mode: str, seconds: float) -> float:
    if mode == "loop":
        stop = threading.Event()

        def run() -> None:
            nxt = time.monotonic()
            while not stop.is_set():
                nxt += 0.01
                delay = nxt - time.monotonic()
                if delay > 0:
                    stop.wait(delay)

        th = threading.Thread(target=run)
        th.start()
        time.sleep(0.5)
        c0 = cpu_s()
        time.sleep(seconds)
        c1 = cpu_s()
        stop.set()
        th.join()
    else:
        from wattprint.sampling import Sampler
        from wattprint.testing.sensors import ScriptedSensor

        sensor = ScriptedSensor.counter("cpu", [float(i) for i in range(10**6)])
        sampler = Sampler([sensor], lambda i, g: None, interval_s=0.01,
                          root_pid=os.getpid() if mode == "tree" else None)
        sampler.start()
        time.sleep(0.5)
        c0 = cpu_s()
        time.sleep(seconds)
        c1 = cpu_s()
        sampler.stop()
    return 100.0 * (c1 - c0) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        print(trial(args.trial, args.seconds))
        return
    results: dict[str, list[float]] = {"loop": [], "plain": [], "tree": []}
    for _ in range(args.rounds):
        for mode in results:
            out = subprocess.run([sys.executable, __file__, "--trial", mode, "--seconds",
                                  str(args.seconds)], capture_output=True, text=True, check=True)
            results[mode].append(float(out.stdout))
    print("| thread at 100 Hz | CPU, % of one core (median, min-max) |")
    print("|---|---:|")
    for mode, values in results.items():
        print(f"| {mode} | {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f}) |")


if __name__ == "__main__":
    main()
