"""WattprintCallback on a real Lightning Trainer: a tiny MLP on random tensors, on the CPU."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.errors import ConfigError
from wattprint.store import Store

from .docsnippets import blocks

pytest.importorskip("lightning")
pytest.importorskip("torch")

SCRIPT = Path(__file__).with_name("lightning_fit.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def fit_in_process(tmp_path: Path, package: str) -> None:
    """A 1-device fit, in its own process: a Lightning fit leaves state in the process
    that ran it (threads, handlers), which later tests' children must not meet."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "logs"), "auto", "1", package],
                   check=True, env=env, capture_output=True, timeout=240)


def fit_ddp(tmp_path: Path) -> None:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "logs"), "ddp", "2"],
                   check=True, env=env, capture_output=True, timeout=240)


def csv_rows(tmp_path: Path) -> list[dict[str, str]]:
    with open(tmp_path / "logs" / "csv" / "version_0" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("package", ["lightning.pytorch", "pytorch_lightning"])
def test_two_epoch_fit_records_phases_units_and_logs_energy(home: Path, tmp_path: Path,
                                                            package: str) -> None:
    pytest.importorskip(package.split(".")[0])
    fit_in_process(tmp_path, package)
    store = Store(home / "wattprint.db")
    [run] = store.runs()
    assert (run.project, run.phase, run.status, run.name) == (
        "lightning-test", "training", "finished", "TinyMLP fit")
    names = [p["name"] for p in store.phases(run.id)]
    assert names == ["fit", "train epoch 0", "validation epoch 0",
                     "train epoch 1", "validation epoch 1"]
    # 64 training samples a epoch, 2 epochs; validation batches of a fit are not units
    assert store.units(run.id) == {"sample": 128.0}
    assert store.tags(run.id)["stage"] == "fit"
    # one CSV row per epoch holds the epoch's energy and carbon, logged at the epoch's end
    rows = [r for r in csv_rows(tmp_path) if r.get("energy_j")]
    assert [r["epoch"] for r in rows] == ["0.0", "1.0"]
    assert [r["step"] for r in rows] == ["8", "16"]  # global step: 8 batches a epoch
    energies = [float(r["energy_j"]) for r in rows]
    assert all(e > 0 for e in energies)
    total_j = sum(i.energy_j for i in store.intervals(run.id))
    assert sum(energies) <= total_j + 1e-9
    assert all(float(r["co2e_g"]) > 0 for r in rows)
    val_rows = [r for r in csv_rows(tmp_path) if r.get("val_energy_j")]
    assert len(val_rows) == 2
    # the Trainer's final metrics are logged to the run
    assert {"train_loss", "val_loss"} <= {m["name"] for m in store.metrics(run.id)}


def test_ddp_on_two_cpu_processes_measures_the_node_once(home: Path, tmp_path: Path) -> None:
    fit_ddp(tmp_path)
    store = Store(home / "wattprint.db")
    [run] = store.runs()  # two ranks, one node: one run
    tags = store.tags(run.id)
    assert (tags["world_size"], tags["global_rank"], tags["node_rank"]) == ("2", "0", "0")
    # rank 0 counts its own shard: 64 samples split over 2 ranks, 2 epochs
    assert store.units(run.id) == {"sample": 64.0}
    rows = [r for r in csv_rows(tmp_path) if r.get("energy_j")]
    assert len(rows) == 2


def test_the_docs_example_runs(home: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    [code] = blocks("Lightning")
    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    monkeypatch.setenv("WATTPRINT_INTERVAL", "0.05")
    # in its own process, like every fit here (see fit_in_process)
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=240, check=True)
    [run] = Store(home / "wattprint.db").runs()
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"run {run.id[:12]}… ") for line in lines)


def test_without_lightning_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "wattprint.integrations.lightning", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'wattprint\[lightning\]'"):
        importlib.import_module("wattprint.integrations.lightning")
