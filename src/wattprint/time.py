"""Time, in one place: ISO 8601 instants with zones, time zones, durations.

Every instant wattprint stores or computes with is a UTC epoch second
(``t_s``, a float). Text becomes an instant only here, and only when it says
which zone it is in: a timestamp without a zone is ambiguous by an hour or
more, which is as large as the hourly intensity signal we account with, so
it is refused with a hint rather than guessed. Time zones for peers' naive
logs and durations such as ``6h`` are parsed here too, so every command and
file format reads them the same way.

(Absolute imports keep the standard library's ``time`` module reachable from
every other wattprint module; this one is always imported as
``wattprint.time``.)
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from wattprint.errors import ConfigError, NaiveTimestampError, TimestampError

__all__ = [
    "NaiveTimestampError",
    "TimestampError",
    "format_hms",
    "iso_utc",
    "parse_datetime",
    "parse_duration_s",
    "parse_time_zone",
    "parse_timestamp_s",
]

_ISO_8601 = re.compile(
    r"""^\s*(\d{4})-(\d{2})-(\d{2})
        (?:[T\s](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?
        \s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

_DURATION_FACTORS_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_datetime(text: str, *, bare_date_is_utc: bool = False) -> datetime:
    """ISO 8601 text with a zone -> an aware :class:`datetime`.

    Accepts ``2024-03-01T13:00Z``, ``2024-03-01 14:00:00.5+01:00``,
    ``2024-03-01T13:00:00+0100`` and the like.

    Args:
        text: the timestamp.
        bare_date_is_utc: read a bare date (``2024-03-01``) as midnight UTC
            instead of refusing it as zone-less.

    Raises:
        NaiveTimestampError: the text has no zone.
        TimestampError: the text is not ISO 8601 or names an impossible date
            (both are also ``ValueError``).
    """
    m = _ISO_8601.match(text)
    if not m:
        raise TimestampError(f"{text!r} is not an ISO 8601 time; write e.g. 2025-06-01T14:00Z")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if zone is None:
        if bare_date_is_utc and hour is None:
            zone = "Z"
        else:
            raise NaiveTimestampError(
                f"{text!r} has no time zone; add one, e.g. {text.strip()}Z for UTC"
            )
    if zone.upper() == "Z":
        offset = timedelta(0)
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if abs(offset) >= timedelta(hours=24):
            raise TimestampError(f"{text!r}: zone offset {zone} is out of range")
    micro = round(float("0." + fraction) * 1_000_000) if fraction else 0
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0),
            int(second or 0), tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise TimestampError(f"{text!r} is not a valid time: {exc}") from None
    return moment + timedelta(microseconds=micro)


def parse_timestamp_s(text: str, *, bare_date_is_utc: bool = False) -> float:
    """ISO 8601 text with a zone -> UTC epoch seconds (see :func:`parse_datetime`).

    Raises:
        NaiveTimestampError: the text has no zone.
        ValueError: the text is not ISO 8601.
    """
    return parse_datetime(text, bare_date_is_utc=bare_date_is_utc).timestamp()


def iso_utc(t_s: float | None) -> str | None:
    """ISO 8601 UTC text, to the millisecond, of an epoch time (``None`` stays ``None``)."""
    if t_s is None:
        return None
    return datetime.fromtimestamp(t_s, tz=timezone.utc).isoformat(timespec="milliseconds")


def parse_time_zone(text: str | None) -> tzinfo | None:
    """The time zone a peer's naive timestamps are in.

    Args:
        text: ``None`` or ``"local"`` (this machine's zone), ``"UTC"``, an
            offset (``"+02:00"``, ``"-0530"``, ``"+2"``) or an IANA name
            (``"Europe/Berlin"``).

    Returns:
        The zone, or ``None`` for local time.

    Raises:
        ConfigError: the text is none of these.
    """
    if text is None or text.strip().lower() in ("", "local"):
        return None
    t = text.strip()
    if t.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", t)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ConfigError(f"time zone offset {text!r} is out of range; use e.g. +02:00")
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        return ZoneInfo(t)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {text!r}: give 'local', 'UTC', an offset like +02:00 or an "
            "IANA name like Europe/Berlin"
        ) from None


def parse_duration_s(text: str) -> float:
    """Parse ``"90"``, ``"90s"``, ``"15m"``, ``"6h"``, ``"2d"`` into seconds.

    Raises:
        ValueError: the text is not a finite, non-negative number with an
            optional s/m/h/d suffix.
    """
    t = text.strip().lower()
    factor = 1.0
    if t and t[-1] in _DURATION_FACTORS_S:
        factor = _DURATION_FACTORS_S[t[-1]]
        t = t[:-1]
    try:
        value = float(t)
    except ValueError:
        raise ValueError(
            f"cannot read duration {text!r}: give a number with an optional unit, "
            "e.g. 90s, 15m, 6h or 2d"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"duration {text!r} is not a finite number; give e.g. 6h")
    if value < 0:
        raise ValueError(f"duration {text!r} is negative")
    return value * factor


def format_hms(duration_s: float) -> str:
    """A duration as ``h:mm:ss`` (``3725`` -> ``1:02:05``)."""
    whole = round(duration_s)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"
