"""The jobs of running tracked runs on a node, as the agent reads them, on both backends."""

from __future__ import annotations

import os
from pathlib import Path

from wattprint.config import load_settings
from wattprint.distributed import Launch
from wattprint.serve.agent import Agent
from wattprint.store import Store
from wattprint.store.base import hostname
from wattprint.store.jobs import running_jobs


def _run(store: Store, rid: str, pid: int, job: str | None, finish: bool = False) -> None:
    store.create_run(project="p", phase="training", attribution="machine", interval_s=1.0,
                     started_at=1_700_000_000.0, run_id=rid, pid=pid)
    if job is not None:
        store.set_job(rid, Launch(job_id=job, launcher="slurm", node="n1", rank=0))
    if finish:
        store.finish_run(rid, status="finished", ended_at=1_700_000_060.0, exit_code=0)


def test_running_runs_of_a_job_on_this_host_map_their_pid_to_the_job(
        store_target: str | Path) -> None:
    store = Store(store_target)
    _run(store, "r-job", os.getpid(), "slurm:77.0")
    _run(store, "r-plain", os.getpid() + 1, None)  # no job: not listed
    _run(store, "r-done", os.getpid() + 2, "slurm:78.0", finish=True)  # ended: not listed
    assert running_jobs(store, hostname()) == {os.getpid(): "slurm:77.0"}
    assert running_jobs(store, "another-host") == {}
    store.close()
    # the agent reads them from the configured store, PostgreSQL included
    target = str(store_target) if isinstance(store_target, str) else f"sqlite:///{store_target}"
    agent = Agent(port=0, settings=load_settings({"store": target}), sensor_objects=[])
    assert agent._tracked_jobs(hostname())() == {os.getpid(): "slurm:77.0"}
