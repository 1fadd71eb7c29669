"""wattprint: measure the energy of ML work, account its life-cycle carbon, report and cut it.

``import wattprint`` touches no hardware and starts no thread; measuring
starts when a :func:`track` block is entered or :meth:`Tracker.start` called.
"""

from __future__ import annotations

from wattprint.errors import (
    ConfigError,
    HardwareError,
    IntensityDataError,
    IntensityError,
    RegionError,
    RunNotFound,
    SensorError,
    SensorPermissionError,
    SensorUnavailable,
    StoreError,
    WattprintError,
)
from wattprint.run import DeviceEnergy, Tracker, track

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DeviceEnergy",
    "HardwareError",
    "IntensityDataError",
    "IntensityError",
    "RegionError",
    "RunNotFound",
    "SensorError",
    "SensorPermissionError",
    "SensorUnavailable",
    "StoreError",
    "Tracker",
    "WattprintError",
    "__version__",
    "track",
]
