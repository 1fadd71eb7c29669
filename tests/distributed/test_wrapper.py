"""`wattprint run` around a command whose script also tracks: one job, the node measured once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.distributed.power import ConstantPower, node_env

from wattprint.store import Store

CHILD = textwrap.dedent("""
    import os
    import time
    import wattprint

    with wattprint.track(project="inner", interval_s=0.25) as run:
        time.sleep(1.0)
        run.log_metric("accuracy", 0.5 + int(os.environ["RANK"]))
""")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=120)


def test_wrapper_around_torchrun_measures_the_node_once_and_links_the_ranks(
        tmp_path: Path) -> None:
    pytest.importorskip("torch")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    torchrun = Path(sys.executable).parent / "torchrun"
    with ConstantPower(tmp_path / "sys", 45.0) as power:
        env = node_env(tmp_path / "home", power, tmp_path / "locks", node="n0")
        done = _cli(env, "run", "--quiet", "--interval", "0.25", "--", str(torchrun),
                    "--standalone", "--nproc_per_node", "2", str(script))
    assert done.returncode == 0, done.stderr
    listed = _cli(env, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    (job,) = json.loads(listed.stdout)["jobs"]
    # the wrapper's own job, not torchelastic's: the wrapper and both ranks in one job
    assert job["job_id"].startswith("run:") and job["runs"] == 3 and job["nodes"] == ["n0"]
    assert job["ranks"] == 2
    shown = _cli(env, "show", job["job_id"], "--by", "device", "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    package = [d for d in doc["by_device"] if d["device_id"] == "rapl:package-0"]
    assert len(package) == 1 and package[0]["measured_by"] == [None]  # the wrapper, no rank
    # only the wrapper's run holds intervals; the child's run is linked and has its metric
    assert [(m["name"], m["value"]) for m in doc["metrics"]] == [("accuracy", 0.5)]  # rank 0
    assert doc["energy_j"] == package[0]["energy_j"] + sum(
        d["energy_j"] for d in doc["by_device"] if d["device_id"] != "rapl:package-0")
    text = _cli(env, "show", job["job_id"], "--by", "rank", "--rank", "1", "--wide")
    assert text.returncode == 0 and "by rank" in text.stdout
    assert "metrics (rank 1): accuracy=1.5" in text.stdout


def test_plain_tracked_command_under_wattprint_run_stays_a_run_of_its_own(
        tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text("import time, wattprint\n"
                      "with wattprint.track(project='inner', interval_s=0.25):\n"
                      "    time.sleep(0.8)\n")
    with ConstantPower(tmp_path / "sys", 45.0) as power:
        env = node_env(tmp_path / "home", power, tmp_path / "locks", node="n0")
        done = _cli(env, "run", "--quiet", "--interval", "0.25", "--", sys.executable,
                    str(script))
    assert done.returncode == 0, done.stderr
    assert json.loads(_cli(env, "jobs", "--json").stdout) == {"jobs": []}
    store = Store(tmp_path / "home" / "wattprint.db")
    runs = store.runs()
    assert len(runs) == 2 and all(store.intervals(r.id) for r in runs)  # as before: both measure
