"""Accounting stored runs: exact numbers from known intervals and a hand-made series."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def make_run(store: Store, *, attribution: str = "machine", region: str | None = None) -> str:
    rid = store.create_run(project="acc", phase="training", attribution=attribution,
                           interval_s=3600, started_at=T0, region=region)
    store.add_devices(rid, [DeviceRecord("rapl:package-0", "cpu", "CPU package 0", "rapl", True,
                                         True, None, "cpu-time-share")])
    # hour 1: 1 kWh (0.5 attributed); hour 2: 2 kWh (0.5 attributed)
    store.append_intervals(rid, [
        IntervalRecord("rapl:package-0", T0, T0 + 3600, 3.6e6, 1.8e6),
        IntervalRecord("rapl:package-0", T0 + 3600, T0 + 7200, 7.2e6, 1.8e6)])
    store.add_units(rid, "sample", 300)
    store.finish_run(rid, status="finished", ended_at=T0 + 7200, exit_code=0)
    return rid


def series_csv(tmp_path: Path) -> Path:
    path = tmp_path / "ci.csv"
    path.write_text("timestamp,g_per_kwh\n"
                    "2023-11-14T22:00:00Z,100\n2023-11-14T23:00:00Z,300\n"
                    "2023-11-15T00:00:00Z,500\n2023-11-15T01:00:00Z,700\n")
    return path


def test_reaccount_with_a_series_pue_and_marginal_label(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store)
    before = [store.run(rid), store.intervals(rid)]
    opts = AccountingOptions(region="US-CAL-CISO", intensity_file=series_csv(tmp_path),
                             method="marginal", pue=1.1, embodied=False)
    fp = account_run(store, rid, opts).footprint
    # interval 1 spans 22:13:20-23:13:20: 2800 s at 100 and 800 s at 300 -> 144.44 g/kWh
    i1 = (2800 * 100 + 800 * 300) / 3600
    i2 = (2800 * 300 + 800 * 500) / 3600
    op_g = 1.0 * i1 + 2.0 * i2
    assert fp.co2e_kg["dynamic"] == pytest.approx(op_g / 1000)  # no idle known for this CPU
    assert fp.co2e_kg["infrastructure"] == pytest.approx(0.1 * op_g / 1000)
    assert fp.energy_kwh["total"] == pytest.approx(3.0 * 1.1)
    assert fp.intensity["method"] == "marginal" and fp.intensity["region"] == "US-CAL-CISO"
    assert fp.sci[0]["co2e_g_per_unit"] == pytest.approx(1.1 * op_g / 300)
    # nothing stored changed
    assert [store.run(rid), store.intervals(rid)] == before


def test_process_attribution_counts_the_attributed_share(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store, attribution="process")
    fp = account_run(store, rid, AccountingOptions(intensity_file=series_csv(tmp_path),
                                                   pue=1.0, embodied=False)).footprint
    assert fp.energy_kwh["total"] == pytest.approx(0.5 + 0.5)


def test_embodied_node_charge_for_a_cpu_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store)
    fp = account_run(store, rid, AccountingOptions(intensity_file=series_csv(tmp_path),
                                                   pue=1.0)).footprint
    # no GPU: CCF rack server 1000 kg over 6 years at 85 % for 2 hours
    assert fp.co2e_kg["embodied"] == pytest.approx(1000.0 / (6 * 8760 * 0.85) * 2)


def test_recorded_region_is_used_and_world_default_is_labelled(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store, region="DE")
    accounted = account_run(store, rid, AccountingOptions(pue=1.0, embodied=False))
    assert accounted.region.code == "DE" and not accounted.region.is_default
    rid2 = make_run(store)
    world = account_run(store, rid2, AccountingOptions(pue=1.0, embodied=False))
    assert world.region.is_default and "world average" in world.region.label
    assert world.region.hint and "WATTPRINT_REGION" in world.region.hint


def test_cli_account_show_estimate_regions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(home / "wattprint.db")
    rid = make_run(store)
    env = dict(os.environ, WATTPRINT_HOME=str(home), XDG_CONFIG_HOME=str(tmp_path / "x"))
    env.pop("WATTPRINT_REGION", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                              capture_output=True, timeout=60, cwd=tmp_path)

    r = cli("account", rid, "--intensity", str(series_csv(tmp_path)), "--pue", "1.1",
            "--no-embodied", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    i1, i2 = (2800 * 100 + 800 * 300) / 3600, (2800 * 300 + 800 * 500) / 3600
    assert doc["co2e_kg"] == pytest.approx(1.1 * (i1 + 2 * i2) / 1000)
    shown = json.loads(cli("show", rid, "--json").stdout)
    assert "footprint" in shown and shown["co2e_kg"] == shown["footprint"]["co2e_kg"]["total"]
    assert shown["footprint"]["intensity"]["region"] == "WORLD"
    r = cli("estimate", "--power-w", "1000", "--hours", "2", "--intensity", "250", "--pue",
            "1.2", "--json")
    est = json.loads(r.stdout)
    assert est["co2e_kg"] == pytest.approx(2.0 * 1.2 * 250 / 1000)
    r = cli("account", rid, "--region", "GERMANYY")
    assert r.returncode == 2 and "unknown region" in r.stderr and "Traceback" not in r.stderr
    r = cli("regions", "--search", "CISO", "--json")
    codes = [x["code"] for x in json.loads(r.stdout)["regions"]]
    assert "US-CAL-CISO" in codes
    r = cli("regions", "--hourly", "--json")
    hourly = {x["code"] for x in json.loads(r.stdout)["regions"]}
    assert len(hourly) == 11 and "US-TEX-ERCO" in hourly and {"DE", "FR", "GB"} <= hourly


def test_power_model_idle_is_its_zero_utilisation_draw(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = store.create_run(project="m", phase="training", attribution="machine",
                           interval_s=3600, started_at=T0)
    store.add_devices(rid, [DeviceRecord("model:cpu", "cpu", "CPU (model)", "model", False,
                                         False, "curve 2-5 W/vCPU x 4", "cpu-time-share",
                                         {"idle_w": "8"})])
    store.append_intervals(rid, [IntervalRecord("model:cpu", T0, T0 + 3600, 36_000.0, 36_000.0)])
    store.finish_run(rid, status="finished", ended_at=T0 + 3600)
    fp = account_run(store, rid, AccountingOptions(intensity_file=series_csv(tmp_path),
                                                   pue=1.0, embodied=False)).footprint
    # 10 W average for an hour: 8 W idle, 2 W dynamic
    assert fp.energy_kwh["idle"] == pytest.approx(0.008)
    assert fp.energy_kwh["dynamic"] == pytest.approx(0.002)
    idle = [p for p in fp.provenance if p["factor"] == "idle_power"]
    assert idle[0]["source"].startswith("power model at 0 % utilisation")


def test_a_chosen_year_of_the_annual_table(tmp_path: Path, reference_data: Path) -> None:
    import csv

    table = reference_data / "grid_ci_annual_owid_ember" / "owid_carbon_intensity_electricity.csv"
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    code_col = next(c for c in rows[0] if c.lower() in ("code", "iso_code"))
    year_col = next(c for c in rows[0] if c.lower() == "year")
    value_col = next(c for c in rows[0] if "intensity" in c.lower())
    expected = next(float(r[value_col]) for r in rows
                    if r[code_col] == "DEU" and r[year_col] == "2015")
    store = Store(tmp_path / "w.db")
    rid = make_run(store, region="DE")
    fp = account_run(store, rid, AccountingOptions(year=2015, pue=1.0,
                                                   embodied=False)).footprint
    assert fp.intensity["mean_g_per_kwh"] == pytest.approx(expected)
    assert fp.co2e_kg["dynamic"] == pytest.approx(3.0 * expected / 1000)
