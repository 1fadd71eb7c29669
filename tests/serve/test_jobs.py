"""The agent knows jobs: per-job counters, bounded, labelled ``job_id``, summed by Prometheus.

Hand-made listings give exact sums; a fake /proc tree gives the job of a
process from its environment or its tracked ancestor; the real agent on a
loopback port labels a process started with SLURM's variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.serve.test_agent import start_agent, stop_agent, wait_for

from wattprint.accounting.intensity import AnnualIntensity, annual_intensity
from wattprint.sensors.base import DeviceInfo
from wattprint.serve.jobs import JobLabels, environ_job
from wattprint.serve.metrics import registry_for
from wattprint.serve.monitor import NodeMonitor, ProcessSample
from wattprint.store import IntervalRecord

CPU = DeviceInfo("rapl:package-0", "cpu", "pkg", "rapl", True, True)
JOB_A, JOB_B = "slurm:4242.0", "torchelastic:abc"


class _Node:
    """Listing k closes a 10 s window of 64 J in which the machine was busy 8 s.

    Rank 0 and rank 1 of job A use 4 s and 2 s (32 J and 16 J), a process of
    job B 1 s (8 J), and a shell of no job 1 s (8 J).
    """

    def __init__(self) -> None:
        self.k = 0

    def wall(self) -> float:
        return 100.0 + 10.0 * self.k

    def busy(self) -> float:
        return 8.0 * self.k

    def processes(self) -> dict[int, ProcessSample]:
        k = self.k
        return {10: ProcessSample(50.0, "python", 4.0 * k),
                11: ProcessSample(50.0, "python", 2.0 * k),
                12: ProcessSample(50.0, "train", 1.0 * k), 13: ProcessSample(50.0, "sh", 1.0 * k)}


JOBS = {10: JOB_A, 11: JOB_A, 12: JOB_B}


def _scrape(monitor: NodeMonitor) -> dict[tuple[str, str], float]:
    text = generate_latest(registry_for(monitor, "test")).decode()
    (family,) = [f for f in text_string_to_metric_families(text)
                 if f.name == "wattprint_job_energy_joules"]
    assert family.type == "counter"
    return {(s.labels["job_id"], s.labels["series"]): s.value for s in family.samples}


def _run(top_jobs: int, windows: int) -> NodeMonitor:
    node = _Node()
    monitor = NodeMonitor({CPU.id: CPU}, region="DE", intensity=AnnualIntensity(),
                          wall=node.wall, busy_s=node.busy, list_processes=node.processes,
                          job_of=JOBS.get, top_jobs=top_jobs, process_ttl_s=300.0)
    monitor.refresh_processes()  # the baseline
    for k in range(1, windows + 1):
        monitor.on_intervals([IntervalRecord(CPU.id, node.wall(), node.wall() + 10.0, 64.0,
                                             64.0)], [])
        node.k = k
        monitor.refresh_processes()
    return monitor


def test_job_counters_sum_their_processes_and_stay_bounded() -> None:
    monitor = _run(top_jobs=2, windows=5)
    # window 1 charges job A 48 J and job B 8 J before either has a series (both go to
    # other); from window 2 on each has its own: A 48 J x 4, B 8 J x 4
    assert _scrape(monitor) == {(JOB_A, "job"): 192.0, (JOB_B, "job"): 32.0,
                                ("", "other"): 56.0}
    assert monitor.jobs_charged()[0] == 56.0 * 5  # the shell is in no job
    g_per_kwh = annual_intensity("DE").g_per_kwh
    (a,) = [j for j in monitor.job_series() if j["job_id"] == JOB_A]
    assert a["co2e_g"] == pytest.approx(192.0 / 3.6e6 * g_per_kwh, rel=1e-12)
    # one slot: the larger job holds it, the other stays in other
    assert _scrape(_run(top_jobs=1, windows=5)) == {(JOB_A, "job"): 192.0,
                                                    ("", "other"): 56.0 + 32.0}


def _proc(root: Path, pid: int, ppid: int, environ: dict[str, str] | None) -> None:
    (root / str(pid)).mkdir(parents=True)
    after = ["S", str(ppid)] + ["0"] * 50
    (root / str(pid) / "stat").write_text(f"{pid} (p) " + " ".join(after) + "\n")
    if environ is not None:
        (root / str(pid) / "environ").write_bytes(
            b"".join(f"{k}={v}".encode() + b"\0" for k, v in environ.items()))


def test_the_job_of_a_process_from_its_environment_or_a_tracked_ancestor(
        tmp_path: Path) -> None:
    _proc(tmp_path, 100, 1, {"PATH": "/bin"})  # a tracked torchrun rank (from the store)
    _proc(tmp_path, 200, 100, {"PATH": "/bin"})  # its child, then grandchild
    _proc(tmp_path, 300, 200, None)  # environ unreadable, as another user's
    _proc(tmp_path, 400, 1, {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0",
                             "SLURM_PROCID": "3"})
    _proc(tmp_path, 401, 1, {"SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "70",
                             "SLURM_ARRAY_TASK_ID": "7"})  # the batch script of an array task
    _proc(tmp_path, 500, 1, {"WATTPRINT_JOB": "nightly-eval", "SLURM_JOB_ID": "9"})
    _proc(tmp_path, 600, 1, {"HOME": "/root"})
    assert environ_job(400, tmp_path) == JOB_A
    assert environ_job(401, tmp_path) == "slurm:70_7"
    assert environ_job(500, tmp_path) == "nightly-eval"  # the user's job wins
    assert environ_job(600, tmp_path) is None and environ_job(300, tmp_path) is None
    reads = []

    def tracked() -> dict[int, str]:
        reads.append(1)
        return {100: JOB_B}

    now = [0.0]
    labels = JobLabels(tmp_path, tracked=tracked, refresh_s=5.0, clock=lambda: now[0])
    assert [labels(p) for p in (100, 200, 300, 400, 600, 999)] == [
        JOB_B, JOB_B, JOB_B, JOB_A, None, None]
    assert len(reads) == 1  # the store read once per 5 s
    now[0] = 6.0
    labels(600)
    assert len(reads) == 2


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs procfs")
def test_agent_on_loopback_labels_a_slurm_task_with_its_job(tmp_path: Path) -> None:
    agent = start_agent(tmp_path / "agent", "--top-processes", "1000")
    env = dict(os.environ, SLURM_JOB_ID="4242", SLURM_STEP_ID="0", SLURM_PROCID="0")
    burn = "import time\nend = time.time() + 60\nwhile time.time() < end: pass\n"
    task = subprocess.Popen([sys.executable, "-c", burn], env=env)
    try:
        def job_series() -> dict[tuple[str, str], float] | None:
            agent.bump(20)
            families = {f.name: f for f in text_string_to_metric_families(
                httpx.get(agent.url + "/metrics").text)}
            values = {(s.labels["job_id"], s.labels["series"]): s.value
                      for s in families["wattprint_job_energy_joules"].samples}
            return values if values.get(("slurm:4242.0", "job"), 0.0) > 0 else None

        wait_for(job_series, timeout_s=30)
        task.kill()
        task.wait()

        def settled() -> tuple[dict[tuple[str, str], float], float] | None:
            first = job_series_quiet()
            proc = httpx.get(f"{agent.url}/v1/processes/{task.pid}")
            energy = proc.json()["energy_j"] if proc.status_code == 200 else None
            return (first, energy) if first == job_series_quiet() and energy else None

        def job_series_quiet() -> dict[tuple[str, str], float]:
            families = {f.name: f for f in text_string_to_metric_families(
                httpx.get(agent.url + "/metrics").text)}
            return {(s.labels["job_id"], s.labels["series"]): s.value
                    for s in families["wattprint_job_energy_joules"].samples}

        values, task_j = wait_for(settled, timeout_s=30)
        # the task is the job's only process: its energy is the job's series and what the
        # job was charged before it had one (in other)
        assert set(values) == {("slurm:4242.0", "job"), ("", "other")}
        assert values[("slurm:4242.0", "job")] + values[("", "other")] == pytest.approx(
            task_j, rel=1e-9)
    finally:
        if task.poll() is None:
            task.kill()
            task.wait()
        stop_agent(agent)
