from __future__ import annotations

from pathlib import Path

import pytest

from wattprint.errors import ConfigError, SensorUnavailable
from wattprint.sensors import rapl
from wattprint.sensors.base import DeviceInfo, Reading, Sensor, SkippedSensor
from wattprint.sensors.context import SensorContext
from wattprint.sensors.detect import detect
from wattprint.testing.powercap import PowercapTree, without_read_privileges

POWERCAP = Path(__file__).resolve().parents[1] / "fixtures" / "powercap"

UDEV_RULE = 'SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chmod a+r /sys%p/energy_uj"'


def open_at(
    root: Path, mode: str = "package", covered: frozenset[str] = frozenset()
) -> tuple[rapl.RaplSensor, list[SkippedSensor]]:
    notes: list[SkippedSensor] = []
    sensor = rapl.open_sensor(SensorContext(sysfs_root=root, rapl_mode=mode), covered, notes)
    return sensor, notes


def by_id(sensor: rapl.RaplSensor) -> dict[str, DeviceInfo]:
    return {device.id: device for device in sensor.devices()}


def two_sockets(tmp_path: Path, *, socket1_readable: bool = True) -> PowercapTree:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=1_000_000)
    tree.add_dram(0, energy_uj=2_000_000)
    tree.add_package(1, energy_uj=3_000_000, readable=socket1_readable)
    tree.add_dram(1, energy_uj=4_000_000, readable=socket1_readable)
    return tree


def laptop_with_dram(tmp_path: Path) -> PowercapTree:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=10_000_000)
    tree.add_core(0, energy_uj=4_000_000)
    tree.add_uncore(0, energy_uj=1_000_000)
    tree.add_dram(0, energy_uj=2_500_000)
    tree.add_psys(energy_uj=20_000_000)
    return tree


# -- permissions ---------------------------------------------------------------


def test_permission_denied_domains_are_left_out_with_one_udev_note(tmp_path: Path) -> None:
    tree = two_sockets(tmp_path, socket1_readable=False)
    with without_read_privileges():
        sensor, notes = open_at(tree.sysfs_root)
        readings = sensor.read()

    assert set(by_id(sensor)) == {"rapl:package-0", "rapl:dram-0"}
    assert readings == {
        "rapl:package-0": Reading(energy_j=1.0),
        "rapl:dram-0": Reading(energy_j=2.0),
    }
    assert len(notes) == 1
    note = notes[0]
    assert note.sensor == "rapl"
    assert note.whole is False
    assert "permission denied" in note.reason
    assert "rapl:package-1" in note.reason
    assert "rapl:dram-1" in note.reason
    assert UDEV_RULE in note.reason
    assert "chmod a+r /sys/class/powercap/intel-rapl*/energy_uj" in note.reason


def test_udev_rule_constant_is_the_documented_rule() -> None:
    assert rapl.RAPL_UDEV_RULE == UDEV_RULE


def test_no_readable_counter_makes_the_sensor_unavailable_with_the_howto(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=1_000_000, readable=False)
    notes: list[SkippedSensor] = []
    with without_read_privileges(), pytest.raises(SensorUnavailable) as raised:
        rapl.open_sensor(SensorContext(sysfs_root=tree.sysfs_root), frozenset(), notes)

    message = str(raised.value)
    assert "rapl:package-0" in message
    assert "permission denied" in message
    assert UDEV_RULE in message
    assert notes == []  # the reason is in the exception, not repeated as a note


def test_other_read_error_at_open_is_noted_with_its_own_message(tmp_path: Path) -> None:
    tree = two_sockets(tmp_path)
    tree.fail_reads("intel-rapl:0:0")  # dram of socket 0

    sensor, notes = open_at(tree.sysfs_root)

    assert set(by_id(sensor)) == {"rapl:package-0", "rapl:package-1", "rapl:dram-1"}
    assert len(notes) == 1
    assert "rapl:dram-0" in notes[0].reason
    assert "Is a directory" in notes[0].reason
    assert "udev" not in notes[0].reason
    assert notes[0].whole is False


# -- counting rule ---------------------------------------------------------------


def test_package_mode_counts_package_and_dram_never_core_uncore_or_psys(tmp_path: Path) -> None:
    tree = laptop_with_dram(tmp_path)

    sensor, notes = open_at(tree.sysfs_root, mode="package")

    devices = by_id(sensor)
    assert {key: device.kind for key, device in devices.items()} == {
        "rapl:package-0": "cpu",
        "rapl:dram-0": "dram",
    }
    assert sensor.read() == {
        "rapl:package-0": Reading(energy_j=10.0),
        "rapl:dram-0": Reading(energy_j=2.5),
    }
    assert len(notes) == 1
    assert "intel-rapl:1 (psys)" in notes[0].reason
    assert "rapl_mode" in notes[0].reason


def test_psys_mode_counts_psys_instead_of_package_and_dram(tmp_path: Path) -> None:
    tree = laptop_with_dram(tmp_path)

    sensor, notes = open_at(tree.sysfs_root, mode="psys")

    devices = by_id(sensor)
    assert list(devices) == ["rapl:psys"]
    assert devices["rapl:psys"].kind == "psys"
    assert sensor.read() == {"rapl:psys": Reading(energy_j=20.0)}
    assert len(notes) == 1
    assert "package-0" in notes[0].reason
    assert "psys already includes" in notes[0].reason


def test_psys_mode_without_a_psys_zone_counts_package_and_dram(tmp_path: Path) -> None:
    sensor, notes = open_at(POWERCAP / "xeon-2socket", mode="psys")

    assert set(by_id(sensor)) == {"rapl:package-0", "rapl:dram-0", "rapl:package-1", "rapl:dram-1"}
    assert len(notes) == 1
    assert "no psys zone" in notes[0].reason


def test_mmio_copy_of_the_package_is_counted_once(tmp_path: Path) -> None:
    sensor, notes = open_at(POWERCAP / "laptop-tigerlake")

    devices = by_id(sensor)
    assert list(devices) == ["rapl:package-0"]  # core, uncore: parts of it; psys: noted
    assert devices["rapl:package-0"].extra["zone"] == "intel-rapl:0"
    # the MSR zone's value (18_234_567_890 uJ), not the MMIO one (18_234_601_234 uJ)
    assert sensor.read() == {"rapl:package-0": Reading(energy_j=18234.56789)}
    mmio_notes = [note for note in notes if "intel-rapl-mmio:0" in note.reason]
    assert len(mmio_notes) == 1
    assert "intel-rapl:0" in mmio_notes[0].reason
    assert len(notes) == 2  # the MMIO copy and psys


def test_mmio_package_alone_is_used(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_mmio_package(0, energy_uj=7_000_000)

    sensor, notes = open_at(tree.sysfs_root)

    devices = by_id(sensor)
    assert list(devices) == ["rapl:package-0"]
    assert devices["rapl:package-0"].extra["zone"] == "intel-rapl-mmio:0"
    assert sensor.read() == {"rapl:package-0": Reading(energy_j=7.0)}
    assert notes == []


def test_two_dies_are_two_devices_each_with_its_dram() -> None:
    sensor, notes = open_at(POWERCAP / "xeon-2die")

    devices = by_id(sensor)
    assert {key: device.kind for key, device in devices.items()} == {
        "rapl:package-0-die-0": "cpu",
        "rapl:dram-0-die-0": "dram",
        "rapl:package-0-die-1": "cpu",
        "rapl:dram-0-die-1": "dram",
    }
    assert devices["rapl:package-0-die-1"].name == "CPU package 0, die 1"
    assert devices["rapl:dram-0-die-1"].name == "DRAM (socket 0, die 1)"
    assert sensor.read() == {
        "rapl:package-0-die-0": Reading(energy_j=11111.111111),
        "rapl:dram-0-die-0": Reading(energy_j=2222.222222),
        "rapl:package-0-die-1": Reading(energy_j=33333.333333),
        "rapl:dram-0-die-1": Reading(energy_j=4444.444444),
    }
    assert notes == []


def test_plain_package_wins_over_die_zones_of_the_same_package(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=9_000_000)
    tree.add_die(0, 0, energy_uj=4_000_000)
    tree.add_die(0, 1, energy_uj=5_000_000)

    sensor, notes = open_at(tree.sysfs_root)

    assert sensor.read() == {"rapl:package-0": Reading(energy_j=9.0)}
    assert sorted(note.reason.split(" ")[0] for note in notes) == ["intel-rapl:1", "intel-rapl:2"]
    assert all("package-0 already includes" in note.reason for note in notes)


def test_dram_per_socket_on_a_two_socket_server() -> None:
    sensor, notes = open_at(POWERCAP / "xeon-2socket")

    devices = by_id(sensor)
    assert {key: device.kind for key, device in devices.items()} == {
        "rapl:package-0": "cpu",
        "rapl:dram-0": "dram",
        "rapl:package-1": "cpu",
        "rapl:dram-1": "dram",
    }
    assert devices["rapl:dram-1"].name == "DRAM (socket 1)"
    assert devices["rapl:package-1"].name == "CPU package 1"
    for device in devices.values():
        assert device.source == "rapl"
        assert device.measured is True
        assert device.counter is True
    # max_energy_range_uj 262143328850 and 65712999613 uJ, in joules
    assert devices["rapl:package-0"].max_energy_j == 262143.32885
    assert devices["rapl:dram-1"].max_energy_j == 65712.999613
    assert sensor.read() == {
        "rapl:package-0": Reading(energy_j=123456.789012),
        "rapl:dram-0": Reading(energy_j=23456.789012),
        "rapl:package-1": Reading(energy_j=98765.432101),
        "rapl:dram-1": Reading(energy_j=34567.890123),
    }
    assert notes == []


def test_amd_core_zone_is_not_counted() -> None:
    sensor, notes = open_at(POWERCAP / "amd-epyc")

    devices = by_id(sensor)
    assert list(devices) == ["rapl:package-0"]
    assert devices["rapl:package-0"].max_energy_j == 65532.610987
    assert sensor.read() == {"rapl:package-0": Reading(energy_j=38419.855704)}
    assert notes == []


def test_kinds_covered_by_an_earlier_sensor_are_left_out(tmp_path: Path) -> None:
    sensor, notes = open_at(POWERCAP / "xeon-2socket", covered=frozenset({"dram"}))

    assert set(by_id(sensor)) == {"rapl:package-0", "rapl:package-1"}
    assert sorted(note.reason.split(" ")[0] for note in notes) == ["rapl:dram-0", "rapl:dram-1"]


# -- reading ----------------------------------------------------------------------


def test_readings_are_raw_counters_with_no_wrap_correction(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    pkg = tree.add_package(0, energy_uj=262_143_000_000)
    sensor, _ = open_at(tree.sysfs_root)

    first = sensor.read()
    tree.set_energy(pkg, 262_143_328_000)
    second = sensor.read()
    tree.set_energy(pkg, 500_000)  # wrapped past 262_143_328_850 uJ
    third = sensor.read()

    assert first == {"rapl:package-0": Reading(energy_j=262143.0)}
    assert second == {"rapl:package-0": Reading(energy_j=262143.328)}
    assert third == {"rapl:package-0": Reading(energy_j=0.5)}
    assert third["rapl:package-0"].power_w is None


def test_read_error_mid_run_is_a_gap_not_an_exception(tmp_path: Path) -> None:
    tree = two_sockets(tmp_path)
    sensor, _ = open_at(tree.sysfs_root)
    assert len(sensor.read()) == 4

    tree.fail_reads("intel-rapl:1")  # package-1 can no longer be read
    during = sensor.read()
    tree.set_energy("intel-rapl:1", 3_500_000)
    after = sensor.read()

    assert during == {
        "rapl:package-0": Reading(energy_j=1.0),
        "rapl:dram-0": Reading(energy_j=2.0),
        "rapl:dram-1": Reading(energy_j=4.0),
    }
    assert after["rapl:package-1"] == Reading(energy_j=3.5)


def test_max_energy_j_is_none_when_the_range_cannot_be_read(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=1_000_000, max_energy_range_uj=None)
    tree.add_dram(0, energy_uj=1_000_000)

    sensor, _ = open_at(tree.sysfs_root)

    devices = by_id(sensor)
    assert devices["rapl:package-0"].max_energy_j is None
    assert devices["rapl:dram-0"].max_energy_j == 65712.999613


def test_sensor_satisfies_the_protocol_and_close_is_idempotent() -> None:
    sensor, _ = open_at(POWERCAP / "amd-epyc")

    assert isinstance(sensor, Sensor)
    assert sensor.name == "rapl"
    sensor.close()
    sensor.close()


# -- where to look ------------------------------------------------------------------


def test_sysfs_root_of_the_context_is_honoured_by_detect() -> None:
    server = detect(SensorContext(sysfs_root=POWERCAP / "xeon-2socket"), only=["rapl"])
    amd = detect(SensorContext(sysfs_root=POWERCAP / "amd-epyc"), only=["rapl"])

    assert [sensor.name for sensor in server.sensors] == ["rapl"]
    assert {d.id for d in server.sensors[0].devices()} == {
        "rapl:package-0",
        "rapl:dram-0",
        "rapl:package-1",
        "rapl:dram-1",
    }
    assert [d.id for d in amd.sensors[0].devices()] == ["rapl:package-0"]
    assert amd.sensors[0].read() == {"rapl:package-0": Reading(energy_j=38419.855704)}
    server.close()
    amd.close()


def test_no_powercap_folder_makes_the_sensor_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SensorUnavailable) as raised:
        open_at(tmp_path)

    assert "no RAPL zones" in str(raised.value)
    assert "WATTPRINT_SYSFS_ROOT" in str(raised.value)


def test_powercap_without_rapl_zones_makes_the_sensor_unavailable(tmp_path: Path) -> None:
    other = tmp_path / "class" / "powercap" / "dtpm"
    other.mkdir(parents=True)
    (other / "enabled").write_text("1\n")

    with pytest.raises(SensorUnavailable, match="no RAPL zones"):
        open_at(tmp_path)


def test_unknown_rapl_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'package'"):
        open_at(POWERCAP / "xeon-2socket", mode="platform")
