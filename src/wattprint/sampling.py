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
  over the two readings.

A failed read leaves a *gap* (recorded with its reason, never 0 J); for a
counter device the next good read recovers the whole energy since the last
good one, for a power device the span across the gap is interpolated
linearly and the gap stays recorded.

Wall-clock (UTC) times are derived from one wall-clock reading at start plus
the monotonic clock, so intervals never overlap or jump with NTP changes.
Each device's energy is attributed to the tracked process tree (see
:mod:`wattprint.attribution`); both whole-device and attributed energy are
handed to the sink, which writes them to the store as they are taken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from wattprint.attribution import (
    CPU_KINDS,
    CPU_TIME_SHARE,
    MIG_SLICE_SHARE,
    NVML_PROCESS,
    WHOLE_DEVICE,
    CpuShare,
    ProcessTree,
)
from wattprint.records import DeviceInfo, Gap, IntervalRecord
from wattprint.sensors.base import ProcessEnergySource, Reading, Sensor

__all__ = ["MIN_INTERVAL_S", "SHARE_PERIOD_S", "EnergyIntegrator", "Gap", "IntervalSink", "Sampler"]

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.01
#: shortest span a CPU-time share is measured over (see :mod:`wattprint.attribution`)
SHARE_PERIOD_S = 0.5


class EnergyIntegrator:
    """Turns one device's raw readings into interval energies (the one place for deltas)."""

    def __init__(self, device: DeviceInfo) -> None:
        self.device = device
        self._last_value: float | None = None
        self._last_t: float | None = None

    def update(self, reading: Reading | None, t: float) -> tuple[float, float, float] | str:
        """Feed a reading taken at monotonic time ``t``.

        Returns:
            ``(t_start, t_end, energy_j)`` for the interval since the last good
            reading, or a string giving why no interval could be formed (the
            first reading, a failed read, an impossible counter step).
        """
        value = None
        if reading is not None:
            value = reading.energy_j if self.device.counter else reading.power_w
        if value is None:
            return "read failed"
        if value != value or value < 0:  # NaN or negative: a broken reading
            return f"invalid reading {value!r}"
        last_value, last_t = self._last_value, self._last_t
        self._last_value, self._last_t = value, t
        if last_value is None or last_t is None:
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
    ) -> None:
        if interval_s < MIN_INTERVAL_S:
            raise ValueError(f"interval_s must be at least {MIN_INTERVAL_S} s")
        self.sensors = list(sensors)
        self.sink = sink
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._mono0 = monotonic()
        self._wall0 = wall()
        self.devices: dict[str, DeviceInfo] = {}
        self._owner: dict[str, Sensor] = {}
        for sensor in self.sensors:
            for device in sensor.devices():
                self.devices[device.id] = device
                self._owner[device.id] = sensor
        self._integrators = {d: EnergyIntegrator(info) for d, info in self.devices.items()}
        self.tree = ProcessTree(root_pid) if root_pid is not None else None
        self._cpu_share = (CpuShare(self.tree, busy_fn, min_period_s=SHARE_PERIOD_S)
                           if self.tree is not None else None)
        self.share_rules: dict[str, str] = {d: self._default_rule(i) for d, i in
                                            self.devices.items()}
        self._gap_since: dict[str, tuple[float, str]] = {}
        self._gpu_ids = [d for d, i in self.devices.items() if i.kind not in CPU_KINDS]
        self._has_process_source = bool(self._gpu_ids) and self.tree is not None and any(
            isinstance(sensor, ProcessEnergySource) for sensor in self.sensors)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_sensors: set[str] = set()
        self._sink_failed = False
        self.paused = False
        #: running totals per device: [energy_j, attributed_j, covered_s]
        self.totals: dict[str, list[float]] = {d: [0.0, 0.0, 0.0] for d in self.devices}
        self.ticks = 0

    # -- rules --------------------------------------------------------------
    def _default_rule(self, device: DeviceInfo) -> str:
        if self.tree is None:
            return WHOLE_DEVICE
        if device.kind in CPU_KINDS:
            return CPU_TIME_SHARE
        if isinstance(self._owner.get(device.id), ProcessEnergySource):
            return NVML_PROCESS
        if "mig_share" in device.extra:
            return MIG_SLICE_SHARE
        return WHOLE_DEVICE

    def to_wall(self, t_mono: float) -> float:
        """UTC epoch seconds of a monotonic time."""
        return self._wall0 + (t_mono - self._mono0)

    # -- one tick -------------------------------------------------------------
    def _read_all(self) -> dict[str, Reading]:
        readings: dict[str, Reading] = {}
        for sensor in self.sensors:
            if sensor.name in self._failed_sensors:
                continue
            try:
                readings.update(sensor.read())
            except Exception as exc:  # a broken sensor is dropped, never raised
                self._failed_sensors.add(sensor.name)
                log.warning("sensor %s failed and is no longer read: %s", sensor.name, exc)
        return readings

    def _shares(self, gpu_ids: list[str]) -> dict[str, float]:
        shares: dict[str, float] = {}
        if self.tree is None:
            return shares
        pids = self.tree.pids()
        for sensor in self.sensors:
            if isinstance(sensor, ProcessEnergySource) and sensor.name not in self._failed_sensors:
                try:
                    shares.update(sensor.process_shares(pids))
                except Exception:  # per-process accounting is optional
                    log.debug("process shares of %s failed", sensor.name, exc_info=True)
        return {d: s for d, s in shares.items() if d in gpu_ids}

    def tick(self) -> tuple[list[IntervalRecord], list[Gap]]:
        """Read every sensor once and emit the intervals since the last tick.

        Public so that tests (and the idle measurement) can step the sampler
        deterministically without the thread.
        """
        t = self._monotonic()
        readings = self._read_all()
        cpu_share = self._cpu_share.sample(t) if self._cpu_share is not None else None
        proc_shares = self._shares(self._gpu_ids) if self._has_process_source else {}
        intervals: list[IntervalRecord] = []
        gaps: list[Gap] = []
        for device_id, integrator in self._integrators.items():
            result = integrator.update(readings.get(device_id), t)
            if isinstance(result, str):
                if result not in ("first reading",) and device_id not in self._gap_since:
                    self._gap_since[device_id] = (t, result)
                continue
            t0, t1, energy_j = result
            if device_id in self._gap_since:
                since, reason = self._gap_since.pop(device_id)
                gaps.append(Gap(device_id, self.to_wall(since), self.to_wall(t1), reason))
            share = self._share_for(self.devices[device_id], cpu_share, proc_shares)
            record = IntervalRecord(device_id, self.to_wall(t0), self.to_wall(t1), energy_j,
                                    energy_j * share, self.paused)
            intervals.append(record)
            if not self.paused:
                total = self.totals[device_id]
                total[0] += energy_j
                total[1] += record.attributed_j
                total[2] += t1 - t0
        self.ticks += 1
        return intervals, gaps

    def _share_for(self, device: DeviceInfo, cpu_share: float | None,
                   proc_shares: Mapping[str, float]) -> float:
        rule = self.share_rules[device.id]
        if rule == CPU_TIME_SHARE:
            return 1.0 if cpu_share is None else cpu_share
        if rule == NVML_PROCESS and device.id in proc_shares:
            # per-process shares are fractions of the whole board, MIG included
            return max(0.0, min(1.0, proc_shares[device.id]))
        if "mig_share" in device.extra:
            try:
                return max(0.0, min(1.0, float(device.extra["mig_share"])))
            except ValueError:
                return 1.0
        return 1.0

    def _emit(self, intervals: Sequence[IntervalRecord], gaps: Sequence[Gap]) -> None:
        if not intervals and not gaps:
            return
        try:
            self.sink(intervals, gaps)
        except Exception as exc:
            if not self._sink_failed:
                self._sink_failed = True
                log.warning("could not store energy intervals (tracking continues): %s", exc)

    # -- thread ---------------------------------------------------------------
    def prime(self) -> None:
        """Take the first reading (the baseline of the first interval)."""
        self._emit(*self.tick())

    def _loop(self) -> None:
        next_t = self._monotonic() + self.interval_s
        while not self._stop.is_set():
            delay = next_t - self._monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            self._emit(*self.tick())
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
        """Stop the thread and emit the last partial interval; idempotent."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        intervals, gaps = self.tick()
        end = self._monotonic()
        for device_id, (since, reason) in self._gap_since.items():
            gaps.append(Gap(device_id, self.to_wall(since), self.to_wall(end), reason))
        self._gap_since.clear()
        self._emit(intervals, gaps)
