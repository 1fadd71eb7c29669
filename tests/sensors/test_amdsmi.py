from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from wattprint.errors import SensorUnavailable
from wattprint.sampling import MAX_CONSECUTIVE_FAILURES, Sampler
from wattprint.sensors import amdsmi as amd_sensor
from wattprint.sensors.base import DeviceDropper, Reading, Sensor, SkippedSensor
from wattprint.sensors.context import SensorContext
from wattprint.testing.fake_amdsmi import (
    AMDSMI_STATUS_BUSY,
    AMDSMI_STATUS_DRIVER_NOT_LOADED,
    AMDSMI_STATUS_NOT_SUPPORTED,
    AmdSmiLibraryException,
    FakeAMDGPU,
    FakeAMDSMI,
)

UUID0 = "a4ff74a1-0000-1000-80ff-00000000000a"
UUID1 = "b5ff74a1-0000-1000-80ff-00000000000b"
UUID2 = "c6ff74a1-0000-1000-80ff-00000000000c"
RESOLUTION_UJ = 15.2587890625  # 2**-16 J


def open_amd(
    smi: FakeAMDSMI,
    environ: dict[str, str] | None = None,
    notes: list[SkippedSensor] | None = None,
) -> amd_sensor.AmdSmiSensor:
    ctx = SensorContext(
        amdsmi=smi,
        environ=environ if environ is not None else {},
        proc_root=Path("/nonexistent-proc"),
    )
    return amd_sensor.open_sensor(ctx, frozenset(), notes if notes is not None else [])


def three_gpus() -> FakeAMDSMI:
    return FakeAMDSMI(
        [
            FakeAMDGPU(uuid=UUID0, asic_serial="0x1111AAAA00000000"),
            FakeAMDGPU(uuid=UUID1, asic_serial="0x2222BBBB00000000"),
            FakeAMDGPU(uuid=UUID2, asic_serial="0x3333CCCC00000000"),
        ]
    )


def test_energy_accumulator_gives_cumulative_joules() -> None:
    # read 0 is the probe made when the sensor opens
    smi = FakeAMDSMI(
        [
            FakeAMDGPU(
                uuid=UUID0, energy_ticks=[7, 65_536, 229_376], counter_resolution_uj=RESOLUTION_UJ
            )
        ]
    )
    sensor = open_amd(smi)

    (device,) = sensor.devices()
    assert device.id == f"amdsmi:{UUID0}"
    assert (device.kind, device.source, device.counter, device.measured) == (
        "gpu",
        "amdsmi",
        True,
        True,
    )
    assert device.max_energy_j is None
    assert sensor.read()[device.id].energy_j == pytest.approx(65_536 * RESOLUTION_UJ / 1e6)
    assert sensor.read()[device.id].energy_j == pytest.approx(229_376 * RESOLUTION_UJ / 1e6)


def test_energy_accumulator_under_the_legacy_key() -> None:
    smi = FakeAMDSMI(
        [
            FakeAMDGPU(
                uuid=UUID0,
                legacy_energy_key=True,
                energy_ticks=[0, 1_000_000],
                counter_resolution_uj=15.3,
            )
        ]
    )
    sensor = open_amd(smi)
    assert sensor.read()[f"amdsmi:{UUID0}"].energy_j == pytest.approx(1_000_000 * 15.3 / 1e6)


def test_no_accumulator_falls_back_to_average_socket_power() -> None:
    smi = FakeAMDSMI([FakeAMDGPU(uuid=UUID0, supports_energy=False, power_w=[90, 287, 301])])
    sensor = open_amd(smi)

    (device,) = sensor.devices()
    assert device.counter is False
    assert device.extra["power_field"] == "average_socket_power"
    assert sensor.read()[device.id].power_w == pytest.approx(287.0)
    assert sensor.read()[device.id].power_w == pytest.approx(301.0)


def test_mi300_style_power_uses_current_socket_power() -> None:
    smi = FakeAMDSMI(
        [
            FakeAMDGPU(
                name="AMD Instinct MI300X",
                uuid=UUID0,
                supports_energy=False,
                power_field="current_socket_power",
                power_w=[0, 612.5],
            )
        ]
    )
    sensor = open_amd(smi)
    (device,) = sensor.devices()
    assert device.extra["power_field"] == "current_socket_power"
    assert sensor.read()[device.id].power_w == pytest.approx(612.5)


def test_error_mid_run_is_a_gap_then_recovers() -> None:
    smi = FakeAMDSMI(
        [
            FakeAMDGPU(
                uuid=UUID0,
                energy_ticks=[0, 65_536, 0, 196_608],
                counter_resolution_uj=RESOLUTION_UJ,
                errors={2: AMDSMI_STATUS_BUSY},
            )
        ]
    )
    sensor = open_amd(smi)
    device_id = f"amdsmi:{UUID0}"

    assert sensor.read()[device_id].energy_j == pytest.approx(1.0)
    assert sensor.read() == {
        device_id: Reading(failure="amdsmi read failed: Error code: 30 | AMDSMI_STATUS_BUSY")}
    assert sensor.read()[device_id].energy_j == pytest.approx(3.0)


def test_device_dropped_after_consecutive_failures(caplog: pytest.LogCaptureFixture) -> None:
    limit = MAX_CONSECUTIVE_FAILURES
    errors = {read: AMDSMI_STATUS_BUSY for read in range(1, limit + 5)}
    smi = FakeAMDSMI([FakeAMDGPU(uuid=UUID0, errors=errors)])
    sensor = open_amd(smi)
    assert isinstance(sensor, DeviceDropper)
    clock = [0.0]
    sampler = Sampler([sensor], lambda i, g: None, monotonic=lambda: clock[0], wall=lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger="wattprint.sampling"):
        sampler.prime()
        for _ in range(limit + 1):
            clock[0] += 1.0
            sampler.tick()
    assert smi.read_count(0) == 1 + limit
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert sampler.dropped == {f"amdsmi:{UUID0}"}
    assert sensor.read() == {}


def test_gpu_with_nothing_readable_is_noted() -> None:
    smi = FakeAMDSMI(
        [
            FakeAMDGPU(uuid=UUID0, supports_energy=False, errors={0: AMDSMI_STATUS_NOT_SUPPORTED}),
            FakeAMDGPU(uuid=UUID1),
        ]
    )
    notes: list[SkippedSensor] = []
    sensor = open_amd(smi, notes=notes)
    assert [d.id for d in sensor.devices()] == [f"amdsmi:{UUID1}"]
    assert len(notes) == 1 and not notes[0].whole


def test_amdsmi_not_importable_gives_pip_hint(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    (tmp_path / "module" / "amdgpu").mkdir(parents=True)  # a loaded driver
    ctx = SensorContext(environ={}, sysfs_root=tmp_path)
    with pytest.raises(SensorUnavailable, match=r"pip install 'wattprint\[amd\]'"):
        amd_sensor.open_sensor(ctx, frozenset(), [])


def test_no_driver_is_skipped_quickly(tmp_path: Path) -> None:
    if Path("/dev/kfd").exists():
        pytest.skip("this machine has an AMD GPU driver")
    with pytest.raises(SensorUnavailable, match="no AMD GPU driver found"):
        amd_sensor.open_sensor(SensorContext(environ={}, sysfs_root=tmp_path), frozenset(), [])


def test_init_failure_is_unavailable() -> None:
    smi = FakeAMDSMI(init_error=AMDSMI_STATUS_DRIVER_NOT_LOADED)
    with pytest.raises(SensorUnavailable, match="amdsmi could not initialise") as info:
        open_amd(smi)
    assert isinstance(info.value.__cause__, AmdSmiLibraryException)


def test_no_gpu_is_unavailable_and_shuts_down() -> None:
    smi = FakeAMDSMI([])
    with pytest.raises(SensorUnavailable, match="no AMD GPU"):
        open_amd(smi)
    assert (smi.init_calls, smi.shutdown_calls) == (1, 1)


def test_close_shuts_down_once() -> None:
    smi = FakeAMDSMI()
    sensor = open_amd(smi)
    assert isinstance(sensor, Sensor)
    sensor.close()
    sensor.close()
    assert smi.shutdown_calls == 1


def test_rocr_then_hip_indices() -> None:
    sensor = open_amd(three_gpus(), {"ROCR_VISIBLE_DEVICES": "1,2", "HIP_VISIBLE_DEVICES": "1"})
    assert [d.extra["uuid"] for d in sensor.devices()] == [UUID2]


def test_cuda_visible_devices_read_when_hip_unset() -> None:
    sensor = open_amd(three_gpus(), {"CUDA_VISIBLE_DEVICES": "2,0"})
    assert [d.extra["uuid"] for d in sensor.devices()] == [UUID2, UUID0]


def test_hip_visible_devices_wins_over_cuda() -> None:
    env = {"HIP_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": "0"}
    assert [d.extra["uuid"] for d in open_amd(three_gpus(), env).devices()] == [UUID1]


def test_rocr_uuid_from_the_asic_serial() -> None:
    sensor = open_amd(three_gpus(), {"ROCR_VISIBLE_DEVICES": "GPU-2222bbbb"})
    assert [d.extra["uuid"] for d in sensor.devices()] == [UUID1]


def test_empty_visible_devices_leaves_no_gpu() -> None:
    smi = three_gpus()
    with pytest.raises(SensorUnavailable, match="no AMD GPU"):
        open_amd(smi, {"ROCR_VISIBLE_DEVICES": ""})
    assert smi.initialised is False


def test_indices_follow_hip_numbering() -> None:
    smi = FakeAMDSMI([FakeAMDGPU(uuid=UUID0, hip_id=1), FakeAMDGPU(uuid=UUID1, hip_id=0)])
    sensor = open_amd(smi, {"HIP_VISIBLE_DEVICES": "0"})
    (device,) = sensor.devices()
    assert device.extra["uuid"] == UUID1
    assert device.extra["index"] == "0"
