"""The sampler: one background thread turning sensor readings into energy intervals.

Every tick (default 1 s, down to 10 ms) the sampler reads every sensor once,
on a monotonic clock, and turns each device's reading into the energy of the
interval since its previous good reading:

* **counter devices** (RAPL, NVML total energy): ``delta = now - before``.
  A counter that went down has wrapped: with a known wrap range
  (``max_energy_j``, from RAPL's ``max_energy_range_uj``) the delta is
  ``now + range - before`` — one wrap per interval, which holds as long as
  the interval is shorter than the time the device needs to burn through the
  whole range (about 20 minutes for a RAPL package at 200 W). With no known
  range, or a delta larger than the range, the interval is dropped and
  recorded as a gap: never a negative or absurd number.
* **power devices** (NVML power polling, power models): the trapezoid rule
  over the two readings. A power model whose watts are the mean since its
  previous read (``extra["power_reading"] == "mean-since-previous-read"``)
  takes its baseline when it opens and may give no value at the first tick;
  it is then counted from that tick on, its first value charged over the
  first interval, so every device covers the run from its first moment.

A failed read leaves a *gap* (recorded with its reason, never 0 J); for a
counter device the next good read recovers the whole energy since the last
good one, for a power device the span across the gap is interpolated
linearly and the gap stays recorded. A read fails when the sensor says so
(:attr:`~wattprint.sensors.base.Reading.failure`), leaves the device out, or
returns something that is not a finite, non-negative number.

Failures are counted here, once for every sensor: after
:data:`MAX_CONSECUTIVE_FAILURES` failed reads of a device in a row (or at
once for a failure the sensor marks permanent) the device is dropped for the
rest of the run with one warning, and its gap runs to the end (except a
device read from a poller of its own, the BMC's node power, whose gaps close
when it answers again). A sensor whose
``read`` raises is broken as a whole and dropped at once, with one warning;
its devices' gaps carry the error. Any other exception inside a tick becomes
a gap for the devices concerned, with the error as the reason, and sampling
goes on: tracking never ends the work it tracks, nor itself.

Wall-clock (UTC) times are derived from one wall-clock reading at start plus
the monotonic clock, so intervals never overlap or jump with NTP changes.
Each device's energy is attributed to the tracked process tree (see
:mod:`wattprint.attribution`); both whole-device and attributed energy are
handed to the sink, which writes them to the store as they are taken. The
rule each interval actually followed, fallbacks included, is counted per
device in :attr:`Sampler.rules_applied`.

In a distributed job a *gate* (:class:`MeasureGate`, the election of
:mod:`wattprint.distributed`) says at each tick which devices this process
measures. The others are still read, to keep a baseline, but their
intervals are neither emitted nor counted, and their failed reads are no
gaps of this run. When a device is taken over, its first interval starts at
the last reading at or after the time the previous measurer measured up to
(:meth:`MeasureGate.handover_t`), so the two never overlap.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from wattprint.attribution import (
    CPU_KINDS,
    CPU_TIME_SHARE,
    CPU_TIME_SHARE_UNKNOWN,
    MIG_SLICE_SHARE,
    NVML_PROCESS,
    WHOLE_DEVICE,
    WHOLE_DEVICE_FOREIGN_PIDS,
    CpuShare,
    ProcessTree,
    RuleCounter,
)
from wattprint.records import DeviceInfo, Gap, IntervalRecord
from wattprint.sensors.base import (
    EXTRA_POWER_READING,
    MEAN_SINCE_PREVIOUS_READ,
    DeviceDropper,
    ProcessEnergySource,
    Reading,
    Sensor,
    ShareRuleSource,
)
from wattprint.sensors.node_power import EXTRA_FAILURES, POLLED

__all__ = ["MAX_CONSECUTIVE_FAILURES", "MIN_INTERVAL_S", "SHARE_PERIOD_S", "EnergyIntegrator",
           "Gap", "IntervalSink", "MeasureGate", "Sampler", "read_failure"]

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.01
#: shortest span a CPU-time share is measured over (see :mod:`wattprint.attribution`)
SHARE_PERIOD_S = 0.5
#: failed reads of a device in a row after which it is dropped for the run
MAX_CONSECUTIVE_FAILURES = 10
#: why a device left out of a sensor's answer has no interval
READ_FAILED = "read failed"


def read_failure(reading: object, counter: bool) -> str | None:
    """Why ``reading`` gives no usable value, or ``None`` if it does.

    Args:
        reading: what the sensor returned for the device (``None`` if it left
            the device out).
        counter: whether the device is a counter (joules) or a power device (watts).

    Returns:
        The sensor's own failure, ``"read failed"``, or ``"invalid reading
        ..."`` for anything but a finite, non-negative number; ``None`` for a
        usable reading.
    """
    if reading is None:
        return READ_FAILED
    if not isinstance(reading, Reading):
        return f"invalid reading {reading!r}"
    value = reading.energy_j if counter else reading.power_w
    if value is None:
        return reading.failure or READ_FAILED
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"invalid reading {value!r}"
    if not math.isfinite(value) or value < 0:  # NaN, infinite or negative: a broken reading
        return f"invalid reading {value!r}"
    return None


class EnergyIntegrator:
    """Turns one device's raw readings into interval energies (the one place for deltas)."""

    def __init__(self, device: DeviceInfo) -> None:
        self.device = device
        self._last_value: float | None = None
        self._last_t: float | None = None
        #: when the sensor took its baseline without giving a value (see :meth:`baseline`)
        self.baseline_t: float | None = None

    @property
    def last_t(self) -> float | None:
        """Monotonic time of the last good reading (``None`` before the first)."""
        return self._last_t

    @property
    def mean_since_previous(self) -> bool:
        """Whether the device's watts are the mean since the previous read (a model)."""
        return (not self.device.counter
                and self.device.extra.get(EXTRA_POWER_READING) == MEAN_SINCE_PREVIOUS_READ)

    def baseline(self, t: float) -> bool:
        """Note that the sensor took its baseline at ``t`` but gave no value yet.

        Only a device whose watts are the mean since the previous read can be
        counted from a baseline: its first value then covers the span since
        ``t`` (rectangle rule for that first interval).

        Returns:
            Whether the baseline was accepted (no interval was formed before).
        """
        if not self.mean_since_previous or self._last_t is not None:
            return False
        self.baseline_t = t
        return True

    def update(self, reading: Reading | None, t: float) -> tuple[float, float, float] | str:
        """Feed a reading taken at monotonic time ``t``.

        Returns:
            ``(t_start, t_end, energy_j)`` for the interval since the last good
            reading, or a string giving why no interval could be formed (the
            first reading, a failed read, an impossible counter step).
        """
        failure = read_failure(reading, self.device.counter)
        if failure is not None or reading is None:
            return failure or READ_FAILED
        value = reading.energy_j if self.device.counter else reading.power_w
        assert value is not None  # read_failure checked it
        return self.advance(float(value), t)

    def advance(self, value: float, t: float) -> tuple[float, float, float] | str:
        """Feed a value already checked by :func:`read_failure` (see :meth:`update`)."""
        last_value, last_t = self._last_value, self._last_t
        self._last_value, self._last_t = value, t
        if last_value is None or last_t is None:
            since, self.baseline_t = self.baseline_t, None
            if since is not None and t > since:  # the first mean covers the span since the baseline
                return (since, t, value * (t - since))
            return "first reading"
        dt = t - last_t
        if dt <= 0:
            return "no time elapsed"
        if not self.device.counter:
            return (last_t, t, (last_value + value) / 2.0 * dt)
        delta = value - last_value
        wrap = self.device.max_energy_j
        if delta < 0:
            if wrap is None or wrap <= 0:
                return "counter went down and its wrap range is unknown; interval dropped"
            delta += wrap
        if wrap is not None and delta > wrap:
            return "counter step larger than its wrap range; interval dropped"
        return (last_t, t, delta)


IntervalSink = Callable[[Sequence[IntervalRecord], Sequence[Gap]], None]


class MeasureGate(Protocol):
    """Which devices this process measures, tick by tick (one measurer per device in a job)."""

    def claim(self) -> frozenset[str]:
        """The ids of the devices this process measures from this tick on."""
        ...

    def handover_t(self, device_id: str) -> float | None:
        """Monotonic time up to which the device's previous measurer measured it, if any."""
        ...

    def mark(self, t_mono: float) -> None:
        """Record that this process measured its devices up to ``t_mono``."""
        ...


class Sampler:
    """Polls sensors on a background thread and emits attributed intervals.

    Args:
        sensors: opened sensors.
        sink: called from the sampler thread with each tick's intervals and
            gaps (the run writes them to the store). Its exceptions are logged
            once and otherwise ignored: tracking never hurts the workload.
        interval_s: sampling period (>= 0.01 s).
        root_pid: root of the process tree energy is attributed to.
        monotonic: monotonic clock (injectable for tests).
        wall: wall clock, UTC epoch seconds (injectable for tests).
        busy_fn: cumulative busy CPU seconds of the scope the CPU power covers
            (default the whole machine; a container's cgroup when modelled so).
        max_consecutive_failures: failed reads of a device in a row after
            which it is dropped for the run.
        gate: which devices this process measures at each tick (a distributed
            job's election); ``None`` measures every device.
    """

    def __init__(
        self,
        sensors: Sequence[Sensor],
        sink: IntervalSink,
        *,
        interval_s: float = 1.0,
        root_pid: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        busy_fn: Callable[[], float | None] | None = None,
        max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES,
        gate: MeasureGate | None = None,
    ) -> None:
        if interval_s < MIN_INTERVAL_S:
            raise ValueError(f"interval_s must be at least {MIN_INTERVAL_S} s")
        if max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be at least 1")
        self.sensors = list(sensors)
        self.sink = sink
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._mono0 = monotonic()
        self._wall0 = wall()
        self.devices: dict[str, DeviceInfo] = {}
        self._owner: dict[str, Sensor] = {}
        self._sensor_devices: list[tuple[Sensor, list[str]]] = []
        for sensor in self.sensors:
            ids: list[str] = []
            for device in sensor.devices():
                self.devices[device.id] = device
                self._owner[device.id] = sensor
                ids.append(device.id)
            self._sensor_devices.append((sensor, ids))
        self._integrators = {d: EnergyIntegrator(info) for d, info in self.devices.items()}
        self.tree = ProcessTree(root_pid) if root_pid is not None else None
        self._cpu_share = (CpuShare(self.tree, busy_fn, min_period_s=SHARE_PERIOD_S)
                           if self.tree is not None else None)
        #: each device's intended share rule (what the device row stores)
        self.share_rules: dict[str, str] = {d: self._default_rule(i) for d, i in
                                            self.devices.items()}
        #: the rules actually applied, interval by interval, fallbacks included
        self.rules_applied = RuleCounter()
        self._gap_since: dict[str, tuple[float, str]] = {}
        self._gpu_ids = [d for d, i in self.devices.items() if i.kind not in CPU_KINDS]
        self._has_process_source = bool(self._gpu_ids) and self.tree is not None and any(
            isinstance(sensor, ProcessEnergySource) for sensor in self.sensors)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_sensors: set[str] = set()
        self.max_consecutive_failures = max_consecutive_failures
        #: failed reads in a row per device (absent: the last read was good)
        self._failures: dict[str, int] = {}
        #: devices given up on for the rest of the run
        self.dropped: set[str] = set()
        self._tick_failed = False
        self._last_tick_t = self._mono0
        self._sink_failed = False
        self.paused = False
        #: running totals per device: [energy_j, attributed_j, covered_s]
        self.totals: dict[str, list[float]] = {d: [0.0, 0.0, 0.0] for d in self.devices}
        self.ticks = 0
        self.gate = gate
        self._claimed: set[str] = set()
        #: devices this process measured at some tick (all of them without a gate)
        self.ever_measured: set[str] = set() if gate is not None else set(self.devices)

    # -- rules --------------------------------------------------------------
    def _default_rule(self, device: DeviceInfo) -> str:
        if self.tree is None:
            return WHOLE_DEVICE
        if device.kind in CPU_KINDS:
            return CPU_TIME_SHARE
        per_process = isinstance(self._owner.get(device.id), ProcessEnergySource)
        if "mig_share" in device.extra or (per_process
                                           and device.extra.get("mig_mode") == "enabled"):
            return MIG_SLICE_SHARE
        return NVML_PROCESS if per_process else WHOLE_DEVICE

    def to_wall(self, t_mono: float) -> float:
        """UTC epoch seconds of a monotonic time."""
        return self._wall0 + (t_mono - self._mono0)

    # -- one tick -------------------------------------------------------------
    def _read_all(self, t: float) -> dict[str, Reading]:
        readings: dict[str, Reading] = {}
        for sensor, device_ids in self._sensor_devices:
            if sensor.name in self._failed_sensors or (
                    device_ids and all(d in self.dropped for d in device_ids)):
                continue
            try:
                readings.update(sensor.read())
            except Exception as exc:  # a broken sensor is dropped, never raised
                self._failed_sensors.add(sensor.name)
                log.warning("sensor %s failed and is no longer read: %s", sensor.name, exc)
                reason = f"sensor {sensor.name} failed: {type(exc).__name__}: {exc}"
                for device_id in device_ids:
                    if device_id not in self.dropped:
                        self._open_gap(device_id, t, reason)
                        self.dropped.add(device_id)
        return readings

    def _shares(self, gpu_ids: list[str]) -> tuple[dict[str, float], dict[str, str]]:
        """Per-process shares of the GPUs and the rule each followed."""
        shares: dict[str, float] = {}
        rules: dict[str, str] = {}
        if self.tree is None:
            return shares, rules
        pids = self.tree.pids()
        for sensor in self.sensors:
            if isinstance(sensor, ProcessEnergySource) and sensor.name not in self._failed_sensors:
                try:
                    shares.update(sensor.process_shares(pids))
                    if isinstance(sensor, ShareRuleSource):
                        rules.update(sensor.share_rules())
                except Exception:  # per-process accounting is optional
                    log.debug("process shares of %s failed", sensor.name, exc_info=True)
        return ({d: s for d, s in shares.items() if d in gpu_ids},
                {d: r for d, r in rules.items() if d in gpu_ids})

    def _sample_cpu_share(self, t: float) -> float | None:
        if self._cpu_share is None:
            return None
        try:
            return self._cpu_share.sample(t)
        except Exception:  # unknowable this tick: the whole device, as on the first tick
            log.debug("CPU-time share failed", exc_info=True)
            return None

    def _open_gap(self, device_id: str, t: float, reason: str) -> None:
        if device_id not in self._gap_since:
            self._gap_since[device_id] = (t, reason)

    def _failed_read(self, device_id: str, t: float, reason: str, permanent: bool) -> None:
        """Record a failed read: open the device's gap, count it, drop the device after too many."""
        self._open_gap(device_id, t, reason)
        count = self._failures.get(device_id, 0) + 1
        self._failures[device_id] = count
        # a device read from a poller of its own (a BMC) costs nothing to keep reading:
        # its failures stay gaps that close when it answers again, never a drop
        polled = self.devices[device_id].extra.get(EXTRA_FAILURES) == POLLED
        if not permanent and (polled or count < self.max_consecutive_failures):
            log.debug("device %s: %s (a gap)", device_id, reason)
            return
        self.dropped.add(device_id)
        since, first = self._gap_since[device_id]
        how = "at once" if permanent else f"after {count} failed reads in a row"
        self._gap_since[device_id] = (since, f"{first}; device dropped {how}")
        log.warning("%s (%s) dropped %s, last: %s; its energy is a gap for the rest of the run",
                    device_id, self.devices[device_id].name, how, reason)
        owner = self._owner.get(device_id)
        if isinstance(owner, DeviceDropper):
            try:
                owner.drop(device_id)
            except Exception:
                log.debug("sensor %s could not drop %s", owner.name, device_id, exc_info=True)

    def tick(self) -> tuple[list[IntervalRecord], list[Gap]]:
        """Read every sensor once and emit the intervals since the last tick.

        Public so that tests (and the idle measurement) can step the sampler
        deterministically without the thread. An error with one device
        becomes a gap for that device; the others go on.
        """
        t = self._monotonic()
        self._last_tick_t = t
        readings = self._read_all(t)
        cpu_share = self._sample_cpu_share(t)
        proc_shares, proc_rules = (self._shares(self._gpu_ids) if self._has_process_source
                                   else ({}, {}))
        intervals: list[IntervalRecord] = []
        gaps: list[Gap] = []
        claimed = self._claim()
        for device_id, integrator in self._integrators.items():
            if device_id in self.dropped:
                continue
            if claimed is not None and not self._measures(device_id, integrator, claimed,
                                                          readings.get(device_id), t):
                continue
            try:
                self._step(integrator, readings.get(device_id), t, cpu_share,
                           (proc_shares, proc_rules), intervals, gaps)
            except Exception as exc:  # never let one device end the tick, or the thread
                log.debug("sampling %s failed", device_id, exc_info=True)
                self._failed_read(device_id, t, f"sampler error: {type(exc).__name__}: {exc}",
                                  permanent=False)
        self.ticks += 1
        return intervals, gaps

    def _claim(self) -> frozenset[str] | None:
        """The devices the gate lets this process measure now (``None``: all, no gate)."""
        if self.gate is None:
            return None
        try:
            return self.gate.claim()
        except Exception:  # an election that fails keeps what it had
            log.debug("measurer election failed", exc_info=True)
            return frozenset(self._claimed)

    def _measures(self, device_id: str, integrator: EnergyIntegrator, claimed: frozenset[str],
                  reading: Reading | None, t: float) -> bool:
        """Whether to measure the device this tick; else only keep its baseline."""
        if device_id in claimed and device_id in self._claimed:
            return True
        if device_id in claimed:  # taken now: start where the previous measurer stopped
            self._claimed.add(device_id)
            self.ever_measured.add(device_id)
            try:
                handover = self.gate.handover_t(device_id) if self.gate is not None else None
            except Exception:
                handover = None
            last = integrator.last_t
            if handover is None or last is None or last >= handover:
                return True
        else:
            self._claimed.discard(device_id)
        if read_failure(reading, integrator.device.counter) is None:
            integrator.update(reading, t)  # a baseline only: never emitted nor counted
        return False

    def _step(self, integrator: EnergyIntegrator, reading: Reading | None, t: float,
              cpu_share: float | None,
              proc: tuple[Mapping[str, float], Mapping[str, str]],
              intervals: list[IntervalRecord], gaps: list[Gap]) -> None:
        """One device's part of a tick: a failed read, or an interval (closing its gap)."""
        device = integrator.device
        failure = read_failure(reading, device.counter)
        if failure is not None or reading is None:
            if self.ticks == 0 and integrator.baseline(t):
                return  # a model's baseline at the start: counted from here on its next value
            since = integrator.baseline_t
            if since is not None:  # no value since the baseline: the gap starts there
                integrator.baseline_t = None
                self._open_gap(device.id, since, failure or READ_FAILED)
            self._failed_read(device.id, t, failure or READ_FAILED,
                              permanent=isinstance(reading, Reading) and reading.permanent)
            return
        value = reading.energy_j if device.counter else reading.power_w
        assert value is not None  # read_failure checked it
        result = integrator.advance(float(value), t)
        self._failures.pop(device.id, None)  # a good read ends a run of failures
        if isinstance(result, str):
            if result != "first reading":
                self._open_gap(device.id, t, result)
            return
        t0, t1, energy_j = result
        if device.id in self._gap_since:
            since, reason = self._gap_since.pop(device.id)
            gaps.append(Gap(device.id, self.to_wall(since), self.to_wall(t1), reason))
        share, rule = self._share_for(device, cpu_share, *proc)
        record = IntervalRecord(device.id, self.to_wall(t0), self.to_wall(t1), energy_j,
                                energy_j * share, self.paused)
        intervals.append(record)
        self.rules_applied.add(device.id, rule, t1 - t0)
        if not self.paused:
            total = self.totals[device.id]
            total[0] += energy_j
            total[1] += record.attributed_j
            total[2] += t1 - t0

    def _share_for(self, device: DeviceInfo, cpu_share: float | None,
                   proc_shares: Mapping[str, float], proc_rules: Mapping[str, str]
                   ) -> tuple[float, str]:
        """The share of one interval and the rule actually applied (fallbacks named)."""
        rule = self.share_rules[device.id]
        if rule == CPU_TIME_SHARE:
            if cpu_share is None:
                return 1.0, CPU_TIME_SHARE_UNKNOWN
            return cpu_share, CPU_TIME_SHARE
        if device.id in proc_shares:
            # per-process shares are fractions of the whole board, MIG included
            return (max(0.0, min(1.0, proc_shares[device.id])),
                    proc_rules.get(device.id, NVML_PROCESS))
        if "mig_share" in device.extra:
            try:
                return max(0.0, min(1.0, float(device.extra["mig_share"]))), MIG_SLICE_SHARE
            except ValueError:
                return 1.0, WHOLE_DEVICE
        if proc_rules.get(device.id) == WHOLE_DEVICE_FOREIGN_PIDS:
            return 1.0, WHOLE_DEVICE_FOREIGN_PIDS
        return 1.0, WHOLE_DEVICE

    def _emit(self, intervals: Sequence[IntervalRecord], gaps: Sequence[Gap]) -> None:
        if intervals or gaps:
            try:
                self.sink(intervals, gaps)
            except Exception as exc:
                if not self._sink_failed:
                    self._sink_failed = True
                    log.warning("could not store energy intervals (tracking continues): %s", exc)
        if self.gate is not None:
            try:
                self.gate.mark(self._last_tick_t)
            except Exception:
                log.debug("marking the measured time failed", exc_info=True)

    def open_gaps(self) -> list[Gap]:
        """The gaps not closed yet (devices unread since), as if they ended now."""
        end = self.to_wall(self._monotonic())
        return [Gap(device_id, self.to_wall(since), end, reason)
                for device_id, (since, reason) in self._gap_since.items()]

    def _safe_tick(self) -> tuple[list[IntervalRecord], list[Gap]]:
        """:meth:`tick`, with an error of the sampler itself made a gap of every device."""
        try:
            return self.tick()
        except Exception as exc:
            if not self._tick_failed:
                self._tick_failed = True
                log.warning("sampling failed (recorded as a gap; sampling goes on): %s", exc,
                            exc_info=True)
            try:
                t = self._monotonic()
            except Exception:  # the clock itself failed: the gap starts at the last tick
                t = self._last_tick_t
            for device_id in self.devices:
                if device_id not in self.dropped:
                    self._open_gap(device_id, t, f"sampler error: {type(exc).__name__}: {exc}")
            return [], []

    # -- thread ---------------------------------------------------------------
    def prime(self) -> None:
        """Take the first reading (the baseline of the first interval)."""
        self._emit(*self._safe_tick())

    def _loop(self) -> None:
        next_t = self._monotonic() + self.interval_s
        while not self._stop.is_set():
            delay = next_t - self._monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            self._emit(*self._safe_tick())
            next_t += self.interval_s
            now = self._monotonic()
            if next_t < now:  # fell behind (suspended machine, overloaded host): skip ahead
                next_t = now + self.interval_s

    def start(self) -> None:
        """Prime the counters and start the background thread."""
        self.prime()
        self._thread = threading.Thread(target=self._loop, name="wattprint-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and emit the last partial interval and every open gap; idempotent."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        intervals, gaps = self._safe_tick()
        gaps.extend(self.open_gaps())
        self._gap_since.clear()
        self._emit(intervals, gaps)
