"""Explaining a carbon difference: exact Shapley values, hand-computed cases, runs, the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.decide.explain import Factors, explain, shapley_values
from wattprint.report.compare import compare_runs, explain_project
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc).timestamp()


def product(x: Sequence[Fraction]) -> Fraction:
    out = Fraction(1)
    for v in x:
        out *= v
    return out


def test_two_factors_by_hand() -> None:
    # E x I from (2, 300) to (3, 100): φ_E = ½ ΔE (I_a + I_b) = ½ · 1 · 400 = 200,
    # φ_I = ½ ΔI (E_a + E_b) = ½ · (−200) · 5 = −500; together 300 − 600 = −300
    phi = shapley_values([2.0, 300.0], [3.0, 100.0], product)
    assert phi == [Fraction(200), Fraction(-500)]


def test_three_factors_by_hand() -> None:
    # x·y·z: φ_x = Δx [(y_a z_a + y_b z_b)/3 + (y_a z_b + y_b z_a)/6]
    phi = shapley_values([2.0, 300.0, 1.0], [3.0, 100.0, 1.5], product)
    assert phi[0] == Fraction(300 + 150, 3) + Fraction(450 + 100, 6)            # 241 2/3
    assert phi[1] == -200 * (Fraction(2 + Fraction(9, 2), 3) + Fraction(3 + 3, 6))  # −633 1/3
    assert phi[2] == Fraction(1, 2) * (Fraction(600 + 300, 3) + Fraction(200 + 900, 6))
    assert sum(phi) == Fraction(450) - Fraction(600)


def test_the_model_factors_by_hand() -> None:
    # kg = E · I · PUE / 1000: a = 2 kWh at 300 g/kWh, b = 3 kWh at 100 g/kWh, PUE 1.2 both
    a = Factors({"gpu": 2.0}, 300.0, 1.2)
    b = Factors({"gpu": 3.0}, 100.0, 1.2)
    doc = explain(a, b)
    got = {c["factor"]: c["co2e_kg"] for c in doc["contributions"]}
    assert got["energy.gpu"] == pytest.approx(0.5 * 1.0 * 400.0 * 1.2 / 1000.0, rel=1e-15)
    assert got["intensity"] == pytest.approx(0.5 * -200.0 * 5.0 * 1.2 / 1000.0, rel=1e-15)
    assert got["pue"] == 0.0 and got["embodied.device_hours"] == 0.0
    assert got["embodied.hardware"] == 0.0
    assert doc["difference_kg"] == pytest.approx(0.36 - 0.72, rel=1e-15)
    # embodied is additive on its own factors: ΔH · (R_a + R_b)/2 and ΔR · (H_a + H_b)/2
    a2 = Factors({"gpu": 2.0}, 300.0, 1.2, embodied_hours=1.0, embodied_kg_per_hour=0.05)
    b2 = Factors({"gpu": 3.0}, 100.0, 1.2, embodied_hours=2.0, embodied_kg_per_hour=0.03)
    got2 = {c["factor"]: c["co2e_kg"] for c in explain(a2, b2)["contributions"]}
    assert got2["embodied.device_hours"] == pytest.approx(1.0 * 0.08 / 2, rel=1e-15)
    assert got2["embodied.hardware"] == pytest.approx(-0.02 * 3.0 / 2, rel=1e-15)
    assert got2["energy.gpu"] == got["energy.gpu"]


def test_contributions_sum_to_the_difference_exactly() -> None:
    rng = random.Random(16)
    for _ in range(20):
        kinds = rng.sample(["cpu", "gpu", "dram", "npu"], rng.randint(1, 4))

        def factors(kinds: list[str] = kinds) -> Factors:
            return Factors({k: rng.uniform(0, 50) for k in kinds if rng.random() > 0.2},
                           rng.uniform(10, 900), rng.uniform(1.0, 2.0),
                           rng.uniform(0, 100), rng.uniform(0, 0.2))

        a, b = factors(), factors()
        doc = explain(a, b)
        total = sum(c["co2e_kg"] for c in doc["contributions"])
        assert abs(total - doc["difference_kg"]) <= 1e-12 * abs(doc["difference_kg"])
        assert doc["difference_kg"] == pytest.approx(b.co2e_kg - a.co2e_kg, rel=1e-12)


# -- stored runs ---------------------------------------------------------------------------


def flat(tmp_path: Path, g_per_kwh: float = 400.0) -> Path:
    path = tmp_path / "flat.csv"
    path.write_text("timestamp,g_per_kwh\n" + "".join(
        f"2024-03-01T{h:02d}:00:00Z,{g_per_kwh}\n" for h in range(24)))
    return path


def add_run(store: Store, name: str, cpu_kwh: float, gpu_kwh: float, offset_s: float,
            duration_s: float = 3600.0) -> str:
    start = T0 + offset_s
    rid = store.create_run(project="xp", phase="training", attribution="machine",
                           interval_s=duration_s, started_at=start, name=name)
    store.add_devices(rid, [
        DeviceRecord("rapl:package-0", "cpu", "package-0", "rapl", True, True, None,
                     "cpu-time-share"),
        DeviceRecord("nvml:GPU-9", "gpu", "Example GPU 9000", "nvml", True, True, None,
                     "whole-device")])
    store.append_intervals(rid, [
        IntervalRecord("rapl:package-0", start, start + duration_s, cpu_kwh * 3.6e6,
                       cpu_kwh * 3.6e6),
        IntervalRecord("nvml:GPU-9", start, start + duration_s, gpu_kwh * 3.6e6,
                       gpu_kwh * 3.6e6)])
    store.finish_run(rid, status="finished", ended_at=start + duration_s)
    return rid


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(home / "wattprint.db")
    yield s
    s.close()


def test_compare_explain_on_stored_runs(store: Store, tmp_path: Path) -> None:
    a = add_run(store, "fp32", 1.0, 3.0, 0)
    b = add_run(store, "amp", 0.5, 1.5, 7200)
    opts = AccountingOptions(intensity_file=flat(tmp_path), pue=1.0, embodied=False)
    cmp = compare_runs(store, [a, b], opts, explain=True)
    ex = cmp["explain"]
    got = {c["factor"]: c["co2e_kg"] for c in ex["contributions"]}
    # same intensity and PUE: all of the difference is energy, kWh x 0.4 kg/kWh
    assert got["energy.cpu"] == pytest.approx(-0.5 * 0.4, rel=1e-12)
    assert got["energy.gpu"] == pytest.approx(-1.5 * 0.4, rel=1e-12)
    assert got["intensity"] == pytest.approx(0.0, abs=1e-15) and got["pue"] == 0.0
    total = next(r for r in cmp["rows"] if r["quantity"] == "co2e_kg.total")
    assert ex["difference_kg"] == pytest.approx(total["diff"][1], rel=1e-12)
    assert sum(got.values()) == pytest.approx(ex["difference_kg"], rel=1e-12)
    assert (ex["baseline"], ex["run"]) == (a, b)


def test_project_explained_against_its_median_run(store: Store, tmp_path: Path) -> None:
    low = add_run(store, "low", 0.1, 0.1, 0)
    mid = add_run(store, "mid", 0.5, 0.5, 7200)
    high = add_run(store, "high", 1.0, 2.0, 14400)
    opts = AccountingOptions(intensity_file=flat(tmp_path), pue=1.0, embodied=False)
    doc = explain_project(store, "xp", opts)
    assert doc["baseline"] == mid
    assert doc["baseline_co2e_kg"] == pytest.approx(1.0 * 0.4, rel=1e-12)
    by_run = {r["run"]: r for r in doc["runs"]}
    assert set(by_run) == {low, high}
    assert by_run[high]["difference_kg"] == pytest.approx((3.0 - 1.0) * 0.4, rel=1e-12)
    assert by_run[low]["difference_kg"] == pytest.approx((0.2 - 1.0) * 0.4, rel=1e-12)


def test_cli_compare_and_report_explain(store: Store, tmp_path: Path) -> None:
    a = add_run(store, "fp32", 1.0, 3.0, 0)
    b = add_run(store, "amp", 0.5, 1.5, 7200)
    series = str(flat(tmp_path))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wattprint", *args], text=True,
                              capture_output=True, timeout=120)

    r = cli("compare", a, b, "--explain", "--json", "--intensity", series, "--no-embodied")
    assert r.returncode == 0, r.stderr
    ex = json.loads(r.stdout)["explain"]
    assert ex["difference_kg"] == pytest.approx(-2.0 * 0.4, rel=1e-12)
    assert [c["factor"] for c in ex["contributions"]] == [
        "energy.cpu", "energy.gpu", "intensity", "pue", "embodied.device_hours",
        "embodied.hardware"]
    r = cli("compare", a, b, "--explain", "--intensity", series)
    assert r.returncode == 0, r.stderr
    assert "exact Shapley values" in r.stdout and "grid intensity" in r.stdout
    r = cli("report", "--project", "xp", "--explain", "--intensity", series)
    assert r.returncode == 0, r.stderr
    assert "## Explained against the median run" in r.stdout
    r = cli("compare", a, b, a, "--explain")
    assert r.returncode == 2 and "exactly two" in r.stderr


def test_factor_values_print_in_human_units() -> None:
    from wattprint.decide.explain import format_factor

    assert format_factor(1.66e-7, "kWh") == "598 mJ"          # 1.66e-7 kWh x 3.6e6 J/kWh
    assert format_factor(0.0224, "kgCO2e/h") == "22.4 g/h"
    assert format_factor(7.61e-5, "h") == "0.274 s"           # 7.61e-5 h x 3600 s/h
    assert format_factor(330.0, "gCO2e/kWh") == "330 g/kWh"
    assert format_factor(1.0, "") == "1"
