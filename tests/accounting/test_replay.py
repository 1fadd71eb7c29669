from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from wattprint.accounting.replay import (
    replay_intervals,
    replay_time_s,
    same_time_in_year,
    typical_year_window,
)
from wattprint.accounting.series import IntensitySeries
from wattprint.errors import IntensityError

H = 3600.0


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_same_date_and_time_in_another_year() -> None:
    times = np.array([utc(2025, 5, 3, 14, 20), utc(2024, 2, 29, 5), utc(2024, 3, 1, 0, 30),
                      utc(2025, 3, 1, 7), utc(2023, 12, 31, 23, 59)])
    expected = [utc(2022, 5, 3, 14, 20), utc(2022, 2, 28, 5), utc(2022, 3, 1, 0, 30),
                utc(2022, 3, 1, 7), utc(2022, 12, 31, 23, 59)]
    assert list(same_time_in_year(times, 2022)) == expected
    # into a leap year: 1 March stays 1 March, 28 February stays 28 February
    assert replay_time_s(utc(2025, 3, 1, 7), 2024) == utc(2024, 3, 1, 7)
    assert replay_time_s(utc(2025, 2, 28, 7), 2024) == utc(2024, 2, 28, 7)


def _year_2022(values: list[float]) -> IntensitySeries:
    """A 2022 series of whole days, hour by hour, repeating ``values`` (one per hour)."""
    hours = int((utc(2023, 1, 1) - utc(2022, 1, 1)) // H)
    return IntensitySeries.regular(utc(2022, 1, 1), H, (values * hours)[:hours], region="XX")


def test_replayed_intervals_keep_length_and_stay_inside() -> None:
    s = _year_2022([float(h) for h in range(24)])
    starts = np.array([utc(2022, 6, 1, 3), utc(2025, 6, 1, 3, 30), utc(2024, 12, 31, 23, 30)])
    ends = starts + np.array([H, H, H])
    new_starts, new_ends, moved = replay_intervals(s, starts, ends)
    assert moved == 2
    # inside: unchanged; 2025: same time in 2022; past the series' end: moved back to end with it
    assert list(new_starts) == [utc(2022, 6, 1, 3), utc(2022, 6, 1, 3, 30), utc(2022, 12, 31, 23)]
    assert list(new_ends - new_starts) == [H, H, H]


def test_typical_year_window_wraps_new_year_and_says_so() -> None:
    s = _year_2022([float(h) for h in range(24)])  # the value is the hour of day
    w = typical_year_window(s, utc(2025, 12, 31, 21, 40), utc(2026, 1, 1, 2))
    assert w.start_s[0] == utc(2025, 12, 31, 21) and w.step_s == H
    assert list(w.g_per_kwh) == [21.0, 22.0, 23.0, 0.0, 1.0]
    assert w.region == "XX" and w.method == "average"
    assert "typical-year replay" in (w.provenance.fallback or "")


def test_typical_year_window_needs_the_whole_year() -> None:
    june = IntensitySeries.regular(utc(2022, 6, 1), H, [100.0] * 24, region="XX")
    with pytest.raises(IntensityError, match="covers 2022-06-01T00:00:00Z"):
        typical_year_window(june, utc(2025, 7, 1), utc(2025, 7, 1, 2))
