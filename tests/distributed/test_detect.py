"""Launch detection from the launchers' environment variables (pure: known inputs, exact ids)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wattprint.distributed import Launch, detect_launch, gpu_candidates


def test_no_launcher_and_no_job_is_a_plain_run() -> None:
    assert detect_launch({"HOME": "/home/u", "WATTPRINT_NODE": "n1"}) is None


def test_slurm_step_task() -> None:
    env = {"SLURM_JOB_ID": "77", "SLURM_STEP_ID": "3", "SLURM_PROCID": "5", "SLURM_LOCALID": "1",
           "SLURM_NODEID": "2", "SLURM_NTASKS": "8", "SLURMD_NODENAME": "gpu07"}
    assert detect_launch(env) == Launch("slurm:77.3", "slurm", "gpu07", rank=5, local_rank=1,
                                        world_size=8, node_rank=2)


def test_slurm_array_task_and_batch_script() -> None:
    env = {"SLURM_JOB_ID": "90", "SLURM_ARRAY_JOB_ID": "88", "SLURM_ARRAY_TASK_ID": "2",
           "WATTPRINT_NODE": "n"}
    launch = detect_launch(env)
    assert launch is not None and launch.job_id == "slurm:88_2" and launch.rank is None


def test_torchrun_inside_srun_takes_job_from_slurm_and_rank_from_torch() -> None:
    env = {"SLURM_JOB_ID": "5", "SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "RANK": "6",
           "LOCAL_RANK": "2", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4", "GROUP_RANK": "1",
           "TORCHELASTIC_RUN_ID": "abc", "WATTPRINT_NODE": "b"}
    assert detect_launch(env) == Launch("slurm:5.0", "slurm", "b", rank=6, local_rank=2,
                                        world_size=8, local_world_size=4, node_rank=1)


def test_torchelastic_run_id_and_user_job_wins() -> None:
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "1",
           "TORCHELASTIC_RUN_ID": "r1", "MASTER_ADDR": "h", "MASTER_PORT": "1",
           "WATTPRINT_NODE": "a"}
    launch = detect_launch(env)
    assert launch is not None and (launch.job_id, launch.launcher) == ("torchelastic:r1",
                                                                       "torchelastic")
    mine = detect_launch(env, job="exp-12")
    assert mine is not None and (mine.job_id, mine.launcher, mine.rank) == ("exp-12", "user", 0)
    none_id = detect_launch({**env, "TORCHELASTIC_RUN_ID": "none"})
    assert none_id is not None and none_id.job_id == "torchelastic:none@h:1"


def test_open_mpi_and_pmi() -> None:
    ompi = {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
            "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
            "OMPI_MCA_orte_hnp_uri": "123.0;tcp://10.0.0.1:4000", "WATTPRINT_NODE": "x"}
    assert detect_launch(ompi) == Launch("mpi:123.0;tcp://10.0.0.1:4000", "openmpi", "x",
                                         rank=3, local_rank=1, world_size=4, local_world_size=2)
    pmix = {"PMIX_RANK": "2", "PMIX_NAMESPACE": "prterun-h-99@1", "MPI_LOCALRANKID": "0",
            "WATTPRINT_NODE": "y"}
    launch = detect_launch(pmix)
    assert launch is not None and (launch.job_id, launch.launcher, launch.rank,
                                   launch.local_rank) == ("mpi:prterun-h-99@1", "pmi", 2, 0)


def test_gpu_blocks_by_local_rank() -> None:
    launch = Launch("j", "user", "n", rank=1, local_rank=1, local_world_size=2)
    assert gpu_candidates(["g0", "g1", "g2", "g3"], launch) == ["g2", "g3"]
    # fewer GPUs than ranks (shared, or one per rank via CUDA_VISIBLE_DEVICES): all it sees
    assert gpu_candidates(["g0"], Launch("j", "user", "n", local_rank=1,
                                         local_world_size=4)) == ["g0"]


#: the variables an Open MPI 4 singleton (MPI_Init without mpirun) left in a process's
#: C environment, as recorded from a child of a process that imported mpi4py.MPI
SINGLETON_ENV = {
    "OMPI_MCA_ess": "singleton", "OMPI_MCA_orte_launch": "1", "PMIX_NAMESPACE": "1984757761",
    "PMIX_RANK": "0", "PMIX_SERVER_URI4": "1984757760.0;tcp4://127.0.0.1:37963",
    "OMPI_MCA_orte_ess_num_procs": "1", "OMPI_APP_CTX_NUM_PROCS": "1",
}


def test_an_mpi_singletons_leftover_variables_make_no_job() -> None:
    # sixteen independent children of such a process would otherwise all be "rank 0" of
    # one job, and only one of them would measure the node
    assert detect_launch(SINGLETON_ENV) is None


def test_children_of_a_real_mpi_singleton_are_plain_runs(tmp_path: Path) -> None:
    pytest.importorskip("mpi4py")
    if shutil.which("mpirun") is None:
        pytest.skip("Open MPI (openmpi-bin) is absent")
    code = textwrap.dedent("""
        import subprocess, sys
        from mpi4py import MPI  # MPI_Init: a singleton, no mpirun
        assert MPI.COMM_WORLD.Get_size() == 1
        probe = "from wattprint.distributed import detect_launch; print(detect_launch())"
        print(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             check=True).stdout.strip())
    """)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    for name in [k for k in env if k.startswith(("OMPI_", "PMI", "SLURM_", "RANK"))]:
        del env[name]
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "None"
