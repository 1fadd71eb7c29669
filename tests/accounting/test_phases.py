"""Energy and carbon of ``run.phase()`` sections: known intervals, splits worked out by hand.

Intervals (from the appendix tests' ``make_run``): three 600 s intervals from
00:40 UTC; CPU 1.8, 1.8, 3.6 MJ (half of each attributed), GPU 0.9 MJ each.
Intensity 200 gCO2e/kWh before 01:00 UTC, 500 after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.report.test_appendix import T0, intensity_csv, make_run

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.accounting.phases import overlap_energy_j
from wattprint.report.appendix import run_appendix
from wattprint.report.render_md import appendix_markdown
from wattprint.store import Store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("WATTPRINT_HOME", str(tmp_path / "home"))
    return Store(tmp_path / "home" / "wattprint.db")


def test_overlap_splits_in_proportion_to_time() -> None:
    starts = np.array([0.0, 10.0, 20.0, 30.0])
    ends = np.array([10.0, 20.0, 30.0, 30.0])
    energy = np.array([100.0, 200.0, 300.0, 7.0])
    # span [5, 25): half of the first, all of the second, half of the third;
    # the zero-length interval at 30 s lies outside
    got = overlap_energy_j(starts, ends, energy, 5.0, 25.0)
    assert got.tolist() == [50.0, 200.0, 150.0, 0.0]
    assert overlap_energy_j(starts, ends, energy, 25.0, 31.0).tolist() == [0.0, 0.0, 150.0, 7.0]


def add_phases(store: Store, rid: str) -> None:
    epoch = store.open_phase(rid, "epoch 1", 0, T0 + 300)
    store.close_phase(epoch, T0 + 1500)
    store.open_phase(rid, "eval", 1, T0 + 1650)  # left open: it ends with the run


def make_phased_run(store: Store, attribution: str = "machine") -> str:
    rid = make_run(store, attribution=attribution)
    # make_run finished the run; phases are added after, the second left open
    add_phases(store, rid)
    return rid


def test_phase_energy_and_carbon_machine_attribution(store: Store, tmp_path: Path) -> None:
    rid = make_phased_run(store)
    opts = AccountingOptions(intensity_file=intensity_csv(tmp_path), pue=1.2, embodied=False)
    phases = account_run(store, rid, opts).phases
    assert [p["name"] for p in phases] == ["epoch 1", "eval"]
    epoch, ev = phases
    # epoch 1, 00:45-01:05: CPU 0.9 + 1.8 + 1.8 MJ, GPU 0.45 + 0.9 + 0.45 MJ = 6.3 MJ
    assert epoch["energy_j"] == pytest.approx(6.3e6, rel=1e-12)
    assert epoch["energy_kwh"] == pytest.approx(1.75, rel=1e-12)
    assert epoch["duration_s"] == 1200.0
    # before 01:00: 3.6 + 0.45... = CPU 2.7 MJ + GPU 1.35 MJ = 1.125 kWh x 200 = 225 g;
    # after: CPU 1.8 MJ + GPU 0.45 MJ = 0.625 kWh x 500 = 312.5 g; x PUE 1.2
    assert epoch["co2e_kg"] == pytest.approx(0.5375 * 1.2, rel=1e-12)
    # eval, 01:07:30-01:10 (open, ends with the run): a quarter of the last interval
    assert ev["t_end"] is None and ev["duration_s"] == 150.0
    assert ev["energy_j"] == pytest.approx(0.9e6 + 0.225e6, rel=1e-12)
    assert ev["co2e_kg"] == pytest.approx(0.3125 * 0.5 * 1.2, rel=1e-12)


def test_phase_energy_follows_process_attribution(store: Store, tmp_path: Path) -> None:
    rid = make_phased_run(store, attribution="process")
    opts = AccountingOptions(intensity_file=intensity_csv(tmp_path), pue=1.0, embodied=False)
    epoch = account_run(store, rid, opts).phases[0]
    # half the CPU is attributed: CPU 0.45 + 0.9 + 0.9 MJ, GPU 0.45 + 0.9 + 0.45 MJ
    assert epoch["energy_j"] == pytest.approx(4.05e6, rel=1e-12)
    # before 01:00: (1.35 + 1.35) MJ = 0.75 kWh x 200 = 150 g; after: 1.35 MJ x 500 = 187.5 g
    assert epoch["co2e_kg"] == pytest.approx(0.3375, rel=1e-12)


def test_appendix_lists_phases_with_energy(store: Store, tmp_path: Path) -> None:
    rid = make_phased_run(store)
    doc = run_appendix(store, rid, AccountingOptions(intensity_file=intensity_csv(tmp_path),
                                                     pue=1.0, embodied=False))
    assert doc["phases"][0]["energy_j"] == pytest.approx(6.3e6, rel=1e-12)
    assert doc["phases"][0]["co2e_kg"] == pytest.approx(0.5375, rel=1e-12)
    text = appendix_markdown(doc)
    assert "## Phases (`run.phase()` sections)" in text
    assert "| epoch 1 | 2024-03-01 00:45:00 | 0:20:00 | 1.75 kWh | 538 g |" in text
    assert "| \u00a0\u00a0eval | 2024-03-01 01:07:30 | 0:02:30 | 313 Wh | 156 g |" in text


def test_show_prints_and_returns_phases(store: Store, tmp_path: Path) -> None:
    rid = make_phased_run(store)
    env = dict(os.environ, COLUMNS="80")
    code = "import wattprint.cli.core; from wattprint.cli import main; main()"
    shown = subprocess.run([sys.executable, "-c", code, "show", rid, "--json"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["phases"][0]["name"] == "epoch 1"
    assert doc["phases"][0]["energy_j"] == pytest.approx(6.3e6, rel=1e-12)
    assert doc["phases"][0]["co2e_kg"] > 0
    text = subprocess.run([sys.executable, "-c", code, "show", rid], env=env,
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "phases (run.phase sections)" in text.stdout
    assert "epoch 1" in text.stdout and "1.75 kWh" in text.stdout


def test_by_stage_groups_runs_and_phase_is_an_alias(store: Store, tmp_path: Path) -> None:
    from wattprint.report.appendix import project_appendix

    make_run(store, phase="training", name="a")
    make_run(store, phase="inference", name="b", start=T0 + 1)
    opts = AccountingOptions(intensity_file=intensity_csv(tmp_path), pue=1.0, embodied=False)
    by_stage = project_appendix(store, "paper", by="stage", opts=opts)
    assert by_stage["by"] == "stage" and by_stage["by_note"] is None
    assert [g["key"] for g in by_stage["groups"]] == ["inference", "training"]
    alias = project_appendix(store, "paper", by="phase", opts=opts)
    assert alias["by"] == "stage"
    assert "--by phase is now --by stage" in alias["by_note"]
    assert alias["groups"] == by_stage["groups"]
    assert "\n## By stage\n" in appendix_markdown(alias)
    code = "import wattprint.cli.reports; from wattprint.cli import main; main()"
    made = subprocess.run([sys.executable, "-c", code, "report", "--project", "paper", "--by",
                           "phase", "--format", "json", "--intensity",
                           str(intensity_csv(tmp_path))],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert "note: --by phase is now --by stage" in made.stderr
    assert json.loads(made.stdout)["by"] == "stage"
