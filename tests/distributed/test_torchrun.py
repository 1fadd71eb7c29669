"""Real torch.distributed (gloo, CPU) under torchrun: the node is measured once per job."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.distributed.power import ConstantPower, node_env

from wattprint.store import Store
from wattprint.store.jobs import job_members, job_totals, jobs

pytest.importorskip("torch")
TORCHRUN = Path(sys.executable).parent / "torchrun"

SCRIPT = textwrap.dedent("""
    import time
    import torch
    import torch.distributed as dist
    import wattprint

    dist.init_process_group("gloo")
    with wattprint.track(project="dist", interval_s=0.2) as run:
        total = torch.ones(4)
        for _ in range(10):
            dist.all_reduce(total)
            time.sleep(0.2)
        run.log_metric("sum", float(total[0]))
    dist.barrier()
    dist.destroy_process_group()
""")


@pytest.mark.skipif(not TORCHRUN.exists() and shutil.which("torchrun") is None,
                    reason="torchrun is not installed")
def test_torchrun_four_ranks_measure_the_node_once(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    with ConstantPower(tmp_path / "sys", 45.0) as power:
        env = node_env(tmp_path / "home", power, tmp_path / "locks")
        env["OMP_NUM_THREADS"] = "1"
        done = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "4",
                               str(script)], env=env, capture_output=True, text=True,
                              timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    store = Store(tmp_path / "home" / "wattprint.db")
    found = jobs(store)
    assert len(found) == 1
    job = found[0]
    assert job.job_id.startswith("torchelastic:") and job.launcher == "torchelastic"
    members = job_members(store, job.job_id)
    assert sorted(m.rank for m in members) == [0, 1, 2, 3]
    assert {m.world_size for m in members} == {4}
    package = [r for r in job_totals(store, job.job_id) if r["device_id"] == "rapl:package-0"]
    span_s = max(r["t_end"] for r in package) - min(r["t_start"] for r in package)
    energy_j = sum(r["energy_j"] for r in package)
    # one measurer at a time: 45 W over the job's span, not 4 x 45 W
    assert energy_j == pytest.approx(45.0 * span_s, rel=0.05)
    assert job.energy_j == pytest.approx(energy_j)
