"""`wattprint run --pause-above` on a real child with a scripted intensity series."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path


def test_run_pauses_the_child_while_the_grid_is_dirty(tmp_path: Path) -> None:
    start = int(time.time()) + 3
    rows = ["timestamp,g_per_kwh"]
    for k in range(-10, 120):
        t = start + k
        value = 500 if 0 <= k < 2 else 100  # dirty for two seconds, from `start`
        rows.append(f"{datetime.fromtimestamp(t, timezone.utc).isoformat()},{value}")
    series = tmp_path / "ci.csv"
    series.write_text("\n".join(rows) + "\n")
    progress = tmp_path / "progress.txt"
    child = tmp_path / "child.py"
    child.write_text(textwrap.dedent(f"""
        import time
        end = {start} + 5
        with open({str(progress)!r}, "w") as fh:
            while time.time() < end:
                fh.write(f"{{time.time()}}\\n"); fh.flush()
                time.sleep(0.05)
    """))
    env = dict(os.environ, WATTPRINT_HOME=str(tmp_path / "home"), WATTPRINT_SENSORS="model",
               XDG_CONFIG_HOME=str(tmp_path / "x"))
    r = subprocess.run([sys.executable, "-m", "wattprint", "run", "--region", "US-CAL-CISO",
                        "--pause-above", "300", "--deadline", "60s", "--intensity", str(series),
                        "--interval", "0.2", "--", sys.executable, str(child)],
                       env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "paused 1 time(s)" in r.stderr
    doc = json.loads(subprocess.run([sys.executable, "-m", "wattprint", "show", "last", "--json"],
                                    env=env, capture_output=True, text=True).stdout)
    [pause] = doc["pauses"]
    assert "500" in pause["reason"]
    length = pause["t_end"] - pause["t_start"]
    assert 1.5 <= length <= 2.8
    # the child made no progress while it was stopped
    stamps = [float(x) for x in progress.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) >= 1.5
    assert abs(pause["t_start"] - start) < 0.6
