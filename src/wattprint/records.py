"""The records that flow between the layers: devices, energy intervals, gaps and runs.

A sensor names each device it reads with a :class:`DeviceInfo`; the sampler
turns its readings into :class:`IntervalRecord` rows (the energy of one device
over one sampling interval, whole and attributed to the tracked processes)
and :class:`Gap` spans (where a device could not be read, with the reason);
the store keeps them, with each device as a :class:`DeviceRecord` and the run
itself as a :class:`RunRecord`; accounting and reports read them back.

These are plain data with no behaviour beyond a derived property, so every
layer can share them without importing another layer's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Share rules: how the attributed part of a device's energy was found in one
#: interval (the method behind each is in :mod:`wattprint.attribution`). A
#: device has one intended rule; the rule actually applied can differ from
#: interval to interval (a fallback), and both are recorded.
CPU_TIME_SHARE = "cpu-time-share"
#: the CPU-time share could not be measured (the first half second, unreadable
#: counters): the device is charged whole
CPU_TIME_SHARE_UNKNOWN = "cpu-time-share-unknown"
#: the tracked pids' share of the GPU's SM-utilisation samples
NVML_PROCESS = "nvml-process-utilization"
#: the tracked pids' share of the GPU memory in use (no utilisation samples)
NVML_PROCESS_MEMORY = "nvml-process-memory"
#: the share of a MIG GPU's compute slices held by the tracked processes
MIG_SLICE_SHARE = "mig-slice-share"
#: the device is charged whole
WHOLE_DEVICE = "whole-device"
#: charged whole because the driver's processes live in another pid namespace
#: (a container seeing host pids), so the tracked pids cannot be matched
WHOLE_DEVICE_FOREIGN_PIDS = "whole-device-foreign-pids"
SHARE_RULES = (CPU_TIME_SHARE, CPU_TIME_SHARE_UNKNOWN, NVML_PROCESS, NVML_PROCESS_MEMORY,
               MIG_SLICE_SHARE, WHOLE_DEVICE, WHOLE_DEVICE_FOREIGN_PIDS)
#: key of the run info holding the rules applied: device id -> rule ->
#: ``{"intervals": n, "seconds": s}``
RUN_INFO_SHARE_RULES = "share_rules"

#: Device kinds. ``cpu`` is a CPU package (or the whole CPU for a model),
#: ``dram`` memory measured by RAPL, ``ram`` memory from a model, ``gpu`` an
#: accelerator (or a MIG instance), ``psys`` the RAPL platform domain, ``node``
#: whole-node power (IPMI/BMC).
DEVICE_KINDS = ("cpu", "dram", "ram", "gpu", "psys", "node")
#: sources of ``node`` devices that hold the whole node, components included (a BMC
#: read over IPMI or Redfish): shown beside the other devices, never added to them
NODE_POWER_SOURCES = frozenset({"ipmi", "redfish"})


def is_node_power(kind: str | None, source: str | None) -> bool:
    """Whether a device is a BMC's whole-node power, which contains the other devices."""
    return kind == "node" and source in NODE_POWER_SOURCES


@dataclass(frozen=True)
class DeviceInfo:
    """Identity of one device a sensor reports on.

    Attributes:
        id: stable id within the machine, ``"<source>:<local id>"``, e.g.
            ``"rapl:package-0"``, ``"nvml:GPU-5f2c..."``, ``"model:cpu"``.
        kind: one of :data:`DEVICE_KINDS`.
        name: human-readable name (``"Intel Xeon Gold 6338 (package 0)"``).
        source: the sensor that reads it (``"rapl"``, ``"nvml"``, ``"amdsmi"``,
            ``"model"``).
        measured: ``True`` for a hardware counter or power meter, ``False``
            for a power model (then :attr:`model` names the model).
        counter: ``True`` if readings are cumulative joules, ``False`` if watts.
        max_energy_j: wrap range of the counter in joules (RAPL
            ``max_energy_range_uj``); ``None`` if unknown, in which case a
            decreasing counter drops the interval instead of guessing.
        model: for estimated devices, the power model and its parameters in
            words (``"CCF coefficients: Cascade Lake 0.64-3.97 W/vCPU x 2 vCPU"``).
        extra: free-form details (``{"mig": "1g.10gb", "uuid": ...}``).
    """

    id: str
    kind: str
    name: str
    source: str
    measured: bool
    counter: bool
    max_energy_j: float | None = None
    model: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Gap:
    """A span where one device could not be read (times are UTC epoch seconds).

    Attributes:
        device_id: the device.
        t_start: when it was first not read.
        t_end: when it was read again (or the run ended).
        reason: why, in words (``"read failed"``, ``"invalid reading nan"``...).
    """

    device_id: str
    t_start: float
    t_end: float
    reason: str


@dataclass(frozen=True)
class DeviceRecord:
    """A device as stored for one run."""

    device_id: str
    kind: str
    name: str
    source: str
    measured: bool
    counter: bool
    model: str | None
    #: the device's intended share rule (the rules actually applied, fallbacks
    #: included, are counted in the run's info under :data:`RUN_INFO_SHARE_RULES`)
    share_rule: str
    extra: dict[str, Any] = field(default_factory=dict)


class IntervalRecord(NamedTuple):
    """One device's energy over one sampling interval (times are UTC epoch seconds).

    A named tuple rather than a dataclass: one is made per device per tick,
    up to 100 times a second, and tuples are several times cheaper to build.
    """

    device_id: str
    t_start: float
    t_end: float
    energy_j: float
    attributed_j: float
    paused: bool = False


@dataclass(frozen=True)
class RunRecord:
    """A stored run's header row."""

    id: str
    project: str
    name: str | None
    phase: str
    status: str
    started_at: float
    ended_at: float | None
    exit_code: int | None
    attribution: str
    interval_s: float
    command: str | None
    host: str
    pid: int
    region: str | None
    tool: str
    error: str | None
    info: dict[str, Any]

    @property
    def duration_s(self) -> float | None:
        """Wall-clock duration, or ``None`` while running without an end."""
        return None if self.ended_at is None else self.ended_at - self.started_at
