from __future__ import annotations

import logging
import os
import threading

import pytest

from wattprint.records import Gap, IntervalRecord
from wattprint.sampling import EnergyIntegrator, Sampler
from wattprint.sensors.base import DeviceInfo, Reading
from wattprint.testing.sensors import FakeClock, ScriptedSensor


def collect() -> tuple[list[IntervalRecord], list[Gap], object]:
    intervals: list[IntervalRecord] = []
    gaps: list[Gap] = []

    def sink(i, g):  # type: ignore[no-untyped-def]
        intervals.extend(i)
        gaps.extend(g)

    return intervals, gaps, sink


def step(sampler: Sampler, clock: FakeClock, n: int, dt: float = 1.0) -> None:
    for _ in range(n):
        clock.advance(dt)
        sampler._emit(*sampler.tick())


def make(sensor: ScriptedSensor, clock: FakeClock):  # type: ignore[no-untyped-def]
    intervals, gaps, sink = collect()
    sampler = Sampler([sensor], sink, interval_s=1.0, monotonic=clock, wall=lambda: 1000.0)
    sampler.prime()
    return sampler, intervals, gaps


def test_counter_deltas_become_intervals_with_wall_times() -> None:
    clock = FakeClock(50.0)
    sampler, intervals, gaps = make(ScriptedSensor.counter("cpu", [10.0, 25.0, 45.5, 46.0]), clock)
    step(sampler, clock, 3)
    assert [i.energy_j for i in intervals] == [15.0, 20.5, 0.5]
    # wall time = wall at start (1000) + monotonic elapsed
    assert [(i.t_start, i.t_end) for i in intervals] == [(1000.0, 1001.0), (1001.0, 1002.0),
                                                         (1002.0, 1003.0)]
    assert gaps == []


def test_wrap_around_uses_max_energy_range() -> None:
    # range 1000 J: 900 -> 50 means 150 J (100 to the top, 50 after the wrap)
    clock = FakeClock()
    sampler, intervals, _ = make(
        ScriptedSensor.counter("cpu", [800.0, 900.0, 50.0, 120.0], max_energy_j=1000.0), clock)
    step(sampler, clock, 3)
    assert [i.energy_j for i in intervals] == [100.0, 150.0, 70.0]


def test_several_devices_wrapping_in_the_same_interval() -> None:
    clock = FakeClock()
    pkg = DeviceInfo("rapl:package-0", "cpu", "pkg", "rapl", True, True, 262.0)
    dram = DeviceInfo("rapl:dram-0", "dram", "dram", "rapl", True, True, 65.0)
    sensor = ScriptedSensor("rapl", {pkg.id: [250.0, 10.0, 20.0], dram.id: [60.0, 5.0, 6.0]},
                            {pkg.id: pkg, dram.id: dram})
    sampler, intervals, _ = make(sensor, clock)
    step(sampler, clock, 2)
    got = {(i.device_id, round(i.t_end - 1000)): i.energy_j for i in intervals}
    assert got[("rapl:package-0", 1)] == pytest.approx(262.0 - 250.0 + 10.0)
    assert got[("rapl:dram-0", 1)] == pytest.approx(65.0 - 60.0 + 5.0)
    assert got[("rapl:package-0", 2)] == pytest.approx(10.0)
    assert got[("rapl:dram-0", 2)] == pytest.approx(1.0)


def test_unknown_wrap_range_drops_the_interval_and_records_a_gap() -> None:
    clock = FakeClock()
    sampler, intervals, gaps = make(
        ScriptedSensor.counter("cpu", [500.0, 600.0, 20.0, 50.0], max_energy_j=None), clock)
    step(sampler, clock, 3)
    # 500->600 kept, 600->20 dropped (never negative), 20->50 kept
    assert [i.energy_j for i in intervals] == [100.0, 30.0]
    assert all(i.energy_j >= 0 for i in intervals)
    assert len(gaps) == 1 and "wrap range is unknown" in gaps[0].reason


def test_step_larger_than_range_is_dropped() -> None:
    integ = EnergyIntegrator(DeviceInfo("d", "cpu", "d", "x", True, True, 100.0))
    assert integ.update(Reading(energy_j=10.0), 0.0) == "first reading"
    assert integ.update(Reading(energy_j=5.0), 1.0) == (0.0, 1.0, 95.0)  # one wrap
    assert isinstance(integ.update(Reading(energy_j=500.0), 2.0), str)


def test_failed_read_is_a_gap_and_counter_recovers_the_energy() -> None:
    clock = FakeClock()
    sampler, intervals, gaps = make(
        ScriptedSensor.counter("gpu", [0.0, 10.0, None, None, 40.0]), clock)
    step(sampler, clock, 4)
    assert [i.energy_j for i in intervals] == [10.0, 30.0]
    # the second interval spans the gap: from t=1 to t=4
    assert (intervals[1].t_start, intervals[1].t_end) == (1001.0, 1004.0)
    assert len(gaps) == 1 and (gaps[0].t_start, gaps[0].t_end) == (1002.0, 1004.0)
    assert sum(i.energy_j for i in intervals) == 40.0  # nothing lost, nothing invented


def test_power_devices_integrate_with_the_trapezoid_rule() -> None:
    clock = FakeClock()
    sampler, intervals, _ = make(ScriptedSensor.power("gpu", [100.0, 200.0, 200.0]), clock)
    step(sampler, clock, 1, dt=2.0)
    step(sampler, clock, 1, dt=0.5)
    assert [i.energy_j for i in intervals] == [(100 + 200) / 2 * 2.0, 200.0 * 0.5]


def test_a_sensor_that_raises_is_dropped_without_raising() -> None:
    clock = FakeClock()
    good = ScriptedSensor.counter("cpu", [0.0, 5.0, 10.0], device_id="a:cpu", name="a")
    bad = ScriptedSensor.counter("gpu", [0.0, RuntimeError("driver gone"), 3.0],
                                 device_id="b:gpu", name="b")
    intervals, _, sink = collect()
    sampler = Sampler([good, bad], sink, monotonic=clock, wall=lambda: 0.0)
    sampler.prime()
    step(sampler, clock, 2)
    assert [(i.device_id, i.energy_j) for i in intervals] == [("a:cpu", 5.0), ("a:cpu", 5.0)]
    assert bad.reads == 2  # not read again after it failed


def test_a_failing_sink_never_raises() -> None:
    clock = FakeClock()

    def sink(i, g):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    sampler = Sampler([ScriptedSensor.counter("cpu", [0.0, 1.0])], sink, monotonic=clock)
    sampler.prime()
    clock.advance(1)
    sampler._emit(*sampler.tick())  # logged, not raised


def test_paused_intervals_are_flagged_and_excluded_from_totals() -> None:
    clock = FakeClock()
    sampler, intervals, _ = make(ScriptedSensor.counter("cpu", [0.0, 10.0, 30.0, 60.0]), clock)
    step(sampler, clock, 1)
    sampler.paused = True
    step(sampler, clock, 1)
    sampler.paused = False
    step(sampler, clock, 1)
    assert [i.paused for i in intervals] == [False, True, False]
    assert sampler.totals["fake:cpu-0"][0] == 10.0 + 30.0


def test_thread_runs_and_stops_leaving_no_thread() -> None:
    intervals, _, sink = collect()
    sensor = ScriptedSensor.counter("cpu", [float(i) for i in range(10_000)])
    sampler = Sampler([sensor], sink, interval_s=0.01, root_pid=os.getpid())
    sampler.start()
    threading.Event().wait(0.2)
    sampler.stop()
    sampler.stop()  # idempotent
    assert not [t for t in threading.enumerate() if t.name == "wattprint-sampler"]
    assert len(intervals) >= 5
    # each interval is one step of the scripted counter (1 J)
    assert all(i.energy_j == 1.0 for i in intervals)
    assert sampler.share_rules["fake:cpu-0"] == "cpu-time-share"
    assert all(0.0 <= i.attributed_j <= i.energy_j for i in intervals)


def test_interval_below_10ms_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.01"):
        Sampler([], lambda i, g: None, interval_s=0.001)


def test_cpu_share_uses_the_given_busy_counter() -> None:
    from wattprint.attribution import CpuShare, ProcessTree

    busy = iter([10.0, 14.0])
    tree_times = iter([1.0, 2.0])

    class Tree(ProcessTree):
        def cpu_s(self, now: float) -> float:
            return next(tree_times)

    share = CpuShare(Tree(os.getpid()), busy_fn=lambda: next(busy))
    assert share.sample(0.0) is None
    # the tree used 1 s of the container's 4 busy seconds
    assert share.sample(1.0) == 0.25


# --- failures: a gap with its reason, never an end to sampling ---------------------------


def test_a_sensor_that_raises_leaves_a_gap_with_the_error() -> None:
    clock = FakeClock()
    good = ScriptedSensor.counter("cpu", [0.0, 5.0, 10.0], device_id="a:cpu", name="a")
    bad = ScriptedSensor.counter("gpu", [0.0, RuntimeError("driver gone"), 3.0],
                                 device_id="b:gpu", name="b")
    sampler = Sampler([good, bad], lambda i, g: None, monotonic=clock, wall=lambda: 100.0)
    sampler.prime()
    step(sampler, clock, 2)
    assert sampler.open_gaps() == [Gap("b:gpu", 101.0, 102.0,
                                       "sensor b failed: RuntimeError: driver gone")]
    assert sampler.totals["a:cpu"][0] == 10.0  # 0 -> 5 -> 10: the other sensor goes on
    assert sampler.totals["b:gpu"][0] == 0.0


def test_garbage_readings_are_gaps_and_the_counter_recovers() -> None:
    clock = FakeClock()
    garbage = [0.0, 10.0, "12 J", -3.0, float("nan"), float("inf"), 40.0]
    sampler, intervals, gaps = make(ScriptedSensor.counter("gpu", garbage), clock)  # type: ignore[arg-type]
    step(sampler, clock, 6)
    # 0 -> 10 at t=1, then four broken reads, then 40 at t=6: 10 + 30 J, the counter's rise
    assert [(i.t_start, i.t_end, i.energy_j) for i in intervals] == [
        (1000.0, 1001.0, 10.0), (1001.0, 1006.0, 30.0)]
    assert gaps == [Gap("fake:gpu-0", 1002.0, 1006.0, "invalid reading '12 J'")]
    assert sampler.totals["fake:gpu-0"][0] == 40.0
    assert sampler.dropped == set()


def test_garbage_power_readings_are_bridged_by_the_trapezoid() -> None:
    clock = FakeClock()
    watts = [100.0, 100.0, "x", float("nan"), -5.0, 100.0]
    sampler, intervals, gaps = make(ScriptedSensor.power("gpu", watts), clock)  # type: ignore[arg-type]
    step(sampler, clock, 5)
    # 100 W for 1 s, then 100 W bridged over the 4 s of broken reads: 100 + 400 J
    assert [i.energy_j for i in intervals] == [100.0, 400.0]
    assert [g.reason for g in gaps] == ["invalid reading 'x'"]
    assert sampler.totals["fake:gpu-0"][0] == 500.0


def test_a_device_failing_n_times_in_a_row_is_dropped_with_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    flaky = ScriptedSensor.counter("gpu", [0.0, 5.0, None, None, None, 99.0], name="g")
    steady = ScriptedSensor.counter("cpu", [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0],
                                    name="c")
    sampler = Sampler([flaky, steady], lambda i, g: None, monotonic=clock, wall=lambda: 0.0,
                      max_consecutive_failures=3)
    with caplog.at_level(logging.WARNING, logger="wattprint.sampling"):
        sampler.prime()
        step(sampler, clock, 7)
    assert sampler.dropped == {"g:gpu-0"}
    assert flaky.reads == 5  # prime, the good read, three failures; then never again
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    # only the one good interval of the dropped device counts; the other went on to 14 J
    assert sampler.totals["g:gpu-0"][0] == 5.0
    assert sampler.totals["c:cpu-0"][0] == 14.0
    assert sampler.open_gaps() == [
        Gap("g:gpu-0", 2.0, 7.0, "read failed; device dropped after 3 failed reads in a row")]


def test_failures_not_in_a_row_never_drop_a_device() -> None:
    clock = FakeClock()
    script = [0.0, None, None, 10.0, None, None, 20.0, None, None, 30.0]
    intervals, gaps, sink = collect()
    sensor = ScriptedSensor.counter("gpu", script)
    sampler = Sampler([sensor], sink, monotonic=clock, wall=lambda: 0.0,
                      max_consecutive_failures=3)
    sampler.prime()
    step(sampler, clock, 9)
    assert sampler.dropped == set()
    assert [i.energy_j for i in intervals] == [10.0, 10.0, 10.0]
    assert [(g.t_start, g.t_end) for g in gaps] == [(1.0, 3.0), (4.0, 6.0), (7.0, 9.0)]


def test_an_error_inside_one_device_is_its_gap_and_the_others_go_on() -> None:
    clock = FakeClock()
    # a wrap range that is not a number makes the counter step raise TypeError
    broken = DeviceInfo("x:gpu", "gpu", "x", "x", True, True, "big")  # type: ignore[arg-type]
    sensor = ScriptedSensor("x", {"x:gpu": [10.0, 5.0, 6.0, 7.0]}, {"x:gpu": broken})
    steady = ScriptedSensor.counter("cpu", [0.0, 1.0, 2.0, 3.0], name="c")
    sampler = Sampler([sensor, steady], lambda i, g: None, monotonic=clock, wall=lambda: 0.0,
                      max_consecutive_failures=2)
    sampler.prime()
    step(sampler, clock, 3)
    [gap] = sampler.open_gaps()
    assert gap.device_id == "x:gpu" and gap.reason.startswith("sampler error: TypeError")
    assert gap.reason.endswith("device dropped after 2 failed reads in a row")
    assert sampler.totals["c:cpu-0"][0] == 3.0


class FlakyClock(FakeClock):
    """A clock that raises once when told to."""

    fail_next: bool = False

    def __call__(self) -> float:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("clock broke")
        return self.now


def test_an_error_of_the_whole_tick_is_a_gap_of_every_device(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FlakyClock()
    intervals, gaps, sink = collect()
    sensor = ScriptedSensor.counter("cpu", [0.0, 3.0, 7.0, 12.0])
    sampler = Sampler([sensor], sink, monotonic=clock, wall=lambda: 0.0)
    sampler.prime()
    step(sampler, clock, 1)
    clock.advance(1)
    clock.fail_next = True
    with caplog.at_level(logging.WARNING, logger="wattprint.sampling"):
        sampler._emit(*sampler._safe_tick())  # what the thread runs: never raises
    assert len(caplog.records) == 1
    step(sampler, clock, 1)
    # the counter recovers: 3 J, then 7 - 3 = 4 J over the failed tick and the next
    assert [i.energy_j for i in intervals] == [3.0, 4.0]
    assert gaps == [Gap("fake:cpu-0", 2.0, 3.0, "sampler error: RuntimeError: clock broke")]


def test_the_cpu_share_failing_falls_back_to_the_whole_device() -> None:
    clock = FakeClock()

    def busy() -> float:
        raise RuntimeError("no counters")

    intervals, _, sink = collect()
    sampler = Sampler([ScriptedSensor.counter("cpu", [0.0, 4.0])], sink, monotonic=clock,
                      root_pid=os.getpid(), busy_fn=busy)
    sampler.prime()
    step(sampler, clock, 1)
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [(4.0, 4.0)]


def test_the_thread_survives_garbage_and_keeps_sampling() -> None:
    intervals, gaps, sink = collect()
    script: list[object] = ["bad", "bad", "bad"] + [float(i) for i in range(10_000)]
    sensor = ScriptedSensor.counter("cpu", script)  # type: ignore[arg-type]
    sampler = Sampler([sensor], sink, interval_s=0.01)
    sampler.start()
    threading.Event().wait(0.2)
    assert [t for t in threading.enumerate() if t.name == "wattprint-sampler"]
    sampler.stop()
    assert len(intervals) >= 5 and all(i.energy_j == 1.0 for i in intervals)
    assert gaps and gaps[0].reason == "invalid reading 'bad'"


def test_a_node_kind_device_is_sampled_and_shared_by_cpu_time() -> None:
    clock = FakeClock()
    intervals, _, sink = collect()
    node = ScriptedSensor.power("node", [300.0, 300.0])
    sampler = Sampler([node], sink, monotonic=clock, root_pid=os.getpid())
    sampler.prime()
    step(sampler, clock, 1)
    assert sampler.share_rules["fake:node-0"] == "cpu-time-share"
    assert [i.energy_j for i in intervals] == [300.0]
