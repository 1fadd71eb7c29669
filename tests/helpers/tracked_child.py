"""A child process that tracks a scripted 1 J-per-read counter; used by store/run tests.

argv: mode seconds interval [project]
  mode "sleep": track, sleep SECONDS, stop normally (prints the run id first)
  mode "sigterm-handler": install its own SIGTERM handler, then track and wait for SIGTERM
  mode "metrics": track and log metrics/units while sleeping
"""

from __future__ import annotations

import signal
import sys
import time

from wattprint.run import Tracker
from wattprint.testing.sensors import ScriptedSensor

mode, seconds, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
project = sys.argv[4] if len(sys.argv) > 4 else "p"
sensor = ScriptedSensor.counter("cpu", [float(i) for i in range(1_000_000)])

if mode == "sigterm-handler":
    def handler(signum, frame):  # type: ignore[no-untyped-def]
        print("user handler ran", flush=True)
        sys.exit(7)

    signal.signal(signal.SIGTERM, handler)

tracker = Tracker(project, interval_s=interval, sensor_objects=[sensor]).start()
print(tracker.id, flush=True)
if mode == "metrics":
    for step in range(5):
        tracker.log_metric("loss", 1.0 / (step + 1), step=step)
        tracker.add_units(10, unit="sample")
        time.sleep(seconds / 5)
    tracker.stop()
elif mode == "sigterm-handler":
    time.sleep(seconds)
else:
    time.sleep(seconds)
    tracker.stop()
