"""The share rule recorded for each GPU interval is the one applied, fallbacks named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattprint.records import Gap, IntervalRecord
from wattprint.sampling import Sampler
from wattprint.sensors import nvml as nvml_sensor
from wattprint.sensors.base import ShareRuleSource
from wattprint.sensors.context import SensorContext
from wattprint.testing import fake_nvml
from wattprint.testing.fake_nvml import FakeGPU, FakeMigInstance, FakeNVML, FakeProcess
from wattprint.testing.sensors import FakeClock

UUID0 = "GPU-11111111-aaaa-4bbb-8ccc-000000000000"
DEVICE = f"nvml:{UUID0}"
GIB = 1024**3
ME = os.getpid()
OTHER = 1  # a pid that exists in this pid namespace (init)


def open_nvml(nvml: FakeNVML, environ: dict[str, str] | None = None,
              proc_root: Path = Path("/proc")) -> nvml_sensor.NvmlSensor:
    ctx = SensorContext(nvml=nvml, environ=environ or {}, proc_root=proc_root)
    return nvml_sensor.open_sensor(ctx, frozenset(), [])


def run_sampler(sensor: nvml_sensor.NvmlSensor, clock: FakeClock, ticks: int,
                dt: float) -> tuple[Sampler, list[IntervalRecord], list[Gap]]:
    intervals: list[IntervalRecord] = []
    gaps: list[Gap] = []

    def sink(i, g):  # type: ignore[no-untyped-def]
        intervals.extend(i)
        gaps.extend(g)

    sampler = Sampler([sensor], sink, interval_s=max(dt, 0.01), root_pid=ME, monotonic=clock,
                      wall=lambda: 1000.0)
    sampler.prime()
    for _ in range(ticks):
        clock.advance(dt)
        sampler._emit(*sampler.tick())
    return sampler, intervals, gaps


# --- the fake driver's own sample period -------------------------------------------------


def test_fake_driver_samples_at_its_own_period_with_last_seen_semantics() -> None:
    clock = FakeClock(100.0)
    nvml = FakeNVML([FakeGPU(uuid=UUID0, processes=[FakeProcess(7, sm_util=40)])],
                    sample_period_us=250_000, clock=clock)
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    # at "driver load" the first sample is stamped one period
    assert [(s.pid, s.timeStamp, s.smUtil)
            for s in nvml.nvmlDeviceGetProcessUtilization(handle, 0)] == [(7, 250_000, 40)]
    clock.advance(0.1)  # within the period: nothing new
    with pytest.raises(fake_nvml.NVMLError_NotFound):
        nvml.nvmlDeviceGetProcessUtilization(handle, 250_000)
    clock.advance(0.5)  # 0.6 s after load: samples at 0.5 s and 0.75 s
    assert [s.timeStamp for s in nvml.nvmlDeviceGetProcessUtilization(handle, 250_000)] == [
        500_000, 750_000]
    assert nvml.latest_sample_us() == 750_000


def test_fake_refuses_a_non_positive_sample_period() -> None:
    with pytest.raises(ValueError, match="sample_period_us"):
        FakeNVML(sample_period_us=0)


# --- the sensor keeps one basis between driver samples ---------------------------------------


def two_processes() -> list[FakeProcess]:
    # SM basis: 30 / (30 + 10) = 0.75 ours; memory basis: 1 / (1 + 3) = 0.25 ours
    return [FakeProcess(ME, sm_util=30, used_memory_bytes=1 * GIB),
            FakeProcess(OTHER, sm_util=10, used_memory_bytes=3 * GIB)]


def test_sampling_faster_than_the_driver_keeps_the_sm_basis() -> None:
    clock = FakeClock(0.0)
    nvml = FakeNVML([FakeGPU(uuid=UUID0, processes=two_processes())],
                    sample_period_us=1_000_000, clock=clock)
    sensor = open_nvml(nvml)
    assert isinstance(sensor, ShareRuleSource)
    seen = []
    for _ in range(25):  # every 0.1 s for 2.5 s: mostly no fresh sample
        seen.append((sensor.process_shares(frozenset({ME})), dict(sensor.share_rules())))
        clock.advance(0.1)
    assert all(shares == {DEVICE: pytest.approx(0.75)} for shares, _ in seen)
    assert all(rules == {DEVICE: "nvml-process-utilization"} for _, rules in seen)


def test_sampler_intervals_faster_than_the_driver_all_follow_the_sm_share() -> None:
    clock = FakeClock(0.0)
    nvml = FakeNVML([FakeGPU(uuid=UUID0, processes=two_processes(),
                             energy_mj=lambda read: 5_000 * read)],
                    sample_period_us=1_000_000, clock=clock)
    sampler, intervals, _ = run_sampler(open_nvml(nvml), clock, ticks=20, dt=0.05)
    # 5 J per read, 75 % ours by SM utilisation in every interval
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [(5.0, 3.75)] * 20
    applied = sampler.rules_applied.as_dict()[DEVICE]
    assert list(applied) == ["nvml-process-utilization"]
    assert applied["nvml-process-utilization"]["intervals"] == 20
    assert applied["nvml-process-utilization"]["seconds"] == pytest.approx(1.0)
    assert sampler.share_rules[DEVICE] == "nvml-process-utilization"


def test_without_utilisation_samples_the_memory_basis_is_recorded_as_such() -> None:
    clock = FakeClock(0.0)
    nvml = FakeNVML([FakeGPU(uuid=UUID0, processes=two_processes(), process_utilization=False,
                             energy_mj=lambda read: 4_000 * read)], clock=clock)
    sampler, intervals, _ = run_sampler(open_nvml(nvml), clock, ticks=3, dt=1.0)
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [(4.0, 1.0)] * 3
    assert sampler.rules_applied.as_dict() == {
        DEVICE: {"nvml-process-memory": {"intervals": 3, "seconds": 3.0}}}


def test_a_gpu_with_no_process_is_charged_whole_and_recorded_so() -> None:
    clock = FakeClock(0.0)
    nvml = FakeNVML([FakeGPU(uuid=UUID0, energy_mj=lambda read: 2_000 * read)], clock=clock)
    sampler, intervals, _ = run_sampler(open_nvml(nvml), clock, ticks=2, dt=1.0)
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [(2.0, 2.0)] * 2
    assert sampler.share_rules[DEVICE] == "nvml-process-utilization"  # what was intended
    assert sampler.rules_applied.as_dict() == {
        DEVICE: {"whole-device": {"intervals": 2, "seconds": 2.0}}}


def test_pids_of_another_namespace_are_charged_whole_under_their_own_rule(
        tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    # the driver reports host pid 5000, which this (empty) pid namespace does not have
    nvml = FakeNVML([FakeGPU(uuid=UUID0, processes=[FakeProcess(5000, sm_util=50)],
                             energy_mj=lambda read: 2_000 * read)], clock=clock)
    sampler, intervals, _ = run_sampler(open_nvml(nvml, proc_root=tmp_path), clock, ticks=2,
                                        dt=1.0)
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [(2.0, 2.0)] * 2
    assert sampler.rules_applied.as_dict() == {
        DEVICE: {"whole-device-foreign-pids": {"intervals": 2, "seconds": 2.0}}}


MIG_2G = FakeMigInstance("MIG-bbbb0002-0000-0000-0000-000000000000", "2g.10gb", 2, 5, 0)
MIG_1G = FakeMigInstance("MIG-cccc0003-0000-0000-0000-000000000000", "1g.5gb", 1, 13, 0)


def test_a_mig_instance_without_process_samples_is_charged_its_slices() -> None:
    clock = FakeClock(0.0)
    nvml = FakeNVML([FakeGPU(uuid=UUID0, mig_instances=[MIG_2G, MIG_1G],
                             energy_mj=lambda read: 7_000 * read)], clock=clock)
    sensor = open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": MIG_2G.uuid})
    sampler, intervals, _ = run_sampler(sensor, clock, ticks=2, dt=1.0)
    # 7 J per second, 2 of the GPU's 7 slices
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [
        (7.0, pytest.approx(2.0)), (7.0, pytest.approx(2.0))]
    assert sampler.share_rules[DEVICE] == "mig-slice-share"
    assert sampler.rules_applied.as_dict() == {
        DEVICE: {"mig-slice-share": {"intervals": 2, "seconds": 2.0}}}


def test_a_mig_instance_running_our_process_is_charged_its_slices_by_process() -> None:
    clock = FakeClock(0.0)
    ours = FakeMigInstance(MIG_2G.uuid, "2g.10gb", 2, 5, 0,
                           processes=[FakeProcess(ME, used_memory_bytes=1)])
    other = FakeMigInstance(MIG_1G.uuid, "1g.5gb", 1, 13, 0,
                            processes=[FakeProcess(OTHER, used_memory_bytes=1)])
    nvml = FakeNVML([FakeGPU(uuid=UUID0, mig_instances=[ours, other],
                             energy_mj=lambda read: 7_000 * read)], clock=clock)
    # the whole MIG GPU is visible: no static slice share, the processes decide
    sampler, intervals, _ = run_sampler(open_nvml(nvml), clock, ticks=1, dt=1.0)
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [(7.0, pytest.approx(2.0))]
    assert sampler.share_rules[DEVICE] == "mig-slice-share"
    assert sampler.rules_applied.as_dict() == {
        DEVICE: {"mig-slice-share": {"intervals": 1, "seconds": 1.0}}}
