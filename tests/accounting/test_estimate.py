"""Estimates reproduce published studies from their inputs."""

from __future__ import annotations

import pytest

from wattprint.accounting.estimate import estimate
from wattprint.errors import ConfigError, HardwareError, RegionError


def test_bloom_training_footprint() -> None:
    # Luccioni et al. 2023: 1,082,990 GPU-hours at 400 W = 433,196 kWh; French grid 57 g/kWh
    # -> 24.7 t dynamic; idle 256,646 kWh (14.6 t); embodied 150 kg/GPU and 2,500 kg per
    # 8-GPU node over 6 years at 85 % -> 11.2 t; total 50.5 t.
    fp = estimate(gpu="NVIDIA A100-SXM4-80GB", gpus=384, gpu_hours=1_082_990,
                  intensity_g_per_kwh=57.0, pue=1.0, idle_kwh=256_646.0, embodied=True)
    assert fp.energy_kwh["dynamic"] == pytest.approx(1_082_990 * 0.4)
    assert fp.co2e_kg["dynamic"] == pytest.approx(1_082_990 * 0.4 * 57 / 1000)
    assert fp.co2e_kg["dynamic"] / 1000 == pytest.approx(24.7, abs=0.05)
    assert fp.co2e_kg["idle"] / 1000 == pytest.approx(256_646 * 57 / 1e6)
    per_gpu_hour = (150.0 + 2500.0 / 8) / (6 * 8760 * 0.85)
    assert fp.co2e_kg["embodied"] == pytest.approx(1_082_990 * per_gpu_hour)
    assert fp.co2e_kg["embodied"] / 1000 == pytest.approx(11.2, abs=0.05)
    assert fp.co2e_kg["total"] / 1000 == pytest.approx(50.5, abs=0.1)


def test_strubell_style_power_hours_pue_intensity() -> None:
    # Strubell et al. 2019: CO2e = 0.954 lb/kWh x 1.58 (PUE) x t x p / 1000; e.g. a
    # 120 h job drawing 1,415.78 W in total. 0.954 lb/kWh = 432.72 g/kWh.
    g_per_kwh = 0.954 * 453.59237
    fp = estimate(power_w=1415.78, hours=120, intensity_g_per_kwh=g_per_kwh, pue=1.58)
    kwh = 1.58 * 120 * 1415.78 / 1000
    assert fp.energy_kwh["total"] == pytest.approx(kwh)
    assert fp.co2e_kg["total"] == pytest.approx(kwh * g_per_kwh / 1000)
    assert fp.co2e_kg["total"] * 2.20462 == pytest.approx(0.954 * kwh, rel=1e-4)  # in lb


def test_gpu_power_defaults_to_catalogue_tdp_and_region_table() -> None:
    fp = estimate(gpu="NVIDIA A100-SXM4-80GB", gpus=2, hours=3, region="DE")
    assert fp.energy_kwh["dynamic"] == pytest.approx(2 * 3 * 400 / 1000)
    assert fp.intensity["region"] == "DE" and fp.intensity["source"] == "annual"
    assert any(p["factor"] == "gpu_power" and "catalogue" in p["source"] for p in fp.provenance)


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="--hours or --gpu-hours"):
        estimate(gpu="NVIDIA A100-SXM4-80GB")
    with pytest.raises(HardwareError):
        estimate(gpu="no such card 9000", hours=1)
    with pytest.raises(RegionError):
        estimate(power_w=100, hours=1, region="NOT-A-REGION")
    with pytest.raises(ConfigError, match="utilization"):
        estimate(power_w=100, hours=1, intensity_g_per_kwh=1, embodied=True, utilization=1.5)
