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

Per configuration the harness derives (see :class:`ConfigResult`):

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

import hashlib
import itertools
import json
import logging
import math
import os
import platform
import re
import shlex
import string
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from wattprint.config import Settings, load_settings
from wattprint.errors import ConfigError
from wattprint.run import Tracker, sensor_context
from wattprint.signals import child_outcome

log = logging.getLogger(__name__)

#: Marker lines a benchmarked command prints on its standard output.
UNITS_MARKER = "WATTPRINT_UNITS"
METRIC_MARKER = "WATTPRINT_METRIC"
LATENCY_MARKER = "WATTPRINT_LATENCY_S"
#: The unit of a ``WATTPRINT_UNITS`` line without one, and of ``run.add_units(n)``.
DEFAULT_UNIT = "sample"
#: What a configuration is charged per when its program reports no units.
REPETITION_UNIT = "repetition"
#: The grid dimension that chooses the GPUs (``CUDA_VISIBLE_DEVICES``).
DEVICES_DIMENSION = "devices"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNIT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


# -- the grid -------------------------------------------------------------------------------

def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """The grid of ``--grid name=v1,v2`` items, in the order given.

    Raises:
        ConfigError: an item without ``=``, a name that is not an identifier
            (letters, digits, ``_``), a name given twice, an empty value or a
            value repeated within a dimension.
    """
    grid: dict[str, list[str]] = {}
    for item in items:
        name, sep, values_text = item.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"--grid {item!r} must be NAME=V1,V2,... (e.g. --grid batch=16,32)")
        if not _NAME.match(name):
            raise ConfigError(f"--grid {item!r}: the name {name!r} must be letters, digits and _ "
                              "(not starting with a digit), as in {name} placeholders")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice; give all its values in one "
                              f"--grid {name}=V1,V2,...")
        values = [v.strip() for v in values_text.split(",")]
        if any(not v for v in values):
            raise ConfigError(f"--grid {item!r} has an empty value; values are separated by "
                              "single commas")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"--grid {name} repeats the value(s) {', '.join(repeated)}")
        grid[name] = values
    return grid


def configurations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every configuration of ``grid``: the cartesian product, the last dimension fastest.

    An empty grid has one configuration, the empty one.
    """
    names = list(grid)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(list(grid[n]) for n in names))]


def placeholders(template: Sequence[str]) -> list[str]:
    """The ``{name}`` placeholders of a command template, in order of first use.

    Raises:
        ConfigError: a malformed placeholder (an unmatched brace) or one with
            a format spec or conversion; write ``{{`` and ``}}`` for braces.
    """
    found: list[str] = []
    for arg in template:
        try:
            parsed = list(string.Formatter().parse(arg))
        except ValueError as exc:
            raise ConfigError(f"the command argument {arg!r} has an unmatched brace ({exc}); "
                              "write {{ and }} for literal braces") from exc
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if not _NAME.match(name) or spec or conversion:
                raise ConfigError(f"the command argument {arg!r} has the placeholder "
                                  f"{{{name}{'!' + conversion if conversion else ''}"
                                  f"{':' + spec if spec else ''}}}; placeholders are grid names, "
                                  "such as {batch}")
            if name not in found:
                found.append(name)
    return found


def check_template(template: Sequence[str], grid: Mapping[str, Sequence[Any]]) -> None:
    """Check that every placeholder of ``template`` names a grid dimension.

    A dimension the template does not use is allowed (``devices`` sets
    ``CUDA_VISIBLE_DEVICES``; another may be read from the environment as
    ``WATTPRINT_BENCH_<NAME>``).

    Raises:
        ConfigError: a placeholder that names no dimension.
    """
    unknown = [n for n in placeholders(template) if n not in grid]
    if unknown:
        known = ", ".join(grid) or "none"
        raise ConfigError(f"the command uses {', '.join('{' + n + '}' for n in unknown)}, "
                          f"which no --grid defines (grid names: {known})")


def fill_command(template: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """The command of one configuration: each argument with its placeholders filled."""
    return [arg.format_map({k: str(v) for k, v in params.items()}) for arg in template]


def parse_devices(value: str) -> str:
    """Check a ``--devices`` value: GPU indices, or GPU or MIG UUIDs, comma-separated.

    Returns:
        The value as ``CUDA_VISIBLE_DEVICES`` takes it (entries stripped).

    Raises:
        ConfigError: an empty entry, an entry that is neither an index nor a
            ``GPU-``/``MIG-`` UUID, a list mixing indices and UUIDs, or a
            device given twice (CUDA would then show no device at all).
    """
    entries = [e.strip() for e in value.split(",")]
    kinds = set()
    for entry in entries:
        if entry.isdigit():
            kinds.add("index")
        elif entry.upper().startswith(("GPU-", "MIG-")) and len(entry) > 4:
            kinds.add(entry[:4].upper())
        else:
            raise ConfigError(f"--devices {value!r}: {entry!r} is neither a GPU index nor a "
                              "GPU-/MIG- UUID (as CUDA_VISIBLE_DEVICES takes them)")
    if len(kinds) > 1:
        raise ConfigError(f"--devices {value!r} mixes kinds of entries; CUDA reads a list of "
                          "indices, of GPU UUIDs or of MIG UUIDs, and stops at the first other")
    if len({e.upper() for e in entries}) < len(entries):
        raise ConfigError(f"--devices {value!r} names a device twice (CUDA would then show "
                          "no device at all)")
    return ",".join(entries)


# -- what the program reports -----------------------------------------------------------------

def parse_marker(line: str) -> tuple[str, str, float] | None:
    """A marker line of a benchmarked command as ``(kind, name, value)``, else ``None``.

    ``WATTPRINT_UNITS 512 token`` gives ``("units", "token", 512.0)``;
    ``WATTPRINT_METRIC accuracy 0.91`` gives ``("metric", "accuracy", 0.91)``;
    ``WATTPRINT_LATENCY_S 0.012`` gives ``("latency", "", 0.012)``. A
    malformed marker line is logged as a warning and ignored.
    """
    words = line.split()
    if not words or words[0] not in (UNITS_MARKER, METRIC_MARKER, LATENCY_MARKER):
        return None
    marker, args = words[0], words[1:]
    try:
        if marker == UNITS_MARKER and len(args) in (1, 2):
            unit = args[1] if len(args) == 2 else DEFAULT_UNIT
            n = float(args[0])
            if _UNIT.match(unit) and math.isfinite(n) and n >= 0:
                return "units", unit, n
        elif marker == METRIC_MARKER and len(args) == 2 and _UNIT.match(args[0]):
            value = float(args[1])
            if math.isfinite(value):
                return "metric", args[0], value
        elif marker == LATENCY_MARKER and len(args) == 1:
            latency_s = float(args[0])
            if math.isfinite(latency_s) and latency_s >= 0:
                return "latency", "", latency_s
    except ValueError:
        pass
    log.warning("ignored a malformed %s line: %r (expected %s)", marker, line.strip(), {
        UNITS_MARKER: f"{UNITS_MARKER} <n >= 0> [unit]",
        METRIC_MARKER: f"{METRIC_MARKER} <name> <number>",
        LATENCY_MARKER: f"{LATENCY_MARKER} <seconds >= 0>"}[marker])
    return None


class BenchRun:
    """What a benchmarked callable reports during one repetition (``fn(run, **params)``).

    In a measured repetition, units and metrics also go to the tracked run
    of the configuration (``wattprint show`` lists them); in a warm-up they
    are dropped with the warm-up.

    Attributes:
        params: this configuration's grid values.
        repetition: ``0`` for a warm-up, else 1, 2, ... for the measured ones.
    """

    def __init__(self, params: Mapping[str, Any], repetition: int,
                 tracker: Tracker | None = None) -> None:
        """One repetition's recorder; ``tracker`` is ``None`` in a warm-up."""
        self.params = dict(params)
        self.repetition = repetition
        self._tracker = tracker
        self.units: dict[str, float] = {}
        self.metrics: dict[str, float] = {}
        self.latencies_s: list[float] = []

    def add_units(self, n: float, unit: str = DEFAULT_UNIT) -> None:
        """Count ``n`` units of work (samples, tokens, requests) done in this repetition.

        Raises:
            ValueError: ``n`` is negative or not finite.
        """
        n = float(n)
        if not math.isfinite(n) or n < 0:
            raise ValueError(f"the number of units must be finite and >= 0, not {n!r}")
        self.units[unit] = self.units.get(unit, 0.0) + n
        if self._tracker is not None:
            self._tracker.add_units(n, unit)

    def log_metric(self, name: str, value: float) -> None:
        """Record a quality metric (accuracy, BLEU...) of this repetition; the last one counts."""
        self.metrics[name] = float(value)
        if self._tracker is not None:
            self._tracker.log_metric(name, float(value), step=self.repetition)

    def log_latency(self, latency_s: float) -> None:
        """Record the latency of one unit (a request, a sample), seconds.

        Raises:
            ValueError: a negative or non-finite latency.
        """
        latency_s = float(latency_s)
        if not math.isfinite(latency_s) or latency_s < 0:
            raise ValueError(f"a latency must be finite and >= 0 s, not {latency_s!r}")
        self.latencies_s.append(latency_s)

    def record_line(self, line: str) -> None:
        """Take a marker line of the command's output (other lines are ignored)."""
        marker = parse_marker(line)
        if marker is None:
            return
        kind, name, value = marker
        if kind == "units":
            self.add_units(value, name)
        elif kind == "metric":
            self.log_metric(name, value)
        else:
            self.log_latency(value)


# -- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Repetition:
    """One measured repetition of a configuration.

    Attributes:
        index: 1, 2, ... in the order run.
        duration_s: its wall time, s.
        units: units of work reported, by unit.
        metrics: the last value of each quality metric reported.
        latencies_s: per-unit latencies reported, s.
        exit_code: the command's exit code (0 for a callable that returned).
        energy_j: the energy of the run's intervals inside the repetition
            (an interval across its edge split in proportion to time), J.
    """

    index: int
    duration_s: float
    units: dict[str, float]
    metrics: dict[str, float]
    latencies_s: list[float]
    exit_code: int
    energy_j: float | None = None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between sorted values.

    Numpy's default (Hyndman and Fan's type 7): the sorted values sit at
    ranks 0..n-1 and the percentile at rank ``(n - 1) × q / 100``.
    ``None`` for no values.
    """
    if not values:
        return None
    xs = sorted(float(v) for v in values)
    rank = (len(xs) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (rank - low) * (xs[high] - xs[low])


@dataclass
class ConfigResult:
    """One configuration's outcome and figures (all ``None`` where not defined).

    Attributes:
        params: the grid values.
        label: ``batch=16 precision=fp32``.
        run_id: the stored run of its measured repetitions (``None`` if it
            never started: a failed warm-up).
        status: ``finished``, ``failed``, ``interrupted`` or ``terminated``.
        exit_code: the first non-zero exit code, else 0.
        error: why it failed, if it did.
        repetitions: the measured repetitions that ran.
        energy_j: the run's energy (under its attribution rule), J.
        duration_s: the run's wall time, s.
        basis: ``measured``, ``estimated``, ``mixed`` or ``none`` (no sensor).
        unit: the unit of work (the first reported, else ``repetition``).
        units: units of that kind done in the measured repetitions.
        energy_j_per_unit: J per unit.
        throughput_per_s: units per second of repetition wall time.
        latency_p50_s: median latency, s.
        latency_p99_s: 99th-percentile latency, s.
        latency_basis: ``per unit (reported)`` or ``per repetition (wall time)``.
        mean_power_w: the run's energy over its duration, W.
        metrics: each quality metric, the mean of its last value per repetition.
        devices: the run's devices (as :meth:`DeviceEnergy.as_dict` gives them).
        hardware: the hardware fingerprint (:func:`hardware_fingerprint`).
    """

    params: dict[str, Any]
    label: str
    run_id: str | None = None
    status: str = "finished"
    exit_code: int = 0
    error: str | None = None
    repetitions: list[Repetition] = field(default_factory=list)
    energy_j: float | None = None
    duration_s: float | None = None
    basis: str = "none"
    unit: str = REPETITION_UNIT
    units: float | None = None
    energy_j_per_unit: float | None = None
    throughput_per_s: float | None = None
    latency_p50_s: float | None = None
    latency_p99_s: float | None = None
    latency_basis: str | None = None
    mean_power_w: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    devices: list[dict[str, Any]] = field(default_factory=list)
    hardware: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every repetition succeeded."""
        return self.status == "finished"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (base SI units, full precision)."""
        out = {k: v for k, v in vars(self).items() if k != "repetitions"}
        out["params"] = {k: str(v) for k, v in self.params.items()}
        out["repetitions"] = [vars(r) for r in self.repetitions]
        return out


def derive(result: ConfigResult) -> None:
    """Fill ``result``'s per-unit figures from its repetitions, energy and duration."""
    reps = result.repetitions
    if not reps:
        return
    reported = [u for r in reps for u in r.units]
    result.unit = reported[0] if reported else REPETITION_UNIT
    units = (sum(r.units.get(result.unit, 0.0) for r in reps) if reported
             else float(len(reps)))
    work_s = sum(r.duration_s for r in reps)
    result.units = units
    if result.energy_j is not None and units > 0:
        result.energy_j_per_unit = result.energy_j / units
    result.throughput_per_s = units / work_s if work_s > 0 else None
    latencies = [x for r in reps for x in r.latencies_s]
    result.latency_basis = ("per unit (reported)" if latencies
                            else "per repetition (wall time)")
    sample = latencies or [r.duration_s for r in reps]
    result.latency_p50_s = percentile(sample, 50)
    result.latency_p99_s = percentile(sample, 99)
    if result.energy_j is not None and result.duration_s:
        result.mean_power_w = result.energy_j / result.duration_s
    names = list(dict.fromkeys(n for r in reps for n in r.metrics))
    result.metrics = {n: sum(r.metrics[n] for r in reps if n in r.metrics)
                      / sum(1 for r in reps if n in r.metrics) for n in names}


@dataclass
class BenchResult:
    """A whole benchmark: its grid, settings and every configuration's result.

    Attributes:
        bench_id: this benchmark's id (the ``bench.id`` tag of its runs).
        project: the project its runs are stored in.
        target: the command template, or the callable's qualified name.
        grid: the grid, dimension -> values.
        warmup: warm-up repetitions per configuration.
        repeat: measured repetitions per configuration.
        configs: the configurations' results, in the order run.
    """

    bench_id: str
    project: str
    target: str
    grid: dict[str, list[Any]]
    warmup: int
    repeat: int
    configs: list[ConfigResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ConfigResult]:
        """The configurations that did not finish."""
        return [c for c in self.configs if not c.ok]


# -- the hardware fingerprint ---------------------------------------------------------------

_NVIDIA_VERSION = re.compile(r"Kernel Module(?: for \S+)?\s+(\d[\w.-]*)")


def gpu_driver(proc_root: Path = Path("/proc"), sys_root: Path = Path("/sys")) -> str | None:
    """The GPU driver version: NVIDIA's kernel module, else amdgpu's, else ``None``."""
    try:
        match = _NVIDIA_VERSION.search((proc_root / "driver/nvidia/version").read_text())
        if match:
            return f"nvidia {match.group(1)}"
    except OSError:
        pass
    try:
        version = (sys_root / "module/amdgpu/version").read_text().strip()
        if version:
            return f"amdgpu {version}"
    except OSError:
        pass
    return None


def hardware_fingerprint(gpu_names: Sequence[str], *, cpu_model: str | None = None,
                         driver: str | None = None, host: str | None = None) -> dict[str, Any]:
    """What the results were measured on, and short ids to group by.

    Args:
        gpu_names: the names of the GPUs measured (order does not matter).
        cpu_model: the CPU model (default: this machine's).
        driver: the GPU driver (default: :func:`gpu_driver`).
        host: the host name (default: this machine's); only its hash is kept.

    Returns:
        ``cpu_model``, ``gpus`` (sorted), ``gpu_driver``, ``host_hash`` (the
        first 12 hex digits of the SHA-256 of the host name) and ``id``: the
        first 12 hex digits of the SHA-256 of the other four, so two machines
        of the same make still differ by host, and one machine keeps its id.
    """
    from wattprint.hostinfo import cpu_model as read_cpu_model

    facts: dict[str, Any] = {
        "cpu_model": cpu_model if cpu_model is not None else read_cpu_model(),
        "gpus": sorted(gpu_names),
        "gpu_driver": driver if driver is not None else gpu_driver(),
        "host_hash": hashlib.sha256((host if host is not None else platform.node())
                                    .encode()).hexdigest()[:12],
    }
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"))
    facts["id"] = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return facts


# -- running ----------------------------------------------------------------------------------

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


__all__ = ["DEFAULT_UNIT", "DEVICES_DIMENSION", "LATENCY_MARKER", "METRIC_MARKER",
           "REPETITION_UNIT", "UNITS_MARKER", "BenchOptions", "BenchResult", "BenchRun",
           "ConfigResult", "Repetition", "bench", "check_template", "configurations", "derive",
           "fill_command", "gpu_driver", "hardware_fingerprint", "label_of", "parse_devices",
           "parse_grid", "parse_marker", "percentile", "placeholders", "run_bench",
           "run_configuration"]
