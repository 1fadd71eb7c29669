"""Node power over IPMI DCMI: ipmitool's real output, recorded from real BMCs.

OpenIPMI's ``ipmi_sim`` does not implement DCMI *Get Power Reading*, so the
BMC is a fake ``ipmitool`` on ``PATH`` that prints outputs pasted into public
issues by users of real servers (tests/fixtures/ipmi/SOURCE.md cites each).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from tests.sensors import fake_ipmitool

from wattprint.errors import SensorError
from wattprint.sampling import Sampler
from wattprint.sensors.context import SensorContext
from wattprint.sensors.detect import detect
from wattprint.sensors.ipmi import IpmiOptions, IpmiReader, parse_dcmi_power_reading
from wattprint.sensors.node_power import NodePowerOptions, NodePowerSensor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ipmi"


@pytest.mark.parametrize(("name", "expected"), [
    ("lovoo_ipmi_exporter_18.txt", (215, 162, 276, 176, 1131466, "activated")),
    ("radiorabe_zabbix_101.txt", (197, 175, 242, 190, 123893, "activated")),
    ("ha_addons_38_ipmitool_1_8_19.txt", (186, 129, 386, 198, 898033, "activated")),
    ("openbmc_3257_deactivated.txt", (319, 319, 319, 319, 0, "deactivated")),
])
def test_parses_recorded_outputs(name: str, expected: tuple[float, ...]) -> None:
    r = parse_dcmi_power_reading((FIXTURES / name).read_text())
    assert (r.instantaneous_w, r.minimum_w, r.maximum_w, r.average_w, r.sampling_period_s,
            r.state) == expected


def test_zero_deactivated_is_no_reading() -> None:
    with pytest.raises(ValueError, match="deactivated"):
        parse_dcmi_power_reading((FIXTURES / "phosphor_ipmid_167_zero.txt").read_text())
    with pytest.raises(ValueError, match="no DCMI power reading"):
        parse_dcmi_power_reading("Invalid command\n")


@pytest.fixture
def bmc(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fake ipmitool on PATH; returns its state folder and the environment to run it in."""
    state = tmp_path / "bmc"
    fake_ipmitool.install(tmp_path / "bin", state)
    env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "FAKE_IPMITOOL_DIR": str(state)}
    return state, env


def _outputs(state: Path, *names: str) -> None:
    (state / "outputs").write_text("\n".join(str(FIXTURES / n) for n in names))


def test_lanplus_command_keeps_the_password_in_its_file(bmc: tuple[Path, dict[str, str]],
                                                        tmp_path: Path) -> None:
    state, env = bmc
    _outputs(state, "radiorabe_zabbix_101.txt")
    secret = tmp_path / "ipmi.pass"
    secret.write_text("s3cret-pw\n")
    reader = IpmiReader(IpmiOptions(interface="lanplus", host="10.0.0.5", user="admin",
                                    password_file=secret), env)
    assert reader.read().instantaneous_w == 197
    call = json.loads((state / "argv.log").read_text().splitlines()[0])
    assert call["argv"] == ["-I", "lanplus", "-H", "10.0.0.5", "-U", "admin", "-f", str(secret),
                            "dcmi", "power", "reading"]
    assert "s3cret-pw" not in (state / "argv.log").read_text()
    assert reader.where == "lanplus://10.0.0.5"


def test_in_band_and_password_from_environment(bmc: tuple[Path, dict[str, str]]) -> None:
    state, env = bmc
    _outputs(state, "lovoo_ipmi_exporter_18.txt")
    reader = IpmiReader(IpmiOptions(password_env="pw"), env)
    reader.read()
    call = json.loads((state / "argv.log").read_text().splitlines()[0])
    assert call == {"argv": ["-E", "dcmi", "power", "reading"], "password_env": True}


def test_failing_and_slow_ipmitool(bmc: tuple[Path, dict[str, str]]) -> None:
    state, env = bmc
    (state / "fail").write_text("Error: Unable to establish IPMI v2 / RMCP+ session\n")
    reader = IpmiReader(IpmiOptions(interface="lanplus", host="bmc1", timeout_s=0.5), env)
    with pytest.raises(SensorError, match="Unable to establish IPMI v2"):
        reader.read()
    (state / "fail").unlink()
    (state / "sleep_s").write_text("3")
    t0 = time.monotonic()
    with pytest.raises(SensorError, match=r"did not answer within 0\.5 s"):
        reader.read()
    assert time.monotonic() - t0 < 2.5


def test_detection_skips_with_reasons(tmp_path: Path) -> None:
    found = detect(SensorContext(sysfs_root=tmp_path, environ={"PATH": str(tmp_path)},
                                 node_power=None), only=None)
    assert ("node", 'node power is off (set node_power = "ipmi" or "redfish" to read the BMC)'
            ) in [(s.sensor, s.reason) for s in found.skipped]
    found.close()
    options = NodePowerOptions("ipmi", 5.0, 1.0, IpmiOptions())
    found = detect(SensorContext(sysfs_root=tmp_path, environ={"PATH": str(tmp_path)},
                                 node_power=options))
    reasons = {s.sensor: s.reason for s in found.skipped}
    assert reasons["node"].startswith("ipmitool not found on PATH")
    found.close()
    with pytest.raises(SensorError, match="sensor 'node' was asked for but is unavailable"):
        detect(SensorContext(sysfs_root=tmp_path, environ={"PATH": str(tmp_path)},
                             node_power=options), only=["node"])


def test_sampled_energy_and_a_failing_bmc_is_a_gap(bmc: tuple[Path, dict[str, str]],
                                                   tmp_path: Path) -> None:
    state, env = bmc
    _outputs(state, "lovoo_ipmi_exporter_18.txt")
    options = NodePowerOptions("ipmi", 0.5, 1.0, IpmiOptions())
    found = detect(SensorContext(sysfs_root=tmp_path, environ=env, node_power=options),
                   only=["node"])
    sensor = found.sensors[0]
    assert isinstance(sensor, NodePowerSensor)
    device = sensor.devices()[0]
    assert (device.id, device.kind, device.source, device.measured, device.counter) == (
        "node:ipmi", "node", "ipmi", True, False)
    assert device.extra["bmc_window_s"] == "1131466"
    assert device.extra["dcmi_state"] == "activated"
    intervals = []
    gaps = []
    sampler = Sampler(found.sensors, lambda i, g: (intervals.extend(i), gaps.extend(g)),
                      interval_s=0.1)
    sampler.start()
    time.sleep(0.8)
    (state / "fail").write_text("Error: Unable to establish IPMI v2 / RMCP+ session\n")
    time.sleep(2.5)  # longer than 10 sampler ticks: the device must not be dropped
    (state / "fail").unlink()
    time.sleep(1.5)
    sampler.stop()
    found.close()
    assert "node:ipmi" not in sampler.dropped
    assert intervals
    covered_s = sum(r.t_end - r.t_start for r in intervals)
    # every reading was 215 W (the same recorded output): energy = 215 W x covered time
    # (to the precision of the stored epoch-second timestamps)
    assert sum(r.energy_j for r in intervals) == pytest.approx(215.0 * covered_s, rel=1e-6)
    assert any("Unable to establish IPMI v2" in g.reason for g in gaps)
    # the gap closed when the BMC answered again: intervals after it
    last_gap_end = max(g.t_end for g in gaps)
    assert any(r.t_start >= last_gap_end - 1e-9 for r in intervals)
