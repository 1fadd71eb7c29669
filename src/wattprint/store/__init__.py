"""The run store: SQLite in WAL mode, a spool when it cannot be written, and its checks.

* :mod:`~wattprint.store.sqlite` — :class:`Store`: connection, writes, reads;
* :mod:`~wattprint.store.schema` — numbered migrations;
* :mod:`~wattprint.store.spool` — where writes go when the store cannot take them;
* :mod:`~wattprint.store.liveness` — whether a ``running`` run's process is provably gone;
* :mod:`~wattprint.store.fstype` — the warning for a store on a network filesystem;
* :mod:`~wattprint.store.checks` — ``wattprint store check`` and ``store recover``.
"""

from __future__ import annotations

from wattprint.records import DeviceRecord, IntervalRecord, RunRecord
from wattprint.store.schema import RUN_STATUSES, SCHEMA_VERSION
from wattprint.store.sqlite import Store, hostname, new_run_id

#: The records are defined in :mod:`wattprint.records`; their names stay
#: importable from here.
__all__ = [
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "DeviceRecord",
    "IntervalRecord",
    "RunRecord",
    "Store",
    "hostname",
    "new_run_id",
]
