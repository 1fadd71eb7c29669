"""Provisioning cost from known inputs, against hand computation."""

from __future__ import annotations

import pytest

from wattprint.audit.costs import CostFactors, cost_section, provisioning_cost
from wattprint.audit.report import savings_sentence


def test_cost_of_one_provisioning_by_hand() -> None:
    factors = CostFactors(intensity_g_per_kwh=400.0, bandwidth_mbps=100.0)
    cost = provisioning_cost(2.5e9, factors)
    # 2.5 GB x 8 bit / 100 Mbit/s = 200 s
    assert cost.transfer_s == pytest.approx(200.0)
    # network 2.5 GB x 0.001 kWh/GB = 0.0025 kWh
    assert cost.network_energy_kwh == pytest.approx(0.0025)
    # storage 2.5 GB x 1.2 Wh/TBh = 1.2e-6 kWh/GBh, kept 30 days = 720 h: 0.00216 kWh
    assert cost.storage_energy_kwh == pytest.approx(0.00216)
    assert cost.energy_kwh == pytest.approx(0.00466)
    # 0.00466 kWh x 400 g/kWh = 1.864 g
    assert cost.co2e_g == pytest.approx(1.864)


def test_factors_given_by_the_user() -> None:
    factors = CostFactors(intensity_g_per_kwh=50.0, bandwidth_mbps=1000.0,
                          network_kwh_per_gb=0.06, keep_h=0.0)
    cost = provisioning_cost(1e9, factors)
    assert cost.transfer_s == pytest.approx(8.0)
    assert cost.storage_energy_kwh == 0.0
    assert cost.energy_kwh == pytest.approx(0.06)
    assert cost.co2e_g == pytest.approx(3.0)


def test_savings_sentence() -> None:
    factors = CostFactors(intensity_g_per_kwh=400.0, bandwidth_mbps=100.0)
    doc = {"costs": cost_section(4e9, 2.5e9, factors)}
    # 0.00466 kWh = 16,776 J = 4.66 Wh; 1.864 g
    assert savings_sentence(doc) == ("debloating saves 2.5 GB, 200 s, 4.66 Wh and 1.86 g CO2e "
                                     "per deployment")
    assert doc["costs"]["per_provisioning"]["transfer_s"] == pytest.approx(320.0)


def test_invalid_factors() -> None:
    with pytest.raises(ValueError, match="bandwidth"):
        CostFactors(intensity_g_per_kwh=1.0, bandwidth_mbps=0.0)
    with pytest.raises(ValueError, match="keep_h"):
        CostFactors(intensity_g_per_kwh=1.0, keep_h=-1.0)
