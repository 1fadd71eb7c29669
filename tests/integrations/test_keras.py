"""WattprintCallback on real Keras 3 (the PyTorch backend, on the CPU)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.errors import ConfigError
from wattprint.store import Store

from .docsnippets import blocks

if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
    pytest.skip("needs keras and torch", allow_module_level=True)

SRC = Path(__file__).resolve().parents[2] / "src"

# Keras picks its backend once, at import: a fresh interpreter with KERAS_BACKEND=torch.
SCRIPT = """
import json, sys, time
import numpy as np
import keras
from wattprint.integrations.keras import WattprintCallback

class Slow(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.01)  # long enough epochs for the sampler to read them

rng = np.random.default_rng(0)
x, y = rng.normal(size=(64, 8)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1)], name="tiny")
model.compile(optimizer="sgd", loss="mse")
callback = WattprintCallback(project="keras-test", sensors=["model"], interval_s=0.01, quiet=True)
history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0,
                    callbacks=[Slow(), callback])
model.evaluate(x, y, verbose=0, callbacks=[callback])
json.dump({"backend": keras.backend.backend(), "history": history.history,
           "runs": [r.id for r in callback.runs]}, sys.stdout)
"""


def test_fit_puts_each_epochs_energy_in_history(home: Path) -> None:
    import json

    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "KERAS_BACKEND": "torch",
           "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    doc = json.loads(out.stdout)
    assert doc["backend"] == "torch"
    history = doc["history"]
    assert len(history["energy_j"]) == 2 and len(history["co2e_g"]) == 2
    assert all(e > 0 for e in history["energy_j"])
    assert all(c > 0 for c in history["co2e_g"])
    assert len(history["val_loss"]) == 2

    store = Store(home / "wattprint.db")
    fit_id, eval_id = doc["runs"]
    fit, evaluation = store.run(fit_id), store.run(eval_id)
    assert (fit.name, fit.phase, fit.status) == ("tiny fit", "training", "finished")
    assert (evaluation.name, evaluation.phase) == ("tiny evaluate", "experimentation")
    assert [p["name"] for p in store.phases(fit_id)] == [
        "fit", "train epoch 0", "validation epoch 0", "train epoch 1", "validation epoch 1"]
    total_j = sum(i.energy_j for i in store.intervals(fit_id))
    assert sum(history["energy_j"]) <= total_j + 1e-9
    assert "loss" in {m["name"] for m in store.metrics(eval_id)}


def test_the_docs_example_runs(home: Path, tmp_path: Path) -> None:
    [code] = blocks("Keras")
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "WATTPRINT_SENSORS": "model", "WATTPRINT_INTERVAL": "0.05", "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = Store(home / "wattprint.db").runs()
    assert done.stderr.splitlines()[-1].startswith(f"wattprint: run {run.id[:12]}… ")


def test_without_keras_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.delitem(sys.modules, "wattprint.integrations.keras", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'wattprint\[keras\]'"):
        importlib.import_module("wattprint.integrations.keras")
