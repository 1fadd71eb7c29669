"""A job's embodied carbon: each node's server charged once, over the node's measured span.

The job, built by hand (2 nodes, 2 ranks each, one GPU per rank, a card not in
the catalogue so the default card's embodied carbon applies). Hardware values
chosen so the hourly rates are round: lifetime 1 year, utilisation 1, server
8,760 kg (1 kg per hour), GPU card 876 kg (0.1 kg per hour), whole servers
(no vCPU or memory share is known).

* node ``n0``: rank 0 runs 0-10 s; rank 1 runs 2-14 s and pauses 11-12 s; the
  node's measured span is [0, 11] ∪ [12, 14] = 13 s.
* node ``n1``: rank 2 runs 0-5 s; rank 3 runs 8-10 s; its span is 5 + 2 = 7 s.

Servers: (13 + 7) s × 1 kg/h = 20/3600 kg (charged per run, as before, it was
(10 + 11 + 5 + 2) s × 1 kg/h = 28/3600 kg). GPU cards, per run for its hours:
(10 + 11 + 5 + 2) s × 0.1 kg/h = 2.8/3600 kg. The job's embodied carbon is
22.8/3600 kg.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.distributed import Launch
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.report.jobview import job_document
from wattprint.store import Store

T0 = 1_700_000_000.0
JOB = "slurm:77.0"
HARDWARE = {"lifetime_years": 1.0, "utilization": 1.0, "server_embodied_kg": 8760.0,
            "gpu_embodied_kg": 876.0}


def _rank(store: Store, node: str, rank: int, start: float, end: float,
          pause: tuple[float, float] | None = None) -> None:
    rid = f"run{rank:05d}"
    store.create_run(project="dist", phase="training", attribution="machine", interval_s=1.0,
                     started_at=T0 + start, region="FR", run_id=rid, name=f"rank{rank}")
    store.set_job(rid, Launch(job_id=JOB, launcher="slurm", node=node, rank=rank,
                              local_rank=rank % 2, world_size=4))
    store.add_devices(rid, [DeviceRecord(f"nvml:{rank % 2}", "gpu", "Wattprint Test Card",
                                         "nvml", True, True, None, "whole-device")])
    store.append_intervals(rid, [IntervalRecord(f"nvml:{rank % 2}", T0 + start,
                                                T0 + start + 1, 100.0, 0.0)])
    if pause is not None:
        rowid = store.add_pause(rid, T0 + pause[0], None, "test")
        store.end_pause(rowid, T0 + pause[1])
    store.finish_run(rid, status="finished", ended_at=T0 + end, exit_code=0)


def test_each_node_is_charged_once_over_its_measured_span(store_target: str | Path) -> None:
    store = Store(store_target)
    _rank(store, "n0", 0, 0.0, 10.0)
    _rank(store, "n0", 1, 2.0, 14.0, pause=(11.0, 12.0))
    _rank(store, "n1", 2, 0.0, 5.0)
    _rank(store, "n1", 3, 8.0, 10.0)
    doc = job_document(store, JOB, AccountingOptions(pue=1.0, catalogue_overrides=HARDWARE))
    nodes = {n["node"]: n for n in doc["by_node"]}
    assert nodes["n0"]["embodied_node_hours"] == pytest.approx(13 / 3600, rel=1e-12)
    assert nodes["n0"]["embodied_node_kg"] == pytest.approx(13 / 3600, rel=1e-12)
    assert nodes["n1"]["embodied_node_kg"] == pytest.approx(7 / 3600, rel=1e-12)
    embodied = doc["footprint"]["co2e_kg"]["embodied"]
    assert embodied == pytest.approx(22.8 / 3600, rel=1e-12)
    # each run keeps its GPU card, for its own hours, and no server
    cards = {r["run_id"]: r["co2e_kg"]["embodied"] for r in doc["accounted"]}
    assert cards == pytest.approx({"run00000": 1.0 / 3600, "run00001": 1.1 / 3600,
                                   "run00002": 0.5 / 3600, "run00003": 0.2 / 3600}, rel=1e-9)
    operational = sum(doc["footprint"]["co2e_kg"][t]
                      for t in ("dynamic", "idle", "infrastructure"))
    assert doc["co2e_kg"] == pytest.approx(operational + 22.8 / 3600, rel=1e-12)
    assert sum(n["co2e_kg"] for n in doc["by_node"]) == pytest.approx(doc["co2e_kg"],
                                                                       rel=1e-12)
