from __future__ import annotations

from datetime import datetime, timezone

import pytest

from wattprint.errors import ConfigError
from wattprint.time import (
    NaiveTimestampError,
    format_hms,
    iso_utc,
    parse_datetime,
    parse_duration_s,
    parse_time_zone,
    parse_timestamp_s,
)

# 2024-03-01T13:00:00Z, computed by hand: 19783 days after 1970-01-01, plus 13 h.
MARCH_1_13H_UTC = 19783 * 86400 + 13 * 3600


@pytest.mark.parametrize("text", [
    "2024-03-01T13:00Z",
    "2024-03-01T13:00:00Z",
    "2024-03-01 14:00+01:00",
    "2024-03-01T14:00:00+0100",
    "2024-03-01T08:30-04:30",
    "  2024-03-01t13:00:00z ",
])
def test_timestamps_with_any_zone_spelling_give_the_same_instant(text: str) -> None:
    assert parse_timestamp_s(text) == MARCH_1_13H_UTC


def test_fractions_of_a_second_are_kept() -> None:
    assert parse_timestamp_s("2024-03-01T13:00:00.25Z") == MARCH_1_13H_UTC + 0.25
    assert parse_timestamp_s("2024-03-01T13:00:00,5Z") == MARCH_1_13H_UTC + 0.5


def test_a_timestamp_without_a_zone_is_refused_with_a_hint() -> None:
    with pytest.raises(NaiveTimestampError, match=r"no time zone.*2024-03-01T13:00Z"):
        parse_timestamp_s("2024-03-01T13:00")


def test_a_bare_date_is_midnight_utc_only_when_asked() -> None:
    assert parse_timestamp_s("2024-03-01", bare_date_is_utc=True) == 19783 * 86400
    with pytest.raises(NaiveTimestampError):
        parse_timestamp_s("2024-03-01")


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01T00:00Z", "2024-02-30T00:00Z",
                                  "2024-03-01T13:00+25:00", ""])
def test_nonsense_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp_s(text)


def test_parse_datetime_is_aware_and_iso_utc_round_trips() -> None:
    moment = parse_datetime("2024-03-01T14:00:00.123+01:00")
    assert moment == datetime(2024, 3, 1, 13, 0, 0, 123000, tzinfo=timezone.utc)
    assert iso_utc(moment.timestamp()) == "2024-03-01T13:00:00.123+00:00"
    assert iso_utc(None) is None


def test_parse_time_zone() -> None:
    assert parse_time_zone(None) is None and parse_time_zone("local") is None
    assert parse_time_zone("UTC") is timezone.utc
    minus = parse_time_zone("-05:30")
    assert minus is not None
    offset = minus.utcoffset(None)
    assert offset is not None and offset.total_seconds() == -(5 * 3600 + 30 * 60)
    berlin = parse_time_zone("Europe/Berlin")
    assert berlin is not None
    assert berlin.utcoffset(datetime(2024, 7, 1)).total_seconds() == 7200  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="unknown time zone"):
        parse_time_zone("Mars/Olympus")
    with pytest.raises(ConfigError, match="out of range"):
        parse_time_zone("+24:00")


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("6h", 21600.0), ("2d", 172800.0),
    (" 1.5H ", 5400.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["-1h", "soon", "nanh", "infs", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_s(text)


def test_format_hms() -> None:
    assert format_hms(3725) == "1:02:05"
    assert format_hms(59.6) == "0:01:00"
