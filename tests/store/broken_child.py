"""A tracked job for broken-store tests: 1 J per read, a metric, a phase, exit code 3.

argv: result_file seconds
Prints "hello" on stdout, writes what the tracker measured to result_file as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from wattprint.run import Tracker
from wattprint.testing.sensors import ScriptedSensor

result_file, seconds = sys.argv[1], float(sys.argv[2])
sensor = ScriptedSensor.counter("cpu", [float(i) for i in range(1_000_000)])
tracker = Tracker("p", interval_s=0.02, sensor_objects=[sensor]).start()
print("hello", flush=True)
tracker.log_metric("loss", 0.5, step=1)
with tracker.phase("eval"):
    time.sleep(seconds)
tracker.stop()
measured = tracker.intervals()
with open(result_file, "w") as fh:
    json.dump({"id": tracker.id, "energy_j": tracker.energy_j, "intervals": len(measured),
               "spool": str(tracker.store.spool_path) if tracker.store else None}, fh)
sys.exit(3)
