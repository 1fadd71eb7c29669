"""Plans and live pausing forecast from the shipped series and the live values kept since.

The shipped DE series is 2025. 312 hours (13 days) of live values are kept
for DE up to 2026-06-03 09:00 UTC, as an accounting with a live API keeps them
(:func:`wattprint.accounting.kept.keep`, ``origin`` live): 800 g/kWh, except
02:00-05:00 UTC every day at 50 g/kWh. The forecast's recent lags (24 h and
168 h) then carry that daily dip into the next day: a 3 h job due within
24 h of 2026-06-03 09:30 starts at 2026-06-04 02:00, where the kept values
are cleanest. Without the kept values the forecast only knows 2025.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.hourly import hourly_series
from wattprint.accounting.kept import keep
from wattprint.accounting.series import Provenance
from wattprint.schedule.pausing import PauseOptions, prepare_pausing
from wattprint.schedule.plan import forecast_from_history, plan

H = 3600.0


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = utc(2026, 6, 3, 9, 30)
LIVE_FROM = utc(2026, 5, 21, 9)  # 312 hours before 2026-06-03 09:00
DIP_START = utc(2026, 6, 4, 2)
LABEL = "forecast: linear model on history to 2026-06-03 (shipped 2025 + 312 kept live hours)"
LABEL_OFF = ("forecast: linear model on history to 2025-12-31 "
             "(shipped 2025, kept live values not used)")


def keep_live_hours(home: Path, first_s: float, hours: int = 312) -> None:
    """Keep ``hours`` hourly live values for DE from ``first_s``: 50 g at 02-05 UTC, else 800 g."""
    starts = first_s + H * np.arange(hours)
    hour_of_day = (starts // H) % 24
    values = np.where((hour_of_day >= 2) & (hour_of_day < 5), 50.0, 800.0)
    prov = Provenance("live API", "latest", None, "average", "lifecycle", "", "", "DE")
    keep(home, "DE", "average", prov, starts, starts + H, values, used_by="account r1",
         origin={"kind": "live", "api": "test API"})


def wattprint(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WATTPRINT_HOME=str(home))
    env.pop("WATTPRINT_REGION", None)
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_the_forecast_history_takes_the_kept_live_hours(tmp_path: Path) -> None:
    keep_live_hours(tmp_path, LIVE_FROM)
    shipped = hourly_series("DE")
    made = forecast_from_history(shipped, NOW, NOW + 24 * H, home=tmp_path)
    assert made.label == LABEL
    assert made.live_hours == 312
    assert made.history == "shipped 2025 + 312 kept live hours"
    assert made.history_start_s == utc(2025, 1, 1)
    assert made.history_end_s == utc(2026, 6, 3, 9)
    assert any("history extended by 312 hours of live values kept from test API" in n
               for n in made.notes)
    result = plan(made.series, 3 * H, NOW + 24 * H, power_w=1000.0, now_s=NOW)
    assert result.start_s == DIP_START
    off = forecast_from_history(shipped, NOW, NOW + 24 * H, home=None)
    assert off.label == LABEL_OFF and off.live_hours == 0
    assert plan(off.series, 3 * H, NOW + 24 * H, power_w=1000.0, now_s=NOW).start_s \
        != DIP_START


def test_live_values_of_another_basis_or_not_newer_are_not_counted(tmp_path: Path) -> None:
    # direct-basis live values are left out (DE ships lifecycle); 2025 values are not newer
    prov = Provenance("live API", "latest", None, "average", "direct", "", "", "DE")
    starts = LIVE_FROM + H * np.arange(24)
    keep(tmp_path, "DE", "average", prov, starts, starts + H, np.full(24, 10.0),
         used_by="account r2", origin={"kind": "live", "api": "x"})
    old = utc(2025, 3, 1) + H * np.arange(24)
    lifecycle = Provenance("live API", "latest", None, "average", "lifecycle", "", "", "DE")
    keep(tmp_path, "DE", "average", lifecycle, old, old + H, np.full(24, 10.0),
         used_by="account r3",
         origin={"kind": "live", "api": "x"})
    made = forecast_from_history(hourly_series("DE"), NOW, NOW + 24 * H, home=tmp_path)
    assert made.live_hours == 0
    assert made.label == "forecast: linear model on history to 2025-12-31 (shipped 2025)"
    assert any("direct basis were left out" in n for n in made.notes)


def test_plan_cli_says_which_forecast_and_history(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keep_live_hours(home, LIVE_FROM)
    args = ("plan", "--duration", "3h", "--deadline", "24h", "--region", "DE", "--now",
            iso(NOW), "--power-w", "1000")
    r = wattprint(*args, "--json", home=home)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["forecast"]["label"] == LABEL
    assert doc["forecast"]["kept_live_hours"] == 312
    assert doc["flexible_start"]["start_s"] == DIP_START
    assert doc["data"]["end_s"] == utc(2026, 6, 3, 9)
    assert "no live forecast API configured: intensity " + LABEL in doc["now_rule"]
    assert doc["replay"] is True
    # the kept forecast names the model, its history and the shipped file under it
    assert doc["series_origin"]["kind"] == "forecast"
    assert doc["series_origin"]["history"] == "shipped 2025 + 312 kept live hours"
    assert doc["series_origin"]["package_data"] == "hourly_de_smard_2025.npz"
    text = wattprint(*args, home=home)
    assert text.returncode == 0, text.stderr
    assert LABEL in " ".join(text.stdout.split())
    assert "2026-06-04T02:00Z" in text.stdout
    off = wattprint(*args, "--json", "--no-live-values", home=home)
    assert off.returncode == 0, off.stderr
    doc = json.loads(off.stdout)
    assert doc["forecast"]["label"] == LABEL_OFF
    assert doc["forecast"]["kept_live_hours"] == 0
    assert doc["flexible_start"]["start_s"] != DIP_START


def test_live_pausing_forecasts_from_the_kept_live_values(tmp_path: Path) -> None:
    keep_live_hours(tmp_path, LIVE_FROM)
    options = PauseOptions(pause_above_g_per_kwh=400.0, deadline_s=24 * H, region="DE",
                           history_home=tmp_path)
    setup = prepare_pausing(options, now_s=NOW)
    assert setup is not None
    assert setup.forecast == LABEL
    assert any(n.startswith("no live forecast API configured: intensity " + LABEL)
               for n in setup.notes)
    # the kept 800 g hours make now dirty, the kept 50 g dip makes 02:00 clean
    assert setup.signal.current(NOW) > 400.0
    assert setup.signal.current(DIP_START + 1800) < 400.0
    assert LABEL in setup.signal.description
    off = prepare_pausing(PauseOptions(pause_above_g_per_kwh=400.0, deadline_s=24 * H,
                                       region="DE", history_home=tmp_path,
                                       live_values=False), now_s=NOW)
    assert off is not None and off.forecast == LABEL_OFF


def test_run_says_which_forecast_it_pauses_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hour = (time.time() // H) * H
    keep_live_hours(home, hour - 312 * H)
    day = datetime.fromtimestamp(hour - 1, timezone.utc).strftime("%Y-%m-%d")
    args = ("run", "--region", "DE", "--pause-above", "100000", "--deadline", "1h")
    r = wattprint(*args, "--", sys.executable, "-c", "pass", home=home)
    assert r.returncode == 0, r.stderr
    assert (f"wattprint: pausing on a forecast: linear model on history to {day} "
            "(shipped 2025 + 312 kept live hours) (no live forecast API configured)") \
        in r.stderr
    r = wattprint(*args, "--no-live-values", "--", sys.executable, "-c", "pass", home=home)
    assert r.returncode == 0, r.stderr
    assert "(shipped 2025, kept live values not used)" in r.stderr


def test_plan_keeps_a_user_file_with_its_digest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    csv = tmp_path / "grid.csv"
    start = utc(2025, 6, 1)
    csv.write_text("timestamp,g_per_kwh\n" + "".join(
        f"{iso(start + i * H)},{v}\n" for i, v in enumerate([300, 250, 80, 90, 400, 500])))
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    r = wattprint("plan", "--duration", "2h", "--deadline", "5h", "--intensity", str(csv),
                  "--now", iso(start), "--json", home=home)
    assert r.returncode == 0, r.stderr
    kept = json.loads(r.stdout)["kept_series"]
    listed = wattprint("series", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)["series"]
    assert entry["digest"] == kept and entry["used_by"] == "plan"
    assert entry["origin"] == {"kind": "file", "path": str(csv.resolve()), "sha256": digest}


def test_plan_keeps_a_shipped_series_with_the_package_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = wattprint("plan", "--duration", "3h", "--deadline", "12h", "--region", "DE", "--now",
                  "2025-06-01T08:00Z", "--json", home=home)
    assert r.returncode == 0, r.stderr
    data = (resources.files("wattprint") / "data" / "intensity"
            / "hourly_de_smard_2025.npz").read_bytes()
    (entry,) = json.loads(wattprint("series", "list", "--json", home=home).stdout)["series"]
    assert entry["origin"] == {"kind": "shipped", "package_data": "hourly_de_smard_2025.npz",
                               "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("flag", ["--no-live-values"])
def test_run_no_live_values_needs_pausing(tmp_path: Path, flag: str) -> None:
    r = wattprint("run", flag, "--", sys.executable, "-c", "pass", home=tmp_path / "home")
    assert r.returncode == 2
    assert "apply to pausing" in r.stderr
