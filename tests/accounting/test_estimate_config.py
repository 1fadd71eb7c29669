"""``wattprint estimate`` follows wattprint.toml and WATTPRINT_* like every other command.

Run as a user would (a subprocess with its own working directory and
environment). Intensities of the shipped annual table (Ember / OWID 2025):
FR 41.44, DE 329.65 gCO2e/kWh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.accounting.estimate import estimate

CODE = "import wattprint.cli.accounting; from wattprint.cli import main; main()"


def run_cli(cwd: Path, env_extra: dict[str, str], *args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTPRINT_")}
    env.update({"WATTPRINT_HOME": str(cwd / "home"), **env_extra})
    done = subprocess.run([sys.executable, "-c", CODE, "estimate", *args, "--json"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)["footprint"])


def test_estimate_reads_pue_and_region_from_the_environment(tmp_path: Path) -> None:
    fp = run_cli(tmp_path, {"WATTPRINT_PUE": "1.5", "WATTPRINT_REGION": "FR"},
                 "--power-w", "1000", "--hours", "2")
    # 1 kW x 2 h = 2 kWh at the devices, x 1.5 = 3 kWh, x 41.44 g = 124.32 g
    assert fp["pue"] == 1.5
    assert fp["energy_kwh"]["total"] == pytest.approx(3.0)
    assert fp["intensity"]["region"] == "FR"
    assert fp["co2e_kg"]["total"] == pytest.approx(0.12432)


def test_estimate_reads_wattprint_toml(tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text('region = "DE"\npue = 1.25\n', encoding="utf-8")
    fp = run_cli(tmp_path, {}, "--power-w", "400", "--hours", "5")
    # 2 kWh x 1.25 = 2.5 kWh x 329.65 g = 824.125 g
    assert fp["pue"] == 1.25 and fp["intensity"]["region"] == "DE"
    assert fp["co2e_kg"]["total"] == pytest.approx(0.824125)
    # an argument still wins over the file
    given = run_cli(tmp_path, {}, "--power-w", "400", "--hours", "5", "--pue", "1.0",
                    "--region", "FR")
    assert given["pue"] == 1.0 and given["intensity"]["region"] == "FR"


def test_any_gpu_name_with_its_power(tmp_path: Path) -> None:
    fp = run_cli(tmp_path, {}, "--gpu", "Imaginary GPU 9000", "--gpu-power-w", "250",
                 "--gpus", "4", "--hours", "2", "--intensity", "100", "--pue", "1.0")
    # 4 x 250 W x 2 h = 2 kWh x 100 g = 200 g
    assert fp["energy_kwh"]["total"] == pytest.approx(2.0)
    assert fp["co2e_kg"]["total"] == pytest.approx(0.2)
    sources = [p["source"] for p in fp["provenance"]]  # type: ignore[union-attr]
    assert any("Imaginary GPU 9000: not in the hardware catalogue" in s for s in sources)


def test_unknown_gpu_with_power_and_embodied_takes_the_default_card() -> None:
    fp = estimate(gpu="Imaginary GPU 9000", gpu_power_w=250, hours=1, intensity_g_per_kwh=100,
                  pue=1.0, embodied=True)
    # default card 150 kg + 2,500 kg / 8 per node, over 6 y x 8760 h x 0.85, for 1 GPU-hour
    assert fp.co2e_kg["embodied"] == pytest.approx((150 + 2500 / 8) / (6 * 8760 * 0.85))
