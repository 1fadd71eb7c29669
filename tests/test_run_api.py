"""The Python API answers directly: carbon, footprint, kWh, a one-line summary, the last run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import wattprint
from wattprint.accounting.account import AccountingOptions
from wattprint.errors import StoreError
from wattprint.records import IntervalRecord
from wattprint.run import DeviceEnergy, Tracker
from wattprint.run.summary import RunSummary, device_groups, summary_html, summary_line
from wattprint.store import Store
from wattprint.testing.sensors import ScriptedSensor


def counter(step_j: float = 2.0) -> ScriptedSensor:
    return ScriptedSensor.counter("cpu", [i * step_j for i in range(100_000)])


def device(kind: str, measured: bool, energy_j: float) -> DeviceEnergy:
    return DeviceEnergy(f"x:{kind}", kind, kind, "test", measured, None, energy_j, energy_j,
                        "machine", 0.0)


# -- the line, from known facts -------------------------------------------------------
def test_the_issue_example_line() -> None:
    summary = RunSummary("6b12a3f09c1d4e5f", "finished", 2400.0,
                         [device("gpu", True, 1000.0), device("gpu", True, 1000.0),
                          device("cpu", False, 400.0)], 41.0, 0.00031, "DE", 412.0)
    # 2400 J = 2.4 kJ = 2400 / 3600 Wh = 0.667 Wh; 0.00031 kg = 0.31 g = 310 mg
    assert summary_line(summary) == ("run 6b12a3f09c1d… 2.4 kJ (0.667 Wh, measured: 2 GPUs; "
                                     "estimated: CPU) · 310 mg CO2e DE · 41 s")


def test_line_of_a_large_running_and_a_new_run() -> None:
    big = RunSummary("6b12a3f09c1d4e5f", "running", 9_000_000.0,
                     [device("cpu", True, 1.0), device("dram", True, 1.0)], 3725.0)
    # 9 MJ = 2.5 kWh (no Wh aside above one Wh); no carbon while running; 3725 s = 1:02:05
    assert summary_line(big) == ("run 6b12a3f09c1d… (running) 2.5 kWh (measured: CPU, DRAM)"
                                 " · 1:02:05")
    assert summary_line(RunSummary(None, "new", 0.0, [], None)) == "run not started"
    assert device_groups([]) == "no energy sensor"
    assert device_groups([device("cpu", True, 1), device("cpu", True, 1),
                          device("ram", False, 1)]) == "measured: 2 CPUs; estimated: RAM"


def test_html_is_escaped_and_tabulated() -> None:
    summary = RunSummary("6b12a3f09c1d4e5f", "failed", 5.0, [device("<gpu>", True, 5.0)],
                         2.0, 0.002, "FR", 56.0)
    page = summary_html(summary)
    assert page.startswith('<div class="wattprint-run"><strong>run 6b12a3f09c1d… (failed)')
    assert "&lt;gpu&gt;" in page and "<gpu>" not in page
    assert "<td>2 g CO2e (FR, 56 g/kWh)</td>" in page
    assert "<td>5 J (measured: &lt;gpu&gt;)</td>" in page
    assert "<td>2 s</td>" in page


# -- a real run ---------------------------------------------------------------------------
def test_energy_kwh_co2e_kg_and_footprint_of_a_run(home: Path, tmp_path: Path) -> None:
    with Tracker("api", interval_s=0.01, region="FR", sensor_objects=[counter(2.0)]) as run:
        time.sleep(0.12)
    n = len(run.intervals())
    assert n >= 5
    assert run.energy_kwh == pytest.approx(2.0 * n / 3_600_000)
    # a constant 200 g/kWh series, PUE 1, no embodied: carbon = kWh × 200 g
    hour = int(time.time()) // 3600 * 3600
    stamps = [datetime.fromtimestamp(hour + k * 3600, timezone.utc).isoformat()
              for k in (-1, 0, 1)]
    grid = tmp_path / "grid.csv"
    grid.write_text("timestamp,g_per_kwh\n" + "".join(f"{t},200\n" for t in stamps))
    fp = run.footprint(AccountingOptions(intensity_file=grid, pue=1.0, embodied=False))
    assert fp.co2e_kg["total"] == pytest.approx(2.0 * n / 3_600_000 * 200 / 1000)
    assert fp.energy_kwh["total"] == pytest.approx(2.0 * n / 3_600_000)
    # the default footprint is the one `wattprint show RUN --json` prints
    shown = subprocess.run([sys.executable, "-m", "wattprint", "show", run.id or "", "--json"],
                           capture_output=True, text=True, check=True)
    doc = json.loads(shown.stdout)
    assert run.co2e_kg == pytest.approx(doc["co2e_kg"])
    assert run.footprint().to_dict()["co2e_kg"] == pytest.approx(doc["footprint"]["co2e_kg"])
    assert run.footprint().to_dict()["energy_kwh"] == pytest.approx(
        doc["footprint"]["energy_kwh"])


def test_repr_and_str_are_the_one_line_summary(home: Path) -> None:
    with Tracker("api", interval_s=0.01, region="FR", sensor_objects=[counter(2.0)]) as run:
        time.sleep(0.12)
    n = len(run.intervals())
    energy = f"{2 * n:g} J"  # 2 J per interval, fewer than 500 intervals
    line = repr(run)
    assert line == str(run)
    pattern = (rf"run {run.id[:12]}… {energy} \(measured: CPU\) · [0-9.]+ mg CO2e FR · "
               r"0\.[0-9]+ s")
    assert re.fullmatch(pattern, line), line
    assert "<table>" in run._repr_html_()
    assert run.co2e_kg > 0


def test_a_run_not_started_or_not_stored_has_no_footprint(home: Path) -> None:
    run = Tracker("api", sensor_objects=[counter()])
    assert repr(run) == "run not started"
    with pytest.raises(StoreError):
        run.footprint()
    with pytest.raises(StoreError):
        _ = run.co2e_kg


# -- track(): the line at exit, quiet, last_run, on_intervals ------------------------------
def test_track_prints_the_line_to_stderr_at_exit(home: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATTPRINT_QUIET", raising=False)
    with wattprint.track(project="api", interval_s=0.01, sensors=["model"], region="DE") as run:
        time.sleep(0.03)
    err = capsys.readouterr().err
    assert err == f"wattprint: {run}\n"
    assert err.startswith(f"wattprint: run {run.id[:12]}… ")
    assert " CO2e DE · " in err


def test_quiet_and_wattprint_quiet_silence_it(home: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with wattprint.track(project="api", interval_s=0.01, sensors=["model"], quiet=True):
        pass
    monkeypatch.setenv("WATTPRINT_QUIET", "1")
    with wattprint.track(project="api", interval_s=0.01, sensors=["model"]):
        pass
    # a Tracker made directly prints nothing unless asked
    monkeypatch.delenv("WATTPRINT_QUIET")
    with Tracker("api", interval_s=0.01, sensor_objects=[counter()]):
        pass
    assert capsys.readouterr().err == ""
    with Tracker("api", interval_s=0.01, sensor_objects=[counter()], quiet=False) as run:
        pass
    assert capsys.readouterr().err == f"wattprint: {run}\n"


def test_the_decorated_function_exposes_its_last_run(home: Path) -> None:
    seen: list[Tracker | None] = []

    @wattprint.track(project="api", interval_s=0.01, sensors=["model"], quiet=True)
    def work(x: int) -> int:
        seen.append(work.last_run)  # type: ignore[attr-defined]
        return x + 1

    assert work.last_run is None  # type: ignore[attr-defined]
    assert work(1) == 2
    first = work.last_run  # type: ignore[attr-defined]
    assert work(2) == 3
    last = work.last_run  # type: ignore[attr-defined]
    assert seen == [first, last]
    assert first.id != last.id
    assert (last.name, last.status) == ("work", "finished")
    assert last.co2e_kg > 0


def test_on_intervals_receives_every_batch(home: Path) -> None:
    batches: list[list[IntervalRecord]] = []
    with wattprint.track(project="api", interval_s=0.01, sensors=["model"], quiet=True,
                         on_intervals=lambda b: batches.append(list(b))) as run:
        time.sleep(0.1)
    received = [i for b in batches for i in b]
    assert len(batches) >= 3
    assert sorted((i.device_id, i.t_start) for i in received) == sorted(
        (i.device_id, i.t_start) for i in run.intervals())
    assert sum(i.energy_j for i in received) == pytest.approx(run.energy_j)


def test_the_docs_example_runs(home: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from tests.integrations.docsnippets import blocks

    [code] = blocks("The Python API")
    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    monkeypatch.delenv("WATTPRINT_QUIET", raising=False)
    exec(compile(code, "docs/integrations.md", "exec"), {"__name__": "__main__"})
    out, err = capsys.readouterr()
    first, second = sorted(Store(home / "wattprint.db").runs(), key=lambda r: r.started_at)
    assert out.splitlines()[0].startswith(f"run {first.id[:12]}… ")
    assert err == f"wattprint: {out.splitlines()[0]}\n"  # the decorated step is quiet
    assert second.name == "step"
