"""PyTorch Lightning: energy and carbon of every fit, validate, test and predict.

Add the callback to a Trainer::

    from wattprint.integrations.lightning import WattprintCallback

    trainer = Trainer(max_epochs=10, callbacks=[WattprintCallback(project="mnist")])
    trainer.fit(model, data)

Each ``fit``/``validate``/``test``/``predict`` call is one run (life-cycle
phase ``training`` for fit, ``experimentation`` for validate and test,
``inference`` for predict), holding a phase named after the stage and one
phase per epoch (``train epoch 0``, ``validation epoch 0``, ``test epoch 0``,
``predict epoch 0``; the sanity check is ``sanity check``). The samples of
every batch of the stage's own loop are counted as functional units
(``sample``), so reports give energy and carbon per sample.

At the end of each epoch its energy and operational carbon go to the
Trainer's own loggers (``trainer.loggers``: CSV, TensorBoard, MLflow, W&B...)
as ``energy_j`` and ``co2e_g`` for training epochs, and with the prefix
``val_``, ``test_`` or ``predict_`` for the other loops, at the Trainer's
global step. The task metrics the Trainer holds at the end of a stage
(``trainer.callback_metrics``) are also logged to the run, for
leaderboards.

**Several processes (DDP).** Only the process of local rank 0 on each node
measures: the devices of a node are read once, not once per rank. On one
node that is global rank 0, whose loggers are the ones Lightning writes;
on several nodes each node's local rank 0 makes a run of its own, tagged
with ``node_rank`` and ``world_size``, and the logged per-epoch figures are
those of node 0.

Works with both packages, ``lightning`` (``lightning.pytorch``) and
``pytorch_lightning``: the callback is a ``Callback`` of each one installed.
"""

from __future__ import annotations

import importlib
from typing import Any

from wattprint.integrations._common import require
from wattprint.integrations._training import StageMeter, WindowCost, batch_size


def _callback_bases() -> tuple[type, ...]:
    bases = []
    for module in ("lightning.pytorch", "pytorch_lightning"):
        try:
            bases.append(importlib.import_module(module).Callback)
        except ImportError:
            continue
    if not bases:
        require("lightning.pytorch", "lightning", "the Lightning integration")
    return tuple(bases)


#: Life-cycle phase of each Trainer stage's run.
STAGE_PHASES = {"fit": "training", "validate": "experimentation", "test": "experimentation",
                "predict": "inference"}
_LOOP_PREFIX = {"train": "", "validation": "val_", "test": "test_", "predict": "predict_"}


class WattprintCallback(*_callback_bases()):  # type: ignore[misc]
    """A Lightning callback measuring each stage as a run, each epoch as a phase.

    Args:
        project: project the runs are filed under.
        name: run name (default: the LightningModule's class and the stage).
        region: grid region code for carbon accounting.
        quiet: do not print each run's one-line summary when it ends
            (default: ``WATTPRINT_QUIET``, else print).
        log_to_loggers: log per-epoch energy and carbon to ``trainer.loggers``.
        **tracker_options: other :class:`~wattprint.run.Tracker` arguments
            (``interval_s``, ``sensors``, ``home``, ``tags``...).

    Attributes:
        runs: every run this callback measured, in order (a
            :class:`~wattprint.run.Tracker` each; ``print(run)`` gives its line).
        epochs: per-epoch costs of the last stage: ``(loop, epoch, WindowCost)``.
    """

    def __init__(self, project: str | None = None, *, name: str | None = None,
                 region: str | None = None, quiet: bool | None = None,
                 log_to_loggers: bool = True, **tracker_options: Any) -> None:
        super().__init__()
        self._meter = StageMeter({"project": project, "region": region, **tracker_options},
                                 quiet)
        self._name = name
        self._log = log_to_loggers
        self.epochs: list[tuple[str, int, WindowCost]] = []

    @property
    def runs(self) -> list[Any]:
        """Every run measured by this callback (in this process), in order."""
        return list(self._meter.runs)

    @property
    def last_run(self) -> Any:
        """The latest run (a :class:`~wattprint.run.Tracker`), or ``None``."""
        return self._meter.runs[-1] if self._meter.runs else None

    # -- stages: one run each -------------------------------------------------------------
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Start the stage's run (on local rank 0 only)."""
        if getattr(trainer, "local_rank", 0) != 0:
            return
        stage = str(getattr(stage, "value", stage))  # a TrainerFn in some versions
        self.epochs = []
        tags = {"framework": "lightning", "stage": stage,
                "global_rank": str(getattr(trainer, "global_rank", 0)),
                "node_rank": str(getattr(trainer, "node_rank", 0)),
                "world_size": str(getattr(trainer, "world_size", 1))}
        name = self._name or f"{type(pl_module).__name__} {stage}"
        self._meter.begin(stage, phase=STAGE_PHASES.get(stage, "training"), name=name, tags=tags)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Finish the stage's run, logging the Trainer's final metrics to it."""
        tracker = self._meter.tracker
        if tracker is None:
            return
        for key, value in dict(getattr(trainer, "callback_metrics", {})).items():
            try:
                tracker.log_metric(str(key), float(value), step=trainer.global_step)
            except (TypeError, ValueError):
                continue
        self._meter.end()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Finish the run as failed."""
        self._meter.end(error=f"{type(exception).__name__}: {exception}")

    # -- epochs: one phase each ----------------------------------------------------------
    def _open(self, trainer: Any, loop: str) -> None:
        if getattr(trainer, "sanity_checking", False):
            self._meter.open("sanity check")
        else:
            self._meter.open(f"{loop} epoch {trainer.current_epoch}")

    def _close(self, trainer: Any, loop: str) -> None:
        if getattr(trainer, "sanity_checking", False):
            self._meter.close("sanity check")
            return
        cost = self._meter.close(f"{loop} epoch {trainer.current_epoch}")
        if cost is None:
            return
        self.epochs.append((loop, trainer.current_epoch, cost))
        if self._log:
            metrics = {**cost.metrics(_LOOP_PREFIX[loop]), "epoch": float(trainer.current_epoch)}
            for logger in getattr(trainer, "loggers", []):
                logger.log_metrics(metrics, step=trainer.global_step)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the epoch's phase."""
        self._open(trainer, "train")

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the epoch's phase; log its energy and carbon."""
        self._close(trainer, "train")

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the validation epoch's phase."""
        self._open(trainer, "validation")

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the validation epoch's phase; log its energy and carbon."""
        self._close(trainer, "validation")

    def on_test_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the test epoch's phase."""
        self._open(trainer, "test")

    def on_test_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the test epoch's phase; log its energy and carbon."""
        self._close(trainer, "test")

    def on_predict_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the predict epoch's phase."""
        self._open(trainer, "predict")

    def on_predict_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the predict epoch's phase; log its energy and carbon."""
        self._close(trainer, "predict")

    # -- batches: samples as functional units ------------------------------------------
    def _count(self, stage: str, batch: Any) -> None:
        if self._meter.stage == stage:
            self._meter.count(batch_size(batch), "sample")

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Count the batch's samples."""
        self._count("fit", batch)

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        """Count the batch's samples (of a ``validate`` stage)."""
        self._count("validate", batch)

    def on_test_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        """Count the batch's samples."""
        self._count("test", batch)

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:
        """Count the batch's samples."""
        self._count("predict", batch)


__all__ = ["STAGE_PHASES", "WattprintCallback"]
