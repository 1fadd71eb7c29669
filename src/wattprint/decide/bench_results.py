"""What a benchmark measured: repetitions, per-configuration results, and the hardware.

:class:`BenchRun` is what a benchmarked callable reports through;
:class:`ConfigResult` and :func:`derive` give a configuration's energy per
unit, throughput, latency and mean power; :func:`hardware_fingerprint` tells
the results of two machines apart. See :mod:`wattprint.decide.bench`.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattprint.decide.bench_grid import DEFAULT_UNIT, REPETITION_UNIT, parse_marker
from wattprint.run import Tracker


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


__all__ = ["BenchResult", "BenchRun", "ConfigResult", "Repetition", "derive", "gpu_driver",
           "hardware_fingerprint", "percentile"]
