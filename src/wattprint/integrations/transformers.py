"""Hugging Face Transformers: energy and carbon in the Trainer's own logs.

Add the callback to a Trainer::

    from wattprint.integrations.transformers import WattprintCallback

    trainer = Trainer(model=model, args=args, train_dataset=train,
                      callbacks=[WattprintCallback(project="bert-small")])
    trainer.train()

``train()`` is one run (life-cycle phase ``training``) with a phase per
epoch (``train epoch 0``...) and one per evaluation during training
(``evaluation 1``...). ``evaluate()`` and ``predict()`` called on their own
are runs of their own (stage ``evaluation``, life-cycle phase ``inference``;
the Trainer tells its callbacks which of the two it was only at the end).

Every log the Trainer writes gets ``energy_j`` and ``co2e_g``: the run's
energy so far and its operational carbon so far (energy × PUE × grid
intensity), like ``total_flos``. The callback puts itself first among the
Trainer's callbacks, so every ``report_to`` backend (TensorBoard, MLflow,
W&B...) and ``trainer.state.log_history`` receive them.

**Functional units.** Training counts tokens when the model takes
``input_ids``: the callback turns on the Trainer's own count
(``include_num_input_tokens_seen="non_padding"``: attention-mask tokens)
unless it is already on, and adds each step's new tokens as ``token``
units, so reports give energy and carbon per 1k tokens (SCI). Other models
count samples (``sample``): each optimizer step's nominal batch
(per-device batch × gradient accumulation × processes). An evaluation or
prediction on its own counts no units (the Trainer shows its callbacks no
batch).

**Several processes.** Only each node's local process 0 measures (the
Trainer's ``state.is_local_process_zero``), so a node is read once.
"""

from __future__ import annotations

import sys
from typing import Any

from wattprint.integrations._common import require
from wattprint.integrations._training import StageMeter

_CALLBACK_BASE: Any = require(
    "transformers", "transformers", "the Hugging Face Transformers integration").TrainerCallback


class WattprintCallback(_CALLBACK_BASE):  # type: ignore[misc]
    """A ``TrainerCallback`` measuring training, evaluation and prediction.

    Args:
        project: project the runs are filed under.
        name: run name (default: the model's class and the stage).
        region: grid region code for carbon accounting.
        quiet: do not print each run's one-line summary when it ends
            (default: ``WATTPRINT_QUIET``, else print).
        count_tokens: turn on the Trainer's token count to use tokens as
            functional units (models that take ``input_ids`` only).
        **tracker_options: other :class:`~wattprint.run.Tracker` arguments
            (``interval_s``, ``sensors``, ``home``, ``tags``...).

    Attributes:
        runs: every run this callback measured, in order.
    """

    def __init__(self, project: str | None = None, *, name: str | None = None,
                 region: str | None = None, quiet: bool | None = None,
                 count_tokens: bool = True, **tracker_options: Any) -> None:
        self._meter = StageMeter({"project": project, "region": region, **tracker_options},
                                 quiet)
        self._name = name
        self._count_tokens = count_tokens
        self._tokens_seen = 0
        self._counting_tokens = False
        self._evaluations = 0
        self._eval_window: str | None = None

    @property
    def runs(self) -> list[Any]:
        """Every run measured by this callback (in this process), in order."""
        return list(self._meter.runs)

    @property
    def last_run(self) -> Any:
        """The latest run (a :class:`~wattprint.run.Tracker`), or ``None``."""
        return self._meter.runs[-1] if self._meter.runs else None

    # -- placement: first, so that the reporting callbacks see what we add -------------
    def _move_first(self) -> None:
        """Put this callback first in the Trainer's list (the caller's ``CallbackHandler``)."""
        handler = sys._getframe(2).f_locals.get("self")
        callbacks = getattr(handler, "callbacks", None)
        if isinstance(callbacks, list) and callbacks and callbacks[0] is not self \
                and any(c is self for c in callbacks):
            # the handler is iterating over this list: removing an earlier-or-same item and
            # inserting at the front keeps every later callback at its index
            callbacks.remove(self)
            callbacks.insert(0, self)

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Move first among the Trainer's callbacks."""
        self._move_first()

    def _begin(self, stage: str, phase: str, args: Any, state: Any, model: Any) -> bool:
        if not getattr(state, "is_local_process_zero", True):
            return False
        name = self._name or (f"{type(model).__name__} {stage}" if model is not None else stage)
        tags = {"framework": "transformers", "stage": stage,
                "process_index": str(getattr(args, "process_index", 0)),
                "world_size": str(getattr(args, "world_size", 1))}
        self._meter.begin(stage, phase=phase, name=name, tags=tags)
        return True

    # -- training ----------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the training run; turn on the token count where it applies."""
        self._move_first()
        model = kwargs.get("model")
        if not self._begin("train", "training", args, state, model):
            return
        uses_ids = getattr(model, "main_input_name", "input_ids") == "input_ids"
        if self._count_tokens and uses_ids \
                and getattr(args, "include_num_input_tokens_seen", "no") in ("no", False):
            args.include_num_input_tokens_seen = "non_padding"
        self._counting_tokens = getattr(args, "include_num_input_tokens_seen", "no") \
            not in ("no", False)
        self._tokens_seen = int(getattr(state, "num_input_tokens_seen", 0) or 0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Count the step's tokens (or its nominal samples)."""
        if self._meter.stage != "train":
            return
        if self._counting_tokens:
            seen = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            self._meter.count(seen - self._tokens_seen, "token")
            self._tokens_seen = seen
        else:
            self._meter.count(args.per_device_train_batch_size * args.gradient_accumulation_steps
                              * max(1, getattr(args, "world_size", 1)), "sample")

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Open the epoch's phase."""
        self._meter.open(f"train epoch {int(state.epoch or 0)}")

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the epoch's phase."""
        # state.epoch has reached the next whole number by now
        self._meter.close(f"train epoch {max(0, round(state.epoch or 0) - 1)}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Finish the training run."""
        if self._meter.stage == "train":
            self._meter.end()

    # -- evaluation and prediction --------------------------------------------------------
    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Open the evaluation's phase (in training) or start its run (on its own)."""
        if self._eval_window is not None:
            return
        self._evaluations += 1
        self._eval_window = f"evaluation {self._evaluations}"
        if self._meter.stage == "train":
            self._meter.open(self._eval_window)
        elif not self._meter.active:
            self._begin("evaluation", "inference", args, state, kwargs.get("model"))

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the evaluation: its phase, or its run (with the metrics logged to it)."""
        self._end_eval("evaluate", kwargs.get("metrics"), state)

    def on_predict(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the prediction: its phase, or its run."""
        self._end_eval("predict", kwargs.get("metrics"), state)

    def _end_eval(self, stage: str, metrics: Any, state: Any) -> None:
        window, self._eval_window = self._eval_window, None
        tracker = self._meter.tracker
        if tracker is None:
            return
        for key, value in dict(metrics or {}).items():
            if isinstance(value, (int, float)):
                tracker.log_metric(str(key), float(value), step=getattr(state, "global_step", 0))
        if self._meter.stage == "train":
            if window is not None:
                self._meter.close(window)
        else:
            self._meter.end()

    # -- logs --------------------------------------------------------------------------
    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
               **kwargs: Any) -> None:
        """Add the run's energy and operational carbon so far to the Trainer's logs."""
        tracker = self._meter.tracker
        if tracker is None or logs is None:
            return
        added = {"energy_j": tracker.energy_j}
        g_per_j = self._meter.operational_g_per_j()
        if g_per_j is not None:
            added["co2e_g"] = tracker.energy_j * g_per_j
        logs.update(added)
        history = getattr(state, "log_history", None)
        if history and isinstance(history[-1], dict):
            history[-1].update(added)  # the Trainer stored a copy before calling us


__all__ = ["WattprintCallback"]
