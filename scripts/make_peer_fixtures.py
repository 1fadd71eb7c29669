"""Write real sample logs with the peer tools, for the importer tests.

Each peer is run by an interpreter that has it installed (they do not share
one environment: eco2AI 0.3.12 needs pandas < 3, see the README next to the
fixtures)::

    PEERS/bin/python scripts/make_peer_fixtures.py codecarbon
    PEERS/bin/python scripts/make_peer_fixtures.py carbontracker
    ECO2AI_ENV/bin/python scripts/make_peer_fixtures.py eco2ai

Everything runs offline: codecarbon's offline tracker with a fixed country,
eco2AI with a fixed country code, carbontracker with simulated components
(its location look-up fails without network and it falls back, as logged, to
its world-average intensity). The clock zone is set to UTC first, so the
naive local timestamps the tools write are UTC times. The workload is a short
pure-Python loop; the numbers are whatever the tools measured or estimated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "peers"


def burn(seconds: float) -> None:
    """Keep one core busy for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(i * i for i in range(10_000))


def make_codecarbon(out: Path) -> None:
    from codecarbon import OfflineEmissionsTracker

    out.mkdir(parents=True, exist_ok=True)
    (out / "emissions.csv").unlink(missing_ok=True)
    for experiment, pue in (("resnet-small", 1.0), ("resnet-large", 1.2)):
        tracker = OfflineEmissionsTracker(
            country_iso_code="DEU", output_dir=str(out), project_name="demo",
            experiment_id=experiment, measure_power_secs=1, log_level="warning", pue=pue,
            save_to_file=True,
        )
        tracker.start()
        burn(3.0)
        tracker.stop()


def make_carbontracker(out: Path) -> None:
    from carbontracker.tracker import CarbonTracker

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    common = dict(update_interval=0.5, log_dir=str(out), verbose=1, sim_cpu="Simulated CPU",
                  sim_cpu_tdp=65, sim_cpu_util=0.5, sim_gpu="Simulated GPU",
                  sim_gpu_watts=300, sim_gpu_util=0.8)
    # A run that monitors all its epochs (predicted after the first, then actual).
    full = CarbonTracker(epochs=3, epochs_before_pred=1, log_file_prefix="full", **common)
    for _ in range(3):
        full.epoch_start()
        burn(1.5)
        full.epoch_end()
    time.sleep(1.1)  # a new second, so the second run's log names differ
    # A run stopped early: 2 of 5 epochs, then stop() reports the actual use so far.
    early = CarbonTracker(epochs=5, epochs_before_pred=1, log_file_prefix="early", **common)
    for _ in range(3):
        early.epoch_start()
        burn(1.5)
        early.epoch_end()
    early.stop()


def make_eco2ai(out: Path) -> None:
    import eco2ai

    out.mkdir(parents=True, exist_ok=True)
    path = out / "emission.csv"
    path.unlink(missing_ok=True)
    plain = eco2ai.Tracker(project_name="demo", experiment_description="resnet-small",
                           file_name=str(path), measure_period=1, alpha_2_code="DE",
                           ignore_warnings=True)
    plain.start()
    burn(3.0)
    plain.stop()
    epochs = eco2ai.Tracker(project_name="demo", experiment_description="resnet-epochs",
                            file_name=str(path), measure_period=1, alpha_2_code="DE",
                            ignore_warnings=True, pue=1.2)
    epochs.start_training(start_epoch=1)
    for epoch in range(2):
        burn(1.5)
        epochs.new_epoch({"loss": 1.0 / (epoch + 1)})
    epochs.stop_training()


MAKERS = {"codecarbon": make_codecarbon, "carbontracker": make_carbontracker,
          "eco2ai": make_eco2ai}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=sorted(MAKERS))
    parser.add_argument("--out", type=Path, default=OUT, help="fixtures folder")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()
    MAKERS[args.peer](args.out / args.peer)
    print(f"wrote {args.out / args.peer}", file=sys.stderr)


if __name__ == "__main__":
    main()
