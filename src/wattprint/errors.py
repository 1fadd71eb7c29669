"""The one error tree of wattprint.

Every error wattprint raises on purpose is a :class:`WattprintError`::

    WattprintError
    ├── ConfigError            invalid setting, with the name of the setting and the fix
    ├── SensorError            a sensor could not be used
    │   ├── SensorUnavailable      the hardware or library is absent (a skip, not a failure)
    │   └── SensorPermissionError  present but unreadable; the message says how to grant access
    ├── StoreError             the store cannot be opened, read, written or migrated
    │   └── RunNotFound            no stored run has that id (or id prefix)
    ├── RegionError            a region code is unknown; the message suggests the nearest codes
    ├── IntensityError         an intensity source or series cannot be used
    │   └── IntensityDataError     a user series is malformed (names the row and the fix)
    ├── HardwareError          a hardware model is not in the catalogue
    ├── TimestampError         text is not an ISO 8601 time (also a ValueError)
    │   └── NaiveTimestampError    the time names no zone; the message shows how to add one
    ├── PeerLogError           a peer tool's log cannot be read (names the file, line and fix)
    ├── ExportError            an export cannot be rendered (e.g. its library is missing)
    ├── HttpError              a web API gave no usable answer (``kind`` says why)
    ├── AuditError             an environment or image audit cannot be made (bad archive...)
    ├── BudgetExceeded         a run is predicted to exceed its energy or carbon budget
    └── WriteError             an output file could not be written (the old one is intact)

Vendor errors (NVML, amdsmi, sqlite3, OS errors) are chained with
``raise ... from``, so the original cause is always in the traceback.
"""

from __future__ import annotations

from typing import Literal


class WattprintError(Exception):
    """Base class of every error wattprint raises on purpose."""


class ConfigError(WattprintError):
    """A setting has an invalid value; the message names the setting and the fix."""


class SensorError(WattprintError):
    """A sensor could not be used."""


class SensorUnavailable(SensorError):
    """The hardware or vendor library for a sensor is absent on this machine."""


class SensorPermissionError(SensorError):
    """The hardware is present but cannot be read by this user."""


class StoreError(WattprintError):
    """The run store cannot be opened, read, written or migrated; the message names the fix."""


class RunNotFound(StoreError):
    """No stored run matches the given id or id prefix."""


class RegionError(WattprintError):
    """A region code is unknown."""


class IntensityError(WattprintError):
    """A carbon-intensity source or series cannot be used."""


class IntensityDataError(IntensityError):
    """A user-provided intensity series is malformed."""


class HardwareError(WattprintError):
    """A hardware model is not in the catalogue."""


class TimestampError(WattprintError, ValueError):
    """Text is not an ISO 8601 time; also a :class:`ValueError` for callers parsing values."""


class NaiveTimestampError(TimestampError):
    """An ISO 8601 timestamp that names no time zone."""


class PeerLogError(WattprintError):
    """A peer's log cannot be read; the message names the file, the line and the fix."""


class ExportError(WattprintError):
    """An export cannot be rendered (e.g. the Parquet library is missing)."""


class HttpError(WattprintError):
    """A request got no usable HTTP answer.

    Attributes:
        kind: ``timeout`` (no answer within the time-out), ``connect`` (the
            connection failed or closed before an answer, after the retries),
            ``too-large`` (the body is over the limit), ``redirect`` (too many
            redirects, or one to a scheme other than http/https) or
            ``request`` (anything else httpx refused, e.g. a malformed URL).
        reason: what went wrong, without the URL (for the caller's message).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: Literal["timeout", "connect", "too-large", "redirect", "request"],
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason or message


class AuditError(WattprintError):
    """An audit cannot be made: bad archive, a Python that will not start, no trace..."""


class WriteError(WattprintError):
    """A file could not be written; the old file, if any, is intact.

    The message names the file and the reason (``No space left on device``)
    and suggests another path; the OS error is chained as the cause.
    """


class BudgetExceeded(WattprintError):
    """A run is predicted (or measured) to exceed its energy or carbon budget.

    Raised in the training loop by :meth:`wattprint.run.Tracker.epoch_end` when
    the run's budget action is ``raise``; the message says what was predicted,
    after which epoch, and the budget. :attr:`prediction` is the forecast that
    triggered it (the mapping of :meth:`wattprint.run.Tracker.prediction`).
    """

    def __init__(self, message: str, prediction: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.prediction = prediction
