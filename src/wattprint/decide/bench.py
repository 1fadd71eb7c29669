"""Energy benchmarks: a program's energy per unit of work over a grid of settings.

The question a benchmark answers is not "how much energy did this run use"
but "what does one unit of work cost, and which settings buy it cheapest":
the energy per sample, token or request at each batch size, precision,
device or MIG slice (MIGPerf; the energy studies of HPC inference). The
harness runs a command template (``python infer.py --batch {batch}``) or a
Python callable for every **configuration** of a grid (the cartesian
product of ``--grid name=v1,v2`` dimensions), each with warm-up and
measured **repetitions**:

* the warm-up repetitions run first and are not measured (caches, JIT
  compilation, GPU clocks settle);
* the measured repetitions run back to back inside one tracked run
  (:class:`wattprint.run.Tracker`, as ``wattprint run`` measures a
  command), stored in the project (default ``bench``) and tagged with the
  grid values, so ``leaderboard``, ``compare`` and ``show`` work on the
  configurations as on any run. Each repetition is a phase of that run
  (``repeat 1``...). The run's energy is the configuration's energy: the
  repetitions and the moments between them (starting the next process),
  never the warm-up.

The **units of work** come from the program itself: a line
``WATTPRINT_UNITS <n> [unit]`` on its standard output (unit ``sample``
when omitted), or ``run.add_units(n, unit)`` in a callable. A program that
reports none is charged per repetition (unit ``repetition``). The program
may also report a quality metric (``WATTPRINT_METRIC <name> <value>`` or
``run.log_metric``) and per-unit latencies (``WATTPRINT_LATENCY_S
<seconds>`` or ``run.log_latency``).

Per configuration the harness derives (see
:class:`~wattprint.decide.bench_results.ConfigResult`):

* energy per unit = the run's energy / the units of the measured repetitions;
* throughput = units / the summed wall time of the measured repetitions;
* latency p50 and p99 of the reported per-unit latencies, else of the
  repetitions' wall times (percentiles by linear interpolation between the
  sorted values, numpy's default);
* mean power = the run's energy / its duration; the basis ``measured``,
  ``estimated`` (a power model) or ``mixed``.

A **hardware fingerprint** (CPU model, GPU names, GPU driver, and a hash of
the host name) is stored with every configuration, so the results of two
machines in one store are told apart and compared. A configuration whose
command fails (non-zero exit, or a callable that raises) is recorded as
failed with its exit code; the other configurations still run.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from wattprint.config import Settings, load_settings
from wattprint.decide.bench_grid import (
    DEVICES_DIMENSION,
    check_template,
    configurations,
    fill_command,
    parse_devices,
)
from wattprint.decide.bench_results import (
    BenchResult,
    BenchRun,
    ConfigResult,
    Repetition,
    derive,
    hardware_fingerprint,
)
from wattprint.errors import ConfigError
from wattprint.run import Tracker, sensor_context
from wattprint.signals import child_outcome

log = logging.getLogger(__name__)


Target = Sequence[str] | Callable[..., Any]


def label_of(params: Mapping[str, Any]) -> str:
    """``batch=16 precision=fp32`` (``(no grid)`` for the empty configuration)."""
    return " ".join(f"{k}={v}" for k, v in params.items()) or "(no grid)"


def _run_command(argv: Sequence[str], env: Mapping[str, str], recorder: BenchRun,
                 echo: IO[bytes] | None) -> tuple[int, str | None]:
    """Run one repetition of a command; its output is copied to ``echo`` and read for markers.

    Returns:
        The exit code as a shell gives it, and why it failed (``None`` if it did not).
    """
    try:
        child = subprocess.Popen(list(argv), stdout=subprocess.PIPE, env=dict(env))
    except FileNotFoundError:
        return 127, f"command not found: {argv[0]}"
    except PermissionError:
        return 126, f"command is not executable: {argv[0]}"
    except OSError as exc:
        return 126, f"command cannot be started: {argv[0]}: {exc.strerror or exc}"
    assert child.stdout is not None
    try:
        for raw in iter(child.stdout.readline, b""):
            if echo is not None:
                echo.write(raw)
                echo.flush()
            recorder.record_line(raw.decode("utf-8", errors="replace"))
        code = child.wait()
    except BaseException:  # Ctrl-C or an error here: the command must not outlive us
        child.kill()
        child.wait()
        raise
    finally:
        child.stdout.close()
    exit_code, _status, reason = child_outcome(code, ())
    if exit_code == 0:
        return 0, None
    return exit_code, reason or f"exit code {exit_code}"


def _run_callable(fn: Callable[..., Any], recorder: BenchRun) -> tuple[int, str | None]:
    try:
        fn(recorder, **recorder.params)
    except Exception as exc:
        log.debug("the benchmarked function raised", exc_info=True)
        return 1, f"{type(exc).__name__}: {exc}"
    return 0, None


def _once(target: Target, params: Mapping[str, Any], recorder: BenchRun,
          env: Mapping[str, str], echo: IO[bytes] | None) -> tuple[int, str | None]:
    if callable(target):
        return _run_callable(target, recorder)
    return _run_command(fill_command(target, params), env, recorder, echo)


def _environment(params: Mapping[str, Any], devices: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in params.items():
        env[f"WATTPRINT_BENCH_{name.upper()}"] = str(value)
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = devices
    return env


def _repetition_energy(tracker: Tracker, spans: Sequence[tuple[float, float]]) -> list[float]:
    """The run's energy inside each wall-clock span (intervals split in proportion to time)."""
    if not spans:
        return []
    import numpy as np

    from wattprint.accounting.phases import overlap_energy_j

    intervals = tracker.intervals()
    if not intervals:
        return [0.0 for _ in spans]
    starts = np.array([i.t_start for i in intervals])
    ends = np.array([i.t_end for i in intervals])
    process = tracker.settings.attribution == "process"
    energy = np.array([i.attributed_j if process else i.energy_j for i in intervals])
    return [float(overlap_energy_j(starts, ends, energy, a, b).sum()) for a, b in spans]


def _basis(devices: Sequence[Mapping[str, Any]]) -> str:
    measured = {bool(d["measured"]) for d in devices}
    if not measured:
        return "none"
    if measured == {True}:
        return "measured"
    return "estimated" if measured == {False} else "mixed"


@dataclass(frozen=True)
class BenchOptions:
    """How each configuration is run and stored.

    Attributes:
        warmup: unmeasured repetitions before the measured ones (>= 0).
        repeat: measured repetitions (>= 1).
        devices: ``CUDA_VISIBLE_DEVICES`` for every configuration (a
            ``devices`` grid dimension wins), or ``None`` to leave it alone.
        name: prefix of the runs' names (default: the command's or function's name).
        phase: the runs' life-cycle phase.
        tags: extra tags for every run.
    """

    warmup: int = 0
    repeat: int = 3
    devices: str | None = None
    name: str | None = None
    phase: str = "experimentation"
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate the counts."""
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"--warmup must be a whole number >= 0, not {self.warmup!r}")
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 1:
            raise ConfigError(f"--repeat must be a whole number >= 1, not {self.repeat!r}")


_PLAIN_ARG = re.compile(r"^[\w{}./=:,@%+-]+$")


def _target_name(target: Target) -> str:
    if callable(target):
        return str(getattr(target, "__qualname__", None) or getattr(target, "__name__", "fn"))
    # quoted as a shell would need, except that {placeholders} stay readable
    return " ".join(a if _PLAIN_ARG.match(a) else shlex.quote(a) for a in target)


def run_configuration(target: Target, params: Mapping[str, Any], options: BenchOptions,
                      settings: Settings, bench_id: str,
                      echo: IO[bytes] | None = None) -> ConfigResult:
    """Warm up, then measure one configuration as one stored run; never raises for its failure.

    Raises:
        KeyboardInterrupt: Ctrl-C (the run is stored as interrupted first).
        WattprintError: a sensor the settings name is unavailable, or a bad region.
    """
    label = label_of(params)
    result = ConfigResult(params=dict(params), label=label)
    devices = options.devices
    if DEVICES_DIMENSION in params:
        devices = parse_devices(str(params[DEVICES_DIMENSION]))
    env = _environment(params, devices)
    for _ in range(options.warmup):
        code, error = _once(target, params, BenchRun(params, 0), env, echo)
        if code != 0:
            result.status, result.exit_code = "failed", code
            result.error = f"warm-up failed: {error}"
            return result
    base = options.name or (Path(target[0]).name if not callable(target) else
                            getattr(target, "__name__", "fn"))
    tags = {**options.tags, **{k: str(v) for k, v in params.items()}, "bench.id": bench_id}
    context = (sensor_context(settings, {**os.environ, "CUDA_VISIBLE_DEVICES": devices})
               if devices is not None else None)
    command = None if callable(target) else shlex.join(fill_command(target, params))
    tracker = Tracker(name=f"{base} {label}" if params else base, phase=options.phase,
                      tags=tags, settings=settings, context=context, command=command,
                      leads_job=True)
    tracker.start()
    env = {**env, **tracker.job_environ()}
    spans: list[tuple[float, float]] = []
    offset_s = tracker.wall_offset_s()
    try:
        for index in range(1, options.repeat + 1):
            recorder = BenchRun(params, index, tracker)
            with tracker.phase(f"repeat {index}"):
                t0 = time.monotonic()
                code, error = _once(target, params, recorder, env, echo)
                t1 = time.monotonic()
            spans.append((offset_s + t0, offset_s + t1))
            result.repetitions.append(Repetition(index, t1 - t0, dict(recorder.units),
                                                 dict(recorder.metrics),
                                                 list(recorder.latencies_s), code))
            if code != 0:
                result.status, result.exit_code, result.error = "failed", code, error
                break
    except KeyboardInterrupt:
        tracker.stop(exit_code=130, error="interrupted by KeyboardInterrupt",
                     status="interrupted")
        raise
    except BaseException as exc:
        tracker.stop(error=f"{type(exc).__name__}: {exc}")
        raise
    tracker.stop(exit_code=result.exit_code, error=result.error,
                 status=None if result.ok else "failed")
    _finish(result, tracker, spans)
    return result


def _finish(result: ConfigResult, tracker: Tracker, spans: Sequence[tuple[float, float]]) -> None:
    """Fill a configuration's energy and figures from its stopped run, and store them."""
    result.run_id = tracker.id
    result.energy_j = tracker.energy_j
    result.duration_s = tracker.duration_s
    result.devices = [d.as_dict() for d in tracker.by_device()]
    result.basis = _basis(result.devices)
    for i, energy_j in enumerate(_repetition_energy(tracker, spans)):
        result.repetitions[i] = replace(result.repetitions[i], energy_j=energy_j)
    result.hardware = hardware_fingerprint([d["name"] for d in result.devices
                                            if d["kind"] == "gpu"])
    derive(result)
    if tracker.store is None or tracker.id is None:
        return
    figures = {f"energy_j_per_{result.unit}": result.energy_j_per_unit,
               f"throughput_{result.unit}_per_s": result.throughput_per_s,
               "latency_p50_s": result.latency_p50_s, "latency_p99_s": result.latency_p99_s,
               "mean_power_w": result.mean_power_w}
    for name, value in figures.items():
        if value is not None:
            tracker.log_metric(name, value)
    try:
        tracker.store.set_tags(tracker.id, {"bench.hardware": result.hardware["id"],
                                            "bench.host": result.hardware["host_hash"]})
        tracker.store.update_info(tracker.id, {"bench": {
            "params": {k: str(v) for k, v in result.params.items()},
            "hardware": result.hardware, "unit": result.unit,
            "repetitions": [vars(r) for r in result.repetitions]}})
    except Exception as exc:  # the figures are returned even when the store cannot take them
        log.warning("the benchmark's figures could not be stored with run %s: %s",
                    tracker.id, exc)


def run_bench(target: Target, grid: Mapping[str, Sequence[Any]], options: BenchOptions,
              settings: Settings, *, echo: IO[bytes] | None = None,
              on_result: Callable[[ConfigResult], None] | None = None) -> BenchResult:
    """Run every configuration of ``grid``; see the module docstring.

    Args:
        target: a command template (``["python", "infer.py", "--batch", "{batch}"]``)
            or a callable ``fn(run, **params)`` (``run`` a :class:`BenchRun`).
        grid: dimension -> values.
        options: warm-up, repetitions, devices, names.
        settings: resolved settings (the project, sampling interval, sensors...).
        echo: where the command's output is copied (``None``: nowhere).
        on_result: called after each configuration (progress lines).

    Returns:
        The benchmark's results, failed configurations included.

    Raises:
        ConfigError: a template placeholder no dimension defines, or a bad
            ``devices`` value.
        KeyboardInterrupt: Ctrl-C (the configuration under way is stored
            as interrupted).
    """
    if not callable(target):
        if not target:
            raise ConfigError("no command given: put the command template after --")
        check_template(target, grid)
    if DEVICES_DIMENSION in grid:
        for value in grid[DEVICES_DIMENSION]:
            parse_devices(str(value))
    bench = BenchResult(bench_id=uuid.uuid4().hex[:12], project=settings.project,
                        target=_target_name(target), grid={k: list(v) for k, v in grid.items()},
                        warmup=options.warmup, repeat=options.repeat)
    for params in configurations(grid):
        result = run_configuration(target, params, options, settings, bench.bench_id, echo)
        bench.configs.append(result)
        if on_result is not None:
            on_result(result)
    return bench


def bench(fn: Callable[..., Any], grid: Mapping[str, Sequence[Any]], *, warmup: int = 0,
          repeat: int = 3, project: str = "bench", name: str | None = None,
          phase: str = "experimentation", devices: str | None = None,
          interval_s: float | None = None, sensors: Sequence[str] | None = None,
          home: str | Path | None = None, tags: Mapping[str, str] | None = None
          ) -> BenchResult:
    """Benchmark a Python callable over a grid: energy per unit, throughput, latency.

    ``fn(run, **params)`` is called ``warmup + repeat`` times per
    configuration; it reports its work with ``run.add_units(n, "sample")``
    and may log ``run.log_metric("accuracy", v)`` and
    ``run.log_latency(seconds)``. Each configuration is stored as a run of
    ``project`` tagged with its grid values::

        def infer(run, batch):
            model.predict(data[:batch])
            run.add_units(batch, "sample")

        result = wattprint.bench(infer, grid={"batch": [16, 32]}, repeat=5)
        for config in result.configs:
            print(config.label, config.energy_j_per_unit, config.throughput_per_s)

    Args:
        fn: the work of one repetition.
        grid: dimension -> values (any objects; tags hold their text).
        warmup: unmeasured repetitions first.
        repeat: measured repetitions.
        project: project the runs are stored in.
        name: prefix of the runs' names (default: the function's name).
        phase: the runs' life-cycle phase.
        devices: ``CUDA_VISIBLE_DEVICES`` while measuring (indices or GPU/MIG UUIDs).
        interval_s: sampling interval, s.
        sensors: sensor names to use (default: detect).
        home: store directory.
        tags: extra tags for every run.

    Returns:
        A :class:`BenchResult`; :func:`wattprint.decide.bench_report.bench_document`
        turns it into the report's JSON document.

    Raises:
        ConfigError: invalid counts, devices or settings.
    """
    settings = load_settings({"project": project, "interval_s": interval_s,
                              "sensors": list(sensors) if sensors is not None else None,
                              "home": home})
    options = BenchOptions(warmup=warmup, repeat=repeat,
                           devices=parse_devices(devices) if devices is not None else None,
                           name=name, phase=phase, tags=dict(tags or {}))
    return run_bench(fn, grid, options, settings)


__all__ = ["BenchOptions", "Target", "bench", "run_bench", "run_configuration"]
