"""What the pause controller records: its events, pause spans and signal gaps, and how they read.

Each pause, resume and release is a :class:`PauseEvent` with the intensity
read, the threshold and the latest allowed resume; :func:`event_message`
turns one into the line people see (``paused at 14:00Z: 412 g/kWh > 300
g/kWh; resumes when lower, latest 02:00Z (12:00:00 slack)``). A
:class:`PauseSpan` is one stretch the job was stopped, and a
:class:`SignalGap` a stretch with no intensity to judge by.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wattprint.schedule.signals import clock_text

__all__ = ["EventCallback", "PauseCallback", "PauseEvent", "PauseSpan", "SignalGap",
           "event_message"]


@dataclass(frozen=True)
class PauseEvent:
    """Something the controller did or saw.

    Attributes:
        kind: ``"pause"``, ``"resume"``, ``"release"`` (resumed for good, or
            pausing given up at the deadline), ``"signal-missing"`` or
            ``"signal-back"``.
        t_s: when, UTC epoch seconds.
        reason: why, in words (``"intensity 412 g/kWh > 300"``).
        intensity_g_per_kwh: the intensity read, if one was.
        threshold_g_per_kwh: the threshold it was compared with, if one was.
        latest_resume_s: for a pause, the latest time it may last until (the
            deadline or the end of the pause budget; ``inf`` when unbounded).
        paused_s: for a resume, how long the pause lasted, seconds.
    """

    kind: str
    t_s: float
    reason: str
    intensity_g_per_kwh: float | None = None
    threshold_g_per_kwh: float | None = None
    latest_resume_s: float | None = None
    paused_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able record (an unbounded ``latest_resume_s`` becomes ``None``)."""
        latest = self.latest_resume_s
        return {"kind": self.kind, "t_s": self.t_s, "reason": self.reason,
                "intensity_g_per_kwh": self.intensity_g_per_kwh,
                "threshold_g_per_kwh": self.threshold_g_per_kwh,
                "latest_resume_s": None if latest is None or math.isinf(latest) else latest,
                "paused_s": self.paused_s}


@dataclass
class PauseSpan:
    """One pause: from ``t_start_s`` to ``t_end_s`` (``None`` while it lasts)."""

    t_start_s: float
    t_end_s: float | None
    reason: str
    end_reason: str = ""

    def duration_s(self, now_s: float) -> float:
        """Length of the pause, up to ``now_s`` while it lasts."""
        return (self.t_end_s if self.t_end_s is not None else now_s) - self.t_start_s


@dataclass
class SignalGap:
    """A span with no usable signal (the job ran through it)."""

    t_start_s: float
    t_end_s: float | None
    reason: str


#: called with a reason when the job is to be stopped or continued
PauseCallback = Callable[[str], None]
#: called with every event the controller records
EventCallback = Callable[[PauseEvent], None]


def event_message(event: PauseEvent) -> str | None:
    """One line for people about a pause, a resume or a release (``None`` for other events).

    For example ``paused at 14:00Z: 412 g/kWh > 300 g/kWh; resumes when lower,
    latest 02:00Z (12:00:00 slack)`` and ``resumed at 16:00Z: 280 g/kWh <= 300 g/kWh
    after 2:00:00 paused``. Times are UTC; the slack is how long the pause
    may last at most (to the deadline, or to the end of the pause budget).
    A release is told only when the deadline forced it (not when the job ended).
    """
    from wattprint.units import format_duration_s, format_intensity

    when = clock_text(event.t_s)
    value, threshold = event.intensity_g_per_kwh, event.threshold_g_per_kwh
    if event.kind == "pause":
        head = f"paused at {when}: "
        if value is not None and threshold is not None:
            head += f"{format_intensity(value)} > {format_intensity(threshold)}"
        else:
            head += event.reason
        latest = event.latest_resume_s
        if latest is None or math.isinf(latest):
            return head + "; resumes when lower (no deadline)"
        return (f"{head}; resumes when lower, latest {clock_text(latest)} "
                f"({format_duration_s(max(0.0, latest - event.t_s))} slack)")
    if event.kind == "resume":
        if value is not None and threshold is not None:
            why = f"{format_intensity(value)} <= {format_intensity(threshold)}"
        else:
            why = event.reason
        after = (f" after {format_duration_s(event.paused_s)} paused"
                 if event.paused_s is not None else "")
        return f"resumed at {when}: {why}{after}"
    if event.kind == "release" and event.reason.startswith("deadline"):
        return f"pausing ended at {when}: {event.reason}"
    return None
