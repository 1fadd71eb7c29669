"""Pausing speaks: each pause and resume told (time, intensity, threshold, slack) and stored."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from wattprint.accounting.series import IntensitySeries
from wattprint.schedule.controller import PauseController, PauseEvent, event_message
from wattprint.schedule.signals import SeriesSignal, clock_text

# 2025-03-01T14:00:00Z
T14 = datetime(2025, 3, 1, 14, tzinfo=timezone.utc).timestamp()
H = 3600.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hourly(values: list[float]) -> SeriesSignal:
    return SeriesSignal(IntensitySeries.regular(T14, H, values, region="TEST"))


def test_clock_text_shows_seconds_only_when_there_are_some() -> None:
    assert clock_text(T14) == "14:00Z"
    assert clock_text(T14 + 187) == "14:03:07Z"


def test_pause_and_resume_are_told_with_intensity_threshold_and_slack() -> None:
    clock = Clock(T14)
    said: list[str] = []

    def on_event(event: PauseEvent) -> None:
        message = event_message(event)
        if message is not None:
            said.append(message)

    # 412 g/kWh at 14:00 and 15:00, 280 from 16:00; 12 h deadline, no expected run time
    c = PauseController(hourly([412, 412, 280] + [280] * 20), threshold_g_per_kwh=300,
                        deadline_s=T14 + 12 * H, start_s=T14, on_event=on_event, clock=clock)
    assert c.check() is True
    clock.now = T14 + H
    assert c.check() is True
    clock.now = T14 + 2 * H
    assert c.check() is False
    assert said == [
        "paused at 14:00Z: 412 g/kWh > 300 g/kWh; resumes when lower, latest 02:00Z "
        "(12:00:00 slack)",
        "resumed at 16:00Z: 280 g/kWh <= 300 g/kWh after 2:00:00 paused",
    ]
    events: list[dict[str, Any]] = c.summary()["events"]
    assert events == [
        {"kind": "pause", "t_s": T14, "reason": "intensity 412 g/kWh > 300",
         "intensity_g_per_kwh": 412.0, "threshold_g_per_kwh": 300.0,
         "latest_resume_s": T14 + 12 * H, "paused_s": None},
        {"kind": "resume", "t_s": T14 + 2 * H, "reason": "intensity 280 g/kWh <= 300",
         "intensity_g_per_kwh": 280.0, "threshold_g_per_kwh": 300.0,
         "latest_resume_s": None, "paused_s": 2 * H},
    ]


def test_the_slack_is_the_pause_budget_when_the_run_time_is_known() -> None:
    clock = Clock(T14)
    said: list[str] = []
    # a 4 h job with a 10 h deadline has 6 h of slack; paused 1 h, then 5 h remain
    c = PauseController(hourly([500, 100, 500] + [500] * 20), threshold_g_per_kwh=300,
                        deadline_s=T14 + 10 * H, expected_duration_s=4 * H, start_s=T14,
                        clock=clock,
                        on_event=lambda e: said.append(event_message(e) or f"({e.kind})"))
    c.check()
    clock.now = T14 + H
    c.check()
    clock.now = T14 + 2 * H
    c.check()
    clock.now = T14 + 7 * H  # 1 h + 5 h paused: the slack is used up
    c.check()
    assert said == [
        "paused at 14:00Z: 500 g/kWh > 300 g/kWh; resumes when lower, latest 20:00Z "
        "(6:00:00 slack)",
        "resumed at 15:00Z: 100 g/kWh <= 300 g/kWh after 1:00:00 paused",
        "paused at 16:00Z: 500 g/kWh > 300 g/kWh; resumes when lower, latest 21:00Z "
        "(5:00:00 slack)",
        "resumed at 21:00Z: deadline: paused 6:00:00 of the 6:00:00 slack; running to the "
        "end to finish by 2025-03-02T00:00:00Z after 5:00:00 paused",
        "pausing ended at 21:00Z: deadline: paused 6:00:00 of the 6:00:00 slack; running "
        "to the end to finish by 2025-03-02T00:00:00Z",
    ]


def test_a_pause_without_a_deadline_says_so() -> None:
    event = PauseEvent("pause", T14, "intensity 412 g/kWh > 300", 412.0, 300.0, float("inf"))
    assert event_message(event) == ("paused at 14:00Z: 412 g/kWh > 300 g/kWh; resumes when "
                                    "lower (no deadline)")
    assert event.as_dict()["latest_resume_s"] is None
    assert event_message(PauseEvent("release", T14, "controller stopped")) is None
    assert event_message(PauseEvent("signal-missing", T14, "timed out")) is None
