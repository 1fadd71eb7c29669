"""Accounting from the store's per-device sums, on SQLite and on a real PostgreSQL server.

A run accounted with one intensity (the annual tables) is summed by the store
(:meth:`~wattprint.store.Store.interval_sums`); these tests check the sums
against values worked out by hand, and the footprint against the same run
accounted interval by interval (``account_run(..., sums=False)``).

The hand-worked run (process attribution, region FR, PUE 1): GPU ``nvml:0``
with a measured idle power of 40 W, and its intervals

* 0-1 s: 100 J, 50 J attributed: share 0.5, idle min(40 × 1 × 0.5, 50) = 20 J, dynamic 30 J;
* 1-3 s: 60 J, 30 J attributed: share 0.5, idle min(40 × 2 × 0.5, 30) = 30 J, dynamic 0 J;
* 3-4 s: 0 J: idle min(40 × 1 × 1, 0) = 0 J;
* 4-5 s: 500 J, paused: not counted;

and CPU package ``rapl:package-0`` without an idle power: 0-1 s 80 J (20 J
attributed), 1-2 s 40 J (10 J attributed): 30 J counted, all dynamic. So the
run counts 110 J: 50 J idle, 60 J dynamic.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path
from typing import Any

import pytest

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.store import Store

DATA = Path(__file__).resolve().parents[2] / "src" / "wattprint" / "data" / "intensity"
T0 = 1_700_000_000.0
J_PER_KWH = 3.6e6


def _fr_g_per_kwh() -> float:
    with (DATA / "countries_owid_ember.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["iso2"] == "FR"]
    return float(max(rows, key=lambda r: int(r["year"]))["g_per_kwh"])


def _devices() -> list[DeviceRecord]:
    return [DeviceRecord("nvml:0", "gpu", "A100", "nvml", True, True, None, "whole-device"),
            DeviceRecord("rapl:package-0", "cpu", "pkg", "rapl", True, True, None,
                         "whole-device")]


def _hand_run(store: Store) -> str:
    rid = store.create_run(project="p", phase="training", attribution="process",
                           interval_s=1.0, started_at=T0, region="FR", run_id="hand0000")
    store.add_devices(rid, _devices())
    store.set_idle(rid, "nvml:0", 40.0, "measured before the run")
    store.append_intervals(rid, [
        IntervalRecord("nvml:0", T0, T0 + 1, 100.0, 50.0),
        IntervalRecord("rapl:package-0", T0, T0 + 1, 80.0, 20.0),
        IntervalRecord("nvml:0", T0 + 1, T0 + 3, 60.0, 30.0),
        IntervalRecord("rapl:package-0", T0 + 1, T0 + 2, 40.0, 10.0),
        IntervalRecord("nvml:0", T0 + 3, T0 + 4, 0.0, 0.0),
        IntervalRecord("nvml:0", T0 + 4, T0 + 5, 500.0, 500.0, True),
    ])
    store.finish_run(rid, status="finished", ended_at=T0 + 5, exit_code=0)
    return rid


def test_the_store_sums_a_run_as_worked_by_hand(store_target: str | Path) -> None:
    store = Store(store_target)
    rid = _hand_run(store)
    sums = store.interval_sums(rid, {"nvml:0": 40.0}, attributed=True)
    gpu, cpu = sums["nvml:0"], sums["rapl:package-0"]
    assert (gpu.energy_j, gpu.attributed_j, gpu.time_s, gpu.intervals) == (160.0, 80.0, 4.0, 3)
    assert (gpu.t_start, gpu.t_end, gpu.idle_j, gpu.dynamic_j) == (T0, T0 + 4, 50.0, 30.0)
    assert (cpu.energy_j, cpu.attributed_j, cpu.intervals, cpu.idle_j, cpu.dynamic_j) == (
        120.0, 30.0, 2, 0.0, 30.0)
    # machine attribution: the whole energy counted, share 1 (idle min(40, 100) + min(80, 60) + 0)
    whole = store.interval_sums(rid, {"nvml:0": 40.0})["nvml:0"]
    assert (whole.idle_j, whole.dynamic_j) == (100.0, 60.0)
    assert store.interval_sums(rid)["nvml:0"].idle_j == 0.0


def test_an_annual_footprint_from_the_sums_as_worked_by_hand(store_target: str | Path) -> None:
    store = Store(store_target)
    rid = _hand_run(store)
    g = _fr_g_per_kwh()
    accounted = account_run(store, rid, AccountingOptions(pue=1.0, embodied=False))
    fp = accounted.footprint
    assert all(u.totals is not None for u in accounted.uses)  # the summed path was taken
    assert fp.energy_kwh["idle"] == pytest.approx(50.0 / J_PER_KWH, rel=1e-12)
    assert fp.energy_kwh["dynamic"] == pytest.approx(60.0 / J_PER_KWH, rel=1e-12)
    assert fp.co2e_kg["dynamic"] == pytest.approx(60.0 / J_PER_KWH * g / 1000.0, rel=1e-12)
    assert fp.co2e_kg["idle"] == pytest.approx(50.0 / J_PER_KWH * g / 1000.0, rel=1e-12)
    assert fp.intensity["mean_g_per_kwh"] == pytest.approx(g, rel=1e-12)
    # one intensity per interval, as the interval-by-interval accounting lists them
    assert accounted.intensities == {"nvml:0": [g] * 3, "rapl:package-0": [g] * 2}


def _numbers(doc: Any, path: str = "") -> dict[str, float]:
    """Every number of a footprint document, by its path."""
    out: dict[str, float] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.update(_numbers(v, f"{path}/{k}"))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.update(_numbers(v, f"{path}/{i}"))
    elif isinstance(doc, int | float) and not isinstance(doc, bool):
        out[path] = float(doc)
    return out


@pytest.mark.parametrize("attribution", ["machine", "process"])
@pytest.mark.parametrize("per_device", [40, 9_000])  # the plain-list path, and numpy's
def test_the_summed_path_equals_the_interval_path(store_target: str | Path, attribution: str,
                                                  per_device: int) -> None:
    store = Store(store_target)
    rnd = random.Random(13)
    rid = store.create_run(project="p", phase="training", attribution=attribution,
                           interval_s=1.0, started_at=T0, region="DE", run_id="cmp00000")
    store.add_devices(rid, [*_devices(), DeviceRecord("dram:0", "dram", "dram", "rapl", True,
                                                      True, None, "whole-device")])
    store.set_idle(rid, "nvml:0", 60.0, "measured before the run")  # binds now and then
    rows = []
    for k in range(per_device):
        t = T0 + k
        for device, mean in (("nvml:0", 90.0), ("rapl:package-0", 35.0), ("dram:0", 4.0)):
            energy = rnd.uniform(0.0, 2 * mean) if k % 97 else 0.0
            rows.append(IntervalRecord(device, t, t + 1, energy, energy * rnd.random(),
                                       paused=k % 50 == 7))
    store.append_intervals(rid, rows)
    store.finish_run(rid, status="finished", ended_at=T0 + per_device, exit_code=0)
    opts = AccountingOptions(pue=1.3)
    summed = account_run(store, rid, opts)
    read = account_run(store, rid, opts, sums=False)
    assert all(u.totals is not None for u in summed.uses)
    assert all(u.totals is None for u in read.uses)
    a, b = _numbers(summed.footprint.to_dict()), _numbers(read.footprint.to_dict())
    assert a.keys() == b.keys()
    for key in a:
        assert math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-15), key
    assert {d: len(v) for d, v in summed.intensities.items()} == {
        d: len(v) for d, v in read.intensities.items()}
    assert summed.embodied_hours == read.embodied_hours
