"""Hardware break-even: the closed form, never, the edge-PIM shape from the catalogue, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wattprint.decide.breakeven import (
    Grid,
    annual_grid,
    breakeven,
    catalogue_device,
    constant_grid,
    explicit_device,
)
from wattprint.errors import ConfigError


def test_closed_form_with_constant_power_and_annual_intensity() -> None:
    # saving: (300 - 100) W x 0.5 busy x 8760 h x PUE 1.5 x 0.4 kg/kWh = 525.6 kg a year
    cur = explicit_device("old", 300.0)
    new = explicit_device("new", 100.0, embodied_kg=150.0)
    doc = breakeven(cur, new, grid=constant_grid(400.0), utilization=0.5, pue=1.5,
                    lifetime_years=6.0, resale_credit_kg=30.0)
    assert doc["net_embodied_kg"] == 120.0
    assert doc["saving_kg_per_year"] == pytest.approx(525.6, rel=1e-12)
    assert doc["breakeven_years"] == pytest.approx(120.0 / 525.6, rel=1e-12)
    assert doc["within_lifetime"] is True
    # at 6 years: keep 150 W x 1.5 x 52,560 h x 0.4 = 4,730.4 kg; replace 120 + 1,576.8 kg
    assert doc["keep_kg_at_lifetime"] == pytest.approx(4730.4, rel=1e-12)
    assert doc["replace_kg_at_lifetime"] == pytest.approx(1696.8, rel=1e-12)
    first, last = doc["curve"][0], doc["curve"][-1]
    assert (first["years"], first["keep_kg"], first["replace_kg"]) == (0.0, 0.0, 120.0)
    assert last["years"] == 6.0 and last["keep_kg"] == pytest.approx(4730.4, rel=1e-12)
    assert doc["verdict"].startswith("replace: it pays back")


def test_speedup_shortens_the_candidates_busy_time_and_idle_power_counts() -> None:
    # keep: 0.6 x 300 + 0.4 x 30 = 192 W; replace: busy 0.6 / 3 = 0.2: 0.2 x 400 + 0.8 x 40 = 112 W
    # saving 80 W x 8,760 h x 0.25 kg/kWh = 175.2 kg a year; 200 kg / 175.2
    cur = explicit_device("old", 300.0, idle_power_w=30.0)
    new = explicit_device("new", 400.0, idle_power_w=40.0, embodied_kg=200.0)
    doc = breakeven(cur, new, grid=constant_grid(250.0), speedup=3.0, utilization=0.6)
    assert doc["current"]["mean_power_w"] == pytest.approx(192.0)
    assert doc["candidate"]["busy_share"] == pytest.approx(0.2)
    assert doc["candidate"]["mean_power_w"] == pytest.approx(112.0)
    assert doc["breakeven_years"] == pytest.approx(200.0 / 175.2, rel=1e-12)


def test_never_when_the_candidate_uses_more() -> None:
    cur = explicit_device("old", 100.0)
    new = explicit_device("new", 150.0, embodied_kg=50.0)
    doc = breakeven(cur, new, grid=constant_grid(300.0))
    assert doc["breakeven_years"] is None and doc["within_lifetime"] is False
    assert doc["verdict"].startswith("never")
    assert doc["saving_kg_per_year"] < 0


def test_a_credit_covering_the_embodied_carbon_pays_back_at_once() -> None:
    doc = breakeven(explicit_device("old", 200.0), explicit_device("new", 100.0, embodied_kg=50.0),
                    grid=constant_grid(300.0), resale_credit_kg=80.0)
    assert doc["breakeven_years"] == 0.0 and doc["net_embodied_kg"] == -30.0


def test_refusals() -> None:
    old, new = explicit_device("old", 200.0), explicit_device("new", 100.0, embodied_kg=50.0)
    with pytest.raises(ConfigError, match="cannot keep up"):
        breakeven(old, new, grid=constant_grid(300.0), utilization=0.9, speedup=0.5)
    with pytest.raises(ConfigError, match="embodied"):
        breakeven(old, explicit_device("new", 100.0), grid=constant_grid(300.0))
    with pytest.raises(ConfigError, match="utilization"):
        breakeven(old, new, grid=constant_grid(300.0), utilization=0.0)


def test_an_hourly_series_is_integrated_step_by_step_and_replayed() -> None:
    grid = Grid("X", 200.0, "test", step_h=1.0, g_per_kwh=np.array([100.0, 300.0]))
    # 100 in the first hour, 300 in the second, then again: ∫ over 3.5 h = 100+300+100+150
    assert grid.cumulative(np.array([0.0, 0.5, 1.5, 3.5])) == pytest.approx(
        [0.0, 50.0, 250.0, 650.0])
    assert grid.hours_to_reach(250.0) == pytest.approx(1.5)
    assert grid.hours_to_reach(650.0) == pytest.approx(3.5)
    assert grid.hours_to_reach(400.0) == pytest.approx(2.0)
    # break-even: net 0.01 kg at 100 W saving: ∫ I = 0.01 / (100 W / 1e6) = 100 g·h/kWh -> 1 h
    doc = breakeven(explicit_device("old", 200.0), explicit_device("new", 100.0, embodied_kg=0.01),
                    grid=grid)
    assert doc["breakeven_years"] == pytest.approx(1.0 / 8760.0, rel=1e-12)


def test_the_edge_pim_shape_from_catalogue_inputs() -> None:
    """Ollivier et al. 2022: a lower-power replacement pays back within about a year at high
    activity, but not (within its life) at low activity. Catalogue: Tesla V100 PCIe 250 W
    (idle 0.125 x TDP = 31.25 W) -> NVIDIA L4 72 W (9 W), 150 kg embodied, New Zealand's grid."""
    old, new = catalogue_device("Tesla V100 PCIe"), catalogue_device("NVIDIA L4")
    assert (old.busy_power_w, old.idle_power_w, new.busy_power_w, new.idle_power_w,
            new.embodied_kg) == (250.0, 31.25, 72.0, 9.0, 150.0)
    assert "datasheet" in old.sources["busy_power_w"] and "assumption" in new.sources["embodied_kg"]
    grid = annual_grid("NZ")
    busy = breakeven(old, new, grid=grid, utilization=1.0)
    # by hand: 178 W saved x 8.76 MWh/W-year... = 1,559.28 kWh x I kg/kWh each year
    assert busy["breakeven_years"] == pytest.approx(
        150.0 / (178.0 * 8.76 * grid.mean_g_per_kwh / 1000.0), rel=1e-12)
    assert 0.5 < busy["breakeven_years"] < 1.5 and busy["within_lifetime"]
    idle = breakeven(old, new, grid=grid, utilization=0.02)
    # 0.02 x 178 + 0.98 x 22.25 = 25.365 W saved
    assert idle["breakeven_years"] == pytest.approx(
        150.0 / (25.365 * 8.76 * grid.mean_g_per_kwh / 1000.0), rel=1e-12)
    assert idle["breakeven_years"] > idle["lifetime_years"] == 6.0
    assert not idle["within_lifetime"] and idle["verdict"].startswith("keep")
    years = [breakeven(old, new, grid=grid, utilization=u)["breakeven_years"]
             for u in (0.02, 0.1, 0.3, 0.6, 1.0)]
    assert years == sorted(years, reverse=True)


def wattprint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], text=True,
                          capture_output=True, timeout=120)


def test_cli_json_and_plot(home: Path, tmp_path: Path) -> None:
    r = wattprint("breakeven", "--current-power-w", "300", "--candidate-power-w", "100",
                  "--candidate-embodied-kg", "150", "--intensity", "400", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["breakeven_years"] == pytest.approx(150.0 / (200.0 * 8.76 * 0.4), rel=1e-12)
    r = wattprint("breakeven", "--current-power-w", "100", "--candidate-power-w", "150",
                  "--candidate-embodied-kg", "150", "--intensity", "400", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["breakeven_years"] is None
    r = wattprint("breakeven", "--current", "V100-SXM2-32GB", "--candidate", "H100-SXM5-80GB",
                  "--speedup", "3.0", "--utilization", "0.6", "--region", "US-CAL-CISO")
    assert r.returncode == 0, r.stderr
    assert "break-even: never" in r.stdout and "NVIDIA H100 Tensor Core GPU datasheet" in r.stdout
    r = wattprint("breakeven", "--current-power-w", "300", "--candidate-power-w", "100",
                  "--intensity", "400")
    assert r.returncode == 2 and "--candidate-embodied-kg" in r.stderr


def test_cli_plot(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "be.svg"
    r = wattprint("breakeven", "--current", "Tesla V100 PCIe", "--candidate", "NVIDIA L4",
                  "--region", "US-CAL-CISO", "--hourly", "--quiet", "--plot", str(target))
    assert r.returncode == 0, r.stderr
    assert target.read_text().lstrip().startswith(("<?xml", "<svg"))
