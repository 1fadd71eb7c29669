"""A loop that checkpoints instead of being stopped: run.should_pause, run.wait_until_clean."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import wattprint
from wattprint.schedule.pausing import PauseOptions
from wattprint.store import Store
from wattprint.testing.sensors import ScriptedSensor


def test_loop_waits_out_the_dirty_second(home: Path, tmp_path: Path) -> None:
    now = time.time()
    dirty_until = int(now) + 2  # dirty now and for the rest of the next whole second
    rows = ["timestamp,g_per_kwh"]
    for t in range(int(now) - 5, int(now) + 120):
        value = 500 if t < dirty_until else 100
        rows.append(f"{datetime.fromtimestamp(t, timezone.utc).isoformat()},{value}")
    series = tmp_path / "ci.csv"
    series.write_text("\n".join(rows) + "\n")
    opts = PauseOptions(pause_above_g_per_kwh=300, deadline_s=60, intensity_path=series,
                        region="US-CAL-CISO")
    run = wattprint.Tracker("loop", interval_s=0.05, pausing=opts,
                            sensor_objects=[ScriptedSensor.counter("cpu", [float(i) for i in
                                                                          range(100_000)])])
    with run:
        assert run.should_pause() is True
        waited = run.wait_until_clean()
        assert run.should_pause() is False
    assert waited == pytest.approx(dirty_until - now, abs=0.6)
    [pause] = Store(home / "wattprint.db").pauses(run.id or "")
    assert "500" in pause["reason"]
    assert pause["t_end"] - pause["t_start"] == pytest.approx(waited, abs=0.3)


def test_without_pausing_the_loop_never_waits(home: Path) -> None:
    with wattprint.track("loop", interval_s=0.05) as run:
        assert run.should_pause() is False
        assert run.wait_until_clean() == 0.0
