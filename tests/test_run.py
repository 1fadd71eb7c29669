from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import wattprint
from wattprint.run import Tracker
from wattprint.store import Store
from wattprint.testing.sensors import ScriptedSensor

CHILD = Path(__file__).parent / "helpers" / "tracked_child.py"


def counter(step_j: float = 2.0) -> ScriptedSensor:
    return ScriptedSensor.counter("cpu", [i * step_j for i in range(100_000)])


def test_import_touches_no_hardware_and_starts_no_thread() -> None:
    code = ("import sys, threading, wattprint; "
            "print(threading.active_count(), 'pynvml' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False", "False"]


def test_context_manager_returns_results_as_data(home: Path) -> None:
    sensor = counter(2.0)
    with Tracker("resnet", phase="training", interval_s=0.01, sensor_objects=[sensor]) as run:
        time.sleep(0.15)
    intervals = run.intervals()
    assert run.status == "finished"
    assert len(intervals) >= 5
    assert all(i.energy_j == 2.0 for i in intervals)
    # totals in memory equal what was stored
    assert run.energy_j == pytest.approx(2.0 * len(intervals))
    [device] = run.by_device()
    assert (device.id, device.kind, device.measured) == ("fake:cpu-0", "cpu", True)
    assert device.energy_j == pytest.approx(run.energy_j)
    stored = Store(home / "wattprint.db").run(run.id or "")
    assert (stored.project, stored.phase, stored.status) == ("resnet", "training", "finished")
    assert sensor.closed


def test_stop_twice_is_a_no_op(home: Path) -> None:
    run = Tracker("p", interval_s=0.01, sensor_objects=[counter()]).start()
    time.sleep(0.05)
    run.stop()
    n = len(run.intervals())
    energy = run.energy_j
    run.stop()
    assert len(run.intervals()) == n and run.energy_j == energy
    assert not [t for t in threading.enumerate() if t.name == "wattprint-sampler"]


def test_workload_exception_keeps_traceback_and_marks_run_failed(home: Path) -> None:
    run = Tracker("p", interval_s=0.01, sensor_objects=[counter()])
    with pytest.raises(ZeroDivisionError) as info, run:
        1 / 0  # noqa: B018
    assert info.traceback[-1].name == "test_workload_exception_keeps_traceback_and_marks_run_failed"
    stored = Store(home / "wattprint.db").run(run.id or "")
    assert stored.status == "failed"
    assert stored.error == "ZeroDivisionError: division by zero"


def test_decorator_makes_one_run_per_call(home: Path) -> None:
    calls = []

    @wattprint.track(project="dec", interval_s=0.01, sensors=["model"])
    def work(x: int) -> int:
        calls.append(x)
        return x * 2

    # the decorated function keeps its result and name
    assert work.__name__ == "work"
    assert work(3) == 6 and work(4) == 8
    runs = Store(home / "wattprint.db").runs("dec")
    assert len(runs) == 2 and {r.name for r in runs} == {"work"}


def test_phases_metrics_and_units_are_stored(home: Path) -> None:
    with Tracker("p", interval_s=0.01, sensor_objects=[counter()]) as run:
        with run.phase("train"), run.phase("eval"):
            run.log_metric("accuracy", 0.91, step=1)
        run.add_units(128, unit="sample")
        run.add_units(64, unit="sample")
    store = Store(home / "wattprint.db")
    rid = run.id or ""
    phases = store.phases(rid)
    assert [(p["name"], p["depth"]) for p in phases] == [("train", 0), ("eval", 1)]
    assert all(p["t_end"] is not None and p["t_end"] >= p["t_start"] for p in phases)
    assert [(m["name"], m["value"], m["step"]) for m in store.metrics(rid)] == [
        ("accuracy", 0.91, 1)]
    assert [(m["name"], m["value"], m["step"]) for m in run.metrics] == [("accuracy", 0.91, 1)]
    assert store.units(rid) == {"sample": 192.0} == run.units


def test_process_attribution_uses_the_attributed_share(home: Path) -> None:
    with Tracker("p", interval_s=0.01, attribution="process", sensor_objects=[counter()]) as run:
        time.sleep(0.05)
    devices = run.by_device()
    assert run.energy_j == pytest.approx(sum(d.attributed_energy_j for d in devices))
    assert run.energy_j <= sum(d.energy_j for d in devices)


def test_users_sigterm_handler_still_runs_and_run_is_finalised(home: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(CHILD), "sigterm-handler", "30", "0.05"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    rid = proc.stdout.readline().strip()
    time.sleep(0.3)
    proc.terminate()
    rest, _ = proc.communicate(timeout=20)
    assert "user handler ran" in rest
    assert proc.returncode == 7
    run = Store(home / "wattprint.db").run(rid)
    assert run.status == "terminated" and run.error == "terminated by SIGTERM"
    assert len(Store(home / "wattprint.db").intervals(rid)) >= 2


def test_unwritable_home_does_not_hurt_the_workload(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("WATTPRINT_HOME", str(blocker / "sub"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with Tracker("p", interval_s=0.01, sensor_objects=[counter()]) as run:
        time.sleep(0.05)
    # the store cannot be created: the run goes to a spool file in the temp directory
    assert run.id is not None and run.store is not None and run.store.spool_path is not None
    assert run.store.spool_path.parent == tmp_path / f"wattprint-spool-{os.getuid()}"
    assert run.energy_j > 0 and len(run.intervals()) >= 2


def test_measure_idle_records_idle_power_used_by_the_footprint(home: Path) -> None:
    from wattprint.accounting.account import AccountingOptions, account_run

    sensor = ScriptedSensor.power("gpu", [100.0])  # a constant 100 W device
    with Tracker("p", interval_s=0.01, measure_idle_s=0.1, sensor_objects=[sensor]) as run:
        time.sleep(0.05)
    assert run.idle_w == {"fake:gpu-0": pytest.approx(100.0)}
    store = Store(home / "wattprint.db")
    power_w, method = store.idle(run.id or "")["fake:gpu-0"]
    assert power_w == pytest.approx(100.0) and method.startswith("measured for 0.1 s")
    fp = account_run(store, run.id or "", AccountingOptions(region="DE", embodied=False)).footprint
    # the device never drew more than its idle power: everything is idle, nothing dynamic
    assert fp.energy_kwh["dynamic"] == pytest.approx(0.0, abs=1e-9)
    assert fp.energy_kwh["idle"] == pytest.approx(run.energy_j / 3.6e6, rel=1e-4)
    assert fp.energy_kwh["idle"] + fp.energy_kwh["dynamic"] == pytest.approx(run.energy_j / 3.6e6)


def test_a_run_never_stopped_is_finished_at_exit(home: Path) -> None:
    code = ("import wattprint, time\n"
            "from wattprint.testing.sensors import ScriptedSensor\n"
            "t = wattprint.Tracker('p', interval_s=0.05, sensor_objects=["
            "ScriptedSensor.counter('cpu', [float(i) for i in range(10000)])]).start()\n"
            "print(t.id, flush=True)\n"
            "time.sleep(0.3)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    store = Store(home / "wattprint.db")
    run = store.run(out.stdout.strip())
    assert run.status == "finished" and run.info["stopped"] == "at interpreter exit"
    assert len(store.intervals(run.id)) >= 3


def test_a_forked_child_does_not_finalise_the_parents_run(home: Path) -> None:
    import os
    import warnings

    with Tracker("p", interval_s=0.05, sensor_objects=[counter()]) as run:
        with warnings.catch_warnings():  # Python 3.12+ warns about fork with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: stop() and exit hooks must leave the run alone
            run.stop()
            os._exit(0)
        os.waitpid(pid, 0)
        assert Store(home / "wattprint.db").run(run.id or "").status == "running"
        time.sleep(0.1)
    assert Store(home / "wattprint.db").run(run.id or "").status == "finished"
