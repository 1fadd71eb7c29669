"""Node power in a stored run: beside the components, never added; ``--basis node``; the
one-measurer rule of distributed jobs; BMC credentials never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.config import load_settings
from wattprint.distributed import Election, Launch
from wattprint.errors import ConfigError
from wattprint.report.runview import run_document
from wattprint.run import Tracker
from wattprint.sampling import Sampler
from wattprint.sensors.node_power import BmcPoller, NodePowerSensor
from wattprint.store import Store
from wattprint.testing.sensors import ScriptedSensor


def _node(power_w: float) -> NodePowerSensor:
    """A node sensor whose BMC always answers ``power_w`` (the hardware edge)."""
    poller = BmcPoller(lambda: (power_w, 0.25), 0.05, 10.0)
    poller.seed(power_w, 0.25)
    poller.start()
    return NodePowerSensor("redfish", poller, "https://bmc.test", {"bmc_window_s": "0.25"})


def test_node_power_is_shown_beside_components_and_never_added(home: Path) -> None:
    cpu = ScriptedSensor.power("cpu", [100.0])
    node = _node(374.0)
    with Tracker("np", interval_s=0.05, region="FR", sensor_objects=[cpu, node]) as run:
        time.sleep(0.6)
    node.close()
    store = Store(home / "wattprint.db")
    intervals = store.intervals(run.id)
    cpu_s = sum(i.t_end - i.t_start for i in intervals if i.device_id == "fake:cpu-0")
    node_s = sum(i.t_end - i.t_start for i in intervals if i.device_id == "node:redfish")
    doc = run_document(store, run.id)
    assert doc["energy_j"] == pytest.approx(100.0 * cpu_s, rel=1e-6)
    assert run.energy_j == pytest.approx(100.0 * cpu_s, rel=1e-6)
    np_ = doc["node_power"]
    assert np_["node_j"] == pytest.approx(374.0 * node_s, rel=1e-6)
    assert np_["other_j"] == pytest.approx(374.0 * node_s - 100.0 * cpu_s, rel=1e-6)
    assert np_["bmc_window_s"] == 0.25
    on_components = account_run(store, run.id).footprint.to_dict()
    on_node = account_run(store, run.id, AccountingOptions(basis="node")).footprint.to_dict()
    assert on_components["energy_kwh"]["total"] == pytest.approx(100.0 * cpu_s / 3.6e6, rel=1e-6)
    assert on_node["energy_kwh"]["total"] == pytest.approx(374.0 * node_s / 3.6e6, rel=1e-6)
    # the CLI: show prints the node beside the components; account on the node basis
    env = {**os.environ, "WATTPRINT_HOME": str(home), "COLUMNS": "200"}
    shown = subprocess.run([sys.executable, "-m", "wattprint", "show", run.id],
                           capture_output=True, text=True, env=env, check=True).stdout
    assert "other (fans, PSU loss, disks, NICs) = node − (CPU + DRAM + GPU)" in shown
    out = subprocess.run([sys.executable, "-m", "wattprint", "account", run.id, "--basis",
                          "node", "--json"], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert json.loads(out)["footprint"]["energy_kwh"]["total"] == pytest.approx(
        374.0 * node_s / 3.6e6, rel=1e-6)
    md = subprocess.run([sys.executable, "-m", "wattprint", "report", run.id],
                        capture_output=True, text=True, env=env, check=True).stdout
    assert "contains the devices above and is never added to them" in md


def test_basis_node_needs_a_bmc(home: Path) -> None:
    with Tracker("np", interval_s=0.05, sensor_objects=[ScriptedSensor.power("cpu", [5.0])]
                 ) as run:
        time.sleep(0.1)
    with pytest.raises(ConfigError, match="has no node power from a BMC"):
        account_run(Store(home / "wattprint.db"), run.id, AccountingOptions(basis="node"))


def test_only_the_elected_node_measurer_measures_node_power(tmp_path: Path) -> None:
    launch = [Launch("job-1", "user", "n1", rank=r, local_rank=r, world_size=2,
                     local_world_size=2) for r in (0, 1)]
    sensors = [_node(300.0), _node(300.0)]
    out: list[list[object]] = [[], []]
    samplers = []
    for r in (0, 1):
        election = Election(launch[r], sensors[r].devices(), directory=tmp_path / "locks")
        samplers.append(Sampler([sensors[r]], lambda i, g, r=r: out[r].extend(i),
                                interval_s=0.05, gate=election))
    for s in samplers:
        s.start()
    time.sleep(0.5)
    for s in samplers:
        s.stop()
    for sensor in sensors:
        sensor.close()
    measured = [bool(o) for o in out]
    assert measured.count(True) == 1  # one measurer per (job, node): never counted twice


def test_config_masks_bmc_credentials(tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text(
        'node_power = "redfish"\nredfish_url = "https://root:calvin@10.0.0.9"\n'
        'redfish_user = "root"\nredfish_password_file = "/etc/wattprint/bmc.pass"\n'
        'ipmi_user = "ADMIN"\nnode_power_period = 10\n')
    settings = load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path / "x")}, cwd=tmp_path)
    assert settings.node_power == "redfish" and settings.node_power_period_s == 10.0
    eff = {k: v for k, (v, _) in settings.effective().items()}
    assert eff["redfish_url"] == "https://root:***@10.0.0.9"
    assert eff["redfish_user"] == "***" and eff["ipmi_user"] == "***"
    assert "calvin" not in repr(settings) and "calvin" not in str(eff)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "x"), "COLUMNS": "200"}
    shown = subprocess.run([sys.executable, "-m", "wattprint", "config", "--json"],
                           capture_output=True, text=True, env=env, cwd=tmp_path,
                           check=True).stdout
    assert "calvin" not in shown and '"***"' in shown
    with pytest.raises(ConfigError, match=r"redfish_url = 'ftp://root:\*\*\*@x'"):
        load_settings({"redfish_url": "ftp://root:calvin@x"}, environ={}, cwd=tmp_path)
