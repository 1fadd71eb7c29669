"""The training callbacks' shared meter marks each training epoch as an epoch of the run."""

from __future__ import annotations

import time
from pathlib import Path

from wattprint.integrations._training import StageMeter, is_training_epoch
from wattprint.testing.sensors import ScriptedSensor


def test_only_training_epochs_are_epochs() -> None:
    assert is_training_epoch("train epoch 3")
    assert not is_training_epoch("validation epoch 3") and not is_training_epoch("sanity check")


def test_training_epochs_mark_the_run_and_predict_it(home: Path) -> None:
    sensor = ScriptedSensor.power("cpu", [50.0])
    meter = StageMeter({"project": "fit", "sensor_objects": [sensor], "interval_s": 0.02,
                        "epochs": 3, "region": "IN"}, quiet=True)
    tracker = meter.begin("fit", phase="training", name="fit", tags={})
    for epoch in range(3):
        meter.open(f"train epoch {epoch}")
        time.sleep(0.03)
        meter.close(f"train epoch {epoch}")
        meter.open(f"validation epoch {epoch}")
        meter.close(f"validation epoch {epoch}")
    tracker.wait_for_prediction()
    assert tracker.epochs_done == 3
    assert [p["after_epochs"] for p in tracker.predictions()] == [1, 2, 3]
    meter.end()
    assert tracker.status == "finished"
