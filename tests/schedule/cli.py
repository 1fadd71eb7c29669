"""Running the schedule commands as a user does, in a new process."""

from __future__ import annotations

import subprocess
import sys

# Imports the command module explicitly, so the tests hold before and after it is
# registered in wattprint.cli (then it is the same as `python -m wattprint`).
BOOT = "import wattprint.cli.schedule, wattprint.cli as c; c.main()"


def wattprint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``wattprint ARGS`` in a new process with ``env``."""
    return subprocess.run([sys.executable, "-c", BOOT, *args], env=env, text=True,
                          capture_output=True, timeout=120)
