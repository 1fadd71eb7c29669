"""A tiny Lightning fit with WattprintCallback, run as a script (DDP relaunches it per rank).

Usage: python lightning_fit.py LOG_DIR STRATEGY DEVICES [PACKAGE]
"""

from __future__ import annotations

import importlib
import sys
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from wattprint.integrations.lightning import WattprintCallback


def fit(log_dir: str, strategy: str, devices: int, package: str = "lightning.pytorch") -> None:
    pl = importlib.import_module(package)
    loggers = importlib.import_module(f"{package}.loggers")
    module = type("TinyMLP", (TinyMLP, pl.LightningModule), {})
    callback = WattprintCallback(project="lightning-test", sensors=["model"], interval_s=0.01,
                                 quiet=True)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=devices, strategy=strategy,
                         logger=loggers.CSVLogger(log_dir, name="csv", version=0),
                         callbacks=[callback], enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False,
                         num_sanity_val_steps=0, log_every_n_steps=1)
    trainer.fit(module(), loader(64), loader(16))


class TinyMLP:
    def __init__(self) -> None:
        super().__init__()  # the LightningModule of the package in use
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                       torch.nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        time.sleep(0.01)  # long enough epochs for the sampler to read them
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader(n: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(n, 8, generator=g), torch.randn(n, 1, generator=g)),
                      batch_size=8)


if __name__ == "__main__":
    fit(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
