"""Live pausing: the controller's rules on a fake clock, then real child processes."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest

from wattprint.accounting.hourly import hourly_series
from wattprint.accounting.live import (
    ElectricityMapsClient,
    UKCarbonIntensityClient,
    WattTimeClient,
)
from wattprint.accounting.replay import typical_year_window
from wattprint.accounting.series import IntensitySeries as Series
from wattprint.accounting.series import IntensityValue, Provenance
from wattprint.errors import ConfigError, IntensityError, RegionError
from wattprint.run import Tracker
from wattprint.schedule.controller import PauseController
from wattprint.schedule.pausing import (
    PauseOptions,
    PauseSetup,
    attach_pausing,
    cooperative_pausing,
    prepare_pausing,
    should_pause,
    wait_until_clean,
)
from wattprint.schedule.procctl import ProcessPauser
from wattprint.schedule.signals import LiveSignal, SeriesSignal, live_client
from wattprint.store import IntervalRecord
from wattprint.testing.sensors import FakeClock, ScriptedSensor

# A child that writes its clock to a file every 10 ms: no new line while it is stopped.
TICKER = (
    "import sys, time\n"
    "f = open(sys.argv[1], 'a', buffering=1)\n"
    "while True:\n"
    "    f.write(repr(time.time()) + '\\n')\n"
    "    time.sleep(0.01)\n"
)


def series(values: list[float], start: float = 0.0, step: float = 10.0) -> Series:
    return Series.regular(start, step, values, region="TEST", method="average",
                          provenance="hand-made")


class Calls:
    """Records the controller's callbacks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def pause(self, reason: str) -> None:
        self.calls.append(("pause", reason))

    def resume(self, reason: str) -> None:
        self.calls.append(("resume", reason))


def controller(values: list[float], clock: FakeClock, calls: Calls, **kw: float) -> PauseController:
    return PauseController(SeriesSignal(series(values)), pause=calls.pause, resume=calls.resume,
                           clock=clock, start_s=0.0, **kw)


# --------------------------------------------------------------------------- rules


def test_pauses_above_the_threshold_and_resumes_at_or_below() -> None:
    clock, calls = FakeClock(5.0), Calls()
    c = controller([100, 400, 300, 301], clock, calls, threshold_g_per_kwh=300.0)
    assert c.check() is False and calls.calls == []
    clock.now = 15.0
    assert c.check() is True
    assert calls.calls == [("pause", "intensity 400 g/kWh > 300")]
    clock.now = 25.0  # exactly the threshold: runs
    assert c.check() is False
    assert calls.calls[-1] == ("resume", "intensity 300 g/kWh <= 300")
    clock.now = 26.0
    assert c.check() is False and len(calls.calls) == 2  # at the threshold: no pause
    clock.now = 35.0
    assert c.check() is True
    assert [(s.t_start_s, s.t_end_s) for s in c.spans] == [(15.0, 25.0), (35.0, None)]
    assert c.paused_s(40.0) == 10.0 + 5.0
    assert c.last_intensity_g_per_kwh == 301.0


def test_total_pause_never_exceeds_the_slack_before_the_deadline() -> None:
    # deadline 100 s, expected run time 70 s: 30 s of pauses at most
    clock, calls = FakeClock(0.0), Calls()
    c = controller([500, 100, 500, 500, 500, 500, 500, 500, 500, 500, 500], clock, calls,
                   threshold_g_per_kwh=300.0, deadline_s=100.0, expected_duration_s=70.0,
                   poll_s=60.0)
    assert c.pause_budget_s == 100.0 - 0.0 - 70.0
    assert c.check() is True  # 500: pause at 0
    clock.now = 10.0
    assert c.check() is False  # 100: resume, 10 s used
    clock.now = 20.0
    assert c.check() is True  # 500: pause again, 20 s left
    assert c.latest_resume_s(20.0) == 20.0 + (30.0 - 10.0)
    clock.now = 25.0
    assert c.next_wait_s() == pytest.approx(30.0 + 0.001 - 25.0)  # just after the next slot
    clock.now = 35.0
    # the wait is cut at the forced resume (40), before the slot boundary and the 60 s poll
    assert c.next_wait_s() == pytest.approx(40.0 - 35.0)
    clock.now = 39.9
    assert c.check() is True
    clock.now = 40.0
    assert c.check() is False  # forced: the remaining 70 - 20 = 50 s of work end at 90 <= 100
    assert c.released and c.released_at_s == 40.0
    assert calls.calls[-1][0] == "resume" and calls.calls[-1][1].startswith("deadline")
    assert c.paused_s() == 30.0
    clock.now = 55.0
    assert c.check() is False  # still dirty, but never paused again
    assert [k for k, _ in calls.calls] == ["pause", "resume", "pause", "resume"]
    assert [e.kind for e in c.events][-1] == "release"


def test_without_expected_duration_the_deadline_is_the_last_paused_moment() -> None:
    clock, calls = FakeClock(0.0), Calls()
    c = controller([500] * 10, clock, calls, threshold_g_per_kwh=300.0, deadline_s=50.0)
    assert math.isinf(c.pause_budget_s)
    assert c.check() is True
    clock.now = 49.0
    assert c.check() is True
    clock.now = 50.0
    assert c.check() is False and c.released
    assert c.spans[0].t_end_s == 50.0


def test_no_slack_means_no_pause(caplog: pytest.LogCaptureFixture) -> None:
    clock, calls = FakeClock(0.0), Calls()
    with caplog.at_level(logging.WARNING, logger="wattprint"):
        c = controller([500] * 10, clock, calls, threshold_g_per_kwh=300.0, deadline_s=60.0,
                       expected_duration_s=60.0)
    assert "no slack" in caplog.text
    assert c.check() is False and calls.calls == []


class Flaky:
    """A remote intensity API that fails when told to."""

    description = "scripted API"

    def __init__(self) -> None:
        self.value: float | Exception = 500.0

    def current(self, now_s: float) -> float:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value

    def values(self, start_s: float, end_s: float) -> list[float]:
        raise IntensityError("no forecast")

    def next_change_s(self, now_s: float) -> float | None:
        return None


def test_missing_signal_keeps_the_job_running_warns_once_and_is_recorded(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, calls, api = FakeClock(0.0), Calls(), Flaky()
    c = PauseController(api, threshold_g_per_kwh=300.0, pause=calls.pause,  # type: ignore[arg-type]
                        resume=calls.resume, clock=clock, start_s=0.0, deadline_s=1000.0)
    with caplog.at_level(logging.INFO, logger="wattprint"):
        assert c.check() is True
        clock.now = 10.0
        api.value = IntensityError("Electricity Maps API unavailable: timed out after 2 s")
        assert c.check() is False  # resumed: a missing signal never holds the job
        assert calls.calls[-1] == ("resume", "signal missing: Electricity Maps API "
                                             "unavailable: timed out after 2 s")
        clock.now = 20.0
        assert c.check() is False
        clock.now = 30.0
        api.value = 100.0
        assert c.check() is False
        clock.now = 40.0
        api.value = TimeoutError("read timed out")
        assert c.check() is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keeps running" in warnings[0].getMessage()
    assert [(g.t_start_s, g.t_end_s) for g in c.gaps] == [(10.0, 30.0), (40.0, None)]
    assert "timed out after 2 s" in c.gaps[0].reason and "read timed out" in c.gaps[1].reason
    assert [e.kind for e in c.events] == ["pause", "signal-missing", "resume", "signal-back",
                                          "signal-missing"]


def test_a_hanging_signal_counts_as_missing() -> None:
    class Hanging(Flaky):
        calls = 0

        def current(self, now_s: float) -> float:
            self.calls += 1
            time.sleep(1.0)
            return 500.0

    api = Hanging()
    c = PauseController(api, threshold_g_per_kwh=300.0,  # type: ignore[arg-type]
                        signal_timeout_s=0.1, deadline_s=time.time() + 60)
    began = time.monotonic()
    assert c.check() is False
    assert time.monotonic() - began < 0.5
    assert len(c.gaps) == 1 and "did not answer within 0.1 s" in c.gaps[0].reason
    assert c.check() is False  # the first call still hangs: not called again
    assert api.calls == 1 and len(c.gaps) == 1 and c.gaps[0].t_end_s is None


def test_percentile_threshold_over_the_horizon() -> None:
    clock, calls = FakeClock(0.0), Calls()
    values = [60.0, 10.0, 50.0, 20.0, 40.0, 30.0, 900.0, 900.0]
    c = controller(values, clock, calls, percentile=30.0, deadline_s=60.0)
    # slots of [0, 60): 10..60; type-7 percentile: h = 5 * 0.3 = 1.5 -> 20 + 0.5 * (30 - 20)
    assert c.resolve_threshold() == 25.0
    assert c.check() is True  # 60 > 25
    assert c.threshold_rule.startswith("percentile 30")


def test_cooperative_api_waits_for_clean_power_and_records_it(home: Path) -> None:
    clock = FakeClock(0.0)
    setup = PauseSetup(signal=SeriesSignal(series([500.0, 500.0, 100.0, 500.0])),
                       threshold_g_per_kwh=300.0, percentile=None, deadline_s=1000.0,
                       expected_duration_s=None, start_s=0.0, poll_s=60.0)
    with Tracker("coop", sensor_objects=[ScriptedSensor.power("cpu", [10.0])],
                 interval_s=0.05) as run:
        ctl = cooperative_pausing(run, setup, clock=clock, sleep=clock.advance)
        assert ctl is not None
        assert should_pause(ctl) is True
        assert run.store is not None and run.id is not None
        assert run.store.pauses(run.id) == []  # asking pauses nothing
        waited = wait_until_clean(ctl)
        # wakes just after the slot boundaries: 10.001 (still 500), 20.001 (100)
        assert waited == pytest.approx(20.001)
        pauses = run.store.pauses(run.id)
        assert pauses == [{"t_start": 0.0, "t_end": pytest.approx(20.001),
                           "reason": "intensity 500 g/kWh > 300"}]
        assert should_pause(ctl) is False and wait_until_clean(ctl) == 0.0
        assert should_pause(None) is False and wait_until_clean(None) == 0.0
        clock.now = 30.5
        assert wait_until_clean(ctl, max_wait_s=3.0) == pytest.approx(3.0)
        ctl.stop()
    assert run.store is not None and run.id is not None
    assert run.store.run(run.id).info["pausing"]["pauses"] == 2


class FakeForecastAPI:
    """A live API client: latest value and a forecast, failing when told to."""

    title = "Fake API"

    def __init__(self) -> None:
        self.latest_g: float = 420.0
        self.forecast_error: Exception | None = IntensityError("forecast timed out")

    def latest(self, region: str) -> IntensityValue:
        return IntensityValue(self.latest_g, Provenance("fake", "latest", None, "average",
                                                        "unknown", "", "", region))

    def forecast(self, region: str) -> Series:
        if self.forecast_error is not None:
            raise self.forecast_error
        return series([300.0, 100.0, 200.0, 400.0, 900.0], start=-5.0, step=10.0)


def test_live_signal_percentile_comes_from_the_forecast_once_it_answers() -> None:
    clock, calls, api = FakeClock(0.0), Calls(), FakeForecastAPI()
    c = PauseController(LiveSignal(api, "GB"), percentile=50.0, deadline_s=30.0, start_s=0.0,
                        pause=calls.pause, resume=calls.resume, clock=clock)
    assert c.check() is False  # no forecast yet: a missing signal, the job runs
    assert c.threshold_g_per_kwh is None and "forecast timed out" in c.gaps[0].reason
    api.forecast_error = None
    clock.now = 5.0
    assert c.check() is True
    # forecast slots overlapping [0, 30): 300 (from -5), 100, 200, 400 (to 35) -> median 250
    assert c.threshold_g_per_kwh == 250.0
    assert calls.calls == [("pause", "intensity 420 g/kWh > 250")]
    assert c.gaps[0].t_end_s == 5.0


def test_live_client_choice() -> None:
    uk = live_client("UK", environ={})
    assert isinstance(uk, UKCarbonIntensityClient) and uk.strict
    em = live_client("DE", environ={"WATTPRINT_ELECTRICITYMAPS_TOKEN": "t"})
    assert isinstance(em, ElectricityMapsClient) and em.strict
    wt = live_client("CAISO_NORTH", environ={"WATTPRINT_WATTTIME_USERNAME": "u",
                                             "WATTPRINT_WATTTIME_PASSWORD": "p"})
    assert isinstance(wt, WattTimeClient) and wt.strict
    with pytest.raises(RegionError, match="Great Britain"):
        live_client("DE", "ukgrid", environ={})
    with pytest.raises(ConfigError, match="electricitymaps"):
        live_client("DE", "carbonbot", environ={})


# --------------------------------------------------------------------------- options


def test_options_are_checked_before_the_job_starts(tmp_path: Path) -> None:
    assert prepare_pausing(PauseOptions()) is None
    with pytest.raises(ConfigError, match="exactly one"):
        prepare_pausing(PauseOptions(pause_above_g_per_kwh=300, pause_percentile=30,
                                     deadline_s=3600))
    with pytest.raises(ConfigError, match="--deadline"):
        prepare_pausing(PauseOptions(pause_above_g_per_kwh=300, region="CISO"))
    with pytest.raises(ConfigError, match="--pause-above"):
        prepare_pausing(PauseOptions(deadline_s=3600))
    with pytest.raises(ConfigError, match="not both"):
        prepare_pausing(PauseOptions(pause_above_g_per_kwh=300, deadline_s=3600, live=True,
                                     intensity_path=tmp_path / "x.csv"))
    with pytest.raises(ConfigError, match="longer than --deadline"):
        prepare_pausing(PauseOptions(pause_above_g_per_kwh=300, deadline_s=3600,
                                     expected_duration_s=7200, region="CISO"))
    with pytest.raises(RegionError, match="US-CAL-CISO"):
        prepare_pausing(PauseOptions(pause_above_g_per_kwh=300, deadline_s=3600, region="JP"))
    with pytest.raises(ConfigError, match="WATTPRINT_ELECTRICITYMAPS_TOKEN"):
        prepare_pausing(PauseOptions(pause_above_g_per_kwh=300, deadline_s=3600, live=True,
                                     region="DE"), environ={})
    old = tmp_path / "old.csv"
    old.write_text("timestamp,g_per_kwh\n2020-01-01T00:00Z,100\n2020-01-01T01:00Z,200\n")
    with pytest.raises(IntensityError, match="not 20"):
        prepare_pausing(PauseOptions(pause_above_g_per_kwh=300, deadline_s=3600,
                                     intensity_path=old))


def test_shipped_series_is_replayed_at_the_same_time_of_year() -> None:
    ciso = hourly_series("US-CAL-CISO")
    start_2022 = datetime(2022, 1, 1, tzinfo=timezone.utc).timestamp()

    def hour(*when: int) -> int:
        return int((datetime(*when, tzinfo=timezone.utc).timestamp() - start_2022) // 3600)

    signal = SeriesSignal(ciso, replay_year=True)
    t = datetime(2025, 3, 1, 12, 30, tzinfo=timezone.utc).timestamp()
    assert signal.current(t) == ciso.g_per_kwh[hour(2022, 3, 1, 12)]
    leap = datetime(2024, 2, 29, 5, tzinfo=timezone.utc).timestamp()
    assert signal.current(leap) == ciso.g_per_kwh[hour(2022, 2, 28, 5)]
    assert signal.next_change_s(t) == datetime(2025, 3, 1, 13, tzinfo=timezone.utc).timestamp()
    window = typical_year_window(ciso, datetime(2024, 12, 31, 22, 15, tzinfo=timezone.utc)
                                 .timestamp(),
                                 datetime(2025, 1, 1, 2, tzinfo=timezone.utc).timestamp())
    assert window.start_s[0] == datetime(2024, 12, 31, 22, tzinfo=timezone.utc).timestamp()
    assert list(window.g_per_kwh) == [ciso.g_per_kwh[i] for i in
                                      (hour(2022, 12, 31, 22), hour(2022, 12, 31, 23), 0, 1)]
    assert "typical-year replay" in str(window.provenance.fallback)
    setup = prepare_pausing(PauseOptions(pause_percentile=20, deadline_s=6 * 3600,
                                         region="CISO", use_forecast=False), now_s=t)
    assert setup is not None
    horizon = [ciso.g_per_kwh[hour(2022, 3, 1, 12) + k] for k in range(7)]  # 12:30 to 18:30
    s = sorted(horizon)
    h = (len(s) - 1) * 0.2
    assert setup.threshold_g_per_kwh == pytest.approx(s[int(h)] + (h - int(h)) *
                                                      (s[int(h) + 1] - s[int(h)]))
    assert any("typical year" in note for note in setup.notes)


# --------------------------------------------------------------------------- real processes


@pytest.fixture
def ticker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    out = tmp_path / "ticks.txt"
    child = subprocess.Popen([sys.executable, "-c", TICKER, str(out)], start_new_session=True)
    try:
        yield child, out
    finally:
        os.killpg(child.pid, 9)
        child.wait()


def ticks(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()]


def assert_no_progress_while_paused(stamps: list[float], start: float, end: float) -> None:
    inside = [t for t in stamps if start + 0.05 < t < end - 0.05]
    assert inside == [], f"the child ran while paused: {inside[:3]}"
    assert any(t > end for t in stamps), "the child never ran again"


def test_child_is_paused_resumed_and_the_deadline_kept(
        home: Path, ticker: tuple[subprocess.Popen[bytes], Path]) -> None:
    child, out = ticker
    watts = 50.0
    t0 = time.time()
    # 1-second slots: clean, dirty, clean, then dirty to the end
    intensity = series([100, 500, 100, 500, 500, 500, 500, 500], start=t0, step=1.0)
    # deadline t0 + 4.5 s, 2.5 s of work: 2 s of pauses allowed
    setup = PauseSetup(signal=SeriesSignal(intensity), threshold_g_per_kwh=300.0,
                       percentile=None, deadline_s=t0 + 4.5, expected_duration_s=2.5,
                       start_s=t0, poll_s=0.5)
    run = Tracker("pausing", sensor_objects=[ScriptedSensor.power("gpu", [watts])],
                  interval_s=0.05).start()
    ctl = attach_pausing(run, child, setup)
    assert ctl is not None
    time.sleep(max(0.0, t0 + 4.8 - time.time()))
    ctl.stop()
    run.stop()

    first, second = ctl.spans
    assert first.t_start_s == pytest.approx(t0 + 1, abs=0.15)
    assert first.t_end_s == pytest.approx(t0 + 2, abs=0.15)
    assert first.end_reason == "intensity 100 g/kWh <= 300"
    assert second.t_start_s == pytest.approx(t0 + 3, abs=0.15)
    assert second.t_end_s is not None and second.end_reason.startswith("deadline")
    # resumed for good once 2 s of pauses were used: the 2.5 s of work still fit
    paused = (first.t_end_s - first.t_start_s) + (second.t_end_s - second.t_start_s)
    assert paused == pytest.approx(2.0, abs=0.02)
    assert second.t_end_s <= t0 + 4.5 - 2.5 + paused + 0.02
    assert ctl.released_at_s == second.t_end_s

    stamps = ticks(out)
    for span in (first, second):
        assert span.t_end_s is not None
        assert_no_progress_while_paused(stamps, span.t_start_s, span.t_end_s)

    assert run.store is not None and run.id is not None
    stored = run.store.pauses(run.id)
    assert [p["reason"] for p in stored] == ["intensity 500 g/kWh > 300"] * 2
    for row, span in zip(stored, (first, second), strict=True):
        assert row["t_start"] == pytest.approx(span.t_start_s, abs=0.01)
        assert row["t_end"] == pytest.approx(span.t_end_s, abs=0.01)
    intervals: list[IntervalRecord] = run.store.intervals(run.id)
    paused_cover = sum(i.t_end - i.t_start for i in intervals if i.paused)
    running_cover = sum(i.t_end - i.t_start for i in intervals if not i.paused)
    assert paused_cover == pytest.approx(paused, abs=0.15)  # to one sampling interval each end
    # the run's energy is the constant power over its unpaused intervals only
    assert run.energy_j == pytest.approx(watts * running_cover, abs=1e-3)  # wall-clock rounding
    assert run.energy_j < watts * (running_cover + paused_cover) - watts * 1.5
    record = run.store.run(run.id).info["pausing"]
    assert record["pauses"] == 2 and record["threshold_g_per_kwh"] == 300.0
    assert record["paused_s"] == pytest.approx(paused)


def test_missing_signal_resumes_the_child_and_is_recorded(
        home: Path, tmp_path: Path, ticker: tuple[subprocess.Popen[bytes], Path],
        caplog: pytest.LogCaptureFixture) -> None:
    child, out = ticker
    t0 = math.floor(time.time()) - 1.0
    csv = tmp_path / "dirty.csv"
    rows = [f"{datetime.fromtimestamp(t0 + i, timezone.utc).isoformat()},500" for i in range(4)]
    csv.write_text("timestamp,g_per_kwh\n" + "\n".join(rows) + "\n")
    end = t0 + 4.0  # the series stops here
    setup = prepare_pausing(PauseOptions(pause_above_g_per_kwh=300.0, deadline_s=60.0,
                                         intensity_path=csv, poll_s=0.2))
    assert setup is not None and any("ends at" in note for note in setup.notes)
    run = Tracker("missing", sensor_objects=[ScriptedSensor.power("gpu", [10.0])],
                  interval_s=0.05).start()
    with caplog.at_level(logging.WARNING, logger="wattprint"):
        ctl = attach_pausing(run, child, setup)
        assert ctl is not None
        time.sleep(max(0.0, end + 0.6 - time.time()))
        assert ctl.paused is False
        ctl.stop()
    run.stop()
    (span,) = ctl.spans
    assert span.t_end_s == pytest.approx(end, abs=0.15)
    assert span.end_reason.startswith("signal missing")
    assert_no_progress_while_paused(ticks(out), span.t_start_s, span.t_end_s)
    missing = [r for r in caplog.records if "signal missing" in r.getMessage()]
    assert len(missing) == 1 and missing[0].levelno == logging.WARNING
    assert run.store is not None and run.id is not None
    gaps = run.store.run(run.id).info["pausing"]["signal_gaps"]
    assert len(gaps) == 1 and gaps[0][0] == pytest.approx(end, abs=0.15)
    assert "covers" in gaps[0][2]


def test_interactive_child_is_paused_process_by_process() -> None:
    # same process group as the test: killpg would stop the test too
    code = ("import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
            "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        root = psutil.Process(child.pid)
        deadline = time.monotonic() + 10
        while not root.children() and time.monotonic() < deadline:
            time.sleep(0.02)
        (grandchild,) = root.children()
        pauser = ProcessPauser(child.pid)
        assert pauser.own_group is False
        pauser.pause()
        time.sleep(0.1)
        assert root.status() == psutil.STATUS_STOPPED
        assert grandchild.status() == psutil.STATUS_STOPPED
        assert psutil.Process().status() != psutil.STATUS_STOPPED
        pauser.resume()
        time.sleep(0.1)
        assert root.status() != psutil.STATUS_STOPPED
        assert grandchild.status() != psutil.STATUS_STOPPED
    finally:
        for process in psutil.Process(child.pid).children(recursive=True):
            process.kill()  # reaped by its parent's parent once the child is gone
        child.kill()
        child.wait()
