"""Deterministic fakes of the hardware wattprint reads, for your tests too.

* :class:`PowercapTree` — a fake Linux powercap (RAPL) tree on disk; point
  ``WATTPRINT_SYSFS_ROOT`` (or ``SensorContext(sysfs_root=...)``) at it.
* :class:`FakeNVML` — pynvml's interface with scripted GPUs, MIG instances,
  per-process utilisation and injected errors; pass ``SensorContext(nvml=...)``.
* :class:`FakeAMDSMI` — the same for amdsmi.
* :class:`ScriptedSensor` and :class:`FakeClock` — a sensor replaying scripted
  joules or watts, and a manual clock, for driving the sampler step by step.
"""

from __future__ import annotations

from wattprint.testing.fake_amdsmi import FakeAMDGPU, FakeAMDSMI
from wattprint.testing.fake_nvml import FakeGPU, FakeMigInstance, FakeNVML, FakeProcess
from wattprint.testing.powercap import PowercapTree, without_read_privileges
from wattprint.testing.sensors import FakeClock, ScriptedSensor

__all__ = [
    "FakeAMDGPU",
    "FakeAMDSMI",
    "FakeClock",
    "FakeGPU",
    "FakeMigInstance",
    "FakeNVML",
    "FakeProcess",
    "PowercapTree",
    "ScriptedSensor",
    "without_read_privileges",
]
