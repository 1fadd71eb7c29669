"""A stand-in for ``ipmitool`` at the hardware edge: prints outputs recorded from real BMCs.

Installed on ``PATH`` as ``ipmitool`` by :func:`install`. Its behaviour comes
from the folder named by ``FAKE_IPMITOOL_DIR``:

* ``outputs``: paths of recorded outputs, one a line, printed in turn (the
  last one repeats);
* ``sleep_s``: seconds to wait before answering (a slow BMC);
* ``fail``: a message printed on stderr with exit code 1 (a failing BMC);
* ``argv.log``: each call's arguments and whether ``IPMI_PASSWORD`` was set
  are appended here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    """Answer one ``ipmitool`` call."""
    state = Path(os.environ["FAKE_IPMITOOL_DIR"])
    with (state / "argv.log").open("a") as log:
        log.write(json.dumps({"argv": sys.argv[1:],
                              "password_env": "IPMI_PASSWORD" in os.environ}) + "\n")
    sleep = state / "sleep_s"
    if sleep.exists():
        time.sleep(float(sleep.read_text()))
    fail = state / "fail"
    if fail.exists():
        sys.stderr.write(fail.read_text())
        return 1
    outputs = (state / "outputs").read_text().split()
    counter = state / "calls"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    sys.stdout.write(Path(outputs[min(n, len(outputs) - 1)]).read_text())
    return 0


def install(bin_dir: Path, state: Path) -> Path:
    """Write an ``ipmitool`` executable into ``bin_dir`` that runs this module."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "ipmitool"
    exe.write_text(f"#!{sys.executable}\nimport runpy\n"
                   f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')\n")
    exe.chmod(0o755)
    return exe


if __name__ == "__main__":
    sys.exit(main())
