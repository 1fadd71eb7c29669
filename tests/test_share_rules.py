"""The share rules applied are counted per device, stored with the run and shown."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.records import Gap, IntervalRecord
from wattprint.report.appendix import run_appendix
from wattprint.report.render_md import run_markdown
from wattprint.report.runview import run_document, share_rule_rows
from wattprint.run import Tracker
from wattprint.sampling import Sampler
from wattprint.sensors import nvml as nvml_sensor
from wattprint.sensors.context import SensorContext
from wattprint.store import Store
from wattprint.testing.fake_nvml import FakeGPU, FakeNVML
from wattprint.testing.sensors import FakeClock, ScriptedSensor

UUID0 = "GPU-11111111-aaaa-4bbb-8ccc-000000000000"
GPU = f"nvml:{UUID0}"


def cpu_sampler(busy_fn):  # type: ignore[no-untyped-def]
    clock = FakeClock()
    intervals: list[IntervalRecord] = []
    gaps: list[Gap] = []

    def sink(i, g):  # type: ignore[no-untyped-def]
        intervals.extend(i)
        gaps.extend(g)

    sampler = Sampler([ScriptedSensor.counter("cpu", [0.0, 4.0, 8.0])], sink, monotonic=clock,
                      root_pid=os.getpid(), busy_fn=busy_fn)
    sampler.prime()
    for _ in range(2):
        clock.advance(1.0)
        sampler._emit(*sampler.tick())
    return sampler, intervals


def test_an_unknowable_cpu_share_is_recorded_as_such() -> None:
    def busy() -> float:
        raise RuntimeError("no counters")

    sampler, intervals = cpu_sampler(busy)
    assert [(i.energy_j, i.attributed_j) for i in intervals] == [(4.0, 4.0), (4.0, 4.0)]
    assert sampler.share_rules["fake:cpu-0"] == "cpu-time-share"
    assert sampler.rules_applied.as_dict() == {
        "fake:cpu-0": {"cpu-time-share-unknown": {"intervals": 2, "seconds": 2.0}}}


def test_a_measured_cpu_share_is_recorded_as_cpu_time_share() -> None:
    busy = itertools.count(10.0, 4.0)  # the machine is busy 4 CPU-seconds a second
    sampler, _ = cpu_sampler(lambda: next(busy))
    assert sampler.rules_applied.as_dict() == {
        "fake:cpu-0": {"cpu-time-share": {"intervals": 2, "seconds": 2.0}}}


def test_share_rule_rows_put_the_longest_rule_first_and_flag_fallbacks() -> None:
    devices = [
        {"id": "nvml:GPU-1", "name": "A100", "share_rule": "nvml-process-utilization",
         "share_rules": {"whole-device": {"intervals": 2, "seconds": 2.0},
                         "nvml-process-utilization": {"intervals": 58, "seconds": 57.5}}},
        {"id": "rapl:package-0", "name": "package 0", "share_rule": "cpu-time-share",
         "share_rules": {}},
    ]
    assert share_rule_rows(devices) == [
        {"device": "A100", "device_id": "nvml:GPU-1", "intended": "nvml-process-utilization",
         "rule": "nvml-process-utilization", "intervals": 58, "seconds": 57.5,
         "fallback": False},
        {"device": "A100", "device_id": "nvml:GPU-1", "intended": "nvml-process-utilization",
         "rule": "whole-device", "intervals": 2, "seconds": 2.0, "fallback": True},
        {"device": "package 0", "device_id": "rapl:package-0", "intended": "cpu-time-share",
         "rule": "cpu-time-share", "intervals": None, "seconds": None, "fallback": False},
    ]


@pytest.fixture
def tracked(home: Path) -> str:
    """A run whose GPU has per-process accounting but no process on it: charged whole."""
    cpu = ScriptedSensor.counter("cpu", [float(i) for i in range(100_000)])
    nvml = FakeNVML([FakeGPU(uuid=UUID0, energy_mj=lambda read: 1_000 * read)])
    gpu = nvml_sensor.open_sensor(SensorContext(nvml=nvml, environ={}), frozenset(), [])
    with Tracker("rules", interval_s=0.05, region="DE", sensor_objects=[cpu, gpu]) as run:
        time.sleep(0.3)
    assert run.id is not None
    return run.id


def test_the_rules_applied_are_stored_with_the_run(home: Path, tracked: str) -> None:
    store = Store(home / "wattprint.db")
    gpu_intervals = store.intervals(tracked, GPU)
    stored = store.run(tracked).info["share_rules"]
    assert stored[GPU] == {"whole-device": {
        "intervals": len(gpu_intervals),
        "seconds": pytest.approx(sum(i.t_end - i.t_start for i in gpu_intervals))}}
    cpu_rules = stored["fake:cpu-0"]
    assert set(cpu_rules) <= {"cpu-time-share", "cpu-time-share-unknown"}
    assert sum(c["intervals"] for c in cpu_rules.values()) == len(
        store.intervals(tracked, "fake:cpu-0"))
    doc = run_document(store, tracked)
    by_id = {d["id"]: d for d in doc["devices"]}
    assert by_id[GPU]["share_rule"] == "nvml-process-utilization"  # intended
    assert by_id[GPU]["share_rules"] == stored[GPU]


def test_show_text_and_json_name_the_fallback(home: Path, tracked: str) -> None:
    env = dict(os.environ, COLUMNS="200")
    shown = subprocess.run([sys.executable, "-m", "wattprint", "show", tracked], env=env,
                           text=True, capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "share rules applied" in shown.stdout
    gpu_line = next(line for line in shown.stdout.splitlines()
                    if "whole-device" in line and "A100" in line)
    assert "fallback from nvml-process-utilization" in gpu_line
    as_json = subprocess.run([sys.executable, "-m", "wattprint", "show", tracked, "--json"],
                             env=env, text=True, capture_output=True, timeout=60)
    doc = json.loads(as_json.stdout)
    gpu = next(d for d in doc["devices"] if d["id"] == GPU)
    assert list(gpu["share_rules"]) == ["whole-device"]
    assert gpu["share_rules"]["whole-device"]["intervals"] >= 1


def test_the_appendix_shows_the_rules_applied(home: Path, tracked: str) -> None:
    store = Store(home / "wattprint.db")
    doc = run_appendix(store, tracked, AccountingOptions(region="DE", embodied=False))
    rows = [r for r in doc["energy"]["share_rules"] if r["device_id"] == GPU]
    assert [(r["rule"], r["fallback"]) for r in rows] == [("whole-device", True)]
    assert any("share rule fell back" in note and "NVIDIA A100-SXM4-40GB" in note
               for note in doc["notes"])
    text = run_markdown(doc)
    assert "### Share rules applied" in text
    n = rows[0]["intervals"]
    assert (f"| NVIDIA A100-SXM4-40GB | whole-device | {n} |" in text
            and "fallback from nvml-process-utilization |" in text)


def test_the_html_appendix_shows_the_rules_applied(home: Path, tracked: str) -> None:
    pytest.importorskip("matplotlib")
    from wattprint.report.render_html import run_html

    store = Store(home / "wattprint.db")
    doc = run_appendix(store, tracked, AccountingOptions(region="DE", embodied=False))
    page = run_html(doc)
    assert "<h3>Share rules applied</h3>" in page
    assert "fallback from nvml-process-utilization" in page
