"""The store's write operations, each written once for every backend.

A write is a named operation applied to a JSON document in one
transaction: the same document a spool file keeps when the store cannot
take it (:mod:`wattprint.store.spool`), so ingesting a spool replays exactly
what the run would have written. Statements use the SQL both backends share
(see :mod:`wattprint.store.dialect`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wattprint.errors import RunNotFound
from wattprint.store.dialect import Conn

__all__ = ["OPS"]


def _op_create_run(c: Conn, d: dict[str, Any]) -> None:
    c.execute(
        "INSERT INTO runs (id, project, name, phase, status, started_at, attribution,"
        " interval_s, command, host, pid, pid_started_at, region, tool, info, boot_id, pid_ns)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (d["id"], d["project"], d["name"], d["phase"], d["status"], d["started_at"],
         d["attribution"], d["interval_s"], d["command"], d["host"], d["pid"],
         d["pid_started_at"], d["region"], d["tool"], json.dumps(d["info"], sort_keys=True),
         d["boot_id"], d["pid_ns"]),
    )


def _op_devices(c: Conn, d: dict[str, Any]) -> None:
    c.executemany(
        "INSERT INTO devices (run_id, device_id, kind, name, source, measured, counter, model,"
        " share_rule, extra) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (run_id, device_id)"
        " DO UPDATE SET kind = excluded.kind, name = excluded.name, source = excluded.source,"
        " measured = excluded.measured, counter = excluded.counter, model = excluded.model,"
        " share_rule = excluded.share_rule, extra = excluded.extra",
        [(d["run_id"], *row[:8], json.dumps(row[8], sort_keys=True)) for row in d["rows"]],
    )


def _op_intervals(c: Conn, d: dict[str, Any]) -> None:
    c.executemany(
        "INSERT INTO intervals (run_id, device_id, t_start, t_end, energy_j,"
        " attributed_j, paused) VALUES (?,?,?,?,?,?,?)",
        [(d["run_id"], *row) for row in d["rows"]],
    )


def _op_gap(c: Conn, d: dict[str, Any]) -> None:
    c.execute("INSERT INTO gaps (run_id, device_id, t_start, t_end, reason) VALUES (?,?,?,?,?)",
              (d["run_id"], d["device_id"], d["t_start"], d["t_end"], d["reason"]))


def _op_metric(c: Conn, d: dict[str, Any]) -> None:
    c.execute("INSERT INTO metrics (run_id, name, value, step, t) VALUES (?,?,?,?,?)",
              (d["run_id"], d["name"], d["value"], d["step"], d["t"]))


def _op_units(c: Conn, d: dict[str, Any]) -> None:
    c.execute("INSERT INTO units (run_id, unit, count) VALUES (?,?,?) ON CONFLICT (run_id, unit)"
              " DO UPDATE SET count = units.count + excluded.count",
              (d["run_id"], d["unit"], d["count"]))


def _op_open_phase(c: Conn, d: dict[str, Any]) -> int:
    row = c.execute("INSERT INTO phases (run_id, name, depth, t_start, t_end)"
                    " VALUES (?,?,?,?,NULL) RETURNING rowid",
                    (d["run_id"], d["name"], d["depth"], d["t_start"])).fetchone()
    return int(row[0])


def _op_close_phase(c: Conn, d: dict[str, Any]) -> None:
    c.execute("UPDATE phases SET t_end = ? WHERE rowid = ?", (d["t_end"], d["rowid"]))


def _op_pause(c: Conn, d: dict[str, Any]) -> int:
    row = c.execute("INSERT INTO pauses (run_id, t_start, t_end, reason) VALUES (?,?,?,?)"
                    " RETURNING rowid",
                    (d["run_id"], d["t_start"], d["t_end"], d["reason"])).fetchone()
    return int(row[0])


def _op_end_pause(c: Conn, d: dict[str, Any]) -> None:
    c.execute("UPDATE pauses SET t_end = ? WHERE rowid = ?", (d["t_end"], d["rowid"]))


def _op_idle(c: Conn, d: dict[str, Any]) -> None:
    c.execute("INSERT INTO idle (run_id, device_id, power_w, method) VALUES (?,?,?,?)"
              " ON CONFLICT (run_id, device_id) DO UPDATE SET power_w = excluded.power_w,"
              " method = excluded.method",
              (d["run_id"], d["device_id"], d["power_w"], d["method"]))


def _op_tags(c: Conn, d: dict[str, Any]) -> None:
    rows = [(d["run_id"], k, str(v)) for k, v in d["tags"].items()]
    if rows:
        c.executemany("INSERT INTO tags (run_id, key, value) VALUES (?,?,?)"
                      " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value", rows)


def _op_update_info(c: Conn, d: dict[str, Any]) -> None:
    row = c.execute("SELECT info FROM runs WHERE id = ?", (d["run_id"],)).fetchone()
    if row is None:
        raise RunNotFound(f"no run {d['run_id']!r}")
    try:
        current = json.loads(row[0])
    except ValueError:
        current = {}
    merged = (current if isinstance(current, dict) else {}) | d["info"]
    c.execute("UPDATE runs SET info = ? WHERE id = ?",
              (json.dumps(merged, sort_keys=True), d["run_id"]))


def _op_finish_run(c: Conn, d: dict[str, Any]) -> None:
    rid, ended_at = d["run_id"], d["ended_at"]
    c.execute("UPDATE runs SET status = ?, ended_at = ?, exit_code = ?, error = ? WHERE id = ?",
              (d["status"], ended_at, d["exit_code"], d["error"], rid))
    c.execute("UPDATE phases SET t_end = ? WHERE run_id = ? AND t_end IS NULL", (ended_at, rid))
    c.execute("UPDATE pauses SET t_end = ? WHERE run_id = ? AND t_end IS NULL", (ended_at, rid))


def _op_job(c: Conn, d: dict[str, Any]) -> None:
    c.execute("UPDATE runs SET job_id = ?, job_node = ?, job_rank = ?, job_local_rank = ?,"
              " job_world_size = ?, job_launcher = ? WHERE id = ?",
              (d["job_id"], d["node"], d["rank"], d["local_rank"], d["world_size"],
               d["launcher"], d["run_id"]))


def _op_prediction(c: Conn, d: dict[str, Any]) -> None:
    p = d["prediction"]
    c.execute("INSERT INTO predictions (run_id, made_at, after_epochs, total_epochs, duration_s,"
              " energy_j, co2e_kg, detail) VALUES (?,?,?,?,?,?,?,?)",
              (d["run_id"], p["made_at"], p["after_epochs"], p["total_epochs"], p["duration_s"],
               p["energy_j"], p.get("co2e_kg"), json.dumps(p, sort_keys=True)))


#: every write operation by name (the names spool files record)
OPS: dict[str, Callable[[Conn, dict[str, Any]], Any]] = {
    "create_run": _op_create_run, "devices": _op_devices, "intervals": _op_intervals,
    "gap": _op_gap, "metric": _op_metric, "units": _op_units, "open_phase": _op_open_phase,
    "close_phase": _op_close_phase, "pause": _op_pause, "end_pause": _op_end_pause,
    "idle": _op_idle, "tags": _op_tags, "update_info": _op_update_info,
    "finish_run": _op_finish_run, "job": _op_job, "prediction": _op_prediction,
}
