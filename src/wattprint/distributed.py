"""Distributed jobs: which job and rank a process belongs to, and who measures what.

**Launchers tell their processes who they are** through environment
variables. wattprint reads them, never a home-made protocol:

============================  =====================================================
launcher                      variables read
============================  =====================================================
torchrun / elastic,           ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
accelerate, DeepSpeed         ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``, ``TORCHELASTIC_RUN_ID``
SLURM (``srun``, ``sbatch``)  ``SLURM_JOB_ID``, ``SLURM_STEP_ID``, ``SLURM_PROCID``,
                              ``SLURM_LOCALID``, ``SLURM_NODEID``, ``SLURM_NNODES``,
                              ``SLURM_NTASKS``, ``SLURM_ARRAY_JOB_ID``/``SLURM_ARRAY_TASK_ID``
Open MPI (``mpirun``)         ``OMPI_COMM_WORLD_RANK``, ``OMPI_COMM_WORLD_LOCAL_RANK``,
                              ``OMPI_COMM_WORLD_SIZE``, ``OMPI_COMM_WORLD_LOCAL_SIZE``;
                              job: ``PMIX_NAMESPACE``, else ``OMPI_MCA_orte_hnp_uri``
MPICH / Hydra / PMI / PMIx    ``PMI_RANK`` or ``PMIX_RANK``, ``PMI_SIZE``, ``MPI_LOCALRANKID``,
                              ``MPI_LOCALNRANKS``; job: ``PMIX_NAMESPACE``
============================  =====================================================

A **job id** is the same for every rank of one job and differs between jobs:

* the user's own (``track(job=...)``, ``wattprint run --job``, or
  ``WATTPRINT_JOB``, which ``wattprint run`` also exports to the command it
  starts) wins over everything. The job ``wattprint run`` makes up for itself
  when none is given (``run:<its run id>``) is joined only by the ranks of a
  launcher it starts (``wattprint run -- torchrun ...``); a plain command
  that calls ``track()`` under it stays a run of its own, as it always was;
* SLURM: ``slurm:<job id>.<step id>`` (``slurm:<array job id>_<task id>.<step>``
  for an array task; ``slurm:<job id>`` in the batch script, without a step);
* torchrun: ``torchelastic:<run id>`` (``--rdzv-id``; ``--standalone`` makes a
  random one). torchrun's default run id is ``none``, the same for every
  job: then a single-node job is named after its launcher process
  (``torchelastic:<node>:<launcher pid>.<its start time>``) and a multi-node one
  after its rendezvous endpoint (``torchelastic:none@<MASTER_ADDR>:<MASTER_PORT>``),
  which later jobs on the same endpoint share: give ``--rdzv-id`` or ``--job``;
* Open MPI: ``mpi:<PMIx namespace>`` (Open MPI 5, and 4 with PMIx), else
  ``mpi:<the jobid and URI of mpirun>`` from ``OMPI_MCA_orte_hnp_uri``;
* MPICH without PMIx: the ranks' parent process on the node
  (``mpi:<node>:<parent pid>.<its start time>``), which links the ranks of one
  node only: give ``--job`` for a multi-node MPICH job.

Ranks come from the innermost launcher (torchrun's ``RANK`` inside ``srun``),
the job id from the outermost (a SLURM job id is shared by every task of the
step). Without any launcher variable and without a job given, nothing here
applies and a run is what it always was.

The **node** is ``WATTPRINT_NODE`` when set (a container whose host name is not
the node's, or tests that simulate several nodes on one machine), else
``SLURMD_NODENAME``, else the host name.

**One measurer per node.** Node-level devices (CPU packages, DRAM, psys, node
power, the power models: whatever one process would see of the whole node)
are measured by exactly one process per (job, node): the holder of an
exclusive ``flock`` on ``<lock dir>/<job>@<node>.node.lock``. The lock dir is
``WATTPRINT_LOCK_DIR``, else ``<temp dir>/wattprint-<uid>/locks``: node-local
on purpose (a lock on a shared filesystem may be cluster-wide, and the node
name in the file name keeps nodes apart even there). The kernel releases the
lock when its holder exits, however it exits; every other rank polls the lock
at each of its sampling ticks, and keeps reading the node's counters without
storing them, so the rank that takes over counts from its last reading. The
holder writes the monotonic time of its last stored interval into the lock
file at each tick; the new measurer starts at its first reading at or after
that time, so the two never overlap and the gap is shorter than one interval.

**One measurer per GPU.** Each GPU is claimed through its own lock
(``<job>@<node>.gpu-<id>.lock``). A rank claims the GPUs it uses: the GPUs
visible to it (``CUDA_VISIBLE_DEVICES`` given per rank, MIG UUIDs included,
see :mod:`wattprint.sensors.visible`), or, when every rank sees all the
node's GPUs and their number is a multiple of the ranks on the node, the
block ``LOCAL_RANK`` maps to (rank ``r`` of ``n`` with ``g`` GPUs: GPUs
``r*g/n`` to ``(r+1)*g/n - 1``). When ranks share GPUs (fewer GPUs than
ranks), the node measurer claims them first and the other ranks only try
from their second tick on, so a shared GPU is measured by the node measurer.
The node measurer also polls every GPU it sees, so a GPU whose rank has
ended is measured on. Every run records its job, node and rank, so each
interval says who measured it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import struct
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wattprint.attribution import CPU_KINDS
from wattprint.records import DeviceInfo

log = logging.getLogger(__name__)

__all__ = ["ENV_JOB", "ENV_LOCK_DIR", "ENV_NODE", "ENV_PARENT_RUN", "Election", "Launch",
           "detect_launch", "gpu_candidates", "lock_dir", "node_name"]

#: the job id the user gives, or ``wattprint run`` exports to its command
ENV_JOB = "WATTPRINT_JOB"
#: the run of the ``wattprint run`` that started this process (set for its command)
ENV_PARENT_RUN = "WATTPRINT_PARENT_RUN"
#: this node's name, overriding the host name
ENV_NODE = "WATTPRINT_NODE"
#: where the node-local measurer locks live
ENV_LOCK_DIR = "WATTPRINT_LOCK_DIR"


@dataclass(frozen=True)
class Launch:
    """Who this process is in a distributed job.

    Attributes:
        job_id: the job's id, the same for all its ranks.
        launcher: what named the job (``user``, ``wattprint``, ``slurm``,
            ``torchelastic``, ``openmpi``, ``pmi``).
        node: the node's name.
        rank: the global rank (``None`` for a process that is no rank, such
            as ``wattprint run`` around a launcher).
        local_rank: the rank on this node.
        world_size: the number of ranks in the job.
        local_world_size: the number of ranks on this node.
        node_rank: the node's index in the job.
        parent_run: the run of the ``wattprint run`` that started this process.
    """

    job_id: str
    launcher: str
    node: str
    rank: int | None = None
    local_rank: int | None = None
    world_size: int | None = None
    local_world_size: int | None = None
    node_rank: int | None = None
    parent_run: str | None = None


def _int(environ: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value.lstrip("-").isdigit():
            return int(value)
    return None


def node_name(environ: Mapping[str, str] | None = None) -> str:
    """This node's name: ``WATTPRINT_NODE``, else ``SLURMD_NODENAME``, else the host name."""
    env = os.environ if environ is None else environ
    return (env.get(ENV_NODE) or env.get("SLURMD_NODENAME") or os.uname().nodename).strip()


def _process_identity(pid: int) -> str:
    """``<pid>.<start time in clock ticks>``: a process, even after its pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return f"{pid}.{fields[19]}"
    except (OSError, IndexError):
        return str(pid)


def _slurm_job(env: Mapping[str, str]) -> str | None:
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    if not job:
        return None
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    step = env.get("SLURM_STEP_ID") or env.get("SLURM_STEPID")
    return f"slurm:{job}.{step}" if step else f"slurm:{job}"


def _torch_job(env: Mapping[str, str], node: str) -> str | None:
    if "TORCHELASTIC_RUN_ID" not in env and not ("RANK" in env and "LOCAL_RANK" in env):
        return None
    run_id = env.get("TORCHELASTIC_RUN_ID", "none")
    if run_id and run_id != "none":
        return f"torchelastic:{run_id}"
    world, local = _int(env, "WORLD_SIZE"), _int(env, "LOCAL_WORLD_SIZE")
    if world is not None and local is not None and world == local:
        return f"torchelastic:{node}:{_process_identity(os.getppid())}"
    return f"torchelastic:none@{env.get('MASTER_ADDR', '?')}:{env.get('MASTER_PORT', '?')}"


def _mpi_job(env: Mapping[str, str], node: str) -> tuple[str, str] | None:
    ompi = "OMPI_COMM_WORLD_RANK" in env
    if not ompi and "PMI_RANK" not in env and "PMIX_RANK" not in env:
        return None
    if not ompi and env.get("OMPI_MCA_ess") == "singleton":
        # MPI_Init without mpirun (a library importing mpi4py.MPI, say) puts PMIX_RANK=0
        # and its namespace into the C environment, which every later child inherits:
        # they are no ranks of a job, and taking them for rank 0 of one would let only
        # one of them measure
        return None
    launcher = "openmpi" if ompi else "pmi"
    if env.get("PMIX_NAMESPACE"):
        hnp = env.get("OMPI_MCA_orte_hnp_uri", "")
        # Open MPI 4's namespace is a number derived from mpirun's pid: add mpirun's address
        where = hnp.split(";", 1)[1] if ";" in hnp else ""
        return f"mpi:{env['PMIX_NAMESPACE']}" + (f"@{where}" if where else ""), launcher
    if env.get("OMPI_MCA_orte_hnp_uri"):
        return f"mpi:{env['OMPI_MCA_orte_hnp_uri']}", launcher
    return f"mpi:{node}:{_process_identity(os.getppid())}", launcher


def detect_launch(environ: Mapping[str, str] | None = None, *,
                  job: str | None = None) -> Launch | None:
    """The job and rank of this process, from ``job`` and the launchers' variables.

    Args:
        environ: the environment (default ``os.environ``).
        job: a job id the user gave (``track(job=...)``, ``--job``); wins.

    Returns:
        The launch, or ``None`` when no launcher variable is set and no job
        was given (a plain run).
    """
    env = os.environ if environ is None else environ
    node = node_name(env)
    torch_job = _torch_job(env, node)
    mpi = _mpi_job(env, node)
    slurm = _slurm_job(env)
    in_step = slurm is not None and "SLURM_PROCID" in env
    jobs: list[tuple[str | None, str]] = [
        (job, "user"), (env.get(ENV_JOB) or None, "wattprint"),
        (slurm, "slurm"),
        (torch_job, "torchelastic"), (mpi[0] if mpi else None, mpi[1] if mpi else "mpi"),
    ]
    job_id, launcher = next(((j, how) for j, how in jobs if j), (None, ""))
    if job_id is None:
        return None
    if launcher == "wattprint" and job_id.startswith("run:") and not (torch_job or mpi or slurm):
        return None  # a plain command under `wattprint run`: no rank of a job, a run as ever
    if launcher == "wattprint" and env.get(ENV_JOB, "").startswith(("slurm:", "torchelastic:")):
        launcher = env[ENV_JOB].split(":", 1)[0]
    rank = _int(env, "RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                *(("SLURM_PROCID",) if in_step else ()))
    local_rank = _int(env, "LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                      *(("SLURM_LOCALID",) if in_step else ()))
    world = _int(env, "WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                 *(("SLURM_NTASKS",) if in_step else ()))
    local_world = _int(env, "LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                       *(("SLURM_NTASKS_PER_NODE",) if in_step else ()))
    node_rank = _int(env, "GROUP_RANK", "SLURM_NODEID")
    return Launch(job_id=job_id, launcher=launcher, node=node, rank=rank, local_rank=local_rank,
                  world_size=world, local_world_size=local_world, node_rank=node_rank,
                  parent_run=env.get(ENV_PARENT_RUN) or None)


def lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The node-local directory of measurer locks (``WATTPRINT_LOCK_DIR`` or the temp dir)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_LOCK_DIR):
        return Path(env[ENV_LOCK_DIR])
    return Path(tempfile.gettempdir()) / f"wattprint-{os.getuid()}" / "locks"


def _safe(text: str) -> str:
    """A file-name-safe form of ``text`` that stays unique (a hash of the original)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]
    return f"{clean}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


_STAMP = struct.Struct("<d")


class _Lock:
    """One node-local exclusive ``flock``; its holder stamps its last tick into the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def try_take(self) -> bool:
        if self.fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.debug("cannot open the measurer lock %s: %s", self.path, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def stamp(self) -> float | None:
        """The monotonic time the previous holder last measured up to, if it wrote one."""
        if self.fd is None:
            return None
        with contextlib.suppress(OSError):
            data = os.pread(self.fd, _STAMP.size, 0)
            if len(data) == _STAMP.size:
                return float(_STAMP.unpack(data)[0])
        return None

    def mark(self, t_mono: float) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.pwrite(self.fd, _STAMP.pack(t_mono), 0)

    def release(self, unlink: bool = False) -> None:
        if self.fd is None:
            return
        if unlink:
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self.fd)  # closing releases the flock
        self.fd = None


def gpu_candidates(gpus: Sequence[str], launch: Launch) -> list[str]:
    """The GPUs (ids, in visible order) a rank claims as its own.

    Every visible GPU, unless the node's ranks all see the same GPUs and
    their number is a multiple of the ranks on the node: then the block that
    ``LOCAL_RANK`` maps to.
    """
    n, r = launch.local_world_size, launch.local_rank
    if n is None or r is None or n <= 0 or not 0 <= r < n or len(gpus) < n or len(gpus) % n:
        return list(gpus)
    per = len(gpus) // n
    return list(gpus[r * per:(r + 1) * per])


@dataclass
class Election:
    """Which of this process's devices it measures now, by node-local locks.

    The sampler calls :meth:`claim` at every tick and :meth:`mark` after
    storing the tick's intervals; :meth:`release` at the end lets another
    rank take over.

    Args:
        launch: this process's job and rank.
        devices: every device this process's sensors see.
        directory: the lock directory (default :func:`lock_dir`).
        unlink: remove the lock files on release (only for a job no other
            process can still join: ``wattprint run``'s own).
    """

    launch: Launch
    devices: Collection[DeviceInfo]
    directory: Path | None = None
    unlink: bool = False
    _node: _Lock = field(init=False)
    _gpus: dict[str, _Lock] = field(init=False)
    _own: frozenset[str] = field(init=False)
    _node_ids: frozenset[str] = field(init=False)
    _shared: bool = field(init=False)
    _ticks: int = field(init=False, default=0)
    _held: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        where = self.directory or lock_dir()
        try:
            where.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            log.warning("cannot create the measurer lock directory %s (%s); set %s",
                        where, exc, ENV_LOCK_DIR)
        base = _safe(f"{self.launch.job_id}@{self.launch.node}")
        self._node = _Lock(where / f"{base}.node.lock")
        self._node_ids = frozenset(d.id for d in self.devices if d.kind in CPU_KINDS)
        gpus = [d for d in self.devices if d.kind not in CPU_KINDS]
        self._gpus = {d.id: _Lock(where / f"{base}.gpu-{_safe(_gpu_key(d))}.lock")
                      for d in gpus}
        self._own = frozenset(gpu_candidates([d.id for d in gpus], self.launch))
        n = self.launch.local_world_size
        self._shared = n is not None and len(gpus) < n

    @property
    def node_measurer(self) -> bool:
        """Whether this process holds the node lock now."""
        return self._node.fd is not None

    @property
    def held(self) -> frozenset[str]:
        """The devices this process measured at its last tick."""
        return self._held

    def claim(self) -> frozenset[str]:
        """Try the locks not held yet; the devices this process measures from this tick on."""
        first = self._ticks == 0
        self._ticks += 1
        held: set[str] = set()
        if self._node.try_take():
            held |= self._node_ids
        for device_id, lock in self._gpus.items():
            if lock.fd is None:
                wanted = self.node_measurer or (
                    device_id in self._own and not (self._shared and first))
                if not wanted or not lock.try_take():
                    continue
            held.add(device_id)
        self._held = frozenset(held)
        return self._held

    def handover_t(self, device_id: str) -> float | None:
        """The monotonic time the device's previous measurer measured it up to, if any."""
        lock = self._node if device_id in self._node_ids else self._gpus.get(device_id)
        return None if lock is None else lock.stamp()

    def mark(self, t_mono: float) -> None:
        """Record in every held lock that this process measured up to ``t_mono``."""
        self._node.mark(t_mono)
        for lock in self._gpus.values():
            lock.mark(t_mono)

    def release(self) -> None:
        """Release every lock (another rank takes over at its next tick)."""
        self._node.release(self.unlink)
        for lock in self._gpus.values():
            lock.release(self.unlink)
        self._held = frozenset()


def _gpu_key(device: DeviceInfo) -> str:
    """What names a GPU across processes: its UUID (MIG included), else its id."""
    for key in ("mig_uuid", "uuid"):
        value = device.extra.get(key)
        if isinstance(value, str) and value:
            return value
    return device.id
