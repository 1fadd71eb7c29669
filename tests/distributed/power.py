"""A fake node drawing a constant power: a powercap tree whose package counter runs with time."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from wattprint.testing.powercap import PowercapTree


class ConstantPower:
    """Advances a fake package counter at ``power_w`` from a thread (DRAM stays at 0 W).

    The counter is written in place at a fixed width, so a reader never sees
    a half-written number.
    """

    def __init__(self, root: Path, power_w: float, period_s: float = 0.005) -> None:
        self.tree = PowercapTree(root)
        self.tree.add_package(0, energy_uj=0)
        self.tree.add_dram(0, energy_uj=0)
        self.power_w = power_w
        self.period_s = period_s
        self._path = self.tree.zone_dir("intel-rapl:0") / "energy_uj"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        fd = os.open(self._path, os.O_WRONLY)
        t0 = time.monotonic()
        try:
            while not self._stop.wait(self.period_s):
                uj = int(self.power_w * 1e6 * (time.monotonic() - t0))
                os.pwrite(fd, f"{uj:020d}\n".encode(), 0)
        finally:
            os.close(fd)

    def __enter__(self) -> ConstantPower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def node_env(home: Path, power: ConstantPower, lock_dir: Path,
             node: str | None = None) -> dict[str, str]:
    """The environment of one simulated node: its own powercap tree and node name."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "OMPI_", "PMI", "WATTPRINT_"))
           and k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
                         "CUDA_VISIBLE_DEVICES", "TORCHELASTIC_RUN_ID")}
    env.update({"WATTPRINT_HOME": str(home), "WATTPRINT_SYSFS_ROOT": str(power.tree.sysfs_root),
                "WATTPRINT_SENSORS": "rapl", "WATTPRINT_LOCK_DIR": str(lock_dir),
                "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parents[2] / "src"),
                                                          os.environ.get("PYTHONPATH")) if p)})
    if node is not None:
        env["WATTPRINT_NODE"] = node
    return env
