"""wattprint: measure the energy of ML work, account its life-cycle carbon, report and cut it.

``import wattprint`` touches no hardware and starts no thread; measuring
starts when a :func:`track` block is entered or :meth:`Tracker.start` called.

The public API is what this module exports (``__all__``, pinned by a test):

* measuring: :func:`track`, :class:`Tracker`, :class:`DeviceEnergy`;
* accounting: :func:`account_run` (a stored run -> its footprint),
  :class:`AccountingOptions`, :func:`estimate` (a footprint before running);
* the store: :class:`Store` (``Store(path)``; ``wattprint config`` shows the
  configured path);
* serving: :class:`EnergyMeter` (per-request energy of an inference endpoint);
* benchmarks: :func:`bench` (energy per unit of a function over a grid of settings);
* the errors, all children of :class:`WattprintError` (see :mod:`wattprint.errors`).

Everything else (``wattprint.sensors``, ``wattprint.sampling``, ...) is
internal and may change between releases; ``wattprint.testing`` holds the
hardware fakes for your own tests. Accounting, the store and serving are
imported on first use, so ``import wattprint`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wattprint._version import __version__
from wattprint.errors import (
    AuditError,
    BudgetExceeded,
    ConfigError,
    ExportError,
    HardwareError,
    HttpError,
    IntensityDataError,
    IntensityError,
    NaiveTimestampError,
    PeerLogError,
    RegionError,
    RunNotFound,
    SensorError,
    SensorPermissionError,
    SensorUnavailable,
    StoreError,
    TimestampError,
    WattprintError,
    WriteError,
)
from wattprint.run import DeviceEnergy, Tracker, track

if TYPE_CHECKING:
    from wattprint.accounting.account import AccountingOptions, account_run
    from wattprint.accounting.estimate import estimate
    from wattprint.decide.bench import bench
    from wattprint.serve.meter import EnergyMeter
    from wattprint.store import Store

# Public names loaded on first use: name -> module that defines it.
_LAZY = {
    "AccountingOptions": "wattprint.accounting.account",
    "account_run": "wattprint.accounting.account",
    "estimate": "wattprint.accounting.estimate",
    "EnergyMeter": "wattprint.serve.meter",
    "Store": "wattprint.store",
    "bench": "wattprint.decide.bench",
}

__all__ = [
    "AccountingOptions",
    "AuditError",
    "BudgetExceeded",
    "ConfigError",
    "DeviceEnergy",
    "EnergyMeter",
    "ExportError",
    "HardwareError",
    "HttpError",
    "IntensityDataError",
    "IntensityError",
    "NaiveTimestampError",
    "PeerLogError",
    "RegionError",
    "RunNotFound",
    "SensorError",
    "SensorPermissionError",
    "SensorUnavailable",
    "Store",
    "StoreError",
    "TimestampError",
    "Tracker",
    "WattprintError",
    "WriteError",
    "__version__",
    "account_run",
    "bench",
    "estimate",
    "track",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wattprint' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext wattprint``: the ``%%wattprint`` cell magic and ``%wattprint`` line magic."""
    from wattprint.integrations.jupyter import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext wattprint``: stop a running notebook run and remove the magics."""
    from wattprint.integrations.jupyter import unload_ipython_extension as unload

    unload(shell)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
