"""Provenance of a project report: one row per region and source; means inside their range.

A DE + FR project (5 runs in Germany, 3 in France), accounted with the
shipped annual tables: Ember / OWID 2025 gives DE 329.65 and FR 41.44
gCO2e/kWh, one value per country, so each run's intensity has
min = mean = max.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.report.appendix import project_appendix, run_appendix
from wattprint.report.render_md import appendix_markdown
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = 1_709_254_800.0  # 2024-03-01 01:00 UTC


def add_run(store: Store, region: str, start: float) -> str:
    rid = store.create_run(project="eu", phase="training", attribution="machine",
                           interval_s=1.0, started_at=start, region=region)
    store.add_devices(rid, [DeviceRecord("nvml:0", "gpu", "Unknown Card 9", "nvml", True, True,
                                         None, "whole-device")])
    # uneven energies whose weighted mean, summed in floats, is 329.65000000000003
    store.append_intervals(rid, [IntervalRecord("nvml:0", start + k, start + k + 1, e, e)
                                 for k, e in enumerate((1344.5, 8474.5, 7638.0))])
    store.finish_run(rid, status="finished", ended_at=start + 3, exit_code=0)
    return rid


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "w.db")


def test_project_provenance_lists_each_region_with_its_source(store: Store) -> None:
    for k in range(5):
        add_run(store, "DE", T0 + 10 * k)
    for k in range(3):
        add_run(store, "FR", T0 + 100 + 10 * k)
    doc = project_appendix(store, "eu", opts=AccountingOptions(pue=1.0, embodied=False))
    grid = [a for a in doc["assumptions"] if a["factor"] == "grid_intensity"]
    assert [(a["region"], a["runs"]) for a in grid] == [("DE", 5), ("FR", 3)]
    for a in grid:
        assert a["dataset"] == "countries_owid_ember.csv" and a["year"] == 2025
        assert a["source"] == "Ember, with major processing by Our World in Data"
    regions = [a for a in doc["assumptions"] if a["factor"] == "region"]
    assert sorted(a["runs"] for a in regions) == [3, 5]
    text = appendix_markdown(doc)
    assert "| grid_intensity | DE | countries_owid_ember.csv, 2025, average, lifecycle, " \
           "CC BY 4.0 |" in text
    assert "| grid_intensity | FR | countries_owid_ember.csv, 2025, average, lifecycle, " \
           "CC BY 4.0 |" in text
    de_row = next(line for line in text.splitlines() if line.startswith("| grid_intensity | DE"))
    fr_row = next(line for line in text.splitlines() if line.startswith("| grid_intensity | FR"))
    assert de_row.endswith(" | 5 |") and fr_row.endswith(" | 3 |")


def test_mean_intensity_is_inside_its_range(store: Store) -> None:
    rid = add_run(store, "DE", T0)
    intensity = account_run(store, rid, AccountingOptions(pue=1.0)).footprint.intensity
    assert intensity["min_g_per_kwh"] == 329.65 and intensity["max_g_per_kwh"] == 329.65
    assert intensity["mean_g_per_kwh"] == 329.65  # not 329.65000000000003
    doc = run_appendix(store, rid, AccountingOptions(pue=1.0))
    text = appendix_markdown(doc, precision=4)
    lines = [line for line in text.splitlines()
             if line.startswith(("| mean, energy-weighted |", "| min |", "| max |"))]
    assert lines == ["| mean, energy-weighted | 329.6 g/kWh |", "| min | 329.6 g/kWh |",
                     "| max | 329.6 g/kWh |"]
