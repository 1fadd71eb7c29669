"""The outside world a sensor reads, injected so tests and containers can move it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SensorContext:
    """Where sensors look, and what the user chose.

    Attributes:
        sysfs_root: root of sysfs (``WATTPRINT_SYSFS_ROOT``, default ``/sys``);
            a container with the host's /sys mounted elsewhere points it there.
        proc_root: root of procfs, for cgroup membership (default ``/proc``).
        environ: environment used for ``CUDA_VISIBLE_DEVICES`` and friends.
        rapl_mode: ``"package"`` (package + dram per socket, the default) or
            ``"psys"`` (the platform domain alone, instead of the others).
        nvml: an object with pynvml's interface; ``None`` imports ``pynvml``
            lazily when the NVML sensor opens. Tests pass
            :class:`wattprint.testing.FakeNVML`.
        amdsmi: likewise for ``amdsmi``.
        cpu_model: override of the CPU model name used by the power model.
        node_power: how to read the node's power from its BMC
            (:class:`wattprint.sensors.node_power.NodePowerOptions`); ``None``: off.
    """

    sysfs_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    rapl_mode: str = "package"
    nvml: Any = None
    amdsmi: Any = None
    cpu_model: str | None = None
    node_power: Any = None
