"""Predictions from the first epochs and budgets, in the Python API and ``wattprint run``.

The energy of each epoch is scripted on a fake powercap tree: the counter is
set to the cumulative energy just before the epoch's end is marked, so the
epochs have exactly the energies below. Every expected figure is worked by
hand from those energies (the model in docs/decide.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import wattprint
from wattprint.errors import BudgetExceeded
from wattprint.store import Store
from wattprint.testing.powercap import PowercapTree

#: a slow first epoch, then about 100 J each: 1030 J in all
STEADY_J = [130, 102, 100, 98, 101, 99, 100, 103, 97, 100]
#: epochs growing from the fourth: 100, 100, 100, 200, 200, 200, ...
GROWING_J = [100, 100, 100, 200, 200, 200, 200, 200, 200, 200]
#: 1500 J: predicted after epoch 6 (steady mean 160 J) as 900 + 4 x 160 = 1540 J, the first
#: prediction over it (after 5: 700 + 5 x 150 = 1450 J; after 4: 500 + 6 x 133.3 = 1300 J)
BUDGET_KWH = 1500 / 3.6e6


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> PowercapTree:
    t = PowercapTree(tmp_path / "sys")
    t.add_package(0, energy_uj=0)
    monkeypatch.setenv("WATTPRINT_SYSFS_ROOT", str(t.sysfs_root))
    return t


def _track(region: str = "FR", **kwargs: object) -> wattprint.Tracker:
    return wattprint.track(project="epochs", sensors=["rapl"], attribution="machine",
                           region=region, interval_s=0.02, quiet=True,
                           **kwargs)  # type: ignore[arg-type]


def _epochs(run: wattprint.Tracker, tree: PowercapTree, energies: list[int]) -> None:
    total = 0
    for energy in energies:
        run.epoch_start()
        time.sleep(0.03)
        total += energy
        tree.set_energy("intel-rapl:0", total * 1_000_000)
        run.epoch_end()
        run.wait_for_prediction()  # the next epoch's energy starts after this one is placed


def test_the_prediction_after_2_of_10_epochs_is_within_2_percent(tree: PowercapTree) -> None:
    seen: dict[int, dict[str, object] | None] = {}
    with _track(epochs=10, predict_after=2) as run:
        total = 0
        for n, energy in enumerate(STEADY_J, start=1):
            run.epoch_start()
            time.sleep(0.03)
            total += energy
            tree.set_energy("intel-rapl:0", total * 1_000_000)
            run.epoch_end()
            seen[n] = run.wait_for_prediction()
    assert seen[1] is None  # before predict_after epochs
    after_2 = seen[2]
    assert after_2 is not None
    # 130 + 102 measured, 8 more like epoch 2 (the first left out): 1048 J, +1.75 %
    assert after_2["energy_j"] == pytest.approx(1048.0)
    assert after_2["energy_j_interval"] == pytest.approx([1048.0 - 163.2, 1048.0 + 163.2])
    assert run.energy_j == pytest.approx(1030.0)
    assert abs(after_2["energy_j"] / run.energy_j - 1) < 0.02  # type: ignore[operator]
    low, high = after_2["energy_j_interval"]  # type: ignore[misc]
    assert low <= run.energy_j <= high
    stored = Store(run.settings.store_target).predictions(run.id or "")
    assert [p["after_epochs"] for p in stored] == list(range(2, 11))
    assert stored[-1]["energy_j"] == pytest.approx(1030.0)  # all epochs ended: the measured total


def test_prediction_has_the_documented_keys(tree: PowercapTree) -> None:
    with _track("IN", epochs=4) as run:
        assert run.prediction() is None
        _epochs(run, tree, [100, 100])
        found = run.prediction()
    assert found is not None
    assert {"energy_j", "energy_j_interval", "duration_s", "co2e_kg", "after_epochs",
            "total_epochs", "duration_s_interval", "co2e_kg_interval", "rule",
            "budget"} <= set(found)
    assert found["after_epochs"] == 2 and found["total_epochs"] == 4
    assert found["energy_j"] == pytest.approx(400.0)
    # India has no shipped hourly series: its annual figure (670.13 g/kWh), PUE 1
    carbon = found["carbon"]
    assert carbon["intensity_source"] == "annual" and carbon["pue"] == 1.0
    assert carbon["intensity_ahead_g_per_kwh"] == pytest.approx(670.13)
    assert found["co2e_kg"] == pytest.approx(400.0 / 3.6e6 * 670.13 / 1000.0)


def test_a_raising_budget_stops_the_loop_at_epoch_6(tree: PowercapTree) -> None:
    ended: list[int] = []
    with pytest.raises(BudgetExceeded) as caught, \
            _track(epochs=10, predict_after=2, budget_kwh=BUDGET_KWH) as run:
        total = 0
        for n, energy in enumerate(GROWING_J, start=1):
            run.epoch_start()
            total += energy
            tree.set_energy("intel-rapl:0", total * 1_000_000)
            run.epoch_end()
            ended.append(n)
    assert ended == [1, 2, 3, 4, 5]  # epoch 6's end raised
    assert caught.value.prediction is not None
    assert caught.value.prediction["after_epochs"] == 6
    assert caught.value.prediction["energy_j"] == pytest.approx(1540.0)
    stored = Store(run.settings.store_target).run(run.id or "")
    assert stored.status == "stopped"
    assert stored.error is not None and stored.error.startswith("stopped by the budget: ")
    assert stored.info["budget"]["prediction"]["after_epochs"] == 6


def test_a_warning_budget_lets_the_run_finish(tree: PowercapTree,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run = wattprint.track(project="epochs", sensors=["rapl"], attribution="machine",
                          region="FR", interval_s=0.02, epochs=10, predict_after=2,
                          budget_kwh=BUDGET_KWH, budget_action="warn")
    with run:
        _epochs(run, tree, GROWING_J)
    assert run.status == "finished" and run.energy_j == pytest.approx(1700.0)
    flagged = [p["after_epochs"] for p in run.predictions() if p["budget"]]
    assert flagged == [6, 7, 8, 9, 10]
    err = capsys.readouterr().err
    assert err.count("warning: the budget will be exceeded") == 1
    assert "epoch 2/10: predicted" in err  # one line per prediction, on stderr


def _child(tmp_path: Path, tree: PowercapTree, energies: list[int], slow_after: int = 0) -> Path:
    pkg = tree.zone_dir("intel-rapl:0") / "energy_uj"
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import logging, sys, time
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        total = 0
        for n, energy in enumerate({energies!r}, start=1):
            time.sleep(5.0 if {slow_after} and n > {slow_after} else 0.25)
            total += energy
            open({str(pkg)!r}, "w").write(str(total * 1_000_000))
            print(f"epoch {{n}} done")
            if n % 2:
                print("WATTPRINT_EPOCH")
            else:
                logging.info("WATTPRINT_EPOCH %d", n)
        print("trained", end="")
    """))
    return script


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.fixture
def env(home: Path, tree: PowercapTree) -> dict[str, str]:
    e = dict(os.environ)
    e["WATTPRINT_SENSORS"] = "rapl"
    e.pop("PYTHONUNBUFFERED", None)
    return e


def test_cli_epochs_from_marker_lines(tmp_path: Path, tree: PowercapTree,
                                      env: dict[str, str]) -> None:
    script = _child(tmp_path, tree, STEADY_J)
    result = _cli("run", "--interval", "0.05", "--attribution", "machine", "--region", "FR",
                  "--epochs", "10", "--predict-after", "2", "--", sys.executable, str(script),
                  env=env)
    assert result.returncode == 0, result.stderr
    # the output passes through unchanged: stdout as printed, the logged markers on stderr
    expected = "".join(f"epoch {n} done\n" + ("WATTPRINT_EPOCH\n" if n % 2 else "")
                       for n in range(1, 11)) + "trained"
    assert result.stdout == expected
    assert "INFO WATTPRINT_EPOCH 2\n" in result.stderr
    assert result.stderr.count("wattprint: epoch ") == 9  # after epochs 2..10
    doc = json.loads(_cli("show", "last", "--json", env=env).stdout)
    assert doc["status"] == "finished" and doc["energy_j"] == pytest.approx(1030.0)
    rows = doc["prediction"]["rows"]
    assert rows[0]["after_epochs"] == 2 and rows[0]["energy_j"] == pytest.approx(1048.0)
    assert abs(rows[0]["energy_j_error"]) < 0.02 and rows[0]["energy_j_inside"] is True
    assert doc["prediction"]["complete"] is True
    shown = _cli("show", "last", env=env).stdout
    assert "after epoch 2: energy 1.05 kJ" in shown
    appendix = _cli("report", "last", env=env).stdout
    assert "## Predicted and actual" in appendix


def test_cli_budget_stops_the_command_at_epoch_6(tmp_path: Path, tree: PowercapTree,
                                                 env: dict[str, str]) -> None:
    script = _child(tmp_path, tree, GROWING_J, slow_after=6)
    started = time.monotonic()
    result = _cli("run", "--interval", "0.05", "--attribution", "machine", "--region", "FR",
                  "--epochs", "10", "--predict-after", "2", "--budget-kwh", repr(BUDGET_KWH),
                  "--", sys.executable, str(script), env=env)
    assert time.monotonic() - started < 5.0 + 20.0
    assert result.returncode == 128 + 15, result.stderr  # SIGTERM
    assert "epoch 6 done" in result.stdout and "epoch 7 done" not in result.stdout
    assert "stopping the command" in result.stderr
    doc = json.loads(_cli("show", "last", "--json", env=env).stdout)
    assert doc["status"] == "stopped" and doc["energy_j"] == pytest.approx(900.0)
    assert "after epoch 6 of 10" in doc["error"]
    assert doc["prediction"]["rows"][-1]["after_epochs"] == 6
    assert doc["prediction"]["complete"] is False
    appendix = _cli("report", "last", env=env).stdout
    assert "the run was stopped by its budget: predicted 1.54 kJ" in appendix


def test_cli_budget_warn_does_not_stop(tmp_path: Path, tree: PowercapTree,
                                       env: dict[str, str]) -> None:
    script = _child(tmp_path, tree, GROWING_J)
    result = _cli("run", "--interval", "0.05", "--attribution", "machine", "--region", "FR",
                  "--epochs", "10", "--predict-after", "2", "--budget-kwh", repr(BUDGET_KWH),
                  "--budget-action", "warn", "--", sys.executable, str(script), env=env)
    assert result.returncode == 0, result.stderr
    assert "epoch 10 done" in result.stdout
    assert "warning: the budget will be exceeded: predicted 1.54 kJ" in result.stderr
    doc = json.loads(_cli("show", "last", "--json", env=env).stdout)
    assert doc["status"] == "finished" and doc["energy_j"] == pytest.approx(1700.0)


def test_cli_budget_options_need_epochs(env: dict[str, str]) -> None:
    result = _cli("run", "--budget-kwh", "1", "--", sys.executable, "-c", "pass", env=env)
    assert result.returncode != 0 and "need --epochs" in result.stderr
