"""The run store: SQLite by default, PostgreSQL for clusters, a spool when it cannot be written.

* :mod:`~wattprint.store.base` — :class:`Store`: the one interface, writes, reads;
  ``Store(path)`` or ``Store("postgresql://...")`` opens the backend the target names;
* :mod:`~wattprint.store.sqlite` — the SQLite backend (one file, WAL mode);
* :mod:`~wattprint.store.postgres` — the PostgreSQL backend (psycopg 3, imported only there);
* :mod:`~wattprint.store.dialect` — the only differences between their SQL;
* :mod:`~wattprint.store.ops` — the write operations, written once;
* :mod:`~wattprint.store.schema` — numbered migrations, the same for both backends;
* :mod:`~wattprint.store.copy` — ``store copy`` and ``merge``: runs from one store into another;
* :mod:`~wattprint.store.spool` — where writes go when the store cannot take them;
* :mod:`~wattprint.store.liveness` — whether a ``running`` run's process is provably gone;
* :mod:`~wattprint.store.fstype` — the warning for a store on a network filesystem;
* :mod:`~wattprint.store.checks` — ``wattprint store check`` and ``store recover``.
"""

from __future__ import annotations

from wattprint.records import DeviceRecord, IntervalRecord, RunRecord
from wattprint.store.base import Store, hostname, new_run_id
from wattprint.store.schema import RUN_STATUSES, SCHEMA_VERSION

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
