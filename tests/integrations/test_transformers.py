"""WattprintCallback on a real Transformers Trainer: a tiny BERT built from a config, on the CPU."""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from wattprint.errors import ConfigError
from wattprint.store import Store

from .docsnippets import blocks

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from wattprint.integrations.transformers import WattprintCallback  # noqa: E402

SEQ = 12
PAD = 0


class Tokens(torch.utils.data.Dataset):  # type: ignore[misc]
    """n sequences of SEQ ids; sequence i has i % 4 padding tokens at its end."""

    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, 100, (n, SEQ), generator=g)
        self.mask = torch.ones(n, SEQ, dtype=torch.long)
        for i in range(n):
            pad = i % 4
            if pad:
                self.ids[i, SEQ - pad:] = PAD
                self.mask[i, SEQ - pad:] = 0
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i],
                "labels": self.labels[i]}


def test_train_and_evaluate_log_energy_and_count_tokens(home: Path, tmp_path: Path) -> None:
    config = transformers.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=SEQ, num_labels=2)
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=8,
        per_device_eval_batch_size=8, logging_steps=2, eval_strategy="epoch",
        save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    callback = WattprintCallback(project="hf-test", sensors=["model"], interval_s=0.01,
                                 quiet=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(32),
                                   eval_dataset=Tokens(16), callbacks=[callback])
    assert trainer.callback_handler.callbacks[0] is callback  # first, before the reporters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
        trainer.evaluate()

    store = Store(home / "wattprint.db")
    runs = sorted(store.runs(), key=lambda r: r.started_at)
    assert [(r.phase, r.status) for r in runs] == [("training", "finished"),
                                                   ("inference", "finished")]
    train, evaluation = runs
    # 32 sequences of 12 tokens with 0, 1, 2, 3 pads in turn: 12 - 1.5 = 10.5 real tokens each
    # on average, 32 × 10.5 = 336 per epoch, 2 epochs
    assert store.units(train.id) == {"token": 672.0}
    names = [p["name"] for p in store.phases(train.id)]
    assert names == ["train", "train epoch 0", "evaluation 1", "train epoch 1", "evaluation 2"]
    assert [p["name"] for p in store.phases(evaluation.id)] == ["evaluation"]
    # every log entry carries the run's energy and carbon so far
    logged = [h for h in trainer.state.log_history if "energy_j" in h]
    assert len(logged) == len(trainer.state.log_history)
    train_logs = [h for h in logged if "loss" in h]
    assert len(train_logs) == 4  # 4 steps an epoch, every 2 steps, 2 epochs
    # the training run's energy so far grows from log to log (the last is its summary log)
    energies = [h["energy_j"] for h in logged if "eval_loss" not in h][:5]
    assert energies == sorted(energies) and energies[-1] > 0
    assert all(h["co2e_g"] > 0 for h in logged if h["energy_j"] > 0)
    assert {"eval_loss"} <= {m["name"] for m in store.metrics(evaluation.id)}
    assert callback.runs[0].id == train.id


def test_the_docs_example_runs(home: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    [code] = blocks("Hugging Face Transformers")
    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    monkeypatch.setenv("WATTPRINT_INTERVAL", "0.05")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, "docs/integrations.md", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "{'token': 768.0}"  # 32 sequences × 12 tokens × 2 epochs
    assert len(Store(home / "wattprint.db").runs()) == 2  # train(), evaluate()


def test_without_transformers_the_error_names_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "wattprint.integrations.transformers", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'wattprint\[transformers\]'"):
        importlib.import_module("wattprint.integrations.transformers")
