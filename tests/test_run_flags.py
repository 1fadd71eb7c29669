"""``wattprint run --instance-type TYPE`` and ``--node-power METHOD``, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.sensors import fake_ipmitool

from wattprint.store import Store
from wattprint.testing.powercap import PowercapTree

IPMI_FIXTURES = Path(__file__).parent / "fixtures" / "ipmi"
# CCF: m5.large is 2 of the 96 vCPUs of a 1,610.79 kgCO2e host over 4 years
M5_LARGE_KG_PER_S = 1610.79 / (4 * 8760 * 3600) * 2 / 96


def wattprint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.fixture
def env(home: Path, tmp_path: Path) -> dict[str, str]:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=1_000_000)
    e = dict(os.environ)
    e["WATTPRINT_SYSFS_ROOT"] = str(tree.sysfs_root)
    e["WATTPRINT_SENSORS"] = "rapl"
    for var in ("CUDA_VISIBLE_DEVICES", "WATTPRINT_INSTANCE_TYPE", "WATTPRINT_CLOUD_METADATA",
                "WATTPRINT_NODE_POWER"):
        e.pop(var, None)
    return e


def test_instance_type_is_recorded_and_charged_by_ccf(tmp_path: Path, home: Path,
                                                      env: dict[str, str]) -> None:
    child = tmp_path / "child.py"
    child.write_text("import os; print(os.environ.get('WATTPRINT_INSTANCE_TYPE'))\n")
    r = wattprint("run", "--instance-type", "m5.large", "--interval", "0.1", "--quiet", "--",
                  sys.executable, str(child), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "m5.large\n"  # the command's own track() runs record it too
    store = Store(home / "wattprint.db")
    run = store.run("last")
    store.close()
    assert run.info["host"]["instance_type"] == "m5.large"
    assert run.ended_at is not None
    duration_s = run.ended_at - run.started_at
    acc = wattprint("account", "last", "--region", "DE", "--json", env=env)
    assert acc.returncode == 0, acc.stderr
    fp = json.loads(acc.stdout)["footprint"]
    assert fp["co2e_kg"]["embodied"] == pytest.approx(duration_s * M5_LARGE_KG_PER_S, rel=1e-3)
    share = next(p for p in fp["provenance"] if p["factor"] == "embodied_share")
    assert share["source"].startswith("by instance type (CCF): aws m5.large")


def test_unknown_instance_type_fails_before_the_command(tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    marker = tmp_path / "ran"
    r = wattprint("run", "--instance-type", "x9.huge", "--", sys.executable, "-c",
                  f"open({str(marker)!r}, 'w')", env=env)
    assert r.returncode == 2
    assert "x9.huge" in r.stderr and "Cloud Carbon Footprint" in r.stderr
    assert not marker.exists()


def test_node_power_flag_reads_the_bmc(tmp_path: Path, env: dict[str, str]) -> None:
    state = tmp_path / "bmc"
    fake_ipmitool.install(tmp_path / "bin", state)
    (state / "outputs").write_text(str(IPMI_FIXTURES / "ha_addons_38_ipmitool_1_8_19.txt"))
    env = {**env, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}",
           "FAKE_IPMITOOL_DIR": str(state), "WATTPRINT_SENSORS": "rapl,node",
           "WATTPRINT_NODE_POWER_PERIOD": "0.5"}
    script = "import time; time.sleep(1.5)"
    r = wattprint("run", "--node-power", "ipmi", "--interval", "0.1", "--quiet", "--",
                  sys.executable, "-c", script, env=env)
    assert r.returncode == 0, r.stderr
    shown = json.loads(wattprint("show", "last", "--json", env=env).stdout)
    kinds = {d["kind"]: d for d in shown["devices"]}
    assert "node" in kinds
    assert (state / "argv.log").read_text().count("dcmi") >= 1
    # off (the default) wins nothing from a BMC: no node device
    r = wattprint("run", "--node-power", "off", "--interval", "0.1", "--quiet", "--",
                  sys.executable, "-c", "pass", env={**env, "WATTPRINT_SENSORS": "rapl"})
    assert r.returncode == 0, r.stderr
    shown = json.loads(wattprint("show", "last", "--json", env=env).stdout)
    assert "node" not in {d["kind"] for d in shown["devices"]}


def test_node_power_flag_is_checked(env: dict[str, str]) -> None:
    r = wattprint("run", "--node-power", "bmc", "--", sys.executable, "-c", "pass", env=env)
    assert r.returncode == 2
    assert "node_power" in r.stderr and "ipmi" in r.stderr
