from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from wattprint.errors import SensorError, SensorUnavailable
from wattprint.records import Gap
from wattprint.sampling import MAX_CONSECUTIVE_FAILURES, Sampler
from wattprint.sensors import nvml as nvml_sensor
from wattprint.sensors.base import (
    DeviceDropper,
    ProcessBreakdownSource,
    ProcessEnergySource,
    Reading,
    Sensor,
    SkippedSensor,
)
from wattprint.sensors.context import SensorContext
from wattprint.sensors.detect import detect
from wattprint.testing import fake_nvml
from wattprint.testing.fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_UNKNOWN,
    FakeGPU,
    FakeMigInstance,
    FakeNVML,
    FakeProcess,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvml"

UUID0 = "GPU-11111111-aaaa-4bbb-8ccc-000000000000"
UUID1 = "GPU-22222222-aaaa-4bbb-8ccc-000000000001"
UUID2 = "GPU-22223333-aaaa-4bbb-8ccc-000000000002"

MIG_3G = FakeMigInstance("MIG-aaaa0001-0000-0000-0000-000000000000", "3g.20gb", 3, 1, 0)
MIG_2G = FakeMigInstance("MIG-bbbb0002-0000-0000-0000-000000000000", "2g.10gb", 2, 5, 0)
MIG_1G = FakeMigInstance("MIG-cccc0003-0000-0000-0000-000000000000", "1g.5gb", 1, 13, 0)


def open_nvml(
    nvml: FakeNVML,
    environ: dict[str, str] | None = None,
    proc_root: Path | None = None,
    notes: list[SkippedSensor] | None = None,
) -> nvml_sensor.NvmlSensor:
    ctx = SensorContext(
        nvml=nvml,
        environ=environ if environ is not None else {},
        proc_root=proc_root if proc_root is not None else Path("/nonexistent-proc"),
    )
    return nvml_sensor.open_sensor(ctx, frozenset(), notes if notes is not None else [])


def three_gpus() -> FakeNVML:
    return FakeNVML([FakeGPU(uuid=UUID0), FakeGPU(uuid=UUID1), FakeGPU(uuid=UUID2)])


# --- counter and power devices ---------------------------------------------------------


def test_total_energy_counter_gives_cumulative_joules() -> None:
    # read 0 is the probe made when the sensor opens
    nvml = FakeNVML([FakeGPU(uuid=UUID0, energy_mj=[5_000, 1_000_000, 1_251_500])])
    sensor = open_nvml(nvml)

    (device,) = sensor.devices()
    assert device.id == f"nvml:{UUID0}"
    assert (device.kind, device.source, device.measured) == ("gpu", "nvml", True)
    assert device.counter is True
    assert device.max_energy_j is None
    assert sensor.read()[device.id].energy_j == pytest.approx(1_000_000 / 1000)
    assert sensor.read()[device.id].energy_j == pytest.approx(1_251_500 / 1000)


def test_device_extra_names_uuid_index_and_pci_bus() -> None:
    nvml = FakeNVML(
        [FakeGPU(name="NVIDIA H100 80GB HBM3", uuid=UUID0, pci_bus_id="00000000:1B:00.0")]
    )
    (device,) = open_nvml(nvml).devices()

    assert device.name == "NVIDIA H100 80GB HBM3"
    assert device.extra["uuid"] == UUID0
    assert device.extra["index"] == "0"
    assert device.extra["pci_bus_id"] == "00000000:1B:00.0"
    assert device.extra["mig_mode"] == "disabled"


def test_energy_not_supported_at_start_falls_back_to_power_polling() -> None:
    nvml = FakeNVML(
        [FakeGPU(uuid=UUID0, supports_energy=False, power_mw=[40_000, 187_250, 201_500])]
    )
    sensor = open_nvml(nvml)

    (device,) = sensor.devices()
    assert device.counter is False
    assert device.extra["reading"] == "power_usage"
    first = sensor.read()[device.id]
    assert first.power_w == pytest.approx(187_250 / 1000)
    assert first.energy_j is None
    assert sensor.read()[device.id].power_w == pytest.approx(201_500 / 1000)


def test_other_energy_error_at_start_also_falls_back_to_power() -> None:
    nvml = FakeNVML(
        [FakeGPU(uuid=UUID0, errors={0: NVML_ERROR_NO_PERMISSION}, power_mw=[1, 2, 99_000])]
    )
    sensor = open_nvml(nvml)
    (device,) = sensor.devices()
    assert device.counter is False
    # read 0: failed energy probe; read 1: power probe; read 2: first read()
    assert sensor.read()[device.id].power_w == pytest.approx(99.0)


def test_gpu_with_neither_energy_nor_power_is_noted_and_others_kept() -> None:
    nvml = FakeNVML(
        [
            FakeGPU(uuid=UUID0, supports_energy=False, errors={0: NVML_ERROR_NO_PERMISSION}),
            FakeGPU(uuid=UUID1),
        ]
    )
    notes: list[SkippedSensor] = []
    sensor = open_nvml(nvml, notes=notes)

    assert [d.id for d in sensor.devices()] == [f"nvml:{UUID1}"]
    assert len(notes) == 1
    assert notes[0].whole is False
    assert "GPU 0" in notes[0].reason


# --- failures at run time --------------------------------------------------------------


def sample(sensor: nvml_sensor.NvmlSensor, ticks: int) -> tuple[Sampler, list[Gap]]:
    """Run ``ticks`` sampler ticks (the first one primes) one second apart."""
    clock = [0.0]
    gaps: list[Gap] = []
    sampler = Sampler([sensor], lambda i, g: gaps.extend(g), monotonic=lambda: clock[0],
                      wall=lambda: 0.0)
    sampler.prime()
    for _ in range(ticks - 1):
        clock[0] += 1.0
        sampler._emit(*sampler.tick())
    return sampler, gaps


def test_error_mid_run_is_a_gap_then_recovers() -> None:
    nvml = FakeNVML(
        [FakeGPU(uuid=UUID0, energy_mj=[0, 10_000, 0, 30_500], errors={2: NVML_ERROR_UNKNOWN})]
    )
    sensor = open_nvml(nvml)
    device_id = f"nvml:{UUID0}"

    assert sensor.read()[device_id].energy_j == pytest.approx(10.0)
    assert sensor.read() == {device_id: Reading(failure="NVML read failed: Unknown Error")}
    assert sensor.read()[device_id].energy_j == pytest.approx(30.5)


def test_gap_on_one_gpu_keeps_the_other() -> None:
    nvml = FakeNVML(
        [
            FakeGPU(uuid=UUID0, energy_mj=[0, 1_000], errors={1: NVML_ERROR_UNKNOWN}),
            FakeGPU(uuid=UUID1, energy_mj=[0, 2_000]),
        ]
    )
    readings = open_nvml(nvml).read()
    assert set(readings) == {f"nvml:{UUID0}", f"nvml:{UUID1}"}
    assert readings[f"nvml:{UUID0}"] == Reading(failure="NVML read failed: Unknown Error")
    assert readings[f"nvml:{UUID1}"].energy_j == pytest.approx(2.0)


def test_gpu_lost_is_a_permanent_failure_and_never_read_again() -> None:
    nvml = FakeNVML([FakeGPU(uuid=UUID0, energy_mj=[0, 1_000], lost_from=2)])
    sensor = open_nvml(nvml)
    device_id = f"nvml:{UUID0}"

    assert device_id in sensor.read()
    lost = sensor.read()[device_id]
    assert lost.energy_j is None and lost.permanent
    assert lost.failure is not None and "lost" in lost.failure
    assert sensor.read() == {}
    assert nvml.read_count(0) == 3  # probe, one good read, the read that found it lost


def test_gpu_lost_is_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    nvml = FakeNVML([FakeGPU(uuid=UUID0, energy_mj=[0, 1_000], lost_from=2)])
    sensor = open_nvml(nvml)
    device_id = f"nvml:{UUID0}"

    with caplog.at_level(logging.WARNING, logger="wattprint.sampling"):
        sampler, _ = sample(sensor, 4)  # a good read, the lost read, two more ticks
    assert sampler.dropped == {device_id}
    assert nvml.read_count(0) == 3  # probe, one good read, the read that found it lost
    assert len([r for r in caplog.records if "lost" in r.getMessage()]) == 1
    [gap] = sampler.open_gaps()
    assert gap.device_id == device_id and "lost" in gap.reason and "dropped at once" in gap.reason


def test_device_dropped_after_consecutive_failures(caplog: pytest.LogCaptureFixture) -> None:
    limit = MAX_CONSECUTIVE_FAILURES
    errors = {read: NVML_ERROR_UNKNOWN for read in range(1, limit + 5)}
    nvml = FakeNVML([FakeGPU(uuid=UUID0, errors=errors)])
    sensor = open_nvml(nvml)
    assert isinstance(sensor, DeviceDropper)

    with caplog.at_level(logging.WARNING, logger="wattprint.sampling"):
        sampler, _ = sample(sensor, limit + 3)
    assert nvml.read_count(0) == 1 + limit
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert sensor.read() == {}  # the sampler told the sensor: no more NVML calls
    [gap] = sampler.open_gaps()
    assert gap.reason == (f"NVML read failed: Unknown Error; device dropped after {limit} "
                          "failed reads in a row")


def test_failures_not_in_a_row_do_not_drop_the_device() -> None:
    limit = MAX_CONSECUTIVE_FAILURES
    # every other read fails, for twice the limit
    errors = {read: NVML_ERROR_UNKNOWN for read in range(1, 2 * limit * 2, 2)}
    nvml = FakeNVML([FakeGPU(uuid=UUID0, errors=errors, energy_mj=lambda k: 1_000 * k)])
    sensor = open_nvml(nvml)
    results = [sensor.read() for _ in range(2 * limit * 2)]
    assert set(results[-1]) == {f"nvml:{UUID0}"}
    assert results[-1][f"nvml:{UUID0}"].energy_j == pytest.approx(1_000 * 4 * limit / 1000)


# --- opening ---------------------------------------------------------------------------


def test_pynvml_not_importable_gives_pip_hint(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    (tmp_path / "driver" / "nvidia").mkdir(parents=True)  # a loaded driver
    ctx = SensorContext(environ={}, proc_root=tmp_path)
    with pytest.raises(SensorUnavailable, match=r"pip install 'wattprint\[nvidia\]'"):
        nvml_sensor.open_sensor(ctx, frozenset(), [])


def test_no_driver_is_skipped_without_importing_pynvml(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    if Path("/dev/nvidiactl").exists() or Path("/dev/dxg").exists():
        pytest.skip("this machine has an NVIDIA driver")
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    ctx = SensorContext(environ={}, proc_root=tmp_path)
    with pytest.raises(SensorUnavailable, match="no NVIDIA driver found"):
        nvml_sensor.open_sensor(ctx, frozenset(), [])
    assert "pynvml" not in sys.modules


def test_init_failure_is_unavailable_with_nvml_reason() -> None:
    nvml = FakeNVML(init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.raises(
        SensorUnavailable, match="NVML could not initialise: Driver Not Loaded"
    ) as info:
        open_nvml(nvml)
    assert isinstance(info.value.__cause__, fake_nvml.NVMLError_DriverNotLoaded)


def test_no_gpu_is_unavailable_and_shuts_nvml_down() -> None:
    nvml = FakeNVML([])
    with pytest.raises(SensorUnavailable, match="no NVIDIA GPU"):
        open_nvml(nvml)
    assert (nvml.init_calls, nvml.shutdown_calls) == (1, 1)


def test_close_shuts_down_once() -> None:
    nvml = FakeNVML([FakeGPU(uuid=UUID0)])
    sensor = open_nvml(nvml)
    sensor.close()
    sensor.close()
    assert (nvml.init_calls, nvml.shutdown_calls) == (1, 1)
    assert nvml.initialised is False


def test_sensor_has_the_sensor_and_process_energy_protocols() -> None:
    sensor = open_nvml(FakeNVML())
    assert isinstance(sensor, Sensor)
    assert isinstance(sensor, ProcessEnergySource)


def test_detect_opens_the_fake_through_the_registry() -> None:
    found = detect(SensorContext(nvml=FakeNVML([FakeGPU(uuid=UUID0)]), environ={}), only=["nvml"])
    try:
        assert [s.name for s in found.sensors] == ["nvml"]
        assert [d.id for d in found.sensors[0].devices()] == [f"nvml:{UUID0}"]
    finally:
        found.close()


def test_detect_turns_asked_for_but_unavailable_into_sensor_error() -> None:
    ctx = SensorContext(nvml=FakeNVML(init_error=NVML_ERROR_DRIVER_NOT_LOADED), environ={})
    with pytest.raises(SensorError, match="'nvml' was asked for"):
        detect(ctx, only=["nvml"])


# --- CUDA_VISIBLE_DEVICES --------------------------------------------------------------


def test_visible_indices_select_and_order_gpus() -> None:
    sensor = open_nvml(three_gpus(), {"CUDA_VISIBLE_DEVICES": "2,0"})
    assert [d.id for d in sensor.devices()] == [f"nvml:{UUID2}", f"nvml:{UUID0}"]


def test_visible_full_uuid() -> None:
    sensor = open_nvml(three_gpus(), {"CUDA_VISIBLE_DEVICES": UUID1})
    assert [d.extra["uuid"] for d in sensor.devices()] == [UUID1]


def test_visible_unknown_uuid_leaves_no_gpu() -> None:
    # "GPU-2222-" is no prefix of "GPU-22222222-...": the list stops at its first entry
    with pytest.raises(SensorUnavailable, match="leaves this process no GPU"):
        open_nvml(three_gpus(), {"CUDA_VISIBLE_DEVICES": "GPU-2222-,GPU-1111"})


def test_visible_unique_uuid_prefix_selects_that_gpu() -> None:
    sensor = open_nvml(three_gpus(), {"CUDA_VISIBLE_DEVICES": "GPU-22223,GPU-1111"})
    assert [d.extra["uuid"] for d in sensor.devices()] == [UUID2, UUID0]


def test_visible_ambiguous_prefix_stops_the_list() -> None:
    sensor = open_nvml(three_gpus(), {"CUDA_VISIBLE_DEVICES": "GPU-1111,GPU-2222,GPU-22223"})
    assert [d.extra["uuid"] for d in sensor.devices()] == [UUID0]


def test_visible_empty_leaves_no_gpu_and_shuts_down() -> None:
    nvml = three_gpus()
    with pytest.raises(SensorUnavailable, match="CUDA_VISIBLE_DEVICES=''"):
        open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": ""})
    assert nvml.initialised is False


def test_visible_unset_gives_every_gpu() -> None:
    sensor = open_nvml(three_gpus(), {})
    assert [d.extra["uuid"] for d in sensor.devices()] == [UUID0, UUID1, UUID2]


def test_index_warning_on_mixed_models_without_pci_order(caplog: pytest.LogCaptureFixture) -> None:
    nvml = FakeNVML([FakeGPU(name="NVIDIA A100-SXM4-40GB"), FakeGPU(name="Tesla T4")])
    with caplog.at_level(logging.WARNING, logger="wattprint.sensors.nvml"):
        open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": "1"})
        open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert len([r for r in caplog.records if "CUDA_DEVICE_ORDER" in r.getMessage()]) == 1


# --- MIG -------------------------------------------------------------------------------


def mig_machine() -> FakeNVML:
    return FakeNVML(
        [
            FakeGPU(uuid=UUID0, mig_instances=[MIG_3G, MIG_2G, MIG_1G]),
            FakeGPU(uuid=UUID1),
        ]
    )


def test_mig_uuid_selects_its_parent_with_the_slice_share() -> None:
    sensor = open_nvml(mig_machine(), {"CUDA_VISIBLE_DEVICES": MIG_2G.uuid})

    (device,) = sensor.devices()
    assert device.id == f"nvml:{UUID0}"
    assert device.extra["mig_mode"] == "enabled"
    assert device.extra["mig_slices"] == "2/7"
    assert float(device.extra["mig_share"]) == pytest.approx(2 / 7, rel=1e-5)
    assert device.extra["mig_profile"] == "2g.10gb"
    assert MIG_2G.uuid in device.extra["mig_instances"]
    assert device.counter is True


def test_legacy_mig_name_selects_the_same_instance() -> None:
    legacy = f"MIG-{UUID0}/{MIG_2G.gpu_instance_id}/{MIG_2G.compute_instance_id}"
    (device,) = open_nvml(mig_machine(), {"CUDA_VISIBLE_DEVICES": legacy}).devices()
    assert device.extra["mig_slices"] == "2/7"


def test_several_mig_uuids_add_their_slices_on_one_parent_device() -> None:
    value = f"{MIG_3G.uuid},{MIG_1G.uuid}"
    (device,) = open_nvml(mig_machine(), {"CUDA_VISIBLE_DEVICES": value}).devices()
    assert device.extra["mig_slices"] == f"{3 + 1}/7"
    assert float(device.extra["mig_share"]) == pytest.approx(4 / 7, rel=1e-5)


def test_compute_instances_of_one_gpu_instance_count_its_slices_once() -> None:
    half_a = FakeMigInstance("MIG-dddd0001-0000-0000-0000-000000000000", "1c.3g.20gb", 3, 2, 0)
    half_b = FakeMigInstance("MIG-dddd0002-0000-0000-0000-000000000000", "2c.3g.20gb", 3, 2, 1)
    nvml = FakeNVML([FakeGPU(uuid=UUID0, mig_instances=[half_a, half_b])])
    value = f"{half_a.uuid},{half_b.uuid}"
    (device,) = open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": value}).devices()
    assert device.extra["mig_slices"] == "3/7"


def test_mig_share_uses_the_gpus_own_slice_count() -> None:
    a30_instance = FakeMigInstance("MIG-eeee0001-0000-0000-0000-000000000000", "1g.6gb", 1, 3, 0)
    nvml = FakeNVML(
        [FakeGPU(name="NVIDIA A30", uuid=UUID0, mig_instances=[a30_instance], mig_total_slices=4)]
    )
    (device,) = open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": a30_instance.uuid}).devices()
    assert device.extra["mig_slices"] == "1/4"


def test_whole_mig_gpu_visible_lists_instances_without_share() -> None:
    sensor = open_nvml(mig_machine(), {})
    mig_gpu = sensor.devices()[0]
    assert "mig_share" not in mig_gpu.extra
    assert mig_gpu.extra["mig_profile"] == "3g.20gb, 2g.10gb, 1g.5gb"
    assert "mig_instances" not in sensor.devices()[1].extra


def test_mig_fixture_file() -> None:
    data = json.loads((FIXTURES / "a100_mig_and_p100.json").read_text())
    nvml = FakeNVML.from_dict(data)
    mig_uuid = data["gpus"][0]["mig_instances"][2]["uuid"]
    sensor = open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": mig_uuid})

    (device,) = sensor.devices()
    assert device.extra["uuid"] == data["gpus"][0]["uuid"]
    assert device.extra["mig_slices"] == "1/7"
    script = data["gpus"][0]["energy_mj"]
    assert sensor.read()[device.id].energy_j == pytest.approx(script[1] / 1000)


def test_fixture_pre_volta_gpu_is_a_power_device() -> None:
    data = json.loads((FIXTURES / "a100_mig_and_p100.json").read_text())
    sensor = open_nvml(FakeNVML.from_dict(data), {"CUDA_VISIBLE_DEVICES": "1"})
    (device,) = sensor.devices()
    assert device.counter is False
    assert sensor.read()[device.id].power_w == pytest.approx(data["gpus"][1]["power_mw"][1] / 1000)


# --- per-process shares ----------------------------------------------------------------


def test_process_shares_from_sm_utilisation() -> None:
    procs = [
        FakeProcess(100, sm_util=30),
        FakeProcess(200, sm_util=10),
        FakeProcess(300, sm_util=20),
    ]
    sensor = open_nvml(FakeNVML([FakeGPU(uuid=UUID0, processes=procs)]))
    shares = sensor.process_shares(frozenset({100, 300}))
    assert shares == {f"nvml:{UUID0}": pytest.approx((30 + 20) / (30 + 10 + 20))}


class RecordingNVML(FakeNVML):
    def __init__(self, gpus: list[FakeGPU]) -> None:
        super().__init__(gpus)
        self.stamps_asked: list[int] = []

    def nvmlDeviceGetProcessUtilization(
        self, handle: object, timeStamp: int
    ) -> list[fake_nvml.FakeProcessUtilizationSample]:
        self.stamps_asked.append(timeStamp)
        return super().nvmlDeviceGetProcessUtilization(handle, timeStamp)


def test_process_shares_ask_only_for_samples_newer_than_the_last_seen() -> None:
    procs = [FakeProcess(100, sm_util=40), FakeProcess(200, sm_util=60)]
    nvml = RecordingNVML([FakeGPU(uuid=UUID0, processes=procs)])
    sensor = open_nvml(nvml)
    first = sensor.process_shares(frozenset({100}))
    second = sensor.process_shares(frozenset({100}))
    assert first == second == {f"nvml:{UUID0}": pytest.approx(40 / (40 + 60))}
    # the fake stamps the samples of its n-th call n * SAMPLE_PERIOD_US
    assert nvml.stamps_asked == [0, fake_nvml.SAMPLE_PERIOD_US]


def test_process_shares_fall_back_to_used_memory() -> None:
    gib = 1024**3
    procs = [
        FakeProcess(100, used_memory_bytes=3 * gib),
        FakeProcess(200, used_memory_bytes=1 * gib),
    ]
    nvml = FakeNVML([FakeGPU(uuid=UUID0, processes=procs, process_utilization=False)])
    shares = open_nvml(nvml).process_shares(frozenset({100}))
    assert shares == {f"nvml:{UUID0}": pytest.approx(3 / (3 + 1))}


def test_process_shares_leave_out_gpu_without_processes() -> None:
    sensor = open_nvml(FakeNVML([FakeGPU(uuid=UUID0)]))
    assert sensor.process_shares(frozenset({100})) == {}


def test_process_shares_leave_out_unmatchable_pids(tmp_path: Path) -> None:
    procs = [FakeProcess(5000, sm_util=50)]
    nvml = FakeNVML([FakeGPU(uuid=UUID0, processes=procs)])
    # pid 5000 does not exist in this (empty) pid namespace: a container seeing host pids
    sensor = open_nvml(nvml, proc_root=tmp_path)
    assert sensor.process_shares(frozenset({100})) == {}


def test_process_shares_zero_when_others_use_the_gpu(tmp_path: Path) -> None:
    (tmp_path / "5000").mkdir()
    procs = [FakeProcess(5000, sm_util=50)]
    sensor = open_nvml(FakeNVML([FakeGPU(uuid=UUID0, processes=procs)]), proc_root=tmp_path)
    assert sensor.process_shares(frozenset({100})) == {f"nvml:{UUID0}": 0.0}


def test_process_shares_on_mig_are_slices_where_pids_run() -> None:
    with_proc = FakeMigInstance(
        MIG_2G.uuid, "2g.10gb", 2, 5, 0, processes=[FakeProcess(100, used_memory_bytes=1)]
    )
    other = FakeMigInstance(
        MIG_1G.uuid, "1g.5gb", 1, 13, 0, processes=[FakeProcess(200, used_memory_bytes=1)]
    )
    nvml = FakeNVML([FakeGPU(uuid=UUID0, mig_instances=[MIG_3G, with_proc, other])])
    sensor = open_nvml(nvml, {"CUDA_VISIBLE_DEVICES": f"{with_proc.uuid},{other.uuid}"})
    assert sensor.process_shares(frozenset({100})) == {f"nvml:{UUID0}": pytest.approx(2 / 7)}


def test_process_shares_skip_dropped_gpu() -> None:
    nvml = FakeNVML([FakeGPU(uuid=UUID0, lost_from=1, processes=[FakeProcess(100, sm_util=5)])])
    sensor = open_nvml(nvml)
    sensor.read()
    assert sensor.process_shares(frozenset({100})) == {}


# --- the fake itself -------------------------------------------------------------------


def test_fake_error_codes_match_pynvml() -> None:
    pynvml = pytest.importorskip("pynvml")
    names = [n for n in dir(fake_nvml) if n.startswith(("NVML_ERROR_", "NVML_DEVICE_MIG_"))]
    names += [
        n
        for n in dir(fake_nvml)
        if n.startswith("NVML_GPU_INSTANCE_PROFILE_") and n != "NVML_GPU_INSTANCE_PROFILE_COUNT"
    ]
    assert names
    for name in names:
        assert getattr(fake_nvml, name) == getattr(pynvml, name), name
    for name in [n for n in dir(fake_nvml) if n.startswith("NVMLError_")]:
        assert hasattr(pynvml, name), name


def test_fake_error_constructor_returns_the_subclass() -> None:
    error = fake_nvml.NVMLError(fake_nvml.NVML_ERROR_NOT_SUPPORTED)
    assert type(error) is fake_nvml.NVMLError_NotSupported
    assert error.value == 3
    assert str(error) == "Not Supported"
    assert fake_nvml.NVMLError_GpuIsLost().value == 15


def test_fake_refuses_calls_before_init() -> None:
    with pytest.raises(fake_nvml.NVMLError_Uninitialized):
        FakeNVML().nvmlDeviceGetCount()


def test_fake_short_script_fails_loudly() -> None:
    nvml = FakeNVML([FakeGPU(energy_mj=[0])])
    sensor = open_nvml(nvml)
    with pytest.raises(IndexError, match="script more values"):
        sensor.read()


# --- real hardware ---------------------------------------------------------------------


@pytest.mark.hardware
def test_real_nvml_counter_does_not_decrease() -> None:
    pytest.importorskip("pynvml")
    try:
        sensor = nvml_sensor.open_sensor(SensorContext(), frozenset(), [])
    except SensorUnavailable as exc:
        pytest.skip(f"no usable NVIDIA GPU here: {exc}")
    try:
        devices = sensor.devices()
        assert devices
        assert all(d.id.startswith("nvml:GPU-") for d in devices)
        first, second = sensor.read(), sensor.read()
        for device in devices:
            if (device.counter and device.id in first and device.id in second
                    and first[device.id].failure is None and second[device.id].failure is None):
                before, after = first[device.id].energy_j, second[device.id].energy_j
                assert before is not None and after is not None
                assert after >= before
    finally:
        sensor.close()


def test_fake_handle_by_uuid_finds_gpus_and_mig_devices() -> None:
    nvml = FakeNVML([FakeGPU(uuid=UUID0, mig_instances=[MIG_2G])])
    nvml.nvmlInit()
    assert nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByUUID(UUID0)) == UUID0
    assert nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByUUID(MIG_2G.uuid)) == MIG_2G.uuid
    with pytest.raises(fake_nvml.NVMLError_NotFound):
        nvml.nvmlDeviceGetHandleByUUID(UUID1)


# --- per-process breakdown (node agent) -------------------------------------------------


def test_process_breakdown_splits_each_gpu_across_its_processes() -> None:
    gib = 1024**3
    gpus = [
        FakeGPU(uuid=UUID0, processes=[FakeProcess(100, sm_util=30),
                                       FakeProcess(200, sm_util=10)]),
        FakeGPU(uuid=UUID1, processes=[FakeProcess(300, used_memory_bytes=1 * gib),
                                       FakeProcess(400, used_memory_bytes=3 * gib)],
                process_utilization=False),
        FakeGPU(uuid=UUID2),  # idle: no process, left out
    ]
    sensor = open_nvml(FakeNVML(gpus))
    assert isinstance(sensor, ProcessBreakdownSource)
    breakdown = sensor.process_breakdown()
    assert set(breakdown) == {f"nvml:{UUID0}", f"nvml:{UUID1}"}
    assert breakdown[f"nvml:{UUID0}"] == {100: pytest.approx(0.75), 200: pytest.approx(0.25)}
    assert breakdown[f"nvml:{UUID1}"] == {300: pytest.approx(0.25), 400: pytest.approx(0.75)}


def test_process_breakdown_and_shares_keep_separate_sample_cursors() -> None:
    procs = [FakeProcess(100, sm_util=40), FakeProcess(200, sm_util=60)]
    nvml = RecordingNVML([FakeGPU(uuid=UUID0, processes=procs)])
    sensor = open_nvml(nvml)
    sensor.process_shares(frozenset({100}))
    sensor.process_breakdown()
    sensor.process_breakdown()
    # shares asked from 0; the breakdown from 0, then from its own newest sample
    assert nvml.stamps_asked[0] == 0 and nvml.stamps_asked[1] == 0
    assert nvml.stamps_asked[2] > 0
