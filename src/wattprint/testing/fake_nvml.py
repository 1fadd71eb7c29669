"""A deterministic stand-in for ``pynvml``, for tests without an NVIDIA GPU.

:class:`FakeNVML` has the names of the ``pynvml`` functions, constants and
error classes that wattprint (and most energy tools) use, and answers them
from a scripted description of the machine: a list of :class:`FakeGPU`, each
with its energy counter and power readings given as a list of values (one per
read) or a function of the read number, optional MIG instances
(:class:`FakeMigInstance`) and processes (:class:`FakeProcess`), and errors
to raise on chosen reads. Pass it where ``pynvml`` would go::

    from wattprint.sensors.context import SensorContext
    from wattprint.testing.fake_nvml import FakeGPU, FakeNVML

    nvml = FakeNVML([FakeGPU(energy_mj=[0, 50_000, 120_000])])
    ctx = SensorContext(nvml=nvml, environ={})

What it mirrors from the real library:

* **Errors.** ``NVMLError(code)`` returns the subclass for that code
  (``NVMLError(3)`` is an ``NVMLError_NotSupported``) carrying ``.value``,
  with pynvml's numbering (``NVML_ERROR_NOT_SUPPORTED = 3``,
  ``NVML_ERROR_GPU_IS_LOST = 15``...) and messages.
* **Life cycle.** Calls before :meth:`FakeNVML.nvmlInit` raise
  ``NVMLError_Uninitialized``; init and shutdown are reference counted.
* **Counters.** ``nvmlDeviceGetTotalEnergyConsumption`` returns millijoules
  since "driver load" and raises ``NVMLError_NotSupported`` on a GPU with
  ``supports_energy=False`` (pre-Volta); ``nvmlDeviceGetPowerUsage`` returns
  milliwatts.
* **MIG.** A GPU with MIG instances reports MIG mode enabled, exposes up to
  seven MIG device handles with their own UUIDs, names (``"<gpu> MIG
  1g.10gb"``), GPU/compute instance ids and slice counts
  (``nvmlDeviceGetAttributes``); MIG handles have no energy counter, and the
  parent has no per-process utilisation in MIG mode, as on real hardware.
* **Processes.** The driver samples per-process utilisation at its own
  pace, not when asked: every ``sample_period_us`` microseconds (1 s by
  default; real GPUs sample every 1/6 s to 1 s) on the fake's ``clock``,
  the first sample stamped ``sample_period_us`` at creation ("driver
  load"). ``nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp)``
  returns one sample per process with an SM utilisation for every sample
  time after ``lastSeenTimeStamp`` (timestamps in microseconds; at most the
  last :data:`SAMPLE_BUFFER` sample times, as the driver keeps a ring
  buffer), and raises ``NVMLError_NotFound`` when the driver has taken no
  sample since, as NVML does: callers faster than the driver see no fresh
  samples between two periods. ``nvmlDeviceGetComputeRunningProcesses``
  returns pid and used memory.

How reads are counted: every call of ``nvmlDeviceGetTotalEnergyConsumption``
or ``nvmlDeviceGetPowerUsage`` on a GPU is one *read* of that GPU, numbered
from 0 — including the one :func:`wattprint.sensors.nvml.open_sensor` makes
to check that the counter works. Read *k* returns ``energy_mj[k]`` (or
``power_mw[k]``), unless ``errors`` maps *k* to an error code, or the GPU is
lost from ``lost_from`` on, in which case that read raises instead. A list
too short for the reads made raises :class:`IndexError`, so a test that reads
more than it scripted fails loudly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

# --- error codes, with pynvml's numbering -------------------------------------------------

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_UNKNOWN = 999

NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1

#: GPU-instance profiles, with pynvml's numbering, and the slices each spans.
NVML_GPU_INSTANCE_PROFILE_1_SLICE = 0
NVML_GPU_INSTANCE_PROFILE_2_SLICE = 1
NVML_GPU_INSTANCE_PROFILE_3_SLICE = 2
NVML_GPU_INSTANCE_PROFILE_4_SLICE = 3
NVML_GPU_INSTANCE_PROFILE_7_SLICE = 4
NVML_GPU_INSTANCE_PROFILE_8_SLICE = 5
NVML_GPU_INSTANCE_PROFILE_6_SLICE = 6
NVML_GPU_INSTANCE_PROFILE_COUNT = 7
_PROFILE_SLICES = {0: 1, 1: 2, 2: 3, 3: 4, 4: 7, 5: 8, 6: 6}

#: How many MIG device slots NVML reports on A100/H100 class GPUs.
MAX_MIG_DEVICES = 7

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_ALREADY_INITIALIZED: "Already Initialized",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_INSUFFICIENT_SIZE: "Insufficient Size",
    NVML_ERROR_INSUFFICIENT_POWER: "Insufficient External Power",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_IRQ_ISSUE: "Interrupt Request Issue",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_CORRUPTED_INFOROM: "Corrupted infoROM",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_RESET_REQUIRED: "GPU requires restart",
    NVML_ERROR_OPERATING_SYSTEM: "The operating system has blocked the request.",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
    NVML_ERROR_IN_USE: "In use by another client",
    NVML_ERROR_MEMORY: "Insufficient Memory",
    NVML_ERROR_NO_DATA: "No data",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Base of the fake NVML errors; ``NVMLError(code)`` builds the subclass for ``code``.

    Attributes:
        value: the NVML error code (``NVML_ERROR_*``).
    """

    _by_code: ClassVar[dict[int, type[NVMLError]]] = {}
    code: ClassVar[int | None] = None
    value: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code is not None:
            NVMLError._by_code[cls.code] = cls

    def __new__(cls, value: int | None = None) -> NVMLError:
        """Build the subclass registered for ``value``, as pynvml does."""
        if cls.code is not None:
            value = cls.code
        elif value is not None:
            cls = NVMLError._by_code.get(value, cls)
        if value is None:
            raise TypeError("NVMLError needs an NVML error code")
        error = Exception.__new__(cls)
        error.value = value
        return error

    def __init__(self, value: int | None = None) -> None:
        super().__init__(self.value)

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


class NVMLError_Uninitialized(NVMLError):
    """NVML_ERROR_UNINITIALIZED: a call before ``nvmlInit``."""

    code = NVML_ERROR_UNINITIALIZED


class NVMLError_InvalidArgument(NVMLError):
    """NVML_ERROR_INVALID_ARGUMENT: a bad handle or index."""

    code = NVML_ERROR_INVALID_ARGUMENT


class NVMLError_NotSupported(NVMLError):
    """NVML_ERROR_NOT_SUPPORTED: the device cannot do this (e.g. energy before Volta)."""

    code = NVML_ERROR_NOT_SUPPORTED


class NVMLError_NoPermission(NVMLError):
    """NVML_ERROR_NO_PERMISSION: the user may not query this."""

    code = NVML_ERROR_NO_PERMISSION


class NVMLError_AlreadyInitialized(NVMLError):
    """NVML_ERROR_ALREADY_INITIALIZED."""

    code = NVML_ERROR_ALREADY_INITIALIZED


class NVMLError_NotFound(NVMLError):
    """NVML_ERROR_NOT_FOUND: no such object (an empty MIG slot, no samples)."""

    code = NVML_ERROR_NOT_FOUND


class NVMLError_InsufficientSize(NVMLError):
    """NVML_ERROR_INSUFFICIENT_SIZE."""

    code = NVML_ERROR_INSUFFICIENT_SIZE


class NVMLError_InsufficientPower(NVMLError):
    """NVML_ERROR_INSUFFICIENT_POWER: external power cables not connected."""

    code = NVML_ERROR_INSUFFICIENT_POWER


class NVMLError_DriverNotLoaded(NVMLError):
    """NVML_ERROR_DRIVER_NOT_LOADED: no NVIDIA kernel driver."""

    code = NVML_ERROR_DRIVER_NOT_LOADED


class NVMLError_Timeout(NVMLError):
    """NVML_ERROR_TIMEOUT."""

    code = NVML_ERROR_TIMEOUT


class NVMLError_IrqIssue(NVMLError):
    """NVML_ERROR_IRQ_ISSUE."""

    code = NVML_ERROR_IRQ_ISSUE


class NVMLError_LibraryNotFound(NVMLError):
    """NVML_ERROR_LIBRARY_NOT_FOUND: ``libnvidia-ml.so.1`` is missing."""

    code = NVML_ERROR_LIBRARY_NOT_FOUND


class NVMLError_FunctionNotFound(NVMLError):
    """NVML_ERROR_FUNCTION_NOT_FOUND: the driver is older than the binding."""

    code = NVML_ERROR_FUNCTION_NOT_FOUND


class NVMLError_CorruptedInforom(NVMLError):
    """NVML_ERROR_CORRUPTED_INFOROM."""

    code = NVML_ERROR_CORRUPTED_INFOROM


class NVMLError_GpuIsLost(NVMLError):
    """NVML_ERROR_GPU_IS_LOST: the GPU fell off the bus."""

    code = NVML_ERROR_GPU_IS_LOST


class NVMLError_ResetRequired(NVMLError):
    """NVML_ERROR_RESET_REQUIRED."""

    code = NVML_ERROR_RESET_REQUIRED


class NVMLError_OperatingSystem(NVMLError):
    """NVML_ERROR_OPERATING_SYSTEM."""

    code = NVML_ERROR_OPERATING_SYSTEM


class NVMLError_LibRmVersionMismatch(NVMLError):
    """NVML_ERROR_LIB_RM_VERSION_MISMATCH: library and kernel driver differ."""

    code = NVML_ERROR_LIB_RM_VERSION_MISMATCH


class NVMLError_InUse(NVMLError):
    """NVML_ERROR_IN_USE."""

    code = NVML_ERROR_IN_USE


class NVMLError_Memory(NVMLError):
    """NVML_ERROR_MEMORY."""

    code = NVML_ERROR_MEMORY


class NVMLError_NoData(NVMLError):
    """NVML_ERROR_NO_DATA."""

    code = NVML_ERROR_NO_DATA


class NVMLError_Unknown(NVMLError):
    """NVML_ERROR_UNKNOWN."""

    code = NVML_ERROR_UNKNOWN


# --- the scripted machine ------------------------------------------------------------------

#: A script of readings: one value per read, or a function of the read number.
Script = Sequence[int] | Callable[[int], int]


def _steady_energy_mj(read: int) -> int:
    """Default energy script: 100 J more at every read."""
    return 100_000 * read


def _steady_power_mw(read: int) -> int:
    """Default power script: a steady 100 W."""
    del read
    return 100_000


@dataclass(frozen=True)
class FakeProcess:
    """A process running on a fake GPU or MIG instance.

    Attributes:
        pid: process id as the driver reports it (host pid namespace).
        sm_util: SM utilisation percent in each utilisation sample; ``None``
            if the driver has no sample for it.
        used_memory_bytes: GPU memory it holds; ``None`` when the driver
            cannot tell (as on Windows WDDM).
    """

    pid: int
    sm_util: int | None = None
    used_memory_bytes: int | None = None


@dataclass(frozen=True)
class FakeMigInstance:
    """One MIG device (a compute instance inside a GPU instance).

    Attributes:
        uuid: its ``MIG-...`` UUID.
        profile: profile name as in the device name, ``"1g.10gb"``.
        slices: GPU slices of its GPU instance (``gpuInstanceSliceCount``).
        gpu_instance_id: id of its GPU instance on the parent GPU.
        compute_instance_id: id of the compute instance in the GPU instance.
        memory_mb: memory of the instance in MiB.
        processes: processes running on this instance.
    """

    uuid: str
    profile: str = "1g.10gb"
    slices: int = 1
    gpu_instance_id: int = 0
    compute_instance_id: int = 0
    memory_mb: int = 9_984
    processes: Sequence[FakeProcess] = ()


@dataclass(frozen=True)
class FakeGPU:
    """One scripted NVIDIA GPU.

    Attributes:
        name: what ``nvmlDeviceGetName`` returns.
        uuid: ``GPU-...`` UUID; empty gives ``GPU-00000000-...-<index>``.
        pci_bus_id: PCI bus id; empty gives ``00000000:<17+index>:00.0``.
        supports_energy: ``False`` makes the total-energy counter raise
            ``NVMLError_NotSupported`` (GPUs before Volta).
        energy_mj: total-energy counter in millijoules at each read.
        power_mw: power in milliwatts at each read.
        errors: read number → NVML error code that read raises instead.
        lost_from: from this read on every read raises
            ``NVMLError_GpuIsLost``; ``None`` never.
        mig_instances: MIG devices; MIG mode is enabled when there are any,
            unless ``mig_enabled`` says otherwise.
        mig_enabled: force MIG mode on (with no instances) or off.
        mig_total_slices: GPU slices of the whole GPU (7 on A100/H100, 4 on
            A30); profiles larger than this are not supported.
        processes: processes on the GPU when it is not in MIG mode.
        process_utilization: ``False`` makes
            ``nvmlDeviceGetProcessUtilization`` raise ``NVMLError_NotSupported``.
    """

    name: str = "NVIDIA A100-SXM4-40GB"
    uuid: str = ""
    pci_bus_id: str = ""
    supports_energy: bool = True
    energy_mj: Script = _steady_energy_mj
    power_mw: Script = _steady_power_mw
    errors: Mapping[int, int] = field(default_factory=dict)
    lost_from: int | None = None
    mig_instances: Sequence[FakeMigInstance] = ()
    mig_enabled: bool | None = None
    mig_total_slices: int = 7
    processes: Sequence[FakeProcess] = ()
    process_utilization: bool = True

    @property
    def mig_mode(self) -> bool:
        """Whether MIG mode is enabled on this GPU."""
        return bool(self.mig_instances) if self.mig_enabled is None else self.mig_enabled


@dataclass(frozen=True)
class FakeGpuHandle:
    """Opaque handle of a whole fake GPU."""

    index: int


@dataclass(frozen=True)
class FakeMigHandle:
    """Opaque handle of a fake MIG device: parent index and MIG slot."""

    index: int
    slot: int


@dataclass
class FakePciInfo:
    """The part of ``nvmlPciInfo_t`` wattprint reads; ``busId`` is bytes, as from ctypes."""

    busId: bytes


@dataclass
class FakeDeviceAttributes:
    """The part of ``nvmlDeviceAttributes_t`` a MIG device reports."""

    multiprocessorCount: int
    gpuInstanceSliceCount: int
    computeInstanceSliceCount: int
    memorySizeMB: int


@dataclass
class FakeGpuInstanceProfileInfo:
    """The part of ``nvmlGpuInstanceProfileInfo_t`` wattprint reads."""

    id: int
    sliceCount: int
    memorySizeMB: int


@dataclass
class FakeProcessInfo:
    """What ``nvmlDeviceGetComputeRunningProcesses`` returns for one process."""

    pid: int
    usedGpuMemory: int | None
    gpuInstanceId: int
    computeInstanceId: int


@dataclass
class FakeProcessUtilizationSample:
    """What ``nvmlDeviceGetProcessUtilization`` returns for one sample."""

    pid: int
    timeStamp: int
    smUtil: int
    memUtil: int = 0
    encUtil: int = 0
    decUtil: int = 0


#: Default microseconds between two per-process utilisation samples of the driver.
SAMPLE_PERIOD_US = 1_000_000
#: Sample times the fake driver keeps (older ones are no longer returned).
SAMPLE_BUFFER = 100


class FakeNVML:
    """A scripted NVML with pynvml's interface; see the module docstring.

    Args:
        gpus: the GPUs, in NVML (PCI bus) order; default one A100.
        init_error: an NVML error code ``nvmlInit`` raises (e.g.
            ``NVML_ERROR_DRIVER_NOT_LOADED``); ``None`` initialises fine.
        driver_version: what ``nvmlSystemGetDriverVersion`` returns.
        sample_period_us: microseconds between two per-process utilisation
            samples of the driver.
        clock: monotonic seconds the driver samples by (default the real
            one; tests pass a manual clock).

    Raises:
        ValueError: ``sample_period_us`` is not positive.

    Attributes:
        init_calls: successful ``nvmlInit`` calls so far.
        shutdown_calls: successful ``nvmlShutdown`` calls so far.
    """

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_AlreadyInitialized = NVMLError_AlreadyInitialized
    NVMLError_NotFound = NVMLError_NotFound
    NVMLError_InsufficientSize = NVMLError_InsufficientSize
    NVMLError_InsufficientPower = NVMLError_InsufficientPower
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_Timeout = NVMLError_Timeout
    NVMLError_IrqIssue = NVMLError_IrqIssue
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_CorruptedInforom = NVMLError_CorruptedInforom
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_ResetRequired = NVMLError_ResetRequired
    NVMLError_OperatingSystem = NVMLError_OperatingSystem
    NVMLError_LibRmVersionMismatch = NVMLError_LibRmVersionMismatch
    NVMLError_InUse = NVMLError_InUse
    NVMLError_Memory = NVMLError_Memory
    NVMLError_NoData = NVMLError_NoData
    NVMLError_Unknown = NVMLError_Unknown

    NVML_SUCCESS = NVML_SUCCESS
    NVML_ERROR_UNINITIALIZED = NVML_ERROR_UNINITIALIZED
    NVML_ERROR_INVALID_ARGUMENT = NVML_ERROR_INVALID_ARGUMENT
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NO_PERMISSION = NVML_ERROR_NO_PERMISSION
    NVML_ERROR_ALREADY_INITIALIZED = NVML_ERROR_ALREADY_INITIALIZED
    NVML_ERROR_NOT_FOUND = NVML_ERROR_NOT_FOUND
    NVML_ERROR_INSUFFICIENT_SIZE = NVML_ERROR_INSUFFICIENT_SIZE
    NVML_ERROR_INSUFFICIENT_POWER = NVML_ERROR_INSUFFICIENT_POWER
    NVML_ERROR_DRIVER_NOT_LOADED = NVML_ERROR_DRIVER_NOT_LOADED
    NVML_ERROR_TIMEOUT = NVML_ERROR_TIMEOUT
    NVML_ERROR_IRQ_ISSUE = NVML_ERROR_IRQ_ISSUE
    NVML_ERROR_LIBRARY_NOT_FOUND = NVML_ERROR_LIBRARY_NOT_FOUND
    NVML_ERROR_FUNCTION_NOT_FOUND = NVML_ERROR_FUNCTION_NOT_FOUND
    NVML_ERROR_CORRUPTED_INFOROM = NVML_ERROR_CORRUPTED_INFOROM
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST
    NVML_ERROR_RESET_REQUIRED = NVML_ERROR_RESET_REQUIRED
    NVML_ERROR_OPERATING_SYSTEM = NVML_ERROR_OPERATING_SYSTEM
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = NVML_ERROR_LIB_RM_VERSION_MISMATCH
    NVML_ERROR_IN_USE = NVML_ERROR_IN_USE
    NVML_ERROR_MEMORY = NVML_ERROR_MEMORY
    NVML_ERROR_NO_DATA = NVML_ERROR_NO_DATA
    NVML_ERROR_UNKNOWN = NVML_ERROR_UNKNOWN
    NVML_DEVICE_MIG_DISABLE = NVML_DEVICE_MIG_DISABLE
    NVML_DEVICE_MIG_ENABLE = NVML_DEVICE_MIG_ENABLE
    NVML_GPU_INSTANCE_PROFILE_1_SLICE = NVML_GPU_INSTANCE_PROFILE_1_SLICE
    NVML_GPU_INSTANCE_PROFILE_2_SLICE = NVML_GPU_INSTANCE_PROFILE_2_SLICE
    NVML_GPU_INSTANCE_PROFILE_3_SLICE = NVML_GPU_INSTANCE_PROFILE_3_SLICE
    NVML_GPU_INSTANCE_PROFILE_4_SLICE = NVML_GPU_INSTANCE_PROFILE_4_SLICE
    NVML_GPU_INSTANCE_PROFILE_7_SLICE = NVML_GPU_INSTANCE_PROFILE_7_SLICE
    NVML_GPU_INSTANCE_PROFILE_8_SLICE = NVML_GPU_INSTANCE_PROFILE_8_SLICE
    NVML_GPU_INSTANCE_PROFILE_6_SLICE = NVML_GPU_INSTANCE_PROFILE_6_SLICE
    NVML_GPU_INSTANCE_PROFILE_COUNT = NVML_GPU_INSTANCE_PROFILE_COUNT

    def __init__(
        self,
        gpus: Sequence[FakeGPU] | None = None,
        init_error: int | None = None,
        driver_version: str = "550.54.15",
        *,
        sample_period_us: int = SAMPLE_PERIOD_US,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if sample_period_us <= 0:
            raise ValueError("sample_period_us must be positive")
        self.gpus: list[FakeGPU] = list(gpus) if gpus is not None else [FakeGPU()]
        self.sample_period_us = int(sample_period_us)
        self._clock = clock
        self._driver_t0 = clock()
        self.init_error = init_error
        self.driver_version = driver_version
        self.init_calls = 0
        self.shutdown_calls = 0
        self._refcount = 0
        self._reads = [0] * len(self.gpus)
        self._lock = threading.Lock()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FakeNVML:
        """Build a fake machine from plain data, e.g. a JSON fixture.

        Args:
            data: ``{"gpus": [{...FakeGPU fields...}], "init_error": ...,
                "driver_version": ..., "sample_period_us": ...}``; a GPU's ``mig_instances`` and
                ``processes`` are lists of field mappings, ``errors`` maps
                read numbers (as strings or ints) to codes.

        Returns:
            The fake NVML.
        """
        gpus = []
        for raw in data.get("gpus", []):
            fields = dict(raw)
            fields["mig_instances"] = tuple(
                FakeMigInstance(
                    **{
                        **mig,
                        "processes": tuple(FakeProcess(**p) for p in mig.get("processes", [])),
                    }
                )
                for mig in fields.get("mig_instances", [])
            )
            fields["processes"] = tuple(FakeProcess(**p) for p in fields.get("processes", []))
            fields["errors"] = {int(k): int(v) for k, v in fields.get("errors", {}).items()}
            for script in ("energy_mj", "power_mw"):
                if script in fields:
                    fields[script] = tuple(int(v) for v in fields[script])
            gpus.append(FakeGPU(**fields))
        return cls(
            gpus,
            init_error=data.get("init_error"),
            driver_version=data.get("driver_version", "550.54.15"),
            sample_period_us=int(data.get("sample_period_us", SAMPLE_PERIOD_US)),
        )

    # --- inspection helpers (not part of pynvml) ---

    @property
    def initialised(self) -> bool:
        """Whether ``nvmlInit`` calls outnumber ``nvmlShutdown`` calls."""
        return self._refcount > 0

    def latest_sample_us(self) -> int:
        """Timestamp (microseconds) of the driver's newest utilisation sample now."""
        elapsed_us = max(0, int((self._clock() - self._driver_t0) * 1_000_000))
        return (elapsed_us // self.sample_period_us + 1) * self.sample_period_us

    def read_count(self, index: int) -> int:
        """How many energy or power reads GPU ``index`` has answered or failed."""
        return self._reads[index]

    def uuid_of(self, index: int) -> str:
        """The UUID GPU ``index`` reports (its own, or the generated one)."""
        gpu = self.gpus[index]
        return gpu.uuid or f"GPU-00000000-0000-0000-0000-{index:012d}"

    def pci_bus_id_of(self, index: int) -> str:
        """The PCI bus id GPU ``index`` reports."""
        return self.gpus[index].pci_bus_id or f"00000000:{0x11 + index:02X}:00.0"

    # --- internals ---

    def _check_init(self) -> None:
        if self._refcount <= 0:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

    def _gpu(self, handle: object) -> tuple[int, FakeGPU]:
        self._check_init()
        if not isinstance(handle, FakeGpuHandle) or not 0 <= handle.index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return handle.index, self.gpus[handle.index]

    def _mig(self, handle: object) -> tuple[int, FakeGPU, FakeMigInstance]:
        self._check_init()
        if not isinstance(handle, FakeMigHandle) or not 0 <= handle.index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[handle.index]
        if not 0 <= handle.slot < len(gpu.mig_instances):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return handle.index, gpu, gpu.mig_instances[handle.slot]

    def _take_read(self, index: int, gpu: FakeGPU, script: Script, label: str) -> int:
        with self._lock:
            read = self._reads[index]
            self._reads[index] += 1
        if gpu.lost_from is not None and read >= gpu.lost_from:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        if read in gpu.errors:
            raise NVMLError(gpu.errors[read])
        if callable(script):
            return int(script(read))
        if read >= len(script):
            raise IndexError(
                f"fake GPU {index} ({gpu.name}) has {len(script)} scripted {label} values "
                f"but read #{read} was asked for: script more values"
            )
        return int(script[read])

    # --- library life cycle ---

    def nvmlInit(self) -> None:
        """Initialise; raises ``init_error`` when one was given."""
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self._refcount += 1
        self.init_calls += 1

    def nvmlShutdown(self) -> None:
        """Shut down one ``nvmlInit``; raises ``NVMLError_Uninitialized`` if none is open."""
        self._check_init()
        self._refcount -= 1
        self.shutdown_calls += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        """The scripted driver version."""
        self._check_init()
        return self.driver_version

    # --- enumeration and identity ---

    def nvmlDeviceGetCount(self) -> int:
        """Number of GPUs."""
        self._check_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpuHandle:
        """Handle of GPU ``index`` (NVML order)."""
        self._check_init()
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return FakeGpuHandle(index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> FakeGpuHandle | FakeMigHandle:
        """Handle of the GPU or MIG device with this exact UUID; ``NotFound`` otherwise."""
        self._check_init()
        wanted = uuid.decode() if isinstance(uuid, bytes) else uuid
        for index, gpu in enumerate(self.gpus):
            if self.uuid_of(index) == wanted:
                return FakeGpuHandle(index)
            for slot, mig in enumerate(gpu.mig_instances):
                if mig.uuid == wanted:
                    return FakeMigHandle(index, slot)
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetIndex(self, handle: object) -> int:
        """NVML index of a GPU handle."""
        index, _ = self._gpu(handle)
        return index

    def nvmlDeviceGetName(self, handle: object) -> str:
        """Product name; a MIG device's name ends with ``MIG <profile>``."""
        if isinstance(handle, FakeMigHandle):
            _, gpu, mig = self._mig(handle)
            return f"{gpu.name} MIG {mig.profile}"
        _, gpu = self._gpu(handle)
        return gpu.name

    def nvmlDeviceGetUUID(self, handle: object) -> str:
        """``GPU-...`` UUID of a GPU, ``MIG-...`` UUID of a MIG device."""
        if isinstance(handle, FakeMigHandle):
            return self._mig(handle)[2].uuid
        index, _ = self._gpu(handle)
        return self.uuid_of(index)

    def nvmlDeviceGetPciInfo(self, handle: object) -> FakePciInfo:
        """PCI information; ``busId`` is bytes like the ctypes structure's."""
        index, _ = self._gpu(handle)
        return FakePciInfo(busId=self.pci_bus_id_of(index).encode())

    # --- energy and power ---

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        """Millijoules since driver load; ``NotSupported`` before Volta and on MIG handles."""
        if isinstance(handle, FakeMigHandle):
            self._mig(handle)
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        index, gpu = self._gpu(handle)
        if not gpu.supports_energy:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return self._take_read(index, gpu, gpu.energy_mj, "energy_mj")

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        """Power draw in milliwatts."""
        if isinstance(handle, FakeMigHandle):
            self._mig(handle)
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        index, gpu = self._gpu(handle)
        return self._take_read(index, gpu, gpu.power_mw, "power_mw")

    # --- MIG ---

    def nvmlDeviceGetMigMode(self, handle: object) -> list[int]:
        """``[current, pending]`` MIG mode (``NVML_DEVICE_MIG_ENABLE`` or ``_DISABLE``)."""
        _, gpu = self._gpu(handle)
        mode = NVML_DEVICE_MIG_ENABLE if gpu.mig_mode else NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceIsMigDeviceHandle(self, handle: object) -> bool:
        """Whether ``handle`` is a MIG device handle."""
        self._check_init()
        return isinstance(handle, FakeMigHandle)

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: object) -> int:
        """MIG device slots of a GPU: 7 in MIG mode, else 0."""
        _, gpu = self._gpu(handle)
        return MAX_MIG_DEVICES if gpu.mig_mode else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: object, index: int) -> FakeMigHandle:
        """Handle of MIG slot ``index``; ``NotFound`` for an empty slot."""
        gpu_index, gpu = self._gpu(handle)
        if not gpu.mig_mode:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        if not 0 <= index < MAX_MIG_DEVICES:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if index >= len(gpu.mig_instances):
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return FakeMigHandle(gpu_index, index)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle: object) -> FakeGpuHandle:
        """Parent GPU handle of a MIG device."""
        index, _, _ = self._mig(handle)
        return FakeGpuHandle(index)

    def nvmlDeviceGetGpuInstanceId(self, handle: object) -> int:
        """GPU instance id of a MIG device."""
        return self._mig(handle)[2].gpu_instance_id

    def nvmlDeviceGetComputeInstanceId(self, handle: object) -> int:
        """Compute instance id of a MIG device."""
        return self._mig(handle)[2].compute_instance_id

    def nvmlDeviceGetAttributes(self, handle: object) -> FakeDeviceAttributes:
        """Attributes of a MIG device (slices, memory, SMs)."""
        _, _, mig = self._mig(handle)
        return FakeDeviceAttributes(
            multiprocessorCount=14 * mig.slices,
            gpuInstanceSliceCount=mig.slices,
            computeInstanceSliceCount=mig.slices,
            memorySizeMB=mig.memory_mb,
        )

    def nvmlDeviceGetGpuInstanceProfileInfo(
        self, handle: object, profile: int, version: int = 2
    ) -> FakeGpuInstanceProfileInfo:
        """Profile ``profile`` on this GPU; ``NotSupported`` when it spans too many slices."""
        del version
        _, gpu = self._gpu(handle)
        slices = _PROFILE_SLICES.get(profile)
        if slices is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if slices > gpu.mig_total_slices or slices == 8 or slices == 6:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return FakeGpuInstanceProfileInfo(id=profile, sliceCount=slices, memorySizeMB=0)

    # --- processes ---

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[FakeProcessInfo]:
        """Compute processes of a GPU (all instances' in MIG mode) or of one MIG device."""
        if isinstance(handle, FakeMigHandle):
            _, _, mig = self._mig(handle)
            return [
                FakeProcessInfo(
                    p.pid, p.used_memory_bytes, mig.gpu_instance_id, mig.compute_instance_id
                )
                for p in mig.processes
            ]
        _, gpu = self._gpu(handle)
        if gpu.mig_mode:
            return [
                FakeProcessInfo(
                    p.pid, p.used_memory_bytes, mig.gpu_instance_id, mig.compute_instance_id
                )
                for mig in gpu.mig_instances
                for p in mig.processes
            ]
        return [
            FakeProcessInfo(p.pid, p.used_memory_bytes, 0xFFFFFFFF, 0xFFFFFFFF)
            for p in gpu.processes
        ]

    def nvmlDeviceGetProcessUtilization(
        self, handle: object, timeStamp: int
    ) -> list[FakeProcessUtilizationSample]:
        """Per-process SM utilisation samples newer than ``timeStamp`` (microseconds).

        One sample per process that has an ``sm_util`` for every driver
        sample time after ``timeStamp`` (see the module docstring). Raises
        ``NotSupported`` in MIG mode or when ``process_utilization`` is off,
        and ``NotFound`` when the driver has no sample newer than
        ``timeStamp``, as NVML does.
        """
        _, gpu = self._gpu(handle)
        if gpu.mig_mode or not gpu.process_utilization:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        period = self.sample_period_us
        newest = self.latest_sample_us() // period
        first = max(int(timeStamp) // period + 1, newest - SAMPLE_BUFFER + 1, 1)
        samples = [
            FakeProcessUtilizationSample(pid=p.pid, timeStamp=k * period, smUtil=p.sm_util)
            for k in range(first, newest + 1)
            for p in gpu.processes
            if p.sm_util is not None
        ]
        if not samples:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return samples
