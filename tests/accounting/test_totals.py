from __future__ import annotations

from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.accounting.totals import project_totals
from wattprint.store import DeviceRecord, IntervalRecord, Store


def add_run(store: Store, phase: str, energy_j: float, start: float) -> str:
    rid = store.create_run(project="life", phase=phase, attribution="machine", interval_s=60,
                           started_at=start)
    store.add_devices(rid, [DeviceRecord("x:gpu", "gpu", "Unknown card", "x", True, True, None,
                                         "whole-device")])
    store.append_intervals(rid, [IntervalRecord("x:gpu", start, start + 3600, energy_j,
                                                energy_j)])
    store.finish_run(rid, status="finished", ended_at=start + 3600)
    return rid


def test_totals_by_phase(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    add_run(store, "data", 3.6e6, 0.0)
    add_run(store, "training", 7.2e6, 10_000.0)
    add_run(store, "training", 3.6e6, 20_000.0)
    csv = tmp_path / "ci.csv"
    csv.write_text("timestamp,g_per_kwh\n1970-01-01T00:00:00Z,100\n1970-01-02T00:00:00Z,100\n")
    out = project_totals(store, "life", by="phase",
                         opts=AccountingOptions(intensity_file=csv, pue=1.5, embodied=False))
    assert set(out["groups"]) == {"data", "training"}
    training = out["groups"]["training"]
    assert training["runs"] == 2 and training["duration_s"] == 7200.0
    # 3 kWh measured x PUE 1.5 at 100 g/kWh; unknown card: catalogue default idle is
    # not applied, all dynamic
    assert training["energy_kwh"]["total"] == pytest.approx(4.5)
    assert training["co2e_kg"]["total"] == pytest.approx(0.45)
    assert out["total"]["energy_kwh"]["total"] == pytest.approx(6.0)
    assert out["total"]["runs"] == 3
    with pytest.raises(ValueError, match="cannot group"):
        project_totals(store, "life", by="colour")
