from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wattprint.accounting.intensity import annual_intensity
from wattprint.errors import RegionError
from wattprint.serve.ledger import RequestEnergy, RequestLedger
from wattprint.serve.meter import EnergyMeter, MeteredRequest
from wattprint.store import Store
from wattprint.testing.sensors import ScriptedSensor

from . import reference_shares

JOULES_PER_READ = 10.0


def _req(ledger: RequestLedger, rid: int, start: float, end: float | None = None
         ) -> MeteredRequest:
    req = MeteredRequest(None, f"r{rid}")
    req.id, req.t_start = rid, start
    ledger.begin(req)
    if end is not None:
        req.t_end = end
        ledger.end(req)
    return req


# -- the sharing rule, by hand ------------------------------------------------


def test_two_overlapping_requests_share_busy_energy_by_overlap_time() -> None:
    ledger = RequestLedger()
    a = _req(ledger, 1, 1.0, 5.0)
    b = _req(ledger, 2, 3.0, 9.0)
    # interval [0, 10) of 100 J: busy [1, 9) = 8 s -> 80 J to requests, 20 J idle;
    # overlaps 4 s and 6 s -> 32 J and 48 J
    charged = ledger.share(0.0, 10.0, 100.0, ledger.tracked())
    assert charged == pytest.approx(80.0)
    assert a.energy_j == pytest.approx(32.0)
    assert b.energy_j == pytest.approx(48.0)
    assert ledger.idle_energy_j == pytest.approx(20.0)
    assert [r.id for r in ledger.settle(10.0)] == [1, 2]
    assert a.settled and b.settled


def test_request_in_flight_is_charged_up_to_the_interval_end_and_settles_later() -> None:
    ledger = RequestLedger()
    req = _req(ledger, 1, 2.0)
    ledger.share(0.0, 4.0, 40.0, ledger.tracked())  # busy [2, 4): 20 J
    assert req.energy_j == pytest.approx(20.0)
    assert ledger.settle(4.0) == []
    req.t_end = 6.0
    ledger.end(req)
    ledger.share(4.0, 8.0, 40.0, ledger.tracked())  # busy [4, 6): 20 J
    assert ledger.settle(5.0) == []  # not yet sampled to its end
    assert ledger.settle(8.0) == [req]
    assert req.energy_j == pytest.approx(40.0)
    assert ledger.idle_energy_j == pytest.approx(40.0)


def test_interval_without_requests_is_idle() -> None:
    ledger = RequestLedger()
    _req(ledger, 1, 5.0, 6.0)
    assert ledger.share(0.0, 1.0, 7.0, ledger.tracked()) == 0.0
    assert ledger.idle_energy_j == 7.0
    assert ledger.energy_j == 7.0


def test_settle_all_closes_requests_in_flight() -> None:
    ledger = RequestLedger()
    done = _req(ledger, 1, 0.0, 1.0)
    running = _req(ledger, 2, 0.5)
    settled = ledger.settle_all(3.0)
    assert {r.id for r in settled} == {1, 2}
    assert running.t_end == 3.0 and done.t_end == 1.0
    assert not ledger.open and not ledger.pending


def test_random_spans_match_the_brute_force_reference() -> None:
    rng = random.Random(7)
    ledger = RequestLedger()
    spans = []
    for _ in range(60):
        start = rng.randrange(0, 95)
        end = start + rng.randrange(1, 12)
        spans.append((float(start), float(end)))
    reqs = [_req(ledger, i + 1, s, e) for i, (s, e) in enumerate(spans)]
    intervals = [(float(a), float(a + 10), float(rng.randrange(5, 50))) for a in range(0, 110, 10)]
    for a, b, energy_j in intervals:
        ledger.share(a, b, energy_j, ledger.tracked())
    expected, idle_j = reference_shares(intervals, spans)
    for req, want in zip(reqs, expected, strict=True):
        assert req.energy_j == pytest.approx(want, abs=1e-9)
    assert ledger.idle_energy_j == pytest.approx(idle_j, abs=1e-9)
    assert ledger.request_energy_j + ledger.idle_energy_j == pytest.approx(
        sum(e for _, _, e in intervals))


# -- the meter, with a real sampler over a scripted sensor ------------------------------


def _sensor() -> ScriptedSensor:
    return ScriptedSensor.counter(
        "cpu", [JOULES_PER_READ * i for i in range(200_000)], max_energy_j=1e12)


def test_meter_shares_every_interval_among_concurrent_requests(home: Path) -> None:
    settled: list[RequestEnergy] = []
    meter = EnergyMeter(project="chatbot", interval_s=0.02, region="DE",
                        sensor_objects=[_sensor()], on_request=settled.append)
    meter.start()

    def client() -> None:
        for i in range(15):
            with meter.request("predict"):
                time.sleep(0.002 * (i % 4))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.05)  # let the sampler pass the last request
    totals = meter.stop()

    records = sorted(meter.completed, key=lambda r: r.request_id)
    assert len(records) == 90 == totals.requests
    assert sorted(settled, key=lambda r: r.request_id) == records
    intervals = meter.tracker.intervals()
    assert intervals, "the sampler produced no interval"
    assert all(i.energy_j == JOULES_PER_READ for i in intervals)
    expected, idle_j = reference_shares(
        [(i.t_start, i.t_end, i.energy_j) for i in intervals],
        [(r.t_start, r.t_end) for r in records])
    for record, want in zip(records, expected, strict=True):
        assert record.energy_j == pytest.approx(want, abs=1e-6)
    total_j = JOULES_PER_READ * len(intervals)
    assert totals.energy_j == pytest.approx(total_j)
    assert sum(r.energy_j or 0.0 for r in records) == pytest.approx(totals.request_energy_j)
    assert totals.request_energy_j + totals.idle_energy_j == pytest.approx(total_j)
    assert totals.idle_energy_j == pytest.approx(idle_j, abs=1e-6)

    g_per_kwh = annual_intensity("DE").g_per_kwh
    for record in records:
        assert record.co2e_g == pytest.approx((record.energy_j or 0.0) / 3.6e6 * g_per_kwh)
    assert totals.sci_g_per_1k_requests == pytest.approx(
        total_j / 3.6e6 * g_per_kwh / 90 * 1000)

    store = Store(home / "wattprint.db")
    run = store.run(meter.tracker.id or "")
    assert (run.phase, run.project, run.status) == ("inference", "chatbot", "finished")
    assert store.units(run.id) == {"request": 90.0}
    assert run.info["serve"]["requests"] == 90
    assert run.info["serve"]["sci_g_per_1k_requests"] == pytest.approx(
        totals.sci_g_per_1k_requests)
    store.close()


def test_estimate_is_provisional_and_settled_value_is_final(home: Path) -> None:
    with EnergyMeter(interval_s=0.02, region="DE", sensor_objects=[_sensor()]) as meter:
        with meter.request() as req:
            time.sleep(0.05)
            estimate = req.estimate_energy_j()
        assert estimate is not None and estimate > 0
        deadline = time.monotonic() + 5
        while not req.settled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert req.settled
    # alone on the server: it gets the busy share of every interval it overlaps
    assert req.energy_j > 0
    assert meter.completed[-1].energy_j == req.energy_j


def test_first_request_starts_the_meter_and_requests_after_stop_pass_unmetered(
        home: Path) -> None:
    meter = EnergyMeter(interval_s=0.02, region="DE", sensor_objects=[_sensor()])
    assert not meter.running
    with meter.request():
        pass
    assert meter.running
    meter.stop()
    assert meter.stop().requests == 1  # idempotent
    with meter.request() as late:
        pass
    assert late.id == 0 and late.estimate_energy_j() is None
    assert meter.totals().requests == 1


def test_meter_without_sensor_records_no_energy_rather_than_zero(home: Path) -> None:
    with EnergyMeter(region="DE", sensor_objects=[]) as meter:
        with meter.request() as req:
            pass
        assert req.estimate_energy_j() is None
    assert len(meter.completed) == 1
    assert meter.completed[0].energy_j is None and meter.completed[0].co2e_g is None


def test_unknown_region_fails_at_start(home: Path) -> None:
    meter = EnergyMeter(region="XX-NOWHERE", sensor_objects=[_sensor()])
    with pytest.raises(RegionError):
        meter.start()


EXIT_SCRIPT = """
import time
from wattprint.serve.meter import EnergyMeter
from wattprint.testing.sensors import ScriptedSensor

sensor = ScriptedSensor.counter("cpu", [10.0 * i for i in range(100_000)], max_energy_j=1e12)
meter = EnergyMeter(project="svc", interval_s=0.02, region="DE", sensor_objects=[sensor])
for _ in range(7):
    with meter.request():
        time.sleep(0.01)
print(meter.tracker.id)
"""


def test_meter_left_running_is_finished_at_interpreter_exit(home: Path) -> None:
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], capture_output=True,
                            text=True, timeout=60, check=True)
    run_id = result.stdout.strip()
    store = Store(home / "wattprint.db")
    run = store.run(run_id)
    assert (run.phase, run.status) == ("inference", "finished")
    assert store.units(run_id) == {"request": 7.0}
    assert run.info["serve"]["requests"] == 7
    store.close()
