"""Run the wattprint CLI as a user would (a subprocess), with a clean home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["WATTPRINT_HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    for var in ("WATTPRINT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "GOOGLE_CLOUD_REGION",
                "CLOUDSDK_COMPUTE_REGION", "CLOUD_ML_REGION", "FUNCTION_REGION", "REGION_NAME"):
        env.pop(var, None)
    return env


def wattprint(*args: str, tmp_path: Path, timeout: float = 180
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=cli_env(tmp_path),
                          text=True, capture_output=True, timeout=timeout, cwd=tmp_path)
