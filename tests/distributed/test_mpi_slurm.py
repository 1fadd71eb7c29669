"""Open MPI (real mpirun, mpi4py) and SLURM environments: one measurement per node and job."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from itertools import pairwise
from pathlib import Path

import pytest
from tests.distributed.power import ConstantPower, node_env

from wattprint.store import Store
from wattprint.store.jobs import job_members, job_totals, jobs, summary

PACKAGE = "rapl:package-0"


def _package_rows(store: Store, job_id: str) -> list[dict[str, object]]:
    return [r for r in job_totals(store, job_id) if r["device_id"] == PACKAGE]


def _intervals(store: Store, job_id: str, node: str | None = None) -> list[tuple[float, float]]:
    spans = []
    for m in job_members(store, job_id):
        if node is None or m.node == node:
            spans += [(i.t_start, i.t_end) for i in store.intervals(m.run_id, PACKAGE)]
    return sorted(spans)


def _assert_no_overlap(spans: list[tuple[float, float]]) -> None:
    for (_, end), (start, _) in pairwise(spans):
        assert start >= end - 1e-9


MPI_SCRIPT = textwrap.dedent("""
    import time
    from mpi4py import MPI
    import wattprint

    comm = MPI.COMM_WORLD
    with wattprint.track(project="mpi", interval_s=0.25):
        comm.Barrier()
        time.sleep(1.5)
        comm.Barrier()
""")


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI (openmpi-bin) is absent")
def test_open_mpi_four_ranks_one_job_one_measurement(tmp_path: Path) -> None:
    pytest.importorskip("mpi4py")
    script = tmp_path / "mpi_job.py"
    script.write_text(MPI_SCRIPT)
    with ConstantPower(tmp_path / "sys", 45.0) as power:
        env = node_env(tmp_path / "home", power, tmp_path / "locks")
        done = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "4",
                               sys.executable, str(script)], env=env, capture_output=True,
                              text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    store = Store(tmp_path / "home" / "wattprint.db")
    (job,) = jobs(store)
    assert job.job_id.startswith("mpi:") and job.launcher == "openmpi"
    assert sorted(m.rank for m in job_members(store, job.job_id)) == [0, 1, 2, 3]
    spans = _intervals(store, job.job_id)
    _assert_no_overlap(spans)
    energy_j = sum(float(r["energy_j"]) for r in _package_rows(store, job.job_id))  # type: ignore[arg-type]
    assert energy_j == pytest.approx(45.0 * (spans[-1][1] - spans[0][0]), rel=0.05)
    assert job.status == "finished" and job.ranks == 4 and job.nodes == [os.uname().nodename]


def _slurm_env(base: dict[str, str], proc: int, node: int) -> dict[str, str]:
    return {**base, "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_PROCID": str(proc),
            "SLURM_LOCALID": str(proc % 2), "SLURM_NODEID": str(node), "SLURM_NNODES": "2",
            "SLURM_NTASKS": "4"}


def test_slurm_two_nodes_two_tasks_sums_per_node_and_job(tmp_path: Path) -> None:
    powers = [ConstantPower(tmp_path / f"sys{n}", w) for n, w in ((0, 30.0), (1, 50.0))]
    procs = []
    for p in powers:
        p.__enter__()
    try:
        for proc in range(4):
            node = proc // 2
            env = _slurm_env(node_env(tmp_path / "home", powers[node], tmp_path / "locks",
                                      node=f"node{node}"), proc, node)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "wattprint", "run", "--quiet", "--interval", "0.25", "--",
                 sys.executable, "-c", "import time; time.sleep(1.5)"], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for p_ in procs:
            _, err = p_.communicate(timeout=120)
            assert p_.returncode == 0, err
    finally:
        for p in powers:
            p.__exit__()
    store = Store(tmp_path / "home" / "wattprint.db")
    (job,) = jobs(store)
    assert job.job_id == "slurm:4242.0" and job.launcher == "slurm"
    assert job.nodes == ["node0", "node1"] and job.ranks == 4
    members = job_members(store, job.job_id)
    assert {(m.node, m.rank) for m in members} == {("node0", 0), ("node0", 1), ("node1", 2),
                                                    ("node1", 3)}
    rows = _package_rows(store, job.job_id)
    per_node: dict[str, float] = {}
    for r in rows:
        per_node[str(r["node"])] = per_node.get(str(r["node"]), 0.0) + float(r["energy_j"])  # type: ignore[arg-type]
    for node, watts in (("node0", 30.0), ("node1", 50.0)):
        spans = _intervals(store, job.job_id, node)
        _assert_no_overlap(spans)
        covered_s = sum(end - start for start, end in spans)
        assert per_node[node] == pytest.approx(watts * covered_s, rel=0.03)
        gaps = [start - end for (_, end), (start, _) in pairwise(spans)]
        assert max(gaps) <= 0.25  # a task that ended early: the other measured on
        # exact: the node's sum is the sum of its stored intervals, each stored once
        stored = sum(i.energy_j for m in members if m.node == node
                     for i in store.intervals(m.run_id, PACKAGE))
        assert per_node[node] == pytest.approx(stored, rel=1e-12)
    dram_j = sum(float(r["energy_j"]) for r in job_totals(store, job.job_id)  # type: ignore[arg-type]
                 if r["device_id"] != PACKAGE)
    assert summary(store, job.job_id).energy_j == pytest.approx(
        per_node["node0"] + per_node["node1"] + dram_j, rel=1e-12)


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    import wattprint

    with wattprint.track(project="kill", interval_s=0.3) as run:
        time.sleep(0.5)
        print("measurer" if run.by_device() else "standby", flush=True)
        time.sleep(float(sys.argv[1]))
""")


def test_measuring_rank_killed_another_takes_over_within_one_interval(tmp_path: Path) -> None:
    script = tmp_path / "rank.py"
    script.write_text(KILL_SCRIPT)
    interval_s = 0.3
    with ConstantPower(tmp_path / "sys", 45.0) as power:
        base = node_env(tmp_path / "home", power, tmp_path / "locks", node="n0")
        ranks = [subprocess.Popen([sys.executable, str(script), "4"],
                                  env=_slurm_env(base, proc, 0), stdout=subprocess.PIPE,
                                  text=True) for proc in range(2)]
        roles = [r.stdout.readline().strip() if r.stdout else "" for r in ranks]
        assert sorted(roles) == ["measurer", "standby"]
        time.sleep(1.0)
        measurer = ranks[roles.index("measurer")]
        measurer.send_signal(signal.SIGKILL)
        measurer.wait()
        survivor = ranks[roles.index("standby")]
        survivor.wait(timeout=60)
        assert survivor.returncode == 0
        for r in ranks:
            if r.stdout:
                r.stdout.close()
    store = Store(tmp_path / "home" / "wattprint.db")
    (job,) = jobs(store)
    by_run: dict[str, list[tuple[float, float]]] = {}
    for m in job_members(store, job.job_id):
        by_run[m.run_id] = [(i.t_start, i.t_end) for i in store.intervals(m.run_id, PACKAGE)]
    assert all(by_run.values()) and len(by_run) == 2  # both ranks measured, one after the other
    spans = sorted(s for v in by_run.values() for s in v)
    _assert_no_overlap(spans)
    gaps = [start - end for (_, end), (start, _) in pairwise(spans)]
    assert max(gaps) <= interval_s
    assert any(g > 0 for g in gaps)  # the takeover left a (short) gap, no overlap
