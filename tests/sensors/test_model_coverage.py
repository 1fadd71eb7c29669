"""The power-model CPU sensor covers a run from its first moment."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from wattprint.records import Gap, IntervalRecord
from wattprint.run import Tracker
from wattprint.sampling import Sampler
from wattprint.sensors import model
from wattprint.sensors.base import EXTRA_POWER_READING, MEAN_SINCE_PREVIOUS_READ, DeviceInfo
from wattprint.sensors.context import SensorContext
from wattprint.testing.sensors import FakeClock, ScriptedSensor

DATA = Path(__file__).resolve().parents[2] / "src" / "wattprint" / "data" / "hardware"


def ccf(architecture: str) -> tuple[float, float]:
    """(min, max) W/vCPU of one AWS architecture, read straight from the shipped table."""
    with (DATA / "ccf_cpu_coefficients.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["provider"] == "aws" and row["architecture"] == architecture:
                return float(row["min_w_per_vcpu"]), float(row["max_w_per_vcpu"])
    raise AssertionError(f"{architecture} not in the CCF table")


def write_stat(proc_root: Path, user: int, system: int, idle: int, cpus: int = 4) -> None:
    """/proc/stat where every CPU has the same (user, system, idle) jiffies."""
    lines = [f"cpu  {user * cpus} 0 {system * cpus} {idle * cpus} 0 0 0 0 0 0"]
    lines += [f"cpu{i} {user} 0 {system} {idle} 0 0 0 0 0 0" for i in range(cpus)]
    (proc_root / "stat").write_text("\n".join(lines) + "\nintr 0\n")


def host_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A 4-CPU Cascade Lake host without cgroup limits."""
    proc_root, sys_root = tmp_path / "proc", tmp_path / "sys"
    (proc_root / "self").mkdir(parents=True)
    (proc_root / "self/cgroup").write_text("0::/user.slice\n")
    (sys_root / "fs/cgroup/user.slice").mkdir(parents=True)
    (sys_root / "fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    (proc_root / "cpuinfo").write_text("".join(
        f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\n"
        f"physical id\t: 0\nsiblings\t: 4\ncpu cores\t: 2\n\n" for i in range(4)))
    (proc_root / "meminfo").write_text("MemTotal: 16777216 kB\nMemAvailable: 12582912 kB\n")
    write_stat(proc_root, 100, 100, 800)
    return sys_root, proc_root


def collect() -> tuple[list[IntervalRecord], list[Gap], object]:
    intervals: list[IntervalRecord] = []
    gaps: list[Gap] = []

    def sink(i, g):  # type: ignore[no-untyped-def]
        intervals.extend(i)
        gaps.extend(g)

    return intervals, gaps, sink


def mean_power_sensor(values: list[float | None]) -> ScriptedSensor:
    sensor = ScriptedSensor.power("cpu", values, measured=False)
    info = sensor.infos["fake:cpu-0"]
    sensor.infos["fake:cpu-0"] = DeviceInfo(
        info.id, info.kind, info.name, info.source, info.measured, info.counter,
        model=info.model, extra={EXTRA_POWER_READING: MEAN_SINCE_PREVIOUS_READ})
    return sensor


def test_model_cpu_declares_mean_power_since_the_previous_read(tmp_path: Path) -> None:
    sys_root, proc_root = host_tree(tmp_path)
    sensor = model.ModelSensor(SensorContext(sysfs_root=sys_root, proc_root=proc_root),
                               kinds=["cpu"], clock=FakeClock(10.0), affinity=range(4))
    assert sensor.devices()[0].extra["power_reading"] == "mean-since-previous-read"


def test_a_mean_power_device_without_a_first_value_is_counted_from_the_start() -> None:
    clock = FakeClock(50.0)
    intervals, gaps, sink = collect()
    sampler = Sampler([mean_power_sensor([None, 80.0, 100.0])], sink, interval_s=1.0,
                      monotonic=clock, wall=lambda: 1000.0)
    sampler.prime()
    for _ in range(2):
        clock.advance(1.0)
        sampler._emit(*sampler.tick())
    # first interval: 80 W over the whole first second; then the trapezoid (80+100)/2
    assert [(i.t_start, i.t_end, i.energy_j) for i in intervals] == [
        (1000.0, 1001.0, 80.0), (1001.0, 1002.0, 90.0)]
    assert gaps == []
    assert sampler.totals["fake:cpu-0"][2] == 2.0


def test_no_value_after_the_baseline_is_a_gap_from_the_start() -> None:
    clock = FakeClock(50.0)
    intervals, gaps, sink = collect()
    sampler = Sampler([mean_power_sensor([None, None, 60.0, 60.0])], sink, interval_s=1.0,
                      monotonic=clock, wall=lambda: 1000.0)
    sampler.prime()
    for _ in range(3):
        clock.advance(1.0)
        sampler._emit(*sampler.tick())
    assert [(i.t_start, i.t_end, i.energy_j) for i in intervals] == [(1002.0, 1003.0, 60.0)]
    assert [(g.t_start, g.t_end, g.reason) for g in gaps] == [(1000.0, 1003.0, "read failed")]


def test_an_instantaneous_power_device_still_needs_its_first_value() -> None:
    clock = FakeClock(50.0)
    intervals, gaps, sink = collect()
    sampler = Sampler([ScriptedSensor.power("gpu", [None, 80.0, 100.0])], sink,
                      interval_s=1.0, monotonic=clock, wall=lambda: 1000.0)
    sampler.prime()
    for _ in range(2):
        clock.advance(1.0)
        sampler._emit(*sampler.tick())
    assert [(i.t_start, i.t_end, i.energy_j) for i in intervals] == [(1001.0, 1002.0, 90.0)]
    assert [(g.t_start, g.t_end) for g in gaps] == [(1000.0, 1002.0)]


def test_model_sensor_read_before_a_jiffy_passed_is_covered_from_the_start(
        tmp_path: Path) -> None:
    sys_root, proc_root = host_tree(tmp_path)
    clock = FakeClock(10.0)
    sensor = model.ModelSensor(SensorContext(sysfs_root=sys_root, proc_root=proc_root),
                               kinds=["cpu"], clock=clock, affinity=range(4))
    intervals, gaps, sink = collect()
    sampler = Sampler([sensor], sink, interval_s=1.0, monotonic=clock, wall=lambda: 5000.0)
    sampler.prime()  # no jiffy since open: no utilisation, and no gap either
    # every CPU: +150 busy (100 user, 50 system), +50 idle -> 75 % busy
    write_stat(proc_root, 200, 150, 850)
    clock.advance(1.0)
    sampler._emit(*sampler.tick())
    low, high = ccf("Cascade Lake")
    watts = 4 * (low + 0.75 * (high - low))
    assert [(i.t_start, i.t_end) for i in intervals] == [(5000.0, 5001.0)]
    assert intervals[0].energy_j == pytest.approx(watts * 1.0)
    assert gaps == []


def test_identical_short_runs_on_the_power_model_get_identical_coverage(home: Path) -> None:
    covered: list[dict[str, float]] = []
    for _ in range(5):
        with Tracker("coverage", interval_s=0.5, sensors=["model"]) as run:
            end = time.monotonic() + 2.0
            while time.monotonic() < end:  # CPU-bound for 2 s
                pass
        by_device: dict[str, float] = {}
        for i in run.intervals():
            by_device[i.device_id] = by_device.get(i.device_id, 0.0) + (i.t_end - i.t_start)
        covered.append(by_device)
        assert run.duration_s is not None
        # the run's work lies between the first and the last reading: >= 2.0 s of it
        assert set(by_device) == {"model:cpu", "model:ram"}
        for seconds in by_device.values():
            assert 2.0 <= seconds <= run.duration_s + 1e-6
    cpu = [c["model:cpu"] for c in covered]
    assert max(cpu) - min(cpu) < 0.5  # within one sampling interval, all of it at the end


def test_counter_sensors_cover_the_run_from_their_first_read(tmp_path: Path) -> None:
    from wattprint.sensors import amdsmi as amd_sensor
    from wattprint.sensors import nvml as nvml_sensor
    from wattprint.sensors import rapl
    from wattprint.testing.fake_amdsmi import FakeAMDSMI
    from wattprint.testing.fake_nvml import FakeNVML
    from wattprint.testing.powercap import PowercapTree

    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=1_000_000)
    sensors = [
        rapl.open_sensor(SensorContext(sysfs_root=tree.sysfs_root), frozenset(), []),
        nvml_sensor.open_sensor(SensorContext(nvml=FakeNVML(), environ={}), frozenset(), []),
        amd_sensor.open_sensor(SensorContext(amdsmi=FakeAMDSMI(), environ={},
                                             proc_root=Path("/nonexistent-proc")),
                               frozenset(), []),
    ]
    clock = FakeClock(7.0)
    intervals, gaps, sink = collect()
    sampler = Sampler(sensors, sink, interval_s=1.0, monotonic=clock, wall=lambda: 2000.0)
    sampler.prime()  # the first read of every counter is the baseline at the start
    tree.set_energy("intel-rapl:0", 3_000_000)
    clock.advance(1.0)
    sampler._emit(*sampler.tick())
    assert sorted(d.source for d in sampler.devices.values()) == ["amdsmi", "nvml", "rapl"]
    assert {i.device_id: (i.t_start, i.t_end) for i in intervals} == {
        d: (2000.0, 2001.0) for d in sampler.devices}
    assert gaps == []
