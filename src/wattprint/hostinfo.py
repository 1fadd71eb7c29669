"""What a run ran on and with: hardware, software, and the user's code version.

Collected once at run start (never per sample) for the reproducibility
appendix: CPU model and counts, memory, GPU names (from the sensors), OS and
Python, versions of key ML frameworks (read from installed package metadata,
without importing them), the wattprint version, and the git commit of the
working directory when it is inside a repository.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

#: packages whose versions matter for reproducing an ML run
KEY_PACKAGES = ("torch", "tensorflow", "jax", "transformers", "lightning", "pytorch-lightning",
                "numpy", "scikit-learn", "optuna", "flwr", "accelerate", "deepspeed",
                "nvidia-ml-py", "wattprint")


def cpu_model(proc_root: Path = Path("/proc")) -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in (proc_root / "cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (absent packages left out)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(cwd: Path | None = None) -> dict[str, Any] | None:
    """The git commit (and whether the tree is dirty) of ``cwd``, if it is a repository."""
    where = cwd or Path.cwd()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                              text=True, timeout=2, check=False)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=2,
                               check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def collect(gpu_names: list[str] | None = None) -> dict[str, Any]:
    """Host and software facts for a run's record."""
    try:
        mem_gb = psutil.virtual_memory().total / 1e9
    except (psutil.Error, OSError):
        mem_gb = None
    return {
        "cpu_model": cpu_model(),
        "cpu_logical": psutil.cpu_count(logical=True),
        "cpu_physical": psutil.cpu_count(logical=False),
        "memory_gb": mem_gb,
        "gpus": gpu_names or [],
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "git": git_commit(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
