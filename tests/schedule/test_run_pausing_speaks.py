"""A paused `wattprint run` tells each pause, stores it, is accounted on its paused-on series."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import wattprint
from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.schedule.pausing import PauseOptions
from wattprint.store import Store
from wattprint.testing.sensors import ScriptedSensor


def _clock(t: float) -> str:
    moment = datetime.fromtimestamp(t, timezone.utc)
    return moment.strftime("%H:%MZ" if moment.second == 0 else "%H:%M:%SZ")


def _script(start: int, tmp_path: Path) -> tuple[Path, dict[int, float]]:
    """One value per second: 500 g/kWh for two seconds from ``start``, 100 before, 200 after."""
    values: dict[int, float] = {}
    rows = ["timestamp,g_per_kwh"]
    for k in range(-10, 120):
        t = start + k
        values[t] = 500.0 if 0 <= k < 2 else (100.0 if k < 0 else 200.0)
        rows.append(f"{datetime.fromtimestamp(t, timezone.utc).isoformat()},{values[t]:g}")
    path = tmp_path / "ci.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, values


def _mean_by_hand(values: dict[int, float], a: float, b: float) -> float:
    """Time-weighted mean of the one-second step function over [a, b)."""
    if b <= a:
        return values[math.floor(a)]
    total, t = 0.0, a
    while t < b:
        edge = min(b, math.floor(t) + 1.0)
        total += values[math.floor(t)] * (edge - t)
        t = edge
    return total / (b - a)


def test_run_tells_each_pause_stores_it_and_accounts_on_the_paused_series(
        tmp_path: Path) -> None:
    start = int(time.time()) + 3
    series, values = _script(start, tmp_path)
    child = tmp_path / "child.py"
    child.write_text(textwrap.dedent(f"""
        import time
        x = 0
        while time.time() < {start} + 5:
            x += 1
    """))
    home = tmp_path / "home"
    env = dict(os.environ, WATTPRINT_HOME=str(home), WATTPRINT_SENSORS="model",
               XDG_CONFIG_HOME=str(tmp_path / "x"))
    r = subprocess.run([sys.executable, "-m", "wattprint", "run", "--region", "US-CAL-CISO",
                        "--pause-above", "300", "--deadline", "60s", "--intensity", str(series),
                        "--interval", "0.2", "--", sys.executable, str(child)],
                       env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    store = Store(home / "wattprint.db")
    run = store.run("last")
    events = run.info["pausing"]["events"]
    # the deadline is 60 s after the command's start (checked just before the run's)
    latest = events[0]["latest_resume_s"]
    assert latest == pytest.approx(run.started_at + 60, abs=0.6)
    said = re.search(r"wattprint: paused at (\S+): 500 g/kWh > 300 g/kWh; resumes when lower, "
                     r"latest (\S+) \((\S+) s slack\)", r.stderr)
    assert said is not None, r.stderr
    assert said.group(1) == _clock(start)
    assert said.group(2) == _clock(latest)
    assert float(said.group(3)) == pytest.approx(latest - start, abs=0.6)
    resumed = re.search(r"wattprint: resumed at (\S+): 200 g/kWh <= 300 g/kWh after (\S+) s "
                        r"paused", r.stderr)
    assert resumed is not None, r.stderr
    assert resumed.group(1) == _clock(start + 2)
    assert float(resumed.group(2)) == pytest.approx(2.0, abs=0.3)
    # stored: each event with the intensity and threshold it was decided on
    kinds = [(e["kind"], e["intensity_g_per_kwh"], e["threshold_g_per_kwh"]) for e in events]
    assert kinds[:2] == [("pause", 500.0, 300.0), ("resume", 200.0, 300.0)]
    assert run.info["pausing"]["series"]["digest"]
    # the footprint: each counted interval's energy × the paused-on series over it
    kept = [i for i in store.intervals(run.id) if not i.paused]
    assert kept
    expected_kg = sum(i.energy_j / 3.6e6 * _mean_by_hand(values, i.t_start, i.t_end)
                      for i in kept) / 1000.0
    accounted = account_run(store, run.id, AccountingOptions(pue=1.0, embodied=False))
    fp = accounted.footprint.to_dict()
    assert fp["co2e_kg"]["total"] == pytest.approx(expected_kg, rel=1e-9)
    annual = account_run(store, run.id, AccountingOptions(pue=1.0, embodied=False,
                                                          region="US-CAL-CISO"))
    assert annual.footprint.to_dict()["co2e_kg"]["total"] != pytest.approx(expected_kg,
                                                                           rel=1e-3)


def test_track_pausing_tells_the_pause_on_stderr(home: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    dirty_until = int(now) + 2
    rows = ["timestamp,g_per_kwh"]
    for t in range(int(now) - 5, int(now) + 120):
        rows.append(f"{datetime.fromtimestamp(t, timezone.utc).isoformat()},"
                    f"{500 if t < dirty_until else 100}")
    series = tmp_path / "ci.csv"
    series.write_text("\n".join(rows) + "\n")
    opts = PauseOptions(pause_above_g_per_kwh=300, deadline_s=60, intensity_path=series,
                        region="US-CAL-CISO")
    run = wattprint.Tracker("loop", interval_s=0.05, pausing=opts,
                            sensor_objects=[ScriptedSensor.counter("cpu", [float(i) for i in
                                                                          range(100_000)])])
    with run:
        run.wait_until_clean()
    err = capsys.readouterr().err
    assert re.search(r"wattprint: paused at \S+: 500 g/kWh > 300 g/kWh; resumes when lower",
                     err), err
    assert f"wattprint: resumed at {_clock(dirty_until)}: 100 g/kWh <= 300 g/kWh" in err


def test_measure_idle_on_the_power_model_tells_and_records_the_cpu_idle(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, WATTPRINT_HOME=str(home), WATTPRINT_SENSORS="model",
               XDG_CONFIG_HOME=str(tmp_path / "x"))
    r = subprocess.run([sys.executable, "-m", "wattprint", "run", "--measure-idle", "0.5",
                        "--", sys.executable, "-c", "pass"],
                       env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == ("wattprint: measuring idle power for 0.5 s before the command starts "
                        "(leave the machine idle)...")
    assert re.fullmatch(r"wattprint: idle power: model:cpu \S+ \S?W \(power model\), "
                        r"model:ram \S+ \S?W \(power model\)", lines[1]), lines[1]
    doc = json.loads(subprocess.run([sys.executable, "-m", "wattprint", "show", "last",
                                     "--json"], env=env, capture_output=True,
                                    text=True).stdout)
    cpu = doc["idle"]["model:cpu"]
    assert cpu["power_w"] > 0
    assert cpu["method"] == ("power model at the idle machine's utilisation, sampled for 0.5 s "
                             "before the run")
