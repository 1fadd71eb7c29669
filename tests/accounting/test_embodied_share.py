"""Embodied carbon charged by the run's share of its host (Cloud Carbon Footprint's rule).

A CPU-only run of one hour: the server charged is CCF's commodity rack
server, 1,000 kgCO2e, amortised over 6 years × 8,760 h × 0.85 = 44,676 h,
i.e. 1000 / 44676 kg per server-hour. A VM or container is charged only its
share of that server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wattprint.accounting import hardware
from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.report.appendix import run_appendix
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = 1_709_254_800.0
SERVER_HOUR_KG = 1000.0 / (6 * 8760 * 0.85)


def add_run(store: Store, *, logical: int, vcpus: str | None, energy_j: float = 3.6e5) -> str:
    extra: dict[str, Any] = {"vcpus": vcpus, "idle_w": "1"} if vcpus else {}
    rid = store.create_run(project="vm", phase="training", attribution="machine",
                           interval_s=60.0, started_at=T0,
                           info={"host": {"cpu_logical": logical, "memory_gb": 8.0}})
    store.add_devices(rid, [DeviceRecord("model:cpu", "cpu", "Some CPU (model)", "model",
                                         False, False, "ccf", "cpu-time-share", extra)])
    store.append_intervals(rid, [IntervalRecord("model:cpu", T0, T0 + 3600, energy_j,
                                                energy_j)])
    store.finish_run(rid, status="finished", ended_at=T0 + 3600, exit_code=0)
    return rid


def csv(tmp_path: Path) -> Path:
    path = tmp_path / "ci.csv"
    path.write_text("timestamp,g_per_kwh\n2024-03-01T00:00:00Z,100\n2024-03-02T00:00:00Z,100\n")
    return path


def share_row(provenance: list[dict[str, Any]]) -> dict[str, Any]:
    return next(p for p in provenance if p["factor"] == "embodied_share")


def test_container_is_charged_its_cgroup_share_of_the_host(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    # a container limited to 2 vCPUs on a 16-CPU host (the model counted 2 vCPUs)
    rid = add_run(store, logical=16, vcpus="2")
    fp = account_run(store, rid, AccountingOptions(intensity_file=csv(tmp_path), pue=1.0)
                     ).footprint
    assert fp.co2e_kg["embodied"] == pytest.approx(SERVER_HOUR_KG * 2 / 16, rel=1e-12)
    row = share_row(fp.provenance)
    assert row["value"] == 0.125
    assert row["source"].startswith("vCPU share: 2 of 16 host vCPUs")


def test_vm_is_charged_its_vcpus_of_the_configured_host(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    # a 2-vCPU VM (it sees 2 logical CPUs) on a host the user says has 96 vCPUs
    rid = add_run(store, logical=2, vcpus=None)
    opts = AccountingOptions(intensity_file=csv(tmp_path), pue=1.0,
                             catalogue_overrides={"host_vcpus": 96})
    fp = account_run(store, rid, opts).footprint
    assert fp.co2e_kg["embodied"] == pytest.approx(SERVER_HOUR_KG * 2 / 96, rel=1e-12)
    assert share_row(fp.provenance)["source"] == (
        "vCPU share: 2 of 96 host vCPUs (override from configuration)")


def test_memory_share_when_only_host_memory_is_known(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = add_run(store, logical=2, vcpus=None)
    opts = AccountingOptions(intensity_file=csv(tmp_path), pue=1.0,
                             catalogue_overrides={"host_memory_gb": 384})
    fp = account_run(store, rid, opts).footprint
    # 8 GB of a 384 GB host
    assert fp.co2e_kg["embodied"] == pytest.approx(SERVER_HOUR_KG * 8 / 384, rel=1e-12)


def test_unknown_host_is_charged_whole_and_dominance_is_noted(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    # 0.1 kWh at 100 g/kWh = 10 g operational; the whole server hour is 22.4 g embodied
    rid = add_run(store, logical=2, vcpus=None)
    opts = AccountingOptions(intensity_file=csv(tmp_path), pue=1.0)
    fp = account_run(store, rid, opts).footprint
    assert fp.co2e_kg["dynamic"] + fp.co2e_kg["idle"] == pytest.approx(0.01, rel=1e-12)
    assert fp.co2e_kg["embodied"] == pytest.approx(SERVER_HOUR_KG, rel=1e-12)
    assert share_row(fp.provenance)["source"].startswith("whole server: the host's size")
    notes = run_appendix(store, rid, opts)["notes"]
    assert any(n.startswith("embodied carbon is more than operational (2.2×)") for n in notes)


def test_host_share_rule() -> None:
    assert hardware.host_share(vcpus=4, host_vcpus=64).share == 4 / 64
    assert hardware.host_share(vcpus=64, host_vcpus=64).share == 1.0
    assert hardware.host_share(vcpus=None, host_vcpus=64, memory_gb=16,
                               host_memory_gb=256).share == 16 / 256
    assert hardware.host_share(vcpus=2, host_vcpus=None).share == 1.0
