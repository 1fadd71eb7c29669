"""A footprint's p5-p95 interval: measured energy adds nothing; the rest carries its range."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.accounting.estimate import estimate
from wattprint.accounting.pue import provider_defaults
from wattprint.accounting.uncertainty import footprint_interval, input_ranges, with_interval
from wattprint.report.appendix import run_appendix
from wattprint.report.render_html import run_html
from wattprint.report.render_md import run_markdown
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = 1_709_254_800.0


def measured_run(store: Store, *, estimated_cpu: bool = False) -> str:
    """One hour, 1 kWh on a measured RAPL package (and, if asked, a modelled CPU)."""
    rid = store.create_run(project="u", phase="training", attribution="machine",
                           interval_s=60.0, started_at=T0, info={"host": {"cpu_logical": 2}})
    devices = [DeviceRecord("rapl:0", "cpu", "package-0", "rapl", True, True, "", "", {})]
    intervals = [IntervalRecord("rapl:0", T0, T0 + 3600, 3.6e6, 3.6e6)]
    if estimated_cpu:
        devices.append(DeviceRecord(
            "model:cpu", "cpu", "Some CPU (model)", "model", False, False,
            "CCF coefficients (aws), Cascade Lake: 0.64-3.97 W/vCPU x 400 vCPU", "",
            {"vcpus": "400", "idle_w": "256"}))
        # 1 kWh: its floor (all idle) 256 W × 1 h = 0.256 kWh, its ceiling 0.256 × 3.97 / 0.64
        intervals.append(IntervalRecord("model:cpu", T0, T0 + 3600, 3.6e6, 3.6e6))
    store.add_devices(rid, devices)
    store.append_intervals(rid, intervals)
    store.finish_run(rid, status="finished", ended_at=T0 + 3600, exit_code=0)
    return rid


def flat_series(tmp_path: Path, g_per_kwh: float = 100.0) -> Path:
    path = tmp_path / "ci.csv"
    path.write_text(f"timestamp,g_per_kwh\n2024-03-01T00:00:00Z,{g_per_kwh}\n"
                    f"2024-03-02T00:00:00Z,{g_per_kwh}\n")
    return path


def test_measured_run_with_given_pue_varies_by_intensity_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = measured_run(store)
    fp = account_run(store, rid, AccountingOptions(intensity_file=flat_series(tmp_path),
                                                   pue=1.5, embodied=False)).footprint
    # 1 kWh × 100 g/kWh × PUE 1.5 = 0.15 kg; a user series is ±10 % uniform, the PUE is
    # the user's: p5 = 0.15 × (0.9 + 0.05 × 0.2) = 0.1365, p95 = 0.15 × 1.09 = 0.1635
    assert fp.co2e_kg["total"] == pytest.approx(0.15)
    assert [r.factor for r in input_ranges(fp)] == ["intensity"]
    interval = footprint_interval(fp)
    assert interval.central_kg == fp.co2e_kg["total"]
    assert interval.low_kg == pytest.approx(0.1365, rel=2e-3)
    assert interval.high_kg == pytest.approx(0.1635, rel=2e-3)


def _product_percentiles(a: float, b: float, c: float, d: float) -> tuple[float, float]:
    """p5 and p95 of X × Y, X ~ U(a, b), Y ~ U(c, d), on a fine grid (no sampling)."""
    n = 1500
    x = a + (b - a) * (np.arange(n) + 0.5) / n
    y = c + (d - c) * (np.arange(n) + 0.5) / n
    products = np.sort(np.outer(x, y).ravel())
    return float(products[int(0.05 * products.size)]), float(products[int(0.95 * products.size)])


def test_measured_run_shrinks_to_intensity_and_pue(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = measured_run(store)
    opts = AccountingOptions(region="aws:us-east-1", intensity_file=flat_series(tmp_path),
                             embodied=False)
    fp = account_run(store, rid, opts).footprint
    pue = provider_defaults()["aws"][0]
    assert fp.pue == pue
    assert [r.factor for r in input_ranges(fp)] == ["intensity", "pue"]
    # intensity ±10 %, PUE from 0.05 below to 0.1 above the provider's figure
    low, high = _product_percentiles(0.9, 1.1, (pue - 0.05) / pue, (pue + 0.1) / pue)
    interval = footprint_interval(fp)
    central = 0.1 * pue  # 1 kWh × 100 g/kWh × PUE
    assert interval.central_kg == pytest.approx(central)
    assert interval.low_kg == pytest.approx(central * low, rel=3e-3)
    assert interval.high_kg == pytest.approx(central * high, rel=3e-3)
    # an estimated device adds its own range and widens the interval
    rid2 = measured_run(store, estimated_cpu=True)
    fp2 = account_run(store, rid2, opts).footprint
    cpu = next(r for r in input_ranges(fp2) if r.factor == "energy:model:cpu")
    assert (cpu.shape, cpu.low) == ("triangular", pytest.approx(0.256))
    assert cpu.high == pytest.approx(0.256 * 3.97 / 0.64)
    wide = footprint_interval(fp2)
    assert wide.high_kg - wide.low_kg > (interval.high_kg - interval.low_kg) * \
        fp2.co2e_kg["total"] / fp.co2e_kg["total"]


def test_the_same_seed_gives_the_same_interval(tmp_path: Path) -> None:
    fp = estimate(gpu="NVIDIA A100-SXM4-80GB", gpus=8, hours=10, region="DE", embodied=True)
    first, second = footprint_interval(fp), footprint_interval(fp)
    assert (first.low_kg, first.high_kg) == (second.low_kg, second.high_kg)
    other = footprint_interval(fp, seed=7)
    assert (other.low_kg, other.high_kg) != (first.low_kg, first.high_kg)
    assert other.low_kg == pytest.approx(first.low_kg, rel=0.02)


def test_bloom_interval_contains_its_unchanged_central_value() -> None:
    fp = estimate(gpu="NVIDIA A100-SXM4-80GB", gpus=384, gpu_hours=1_082_990,
                  intensity_g_per_kwh=57.0, pue=1.0, idle_kwh=256_646.0, embodied=True)
    sure = with_interval(fp)
    assert sure.co2e_kg == fp.co2e_kg  # the central value is not touched
    low, high = sure.to_dict()["co2e_kg_interval"]
    # the percentiles themselves hold the central value: the interval was not widened to it
    assert sure.to_dict()["uncertainty"]["widened_to_central"] is False
    assert low < fp.co2e_kg["total"] < high
    assert math.isfinite(low) and low > 0
    factors = [r["factor"] for r in sure.to_dict()["uncertainty"]["ranges"]]
    assert factors == ["energy:estimate", "intensity", "embodied", "lifetime"]  # PUE given


def test_the_appendix_carries_the_interval(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = measured_run(store)
    doc = run_appendix(store, rid, AccountingOptions(intensity_file=flat_series(tmp_path),
                                                     pue=1.5, embodied=False))
    low, high = doc["footprint"]["co2e_kg_interval"]
    assert low == pytest.approx(0.1365, rel=2e-3) and high == pytest.approx(0.1635, rel=2e-3)
    text = run_markdown(doc)
    assert "## Uncertainty" in text and "5th to 95th percentile" in text
    assert "<h2>Uncertainty</h2>" in run_html(doc)
