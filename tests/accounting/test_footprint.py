"""Footprint formulas against numbers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from wattprint.accounting.footprint import DeviceUse, EmbodiedParams, compute_footprint
from wattprint.accounting.series import Provenance

PROV = Provenance("test source", "hand-made", 2024, "average", "lifecycle", "CC0", "", "XX")


def use(energy_j: list[float], *, idle_w: float | None = None, share: list[float] | None = None,
        embodied_kg: float | None = None, kind: str = "gpu") -> DeviceUse:
    n = len(energy_j)
    starts = np.arange(n, dtype=float) * 3600.0
    return DeviceUse("d0", kind, "card", True, "test", starts, starts + 3600.0,
                     np.array(energy_j), np.array(share or [1.0] * n), idle_w=idle_w,
                     idle_source="hand", embodied_kg=embodied_kg, embodied_source="hand")


def test_dynamic_idle_infrastructure_split_with_hourly_intensity() -> None:
    # two one-hour intervals: 1 kWh then 0.5 kWh; idle 100 W -> 0.1 kWh each hour
    # intensity 200 then 400 g/kWh; PUE 1.5
    fp = compute_footprint([use([3.6e6, 1.8e6], idle_w=100.0)],
                           {"d0": np.array([200.0, 400.0])}, PROV, region="XX",
                           source_name="series", pue=1.5, pue_source="hand", duration_s=7200.0,
                           embodied=None)
    assert fp.energy_kwh["idle"] == pytest.approx(0.2)
    assert fp.energy_kwh["dynamic"] == pytest.approx(0.9 + 0.4)
    assert fp.energy_kwh["infrastructure"] == pytest.approx(1.5 * 0.5)
    assert fp.energy_kwh["total"] == pytest.approx(1.5 * 1.5)
    # dynamic: 0.9 kWh x 200 + 0.4 kWh x 400 = 340 g; idle: 0.1x200 + 0.1x400 = 60 g
    assert fp.co2e_kg["dynamic"] == pytest.approx(0.340)
    assert fp.co2e_kg["idle"] == pytest.approx(0.060)
    assert fp.co2e_kg["infrastructure"] == pytest.approx(0.5 * 0.400)
    assert fp.co2e_kg["embodied"] == 0.0
    assert fp.co2e_kg["total"] == pytest.approx(0.600)
    # energy-weighted mean: 400 g / 1.5 kWh
    assert fp.intensity["mean_g_per_kwh"] == pytest.approx(400 / 1.5)
    assert (fp.intensity["min_g_per_kwh"], fp.intensity["max_g_per_kwh"]) == (200.0, 400.0)


def test_idle_never_exceeds_the_energy_and_follows_the_share() -> None:
    # 1000 W idle would be 1 kWh per hour, more than the 0.5 kWh measured: capped
    fp = compute_footprint([use([1.8e6], idle_w=1000.0)], {"d0": np.array([100.0])}, PROV,
                           region="XX", source_name="s", pue=1.0, pue_source="", duration_s=3600,
                           embodied=None)
    assert fp.energy_kwh["idle"] == pytest.approx(0.5) and fp.energy_kwh["dynamic"] == 0.0
    # process share 0.25: idle charged 100 W x 1 h x 0.25 = 0.025 kWh
    fp = compute_footprint([use([0.9e6], idle_w=100.0, share=[0.25])], {"d0": np.array([100.0])},
                           PROV, region="XX", source_name="s", pue=1.0, pue_source="",
                           duration_s=3600, embodied=None)
    assert fp.energy_kwh["idle"] == pytest.approx(0.025)
    assert fp.energy_kwh["dynamic"] == pytest.approx(0.25 - 0.025)


def test_embodied_amortisation_bloom_method() -> None:
    # 150 kg card + 2500 kg node (one node), 6 years at 85 %, for 10 hours
    emb = EmbodiedParams(6.0, 0.85, 2500.0)
    fp = compute_footprint([use([0.0], embodied_kg=150.0)], {"d0": np.array([0.0])}, PROV,
                           region="XX", source_name="s", pue=1.0, pue_source="",
                           duration_s=36000.0, embodied=emb)
    per_hour = 1.0 / (6 * 8760 * 0.85)
    assert fp.co2e_kg["embodied"] == pytest.approx((150.0 + 2500.0) * per_hour * 10)
    assert any(p["factor"] == "lifetime" and p["value"] == 6.0 for p in fp.provenance)


def test_sci_per_unit() -> None:
    # operational: 1 kWh x 300 g = 300 g; embodied 0; 1000 requests -> 0.3 g per request
    fp = compute_footprint([use([3.6e6])], {"d0": np.array([300.0])}, PROV, region="XX",
                           source_name="s", pue=1.0, pue_source="", duration_s=3600,
                           embodied=None, units={"request": 1000})
    [sci] = fp.sci
    assert sci["unit"] == "request" and sci["co2e_g_per_unit"] == pytest.approx(0.3)
    assert sci["energy_kwh_per_unit"] == pytest.approx(0.001)


def test_every_number_has_provenance() -> None:
    fp = compute_footprint([use([3.6e6], idle_w=10.0)], {"d0": np.array([300.0])}, PROV,
                           region="XX", source_name="s", pue=1.2, pue_source="given",
                           duration_s=3600, embodied=EmbodiedParams(4, 1.0, 1000.0, source="x"))
    factors = {p["factor"] for p in fp.provenance}
    assert {"grid_intensity", "pue", "idle_power", "energy", "embodied_node", "lifetime",
            "utilization"} <= factors
    energy = [p for p in fp.provenance if p["factor"] == "energy"]
    assert energy[0]["source"].startswith("measured")
    d = fp.to_dict()
    assert set(d["energy_kwh"]) == {"dynamic", "idle", "infrastructure", "total"}
    assert set(d["co2e_kg"]) == {"dynamic", "idle", "infrastructure", "embodied", "total"}
    assert set(d["intensity"]) >= {"source", "method", "region", "mean_g_per_kwh",
                                   "min_g_per_kwh", "max_g_per_kwh"}
