"""What a run ran on and with: hardware, software, and the user's code version.

Collected once at run start (never per sample) for the reproducibility
appendix: CPU model and counts, memory, GPU names (from the sensors), OS and
Python, versions of key ML frameworks (read from installed package metadata,
without importing them), the wattprint version, and the git commit of the
working directory when it is inside a repository.

It is also the one reader of ``/proc/cpuinfo``'s identity fields
(:func:`read_cpuinfo`: model name, CPUID family/model/stepping, Arm part,
sockets, threads per package), which the CPU power model and the hardware
catalogue use to recognise a CPU.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: packages whose versions matter for reproducing an ML run
KEY_PACKAGES = ("torch", "tensorflow", "jax", "transformers", "lightning", "pytorch-lightning",
                "numpy", "scikit-learn", "optuna", "flwr", "accelerate", "deepspeed",
                "nvidia-ml-py", "wattprint")

#: Arm Ltd (implementer 0x41) ``CPU part`` numbers of server cores -> core name.
ARM_CORES = {0xD0C: "Neoverse-N1", 0xD40: "Neoverse-V1", 0xD4F: "Neoverse-V2"}


def cpu_model(proc_root: Path = Path("/proc")) -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in (proc_root / "cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the CPU (the first processor's fields).

    Attributes:
        model_name: ``model name`` (x86), or ``Arm <core>`` built from the Arm
            ``CPU part``; ``None`` if absent.
        vendor: ``vendor_id`` (``GenuineIntel``, ``AuthenticAMD``) or ``None``.
        family: CPUID ``cpu family``.
        model: CPUID ``model``.
        stepping: CPUID ``stepping``.
        arm_part: Arm ``CPU part`` (e.g. ``0xd0c``) where the implementer is Arm Ltd.
        sockets: distinct ``physical id`` values (1 when absent).
        siblings: logical CPUs per package (``siblings``).
        cores_per_package: ``cpu cores``.
    """

    model_name: str | None = None
    vendor: str | None = None
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    arm_part: int | None = None
    sockets: int = 1
    siblings: int | None = None
    cores_per_package: int | None = None


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def read_cpuinfo(proc_root: Path) -> CpuInfo:
    """Parse ``<proc_root>/cpuinfo``; missing fields stay ``None``.

    Args:
        proc_root: root of procfs.

    Returns:
        The fields of the first processor and the number of sockets; an
        empty :class:`CpuInfo` if the file cannot be read.
    """
    try:
        text = (proc_root / "cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo()
    first: dict[str, str] = {}
    sockets: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "physical id":
            sockets.add(value)
        first.setdefault(key, value)
    arm_part: int | None = None
    model_name = first.get("model name")
    if first.get("cpu implementer", "").lower() == "0x41":
        arm_part = _int(first.get("cpu part"), 16)
        if arm_part in ARM_CORES:
            model_name = f"Arm {ARM_CORES[arm_part]}"
    return CpuInfo(
        model_name=model_name,
        vendor=first.get("vendor_id"),
        family=_int(first.get("cpu family")),
        model=_int(first.get("model")),
        stepping=_int(first.get("stepping")),
        arm_part=arm_part,
        sockets=max(1, len(sockets)),
        siblings=_int(first.get("siblings")),
        cores_per_package=_int(first.get("cpu cores")),
    )


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (absent packages left out).

    Read from the ``<name>-<version>.dist-info`` folder names on ``sys.path``
    (a directory listing or two, not an import of :mod:`importlib.metadata`,
    which costs more than the whole tracker start).
    """
    wanted = {_norm(n): n for n in names}
    out: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            if not item.endswith(".dist-info"):
                continue
            stem = item[: -len(".dist-info")]
            dist, _, version = stem.rpartition("-")
            key = _norm(dist)
            if key in wanted and wanted[key] not in out:
                out[wanted[key]] = version
    return {n: out[n] for n in names if n in out}


def _git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = candidate.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                return (directory / text.split(":", 1)[1].strip()).resolve()
    return None


def head_commit(cwd: Path | None = None) -> str | None:
    """The commit ``HEAD`` of the repository holding ``cwd`` points at, read from its files."""
    git = _git_dir((cwd or Path.cwd()).resolve())
    if git is None:
        return None
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip()
        for base in (git, common):
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
    except OSError:
        return None
    return None


def git_commit(cwd: Path | None = None, *, check_dirty: bool = True) -> dict[str, Any] | None:
    """The git commit (and whether the tree is dirty) of ``cwd``, if it is a repository."""
    commit = head_commit(cwd)
    if commit is None:
        return None
    out: dict[str, Any] = {"commit": commit, "dirty": None}
    if check_dirty:
        import subprocess

        try:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                   cwd=cwd or Path.cwd(), capture_output=True, text=True,
                                   timeout=5, check=False)
            if dirty.returncode == 0:
                out["dirty"] = bool(dirty.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return out


def physical_cores(proc_root: Path = Path("/proc")) -> int | None:
    """Physical cores: distinct (physical id, core id) pairs of /proc/cpuinfo."""
    try:
        text = (proc_root / "cpuinfo").read_text()
    except OSError:
        return None
    cores = set()
    package = core = ""
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip() and core:
            cores.add((package, core))
            package = core = ""
    return len(cores) or None


def memory_gb() -> float | None:
    """Installed memory in GB."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def collect(gpu_names: list[str] | None = None) -> dict[str, Any]:
    """Host and software facts for a run's record (cheap: no subprocess, no psutil).

    ``instance_type`` is the cloud instance type (:func:`wattprint.cloudmeta.instance_type`):
    ``WATTPRINT_INSTANCE_TYPE``, else the cloud's metadata service when
    ``WATTPRINT_CLOUD_METADATA`` is on (a short network call; the tracker
    collects these facts in a background thread).
    """
    return {
        "cpu_model": cpu_model(),
        "cpu_logical": os.cpu_count(),
        "cpu_physical": physical_cores(),
        "memory_gb": memory_gb(),
        "gpus": gpu_names or [],
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "packages": package_versions(),
        # the commit only (read from .git's files): `git status` for a dirty flag
        # can cost seconds of CPU in a large repository, on every tracked run
        "git": git_commit(check_dirty=False),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        # embodied carbon by instance type; the metadata services only when asked
        "instance_type": _instance_type(),
    }


def _instance_type() -> str | None:
    # loaded here: the metadata client is needed only while the run's host is described
    from wattprint import cloudmeta

    return cloudmeta.instance_type()
