"""Keras 3: energy and carbon of each epoch in ``logs``, so in ``History``, on any backend.

Add the callback to ``fit``::

    from wattprint.integrations.keras import WattprintCallback

    history = model.fit(x, y, epochs=10, callbacks=[WattprintCallback(project="mnist")])
    history.history["energy_j"]   # one value per epoch, J
    history.history["co2e_g"]     # its operational carbon, g CO2e

``fit`` is one run (life-cycle phase ``training``) with a phase per epoch
(``train epoch 0``...) and one per validation pass (``validation epoch
0``...); ``evaluate`` and ``predict`` on their own are runs of their own
(``experimentation`` and ``inference``). Each epoch's energy and operational
carbon (energy × PUE × grid intensity) are added to the epoch's ``logs`` as
``energy_j`` and ``co2e_g``, which ``History``, ``CSVLogger`` and
``TensorBoard`` record like any metric. Keras shows its callbacks no batch
size, so no functional units are counted; the run's footprint is per run.

The callback only uses ``keras.callbacks.Callback``, so it works the same on
the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

from typing import Any

from wattprint.integrations._common import require
from wattprint.integrations._training import StageMeter

_CALLBACK_BASE: Any = require("keras", "keras",
                                       "the Keras integration").callbacks.Callback


class WattprintCallback(_CALLBACK_BASE):  # type: ignore[misc]
    """A Keras callback measuring ``fit``, ``evaluate`` and ``predict`` as runs.

    Args:
        project: project the runs are filed under.
        name: run name (default: the model's name and the stage).
        region: grid region code for carbon accounting.
        quiet: do not print each run's one-line summary when it ends
            (default: ``WATTPRINT_QUIET``, else print).
        **tracker_options: other :class:`~wattprint.run.Tracker` arguments
            (``interval_s``, ``sensors``, ``home``, ``tags``...).
    """

    def __init__(self, project: str | None = None, *, name: str | None = None,
                 region: str | None = None, quiet: bool | None = None,
                 **tracker_options: Any) -> None:
        super().__init__()
        self._meter = StageMeter({"project": project, "region": region, **tracker_options},
                                 quiet)
        self._name = name
        self._epoch = 0

    @property
    def runs(self) -> list[Any]:
        """Every run measured by this callback, in order."""
        return list(self._meter.runs)

    @property
    def last_run(self) -> Any:
        """The latest run (a :class:`~wattprint.run.Tracker`), or ``None``."""
        return self._meter.runs[-1] if self._meter.runs else None

    def _begin(self, stage: str, phase: str) -> None:
        model = getattr(self, "model", None)
        name = self._name or (f"{getattr(model, 'name', 'model')} {stage}")
        self._meter.begin(stage, phase=phase, name=name,
                          tags={"framework": "keras", "stage": stage})

    # -- fit ----------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start the ``fit`` run."""
        self._begin("fit", "training")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Open the epoch's phase."""
        self._epoch = epoch
        self._meter.open(f"train epoch {epoch}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Close the epoch's phase; add its energy and carbon to ``logs``."""
        cost = self._meter.close(f"train epoch {epoch}")
        if cost is not None and logs is not None:
            logs.update(cost.metrics())

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Finish the ``fit`` run."""
        if self._meter.stage == "fit":
            self._meter.end()

    # -- evaluate (validation within fit) and predict -------------------------------------
    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Open the validation phase (in ``fit``) or start the ``evaluate`` run."""
        if self._meter.stage == "fit":
            self._meter.open(f"validation epoch {self._epoch}")
        else:
            self._begin("evaluate", "experimentation")

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        """Close the validation phase, or finish the ``evaluate`` run."""
        if self._meter.stage == "fit":
            self._meter.close(f"validation epoch {self._epoch}")
        elif self._meter.stage == "evaluate":
            tracker = self._meter.tracker
            for key, value in dict(logs or {}).items():
                if tracker is not None and isinstance(value, (int, float)):
                    tracker.log_metric(str(key), float(value))
            self._meter.end()

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start the ``predict`` run."""
        if self._meter.stage is None:
            self._begin("predict", "inference")

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        """Finish the ``predict`` run."""
        if self._meter.stage == "predict":
            self._meter.end()


__all__ = ["WattprintCallback"]
