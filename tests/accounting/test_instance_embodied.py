"""Embodied carbon by cloud instance type: Cloud Carbon Footprint's figure, vCPU share, 4 years.

CCF's table gives ``m5.large`` (2 vCPUs, family m5 whose largest instance has
96) a whole-host figure of 1,610.79 kgCO2e. CCF charges an instance
``host_kg × hours / (4 × 8,760) × vcpus / host_vcpus``: one hour of m5.large
is 1610.79 / 35,040 × 2 / 96 = 9.5771e-4 kg.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.accounting.estimate import estimate
from wattprint.catalogue.instances import instance_embodied
from wattprint.errors import HardwareError
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = 1_709_254_800.0
M5_LARGE_HOUR_KG = 1610.79 / (4 * 8760) * 2 / 96


def add_run(store: Store, host: dict[str, Any], kind: str = "cpu", name: str = "Some CPU",
            ) -> str:
    rid = store.create_run(project="vm", phase="training", attribution="machine",
                           interval_s=60.0, started_at=T0, info={"host": host})
    store.add_devices(rid, [DeviceRecord("d0", kind, name, "model", False, False, "ccf",
                                         "cpu-time-share", {})])
    store.append_intervals(rid, [IntervalRecord("d0", T0, T0 + 3600, 3.6e5, 3.6e5)])
    store.finish_run(rid, status="finished", ended_at=T0 + 3600, exit_code=0)
    return rid


def test_the_table_has_ccf_figures_and_vcpus() -> None:
    m5 = instance_embodied("m5.large")
    assert (m5.provider, m5.vcpus, m5.host_vcpus, m5.host_embodied_kg) == ("aws", 2, 96, 1610.79)
    # the metadata services' spellings find the table's
    assert instance_embodied("Standard_D4s_v3").instance_type == "D4s v3"
    assert instance_embodied("projects/1/machineTypes/e2-standard-4").vcpus == 4
    assert instance_embodied("gcp:e2-standard-4").host_embodied_kg == 1230.46
    with pytest.raises(HardwareError, match="not in Cloud Carbon Footprint"):
        instance_embodied("x9.huge")


def test_a_run_on_a_known_instance_is_charged_ccf_embodied(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = add_run(store, {"cpu_logical": 2, "instance_type": "m5.large"})
    fp = account_run(store, rid, AccountingOptions(pue=1.0)).footprint
    assert fp.co2e_kg["embodied"] == pytest.approx(M5_LARGE_HOUR_KG, rel=1e-12)
    share = next(p for p in fp.provenance if p["factor"] == "embodied_share")
    assert share["value"] == pytest.approx(2 / 96)
    assert share["source"].startswith("by instance type (CCF): aws m5.large: 2 of 96 vCPUs")
    node = next(p for p in fp.provenance if p["factor"] == "embodied_node")
    assert node["value"] == 1610.79 and "by instance type (CCF)" in node["source"]
    life = next(p for p in fp.provenance if p["factor"] == "lifetime")
    assert life["value"] == 4.0


def test_the_option_wins_over_the_recorded_type_and_gpus_are_not_charged_twice(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    # a p4d.24xlarge: 96 of 96 vCPUs, 4,676.79 kg with its 8 GPUs; the GPU card is
    # inside that figure and gets no embodied charge of its own
    rid = add_run(store, {"cpu_logical": 96, "instance_type": "m5.large"}, kind="gpu",
                  name="NVIDIA A100-SXM4-40GB")
    fp = account_run(store, rid, AccountingOptions(pue=1.0, instance_type="p4d.24xlarge")
                     ).footprint
    assert fp.co2e_kg["embodied"] == pytest.approx(4676.79 / (4 * 8760), rel=1e-12)
    assert not [p for p in fp.provenance if p["factor"] == "embodied"]


def test_config_instance_type_and_an_unknown_type(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = add_run(store, {"cpu_logical": 2})
    fp = account_run(store, rid, AccountingOptions(
        pue=1.0, catalogue_overrides={"instance_type": "m5.large"})).footprint
    assert fp.co2e_kg["embodied"] == pytest.approx(M5_LARGE_HOUR_KG, rel=1e-12)
    unknown = account_run(store, rid, AccountingOptions(pue=1.0, instance_type="x9.huge"))
    notes = [p for p in unknown.footprint.provenance if p["factor"] == "instance_type"]
    assert notes and "host share" in notes[0]["source"]
    share = next(p for p in unknown.footprint.provenance if p["factor"] == "embodied_share")
    assert not share["source"].startswith("by instance type")


def test_estimate_with_an_instance_type() -> None:
    fp = estimate(power_w=100.0, hours=10.0, intensity_g_per_kwh=100.0, embodied=True,
                  instance_type="m5.large", environ={})
    assert fp.co2e_kg["embodied"] == pytest.approx(10 * M5_LARGE_HOUR_KG, rel=1e-12)


def test_estimate_cli_takes_instance_type(home: Path) -> None:
    env = dict(os.environ)
    env.pop("WATTPRINT_INSTANCE_TYPE", None)
    r = subprocess.run([sys.executable, "-m", "wattprint", "estimate", "--power-w", "100",
                        "--hours", "10", "--intensity", "100", "--embodied", "--instance-type",
                        "m5.large", "--json"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    import json

    doc = json.loads(r.stdout)
    assert doc["footprint"]["co2e_kg"]["embodied"] == pytest.approx(10 * M5_LARGE_HOUR_KG,
                                                                     rel=1e-12)
