"""Benchmark what tracking costs the tracked program: wattprint against codecarbon.

Usage::

    python bench/bench_overhead.py [--quick] [--reps 5] [--target-s 10]
        [--codecarbon-python PATH] [--fake-rapl] [--doc PATH | --no-write]

The same CPU-bound workload (a fixed number of work units, pure Python and
numpy, single-threaded, calibrated once to about ``--target-s`` seconds of
CPU) runs as a separate process in each configuration:

* untracked;
* under ``wattprint.track()`` at 1 s and at 0.1 s;
* under codecarbon's ``OfflineEmissionsTracker(country_iso_code="DEU",
  measure_power_secs=1, save_to_file=False, log_level="error")``, run by the
  interpreter given with ``--codecarbon-python`` (default: this one), since
  codecarbon pins its own dependencies;
* and ``wattprint.track(interval_s=0.01)`` (100 Hz) while the main thread
  sleeps: the sampler's cost alone, as a share of one core.

Trials are alternated (round-robin, the starting configuration rotated each
round) after one discarded warm-up trial of each, so slow drifts of the
machine hit every configuration alike. Each tracked trial is paired with the
untracked trial of the same round; the table gives medians over rounds of:

* import + start: wall time from before the tracker's ``import`` to the
  tracker started;
* tracker CPU: the process's user + system CPU (every thread, and
  waited-for children) from before the import to after stop, less the main
  thread's CPU during the workload: the tracker's own CPU (import, start,
  its threads, stop), read without the noise of the workload's own CPU;
* sampling CPU per 10 s: the background threads' CPU during the workload,
  per 10 s of wall time;
* extra CPU, whole process: the process's CPU over the same span minus the
  untracked trial's (catches a slowed-down workload too, but noisy);
* wall ratio: the same span's wall time over the untracked trial's.

Then the per-tick cost of wattprint's sampler is broken down in-process
(each sensor's read, the process-tree CPU share, the store write) with a
cProfile listing, and the import and ``start()`` costs with
``-X importtime`` and cProfile, so a missed target points at the code to fix.

The markdown result is printed and, unless ``--no-write`` (or ``--quick``
without ``--doc``), written into the ``## Tracking overhead`` section of
``docs/benchmarks.md`` between its result markers; prose around the markers
and other sections are kept.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TRIAL = HERE / "_overhead_trial.py"
DEFAULT_DOC = REPO / "docs" / "benchmarks.md"

SECTION = "## Tracking overhead"
BEGIN = "<!-- tracking-overhead:begin (written by bench/bench_overhead.py) -->"
END = "<!-- tracking-overhead:end -->"

#: the targets of the foundation issue
TARGET_IMPORT_START_MS = 50.0
TARGET_EXTRA_CPU_S_PER_10S = 0.05
TARGET_100HZ_CORE_PCT = 1.0

#: work units timed to calibrate the workload's length
CALIBRATION_UNITS = 60

INTRO = """\
What tracking costs the program it tracks, on the same CPU-bound workload
(a fixed amount of single-threaded pure-Python and numpy work, about 10 s of
CPU), each trial a fresh process: untracked, under `wattprint.track()` at
1 s and 0.1 s, and under codecarbon's `OfflineEmissionsTracker` at 1 s
(`country_iso_code="DEU", save_to_file=False, log_level="error"`). A further
run samples at 100 Hz while the main thread sleeps, to show the sampler's
own cost. Trials are alternated round-robin; each tracked trial is compared
with the untracked trial of the same round and the medians are shown.

Columns: *import + start* is the wall time from before the tracker's
`import` until it has started. *Tracker CPU* is the tracker's own CPU time,
measured directly: the process's user + system CPU (all threads, and
waited-for children, from `getrusage`) from before the import to after
`stop()`, less the main thread's CPU during the workload
(`time.thread_time`) — that is import, start, the background threads and
stop. *Sampling CPU per 10 s* is the background threads' part alone, per
10 s of wall time. *Extra CPU, whole process* is the process's CPU less the
untracked trial's; it also catches any slowdown of the workload itself, but
on a machine shared with other work it moves by more than the targets
between identical runs. *Wall ratio* is the wall time from before the import
to after `stop()` over the untracked trial's. Reproduce with
`python bench/bench_overhead.py` (`--quick` for a
one-minute check); `bench/README.md` has the options.
"""


# -- configurations and trials -------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One measured configuration."""

    key: str
    label: str
    config: str
    interval_s: float
    python: str
    baseline: str = "untracked"
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class Bench:
    """Everything a benchmark run needs and gathers."""

    configs: list[Config]
    units: int
    reps: int
    idle_s: float
    workdir: Path
    env: dict[str, str]
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def run_trial(config: Config, units: int, sleep_s: float, workdir: Path,
              env: dict[str, str]) -> dict[str, Any]:
    """Run one trial as its own process and return its measurements.

    Raises:
        RuntimeError: the trial process failed (its stderr is included).
    """
    out = workdir / f"trial-{config.key}-{time.monotonic_ns()}.json"
    cmd = [config.python, str(TRIAL), "--config", config.config, "--interval",
           repr(config.interval_s), "--units", str(units), "--sleep-s", repr(sleep_s),
           "--out", str(out)]
    proc = subprocess.run(cmd, cwd=workdir, env={**env, **dict(config.env)},
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"trial {config.label} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    return result


def probe(python: str, module: str | None = None) -> dict[str, str] | None:
    """Python and numpy versions of an interpreter, or None if it lacks numpy (or ``module``)."""
    code = ("import sys, json, numpy\n"
            + (f"import {module}\n" if module else "")
            + "print(json.dumps({'python': sys.version.split()[0], 'numpy': numpy.__version__"
            + (f", 'module': getattr({module}, '__version__', '?')" if module else "")
            + "}))")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    result: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def calibrate(python: str, target_s: float, workdir: Path, env: dict[str, str]) -> int:
    """Work units that take about ``target_s`` CPU seconds here (CPU, not wall: load-proof).

    A short run sizes a second one of about a tenth of the target, whose
    per-unit time (warmer, so closer to a long run's) sets the count.
    """
    config = Config("calibrate", "calibrate", "calibrate", 1.0, python)
    units = CALIBRATION_UNITS
    for _ in range(2):
        cpu = float(run_trial(config, units, 0.0, workdir, env)["work_cpu_s"])
        per_unit = max(cpu, 1e-6) / units
        units = max(1, round(target_s / 10.0 / per_unit))
    return max(1, round(target_s / per_unit))


def run_rounds(bench: Bench, log: Any = print) -> None:
    """Warm up each configuration once, then run ``reps`` rounds, rotating the order."""
    for config in bench.configs:
        run_trial(config, 1, 0.2, bench.workdir, bench.env)
    bench.results = {c.key: [] for c in bench.configs}
    n = len(bench.configs)
    for rep in range(bench.reps):
        order = bench.configs[rep % n:] + bench.configs[:rep % n]
        for config in order:
            result = run_trial(config, bench.units, bench.idle_s, bench.workdir, bench.env)
            bench.results[config.key].append(result)
            log(f"  round {rep + 1}/{bench.reps} {config.label}: wall {result['wall_s']:.2f} s, "
                f"CPU {result['cpu_s']:.3f} s, import+start "
                f"{result['import_start_s'] * 1e3:.0f} ms")


# -- summary -------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """Median of per-round values, with their range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        """Median, minimum and maximum of ``values`` (at least one)."""
        return cls(statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class Row:
    """One configuration's summary (``None`` where a value needs a baseline)."""

    key: str
    label: str
    sensors: str
    import_start_ms: Stat | None
    tracker_cpu_s: Stat | None
    sampling_cpu_s_per_10s: Stat
    extra_cpu_s: Stat | None
    wall_ratio: Stat | None


def summarise(config: Config, trials: Sequence[dict[str, Any]],
              baseline: Sequence[dict[str, Any]] | None) -> Row:
    """Pair each trial with its round's baseline trial and take medians.

    Args:
        config: the configuration.
        trials: its trials, in round order.
        baseline: the baseline's trials in the same round order, or None for
            the baseline itself.

    Returns:
        Medians (with ranges) of: import + start in ms; the tracker's own CPU
        seconds (all CPU of the process except the main thread's during the
        workload: import, start, background threads, stop); background CPU
        during the workload per 10 s of wall time; the whole process's extra
        CPU seconds; the wall ratio.
    """
    sensors = "; ".join(trials[0].get("sensors") or []) or "none"
    sampling = Stat.of([t["work_bg_cpu_s"] * 10.0 / t["work_wall_s"] for t in trials])
    if baseline is None:
        return Row(config.key, config.label, sensors, None, None, sampling, None, None)
    pairs = list(zip(trials, baseline, strict=True))
    own = [(t["cpu_s"] - t["work_main_cpu_s"]) - (b["cpu_s"] - b["work_main_cpu_s"])
           for t, b in pairs]
    extra = [t["cpu_s"] - b["cpu_s"] for t, b in pairs]
    ratio = [t["wall_s"] / b["wall_s"] for t, b in pairs]
    imports = [t["import_start_s"] * 1e3 for t in trials]
    return Row(config.key, config.label, sensors, Stat.of(imports), Stat.of(own), sampling,
               Stat.of(extra), Stat.of(ratio))


@dataclass(frozen=True)
class IdleRow:
    """The 100 Hz sampler-alone run."""

    label: str
    sensors: str
    core_pct: Stat
    rate_hz: Stat


def summarise_idle(label: str, trials: Sequence[dict[str, Any]]) -> IdleRow:
    """CPU share of one core and achieved tick rate while the main thread sleeps."""
    pct = [100.0 * t["work_cpu_s"] / t["work_wall_s"] for t in trials]
    rate = [t["ticks"] / (t["work_wall_s"] + t["stop_s"]) for t in trials]
    sensors = "; ".join(trials[0].get("sensors") or []) or "none"
    return IdleRow(label, sensors, Stat.of(pct), Stat.of(rate))


def _num(value: float, digits: int) -> str:
    return f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.000"


def _fmt(stat: Stat | None, digits: int, *, spread: bool = True) -> str:
    if stat is None:
        return "—"
    text = _num(stat.median, digits)
    if spread:
        text += f" ({_num(stat.low, digits)}…{_num(stat.high, digits)})"
    return text


def targets(rows: dict[str, Row], idle: IdleRow | None) -> list[tuple[str, str, str]]:
    """Each target, the measured value and ``met``/``not met``/``not measured``.

    The CPU target is judged on the tracker's own CPU, measured directly (the
    whole-process difference is reported too, but on a shared machine it
    moves by more than the target between identical runs).
    """
    out: list[tuple[str, str, str]] = []
    wp = rows.get("wp-1")
    cc = rows.get("cc-1")

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    if wp is not None and wp.import_start_ms is not None:
        out.append((f"import + start <= {TARGET_IMPORT_START_MS:g} ms (wattprint, 1 s)",
                    f"{wp.import_start_ms.median:.1f} ms",
                    verdict(wp.import_start_ms.median <= TARGET_IMPORT_START_MS)))
    if wp is not None and wp.tracker_cpu_s is not None:
        out.append((f"extra CPU <= {TARGET_EXTRA_CPU_S_PER_10S:g} s per 10 s (wattprint, 1 s): "
                    "the tracker's own CPU in the whole run, import and start included",
                    f"{wp.tracker_cpu_s.median:.3f} s",
                    verdict(wp.tracker_cpu_s.median <= TARGET_EXTRA_CPU_S_PER_10S)))
        out.append((f"extra CPU <= {TARGET_EXTRA_CPU_S_PER_10S:g} s per 10 s (wattprint, 1 s): "
                    "sampling alone",
                    f"{wp.sampling_cpu_s_per_10s.median:.3f} s",
                    verdict(wp.sampling_cpu_s_per_10s.median <= TARGET_EXTRA_CPU_S_PER_10S)))
    columns = (("import + start", "import_start_ms", "ms", 1),
               ("tracker CPU", "tracker_cpu_s", "s", 3),
               ("sampling CPU per 10 s", "sampling_cpu_s_per_10s", "s", 3),
               ("extra CPU, whole process", "extra_cpu_s", "s", 3),
               ("wall ratio", "wall_ratio", "", 3))
    for name, attr, unit, digits in columns:
        title = f"{name} below codecarbon (both at 1 s)"
        mine: Stat | None = getattr(wp, attr) if wp else None
        theirs: Stat | None = getattr(cc, attr) if cc else None
        if mine is None or theirs is None:
            out.append((title, "—", "not measured"))
            continue
        value = f"{_num(mine.median, digits)} vs {_num(theirs.median, digits)} {unit}"
        out.append((title, value.rstrip(), verdict(mine.median < theirs.median)))
    if idle is not None:
        out.append((f"100 Hz sampling < {TARGET_100HZ_CORE_PCT:g} % of one core",
                    f"{idle.core_pct.median:.2f} % at {idle.rate_hz.median:.0f} Hz achieved",
                    verdict(idle.core_pct.median < TARGET_100HZ_CORE_PCT)))
    return out


# -- profile of wattprint's costs ------------------------------------------------


def _patch(obj: object, attribute: str, value: Any) -> None:
    """Replace a method of one running object (benchmark instrumentation only)."""
    setattr(obj, attribute, value)


def _timed(acc: dict[str, float], name: str, fn: Any) -> Any:
    """``fn`` wrapped to add the calling thread's CPU time to ``acc[name]``."""
    acc.setdefault(name, 0.0)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        c = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[name] += time.thread_time() - c

    return wrapper


def profile_sampler(seconds: float, home: Path, interval_s: float = 0.01) -> dict[str, Any]:
    """Where the sampler thread's CPU goes, measured on the thread as it really runs.

    Two phases of ``seconds`` each, each with its own tracker at ``interval_s``
    while this thread sleeps: first every stage (each sensor's ``read()``, the
    process-tree CPU share, the whole ``tick()``, the store write) is wrapped
    in a timer of the sampler thread's CPU clock; then ``tick()`` and the
    store write run under cProfile. Wrapping replaces instance attributes of
    the running sampler: a benchmark's liberty, not an API.

    Returns:
        ``stages`` (name → CPU µs per tick), ``thread_us`` (sampler thread CPU
        per tick, everything included), ``rate_hz``, ``top`` (function, own
        µs per tick under cProfile, calls per tick) and ``sensors``.
    """
    os.environ["WATTPRINT_HOME"] = str(home)
    import wattprint

    acc: dict[str, float] = {}
    tracker = wattprint.track(project="bench-overhead", name="profile", interval_s=interval_s)
    tracker.start()
    sampler = tracker._sampler
    assert sampler is not None and sampler._thread is not None
    for sensor in sampler.sensors:
        _patch(sensor, "read", _timed(acc, f"`{sensor.name}` sensor read()", sensor.read))
    share = sampler._cpu_share
    if share is not None:
        _patch(share, "sample", _timed(acc, "CPU share of the process tree (`CpuShare.sample`)",
                                       share.sample))
    _patch(sampler, "tick", _timed(acc, "`Sampler.tick()` in all", sampler.tick))
    sampler.sink = _timed(acc, "store write (`Tracker._sink`)", sampler.sink)
    clock = time.pthread_getcpuclockid(sampler._thread.ident or 0)
    before = dict(acc)
    k0, c0, t0 = sampler.ticks, time.clock_gettime(clock), time.perf_counter()
    time.sleep(seconds)
    after = dict(acc)
    k1, c1, t1 = sampler.ticks, time.clock_gettime(clock), time.perf_counter()
    devices = tracker.by_device()
    tracker.stop()
    ticks = max(1, k1 - k0)
    stages = {name: (after[name] - before.get(name, 0.0)) / ticks * 1e6 for name in after}
    thread_us = (c1 - c0) / ticks * 1e6
    tick_name = "`Sampler.tick()` in all"
    parts = sum(v for k, v in stages.items() if k != tick_name and "store" not in k)
    stages["integration and records (rest of `tick()`)"] = stages[tick_name] - parts
    stages["wake-up, wait and loop (thread CPU outside `tick()` and the store write)"] = (
        thread_us - stages[tick_name] - stages["store write (`Tracker._sink`)"])

    profiler = cProfile.Profile()

    def profiled(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            profiler.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                profiler.disable()

        return wrapper

    tracker = wattprint.track(project="bench-overhead", name="profile", interval_s=interval_s)
    tracker.start()
    sampler = tracker._sampler
    assert sampler is not None
    _patch(sampler, "tick", profiled(sampler.tick))
    sampler.sink = profiled(sampler.sink)
    k0 = sampler.ticks
    time.sleep(seconds)
    n_prof = max(1, sampler.ticks - k0)
    tracker.stop()
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [(f"{_short_path(filename)}:{line} {func}", tottime / n_prof * 1e6, ncalls / n_prof)
            for (filename, line, func), (_cc, ncalls, tottime, _cum, _callers) in raw.items()]
    rows.sort(key=lambda r: -r[1])
    return {
        "stages": stages,
        "thread_us": thread_us,
        "rate_hz": ticks / (t1 - t0),
        "interval_s": interval_s,
        "top": rows[:14],
        "sensors": [f"{d.id} ({'measured' if d.measured else 'estimated'})" for d in devices],
    }


def _short_path(filename: str) -> str:
    marker = f"{os.sep}wattprint{os.sep}"
    if marker in filename:
        return "wattprint/" + filename.split(marker, 1)[1]
    if filename.startswith("~") or filename.startswith("<"):
        return filename
    parts = Path(filename).parts
    return "/".join(parts[-2:])


_IMPORT_MARK = "-- wattprint import starts --"


def profile_import_start(python: str, workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Where import + start time goes: ``-X importtime`` of a fresh process, and cProfile."""
    code = (
        "import cProfile, json, pstats, sys, time\n"
        "print(MARK, file=sys.stderr, flush=True)\n"
        "t0 = time.perf_counter()\n"
        "import wattprint\n"
        "t1 = time.perf_counter()\n"
        "tr = wattprint.track(project='bench-overhead', name='profile-start')\n"
        "p = cProfile.Profile(); p.enable(); tr.start(); p.disable()\n"
        "t2 = time.perf_counter()\n"
        "tr.stop()\n"
        "s = pstats.Stats(p); rows = []\n"
        "for (f, l, fn), (cc, nc, tt, ct, _) in s.stats.items():\n"
        "    rows.append((f, l, fn, ct))\n"
        "rows.sort(key=lambda r: -r[3])\n"
        "print(json.dumps({'import_s': t1 - t0, 'start_s': t2 - t1, 'top': rows[:40]}))\n"
    )
    code = code.replace("MARK", repr(_IMPORT_MARK))
    proc = subprocess.run([python, "-X", "importtime", "-c", code], cwd=workdir, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"import profile failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    modules = []
    for line in proc.stderr.split(_IMPORT_MARK, 1)[-1].splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            modules.append((m.group(4), int(m.group(1)), int(m.group(2)), len(m.group(3))))
    result["modules"] = modules
    return result


def _import_summary(prof: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Heaviest imports: wattprint's own modules and the outside modules they pull in."""
    rows: list[tuple[str, float, float]] = []
    seen: set[str] = set()
    for name, self_us, cum_us, _depth in prof["modules"]:
        top = name.split(".")[0]
        if top == "wattprint":
            rows.append((name, self_us / 1e3, cum_us / 1e3))
        elif cum_us >= 3000 and top not in seen:
            seen.add(top)
            rows.append((name, self_us / 1e3, cum_us / 1e3))
    rows.sort(key=lambda r: -r[2])
    return rows[:16]


# -- report ----------------------------------------------------------------------


def machine() -> dict[str, str]:
    """The machine the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    return {
        "nproc": str(nproc),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render(bench: Bench, rows: list[Row], idle: IdleRow | None, info: dict[str, str],
           versions: dict[str, str], load: tuple[float, float], quick: bool) -> str:
    """The markdown results block."""
    lines = []
    kind = "quick run, " if quick else ""
    lines.append(f"Measured {info['date']} ({kind}{bench.reps} rounds, workload "
                 f"{bench.units} work units) on {info['nproc']} CPUs of {info['cpu']}, "
                 f"{info['os']}, Python {info['python']}; "
                 + ", ".join(f"{k} {v}" for k, v in versions.items())
                 + f". Load average {load[0]:.2f} before, {load[1]:.2f} after.")
    lines.append("")
    lines.append("| configuration | sensors | import + start (ms) | tracker CPU (s) "
                 "| sampling CPU per 10 s (s) | extra CPU, whole process (s) | wall ratio |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        lines.append(f"| {row.label} | {row.sensors} | {_fmt(row.import_start_ms, 1)} | "
                     f"{_fmt(row.tracker_cpu_s, 3)} | {_fmt(row.sampling_cpu_s_per_10s, 3)} | "
                     f"{_fmt(row.extra_cpu_s, 3)} | {_fmt(row.wall_ratio, 3)} |")
    lines.append("")
    untracked = bench.results["untracked"]
    lines.append("Medians over rounds, (min…max) in brackets. Untracked trial: CPU "
                 + _fmt(Stat.of([t["cpu_s"] for t in untracked]), 2) + " s, wall "
                 + _fmt(Stat.of([t["wall_s"] for t in untracked]), 2) + " s.")
    if idle is not None:
        lines.append("")
        lines.append("| sampler alone | sensors | CPU (% of one core) | achieved rate (Hz) |")
        lines.append("|---|---|---:|---:|")
        lines.append(f"| {idle.label} | {idle.sensors} | {_fmt(idle.core_pct, 2)} | "
                     f"{_fmt(idle.rate_hz, 0)} |")
    lines.append("")
    lines.append("| target | measured | verdict |")
    lines.append("|---|---|---|")
    for name, value, verdict in targets({r.key: r for r in rows}, idle):
        lines.append(f"| {name} | {value} | {verdict} |")
    return "\n".join(lines)


def render_profile(tick_prof: dict[str, Any] | None, import_prof: dict[str, Any] | None) -> str:
    """The markdown cost breakdown of wattprint's sampler tick, import and start."""
    lines: list[str] = []
    if tick_prof is not None:
        lines.append("")
        lines.append(f"Where the sampler thread's CPU goes at {1 / tick_prof['interval_s']:.0f} Hz "
                     f"(in-process, main thread asleep, {tick_prof['rate_hz']:.0f} ticks/s "
                     f"achieved, sensors {', '.join(tick_prof['sensors'])}): "
                     f"{tick_prof['thread_us']:.0f} µs of thread CPU per tick in all.")
        lines.append("")
        lines.append("| stage | CPU µs per tick |")
        lines.append("|---|---:|")
        for name, us in tick_prof["stages"].items():
            lines.append(f"| {name} | {us:.0f} |")
        lines.append("")
        lines.append("Heaviest functions of a tick under cProfile (own time; cProfile inflates "
                     "small calls, compare shares):")
        lines.append("")
        lines.append("| function | own µs per tick | calls per tick |")
        lines.append("|---|---:|---:|")
        for name, us, calls in tick_prof["top"]:
            lines.append(f"| `{name}` | {us:.1f} | {calls:g} |")
    if import_prof is not None:
        lines.append("")
        lines.append(f"Import + start in a fresh process: `import wattprint` "
                     f"{import_prof['import_s'] * 1e3:.1f} ms, `track().start()` "
                     f"{import_prof['start_s'] * 1e3:.1f} ms (under `-X importtime` and "
                     f"cProfile, so both inflated). Heaviest imports, including those done "
                     f"lazily by `start()`:")
        lines.append("")
        lines.append("| module | self ms | cumulative ms |")
        lines.append("|---|---:|---:|")
        for name, self_ms, cum_ms in _import_summary(import_prof):
            lines.append(f"| `{name}` | {self_ms:.1f} | {cum_ms:.1f} |")
        lines.append("")
        lines.append("Heaviest calls in `start()` (cumulative ms, imports included):")
        lines.append("")
        lines.append("| function | cumulative ms |")
        lines.append("|---|---:|")
        shown = 0
        for filename, line, func, cum_s in import_prof["top"]:
            if func.startswith("<") or "importlib._bootstrap" in filename:
                continue
            lines.append(f"| `{_short_path(filename)}:{line} {func}` | {cum_s * 1e3:.1f} |")
            shown += 1
            if shown == 12:
                break
    return "\n".join(lines)


def splice(doc: str, block: str) -> str:
    """Put ``block`` between the result markers of the tracking-overhead section.

    Text outside the markers (other sections, prose of this one) is kept. A
    document without the section gets it appended, with the method text; one
    without a title gets ``# Benchmarks``.
    """
    marked = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in doc and END in doc and doc.index(BEGIN) < doc.index(END):
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + marked + tail
    if not doc.strip():
        doc = "# Benchmarks\n"
    lines = doc.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        return doc.rstrip("\n") + f"\n\n{SECTION}\n\n{INTRO}\n{marked}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    body = "".join(lines[start:end]).rstrip("\n")
    rest = "".join(lines[end:])
    return "".join(lines[:start]) + body + f"\n\n{marked}\n" + ("\n" + rest if rest else "")


# -- main ----------------------------------------------------------------------------


def build_configs(python: str, cc_python: str | None, separate_cc_baseline: bool,
                  rapl_env: tuple[tuple[str, str], ...]) -> list[Config]:
    """The configurations, baseline first."""
    configs = [
        Config("untracked", "untracked", "untracked", 0.0, python),
        Config("wp-1", "wattprint, 1 s", "wattprint", 1.0, python, env=rapl_env),
        Config("wp-0.1", "wattprint, 0.1 s", "wattprint", 0.1, python, env=rapl_env),
    ]
    if cc_python is not None:
        baseline = "untracked"
        if separate_cc_baseline:
            configs.append(Config("untracked-cc", "untracked (codecarbon's Python)",
                                  "untracked", 0.0, cc_python))
            baseline = "untracked-cc"
        configs.append(Config("cc-1", "codecarbon, 1 s", "codecarbon", 1.0, cc_python,
                              baseline=baseline))
    configs.append(Config("wp-idle-100hz", "wattprint, 0.01 s, main thread asleep",
                          "idle-wattprint", 0.01, python, env=rapl_env))
    return configs


def child_env(workdir: Path) -> dict[str, str]:
    """Environment of the trial processes: a private store, no user config, one BLAS thread.

    Bytecode is cached in a private folder (``PYTHONPYCACHEPREFIX``), even
    where the calling shell disables writing it: an installed package has
    its bytecode compiled, and a source checkout would otherwise be charged
    the compilation of every module on every import. The warm-up trials
    fill the cache for every configuration alike.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WATTPRINT_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"WATTPRINT_HOME": str(workdir / "home"),
                "PYTHONPYCACHEPREFIX": str(workdir / "pycache"),
                "XDG_CONFIG_HOME": str(workdir / "xdg"),
                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    return env


def fake_rapl_env(workdir: Path) -> tuple[tuple[str, str], ...]:
    """A fake powercap tree (one package, its DRAM) and the variable that points at it."""
    from wattprint.testing.powercap import PowercapTree

    tree = PowercapTree(workdir / "sysfs")
    tree.add_package(0, energy_uj=1_000_000)
    tree.add_dram(0, energy_uj=500_000)
    return (("WATTPRINT_SYSFS_ROOT", str(tree.sysfs_root)),)


def run_profiles(python: str, workdir: Path, env: dict[str, str], seconds: float
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Import/start profile in a fresh process, then the sampler profile in this one."""
    import_prof = profile_import_start(python, workdir, env)
    for key in [k for k in os.environ if k.startswith("WATTPRINT_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items()
                       if k.startswith("WATTPRINT_") or k == "XDG_CONFIG_HOME"})
    tick_prof = profile_sampler(seconds, workdir / "home-profile")
    return tick_prof, import_prof


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 rounds of a 3 s workload, 3 s at 100 Hz (about a minute)")
    parser.add_argument("--reps", type=int, help="rounds (default 5, quick 3)")
    parser.add_argument("--target-s", type=float, help="workload CPU seconds (default 10)")
    parser.add_argument("--units", type=int, help="work units (default: calibrated)")
    parser.add_argument("--idle-s", type=float, help="100 Hz run length (default 10 s)")
    parser.add_argument("--codecarbon-python", help="interpreter with codecarbon installed")
    parser.add_argument("--no-codecarbon", action="store_true")
    parser.add_argument("--fake-rapl", action="store_true",
                        help="point wattprint at a fake powercap tree (RAPL path, no hardware)")
    parser.add_argument("--doc", type=Path,
                        help="markdown file to update (default docs/benchmarks.md)")
    parser.add_argument("--no-write", action="store_true", help="only print the results")
    parser.add_argument("--no-profile", action="store_true", help="skip the cost breakdown")
    parser.add_argument("--profile-only", action="store_true",
                        help="only the cost breakdown of wattprint (no trials, nothing written)")
    parser.add_argument("--json", type=Path, help="also write every trial's raw result here")
    args = parser.parse_args(argv)

    reps = args.reps or (3 if args.quick else 5)
    target_s = args.target_s or (3.0 if args.quick else 10.0)
    idle_s = args.idle_s or (3.0 if args.quick else 10.0)
    python = sys.executable
    mine = probe(python, "wattprint")
    if mine is None:
        print("this interpreter cannot import wattprint and numpy; run the benchmark with the "
              "interpreter wattprint is installed in", file=sys.stderr)
        return 2
    versions = {"wattprint": mine["module"], "numpy": mine["numpy"]}
    if args.profile_only:
        with tempfile.TemporaryDirectory(prefix="wattprint-bench-") as tmp:
            workdir = Path(tmp)
            env = {**child_env(workdir),
                   **dict(fake_rapl_env(workdir) if args.fake_rapl else ())}
            print(render_profile(*run_profiles(python, workdir, env,
                                               2.0 if args.quick else 5.0)))
        return 0
    cc_python: str | None = None
    separate = False
    if not args.no_codecarbon:
        candidate = args.codecarbon_python or os.environ.get("CODECARBON_PYTHON") or python
        theirs = probe(candidate, "codecarbon")
        if theirs is None:
            msg = f"{candidate} cannot import codecarbon and numpy"
            if args.codecarbon_python:
                print(f"{msg}; install codecarbon there or pass another --codecarbon-python",
                      file=sys.stderr)
                return 2
            print(f"{msg}: codecarbon is not measured (pass --codecarbon-python)")
        else:
            cc_python = candidate
            versions["codecarbon"] = theirs["module"]
            separate = (theirs["python"], theirs["numpy"]) != (mine["python"], mine["numpy"])

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wattprint-bench-") as tmp:
        workdir = Path(tmp)
        env = child_env(workdir)
        rapl_env = fake_rapl_env(workdir) if args.fake_rapl else ()
        configs = build_configs(python, cc_python, separate, rapl_env)
        units = args.units or calibrate(python, target_s, workdir, env)
        bench = Bench(configs, units, reps, idle_s, workdir, env)
        print(f"{len(configs)} configurations x {reps} rounds, {units} work units "
              f"(~{target_s:g} s of CPU each), 100 Hz run {idle_s:g} s")
        run_rounds(bench)
        load_after = os.getloadavg()[0]
        tick_prof: dict[str, Any] | None = None
        import_prof: dict[str, Any] | None = None
        if not args.no_profile:
            tick_prof, import_prof = run_profiles(python, workdir, {**env, **dict(rapl_env)},
                                                  2.0 if args.quick else 5.0)
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=1), encoding="utf-8")

    by_key = {c.key: c for c in configs}
    rows = [summarise(c, bench.results[c.key],
                      None if c.config == "untracked" else bench.results[c.baseline])
            for c in configs if c.config != "idle-wattprint"]
    idle_cfg = by_key["wp-idle-100hz"]
    idle = summarise_idle(idle_cfg.label, bench.results[idle_cfg.key])
    block = render(bench, rows, idle, machine(), versions, (load_before, load_after),
                   args.quick)
    if tick_prof is not None or import_prof is not None:
        block += "\n" + render_profile(tick_prof, import_prof)
    print()
    print(block)
    write = not args.no_write and (args.doc is not None or not args.quick)
    if write:
        doc_path = args.doc or DEFAULT_DOC
        old = doc_path.read_text(encoding="utf-8") if doc_path.exists() else ""
        doc_path.parent.mkdir(parents=True, exist_ok=True)
        doc_path.write_text(splice(old, block), encoding="utf-8")
        print(f"\nwritten to {doc_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
