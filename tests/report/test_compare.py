"""Compare runs side by side: values, differences and ratios against the first run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.errors import ConfigError
from wattprint.report.compare import compare_runs
from wattprint.report.render_md import compare_markdown
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc).timestamp()
CLI = "import wattprint.cli.reports; from wattprint.cli import main; main()"


def flat(tmp_path: Path) -> Path:
    path = tmp_path / "flat.csv"
    path.write_text("timestamp,g_per_kwh\n" + "".join(
        f"2024-03-01T{h:02d}:00:00Z,400\n" for h in range(24)))
    return path


def add_run(store: Store, name: str, cpu_kwh: float, gpu_kwh: float | None, duration_s: float,
            metrics: dict[str, float], offset_s: float) -> str:
    start = T0 + offset_s
    rid = store.create_run(project="cmp", phase="training", attribution="machine",
                           interval_s=duration_s, started_at=start, name=name)
    devices = [DeviceRecord("rapl:package-0", "cpu", "package-0", "rapl", True, True, None,
                            "cpu-time-share")]
    rows = [IntervalRecord("rapl:package-0", start, start + duration_s, cpu_kwh * 3.6e6,
                           cpu_kwh * 3.6e6)]
    if gpu_kwh is not None:
        # a card that is not in the catalogue: no idle split, default embodied
        devices.append(DeviceRecord("nvml:GPU-9", "gpu", "Example GPU 9000", "nvml", True, True,
                                    None, "whole-device"))
        rows.append(IntervalRecord("nvml:GPU-9", start, start + duration_s, gpu_kwh * 3.6e6,
                                   gpu_kwh * 3.6e6))
    store.add_devices(rid, devices)
    store.append_intervals(rid, rows)
    for metric, value in metrics.items():
        store.log_metric(rid, metric, value, None, start)
    store.finish_run(rid, status="finished", ended_at=start + duration_s)
    return rid


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(home / "wattprint.db")
    yield s
    s.close()


def row(cmp: dict[str, object], quantity: str) -> dict[str, list[float | None]]:
    rows = cmp["rows"]
    assert isinstance(rows, list)
    return next(r for r in rows if r["quantity"] == quantity)


def test_differences_and_ratios_against_the_first(store: Store, tmp_path: Path) -> None:
    a = add_run(store, "fp32", 1.0, 3.0, 3600.0, {"accuracy": 0.9}, 0)
    b = add_run(store, "amp", 0.5, 1.5, 1800.0, {"accuracy": 0.89, "loss": 0.2}, 7200)
    c = add_run(store, "cpu-only", 2.0, None, 3600.0, {}, 14400)
    opts = AccountingOptions(intensity_file=flat(tmp_path), pue=1.0, embodied=False)
    cmp = compare_runs(store, [a, b, c], opts)
    assert cmp["baseline"] == a
    assert [r["name"] for r in cmp["runs"]] == ["fp32", "amp", "cpu-only"]
    gpu = row(cmp, "device_kwh.gpu")
    assert gpu["values"] == pytest.approx([3.0, 1.5, None])  # type: ignore[arg-type]
    assert gpu["diff"][1] == pytest.approx(-1.5)
    assert gpu["ratio"][1] == pytest.approx(0.5)
    assert gpu["diff"][2] is None and gpu["ratio"][2] is None
    total = row(cmp, "energy_kwh.total")
    assert total["values"] == pytest.approx([4.0, 2.0, 2.0])  # type: ignore[arg-type]
    assert total["ratio"] == pytest.approx([1.0, 0.5, 0.5])  # type: ignore[arg-type]
    co2 = row(cmp, "co2e_kg.total")
    assert co2["values"] == pytest.approx([1.6, 0.8, 0.8])  # type: ignore[arg-type]
    assert co2["diff"] == pytest.approx([0.0, -0.8, -0.8])  # type: ignore[arg-type]
    duration = row(cmp, "duration_s")
    assert duration["ratio"] == pytest.approx([1.0, 0.5, 1.0])  # type: ignore[arg-type]
    embodied = row(cmp, "co2e_kg.embodied")
    assert embodied["values"] == [0.0, 0.0, 0.0]
    assert embodied["ratio"] == [None, None, None]  # a zero baseline has no ratio
    acc = row(cmp, "metric.accuracy")
    assert acc["values"] == [0.9, 0.89, None]
    assert acc["diff"][1] == pytest.approx(-0.01)
    loss = row(cmp, "metric.loss")
    assert loss["values"] == [None, 0.2, None]
    assert loss["diff"] == [None, None, None]
    assert [r["quantity"] for r in cmp["rows"]][:3] == [  # type: ignore[union-attr]
        "duration_s", "device_kwh.cpu", "device_kwh.gpu"]
    text = compare_markdown(cmp)
    assert "| device_kwh.gpu | 3 kWh | 1.5 kWh (-1.5 kWh, ×0.5) | — |" in text


def test_needs_two_runs(store: Store) -> None:
    with pytest.raises(ConfigError, match="at least two"):
        compare_runs(store, ["last"])


def test_cli_compare_json(home: Path, store: Store, tmp_path: Path) -> None:
    a = add_run(store, "fp32", 1.0, 3.0, 3600.0, {"accuracy": 0.9}, 0)
    b = add_run(store, "amp", 0.5, 1.5, 1800.0, {"accuracy": 0.89}, 7200)
    result = subprocess.run(
        [sys.executable, "-c", CLI, "compare", a, b[:10], "--json", "--intensity",
         str(flat(tmp_path)), "--pue", "1.25"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cmp = json.loads(result.stdout)
    assert [r["id"] for r in cmp["runs"]] == [a, b]
    total = row(cmp, "energy_kwh.total")
    assert total["values"] == pytest.approx([5.0, 2.5])  # type: ignore[arg-type]
    assert total["ratio"][1] == pytest.approx(0.5)
    table = subprocess.run([sys.executable, "-c", CLI, "compare", a, b, "--intensity",
                            str(flat(tmp_path))], env=dict(os.environ), capture_output=True,
                           text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "device_kwh.gpu" in table.stdout and "×0.5" in table.stdout
    missing = subprocess.run([sys.executable, "-c", CLI, "compare", a, "nope"],
                             env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2
    assert "no run 'nope'" in missing.stderr
