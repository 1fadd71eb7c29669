"""The store's schema: numbered migrations, each applied once, in order.

``meta.schema_version`` records the newest migration applied. Migration 2
adds the identity a run's liveness is judged by (boot id, pid namespace)
and the list of spool files already ingested, so a spool is never added
twice.

The same migrations build a SQLite and a PostgreSQL store: each is written
once, in SQLite's words, and :meth:`~wattprint.store.dialect.Dialect.ddl`
renders it for PostgreSQL (column types, the ``rowid`` of
:data:`ORDERED_TABLES`). A new migration is one more entry in
:data:`MIGRATIONS`; :data:`SCHEMA_VERSION` follows it. Copying between
stores reads each table's columns from the store itself, so a column a
migration adds is carried without naming it anywhere else.

Migration 3 links runs into distributed jobs: the job's id, the node, the
rank, the rank on the node, the job's number of ranks and the launcher that
named the job (see :mod:`wattprint.distributed`); a run outside any job
leaves them empty.

Migration 4 adds a covering index for a job's totals: every column the sums
of :mod:`wattprint.store.jobs` read from ``intervals``, in the order they group
by (run, device, paused), so a job's energy by node, rank and device is read
from the index alone, already in group order, without touching the table or
sorting (on SQLite a job of a million intervals is summed in a quarter of the
time; the index takes about as much space as the intervals themselves).

Migration 5 keeps a run's predictions (:mod:`wattprint.decide.predict`): one
row per forecast, made after each epoch once enough epochs have run, with
the central figures as columns and the whole forecast (intervals, the rule,
the carbon inputs, a budget verdict) as JSON in ``detail``. A run stopped by
its budget has the status ``stopped``.
"""

from __future__ import annotations

from wattprint.store.dialect import Dialect

__all__ = ["MIGRATIONS", "ORDERED_TABLES", "RUN_STATUSES", "SCHEMA_VERSION", "TABLES",
           "latest", "statements"]

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT,
        phase TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        exit_code INTEGER,
        attribution TEXT NOT NULL,
        interval_s REAL NOT NULL,
        command TEXT,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        pid_started_at REAL,
        region TEXT,
        tool TEXT NOT NULL DEFAULT 'wattprint',
        error TEXT,
        info TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_project ON runs(project, started_at);
    CREATE TABLE devices (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        measured INTEGER NOT NULL,
        counter INTEGER NOT NULL,
        model TEXT,
        share_rule TEXT NOT NULL,
        extra TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, device_id)
    );
    CREATE TABLE intervals (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        t_start REAL NOT NULL,
        t_end REAL NOT NULL,
        energy_j REAL NOT NULL,
        attributed_j REAL NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX intervals_run ON intervals(run_id, t_start);
    CREATE TABLE gaps (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        t_start REAL NOT NULL,
        t_end REAL NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        step INTEGER,
        t REAL NOT NULL
    );
    CREATE TABLE phases (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        depth INTEGER NOT NULL,
        t_start REAL NOT NULL,
        t_end REAL
    );
    CREATE TABLE units (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        unit TEXT NOT NULL,
        count REAL NOT NULL,
        PRIMARY KEY (run_id, unit)
    );
    CREATE TABLE pauses (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        t_start REAL NOT NULL,
        t_end REAL,
        reason TEXT NOT NULL
    );
    CREATE TABLE idle (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        power_w REAL NOT NULL,
        method TEXT NOT NULL,
        PRIMARY KEY (run_id, device_id)
    );
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    """,
    2: """
    ALTER TABLE runs ADD COLUMN boot_id TEXT;
    ALTER TABLE runs ADD COLUMN pid_ns INTEGER;
    CREATE TABLE spool_ingested (
        name TEXT PRIMARY KEY,
        ingested_at REAL NOT NULL
    );
    """,
    3: """
    ALTER TABLE runs ADD COLUMN job_id TEXT;
    ALTER TABLE runs ADD COLUMN job_node TEXT;
    ALTER TABLE runs ADD COLUMN job_rank INTEGER;
    ALTER TABLE runs ADD COLUMN job_local_rank INTEGER;
    ALTER TABLE runs ADD COLUMN job_world_size INTEGER;
    ALTER TABLE runs ADD COLUMN job_launcher TEXT;
    CREATE INDEX runs_job ON runs(job_id, job_node, job_rank);
    """,
    4: """
    CREATE INDEX intervals_totals ON intervals(run_id, device_id, paused, energy_j,
        attributed_j, t_start, t_end);
    """,
    5: """
    CREATE TABLE predictions (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        made_at REAL NOT NULL,
        after_epochs INTEGER NOT NULL,
        total_epochs INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        energy_j REAL NOT NULL,
        co2e_kg REAL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX predictions_run ON predictions(run_id, after_epochs);
    """,
}

#: the newest migration: the schema version a store opened for writing has
SCHEMA_VERSION = max(MIGRATIONS)

RUN_STATUSES = ("running", "finished", "failed", "interrupted", "terminated", "imported",
                "stopped")

#: the tables holding a run's data, parents first (the order a copy must follow)
TABLES = ("runs", "devices", "intervals", "gaps", "metrics", "phases", "units", "pauses",
          "idle", "tags", "predictions")

#: tables whose rows are read in the order they were written: by SQLite's implicit
#: ``rowid``, an identity column of that name in PostgreSQL
ORDERED_TABLES = ("metrics", "phases", "pauses")


def latest() -> int:
    """The newest schema version (the last entry of :data:`MIGRATIONS`)."""
    return max(MIGRATIONS)


def statements(version: int, dialect: Dialect) -> list[str]:
    """The statements of one migration, rendered for a dialect."""
    return [dialect.ddl(s, ORDERED_TABLES) for s in MIGRATIONS[version].split(";") if s.strip()]
