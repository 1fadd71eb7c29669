"""The one error tree of wattprint.

Every error wattprint raises on purpose is a :class:`WattprintError`::

    WattprintError
    ├── ConfigError            invalid setting, with the name of the setting and the fix
    ├── SensorError            a sensor could not be used
    │   ├── SensorUnavailable      the hardware or library is absent (a skip, not a failure)
    │   └── SensorPermissionError  present but unreadable; the message says how to grant access
    ├── StoreError             the SQLite store cannot be opened or is of a newer schema
    │   └── RunNotFound            no stored run has that id (or id prefix)
    ├── RegionError            a region code is unknown; the message suggests the nearest codes
    ├── IntensityError         an intensity source or series cannot be used
    │   └── IntensityDataError     a user series is malformed (names the row and the fix)
    └── HardwareError          a hardware model is not in the catalogue

Vendor errors (NVML, amdsmi, OS errors) are chained with ``raise ... from``, so
the original cause is always in the traceback.
"""

from __future__ import annotations


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
    """The run store cannot be opened, written or migrated."""


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
