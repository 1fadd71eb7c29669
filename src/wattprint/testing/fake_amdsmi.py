"""A deterministic stand-in for AMD's ``amdsmi`` Python module, for tests without ROCm.

:class:`FakeAMDSMI` answers the ``amdsmi`` calls wattprint makes from a list
of :class:`FakeAMDGPU`, each with a scripted energy accumulator (in ticks of
``counter_resolution_uj`` microjoules) and scripted socket power in watts::

    from wattprint.sensors.context import SensorContext
    from wattprint.testing.fake_amdsmi import FakeAMDGPU, FakeAMDSMI

    smi = FakeAMDSMI([FakeAMDGPU(energy_ticks=[0, 65_536, 196_608])])
    ctx = SensorContext(amdsmi=smi, environ={})

What it mirrors from the real module (ROCm 6.x):

* errors are ``AmdSmiLibraryException(err_code)`` (a subclass of
  ``AmdSmiException``) with ``err_code``, ``get_error_code()`` and
  ``get_error_info()``, and the ``AMDSMI_STATUS_*`` numbering of
  ``amdsmi_wrapper``;
* ``amdsmi_get_energy_count`` returns ``{"energy_accumulator",
  "counter_resolution", "timestamp"}`` (``"power"`` instead of
  ``"energy_accumulator"`` with ``legacy_energy_key=True``, as before amdsmi
  6.2.1); energy in µJ is accumulator × resolution;
* ``amdsmi_get_power_info`` returns watts in the field the GPU supports and
  ``"N/A"`` in the others (MI300 reports ``current_socket_power`` only);
* calls before ``amdsmi_init`` raise ``AMDSMI_STATUS_NOT_INIT``.

Reads are counted per GPU as in :mod:`wattprint.testing.fake_nvml`: every
``amdsmi_get_energy_count`` or ``amdsmi_get_power_info`` call is one read,
numbered from 0, including the one the sensor makes when it opens; ``errors``
maps a read number to the status code that read raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

AMDSMI_STATUS_SUCCESS = 0
AMDSMI_STATUS_INVAL = 1
AMDSMI_STATUS_NOT_SUPPORTED = 2
AMDSMI_STATUS_TIMEOUT = 8
AMDSMI_STATUS_RETRY = 9
AMDSMI_STATUS_NO_PERM = 10
AMDSMI_STATUS_INIT_ERROR = 18
AMDSMI_STATUS_BUSY = 30
AMDSMI_STATUS_NOT_FOUND = 31
AMDSMI_STATUS_NOT_INIT = 32
AMDSMI_STATUS_DRIVER_NOT_LOADED = 34
AMDSMI_STATUS_NO_DATA = 40
AMDSMI_STATUS_UNKNOWN_ERROR = 4294967295

_NAMES = {
    AMDSMI_STATUS_INVAL: "AMDSMI_STATUS_INVAL",
    AMDSMI_STATUS_NOT_SUPPORTED: "AMDSMI_STATUS_NOT_SUPPORTED",
    AMDSMI_STATUS_TIMEOUT: "AMDSMI_STATUS_TIMEOUT",
    AMDSMI_STATUS_RETRY: "AMDSMI_STATUS_RETRY",
    AMDSMI_STATUS_NO_PERM: "AMDSMI_STATUS_NO_PERM",
    AMDSMI_STATUS_INIT_ERROR: "AMDSMI_STATUS_INIT_ERROR",
    AMDSMI_STATUS_BUSY: "AMDSMI_STATUS_BUSY",
    AMDSMI_STATUS_NOT_FOUND: "AMDSMI_STATUS_NOT_FOUND",
    AMDSMI_STATUS_NOT_INIT: "AMDSMI_STATUS_NOT_INIT",
    AMDSMI_STATUS_DRIVER_NOT_LOADED: "AMDSMI_STATUS_DRIVER_NOT_LOADED",
    AMDSMI_STATUS_NO_DATA: "AMDSMI_STATUS_NO_DATA",
    AMDSMI_STATUS_UNKNOWN_ERROR: "AMDSMI_STATUS_UNKNOWN_ERROR",
}

#: The resolution most Instinct GPUs report: 2**-16 J, in microjoules.
DEFAULT_COUNTER_RESOLUTION_UJ = 15.2587890625

#: A script of readings: one value per read, or a function of the read number.
Script = Sequence[float] | Callable[[int], float]

_POWER_FIELDS = ("average_socket_power", "current_socket_power", "socket_power")


class AmdSmiException(Exception):
    """Base of the fake amdsmi errors."""


class AmdSmiLibraryException(AmdSmiException):
    """An error status from the library.

    Args:
        err_code: an ``AMDSMI_STATUS_*`` code.
    """

    def __init__(self, err_code: int) -> None:
        self.err_code = err_code
        self.err_info = _NAMES.get(err_code, f"AMDSMI status {err_code}")
        super().__init__(f"Error code:\n\t{err_code} | {self.err_info}")

    def get_error_code(self) -> int:
        """The ``AMDSMI_STATUS_*`` code."""
        return self.err_code

    def get_error_info(self) -> str:
        """The status name."""
        return self.err_info


class AmdSmiRetryException(AmdSmiLibraryException):
    """The device is busy; the call should be retried."""

    def __init__(self) -> None:
        super().__init__(AMDSMI_STATUS_RETRY)


class AmdSmiTimeoutException(AmdSmiLibraryException):
    """The call timed out."""

    def __init__(self) -> None:
        super().__init__(AMDSMI_STATUS_TIMEOUT)


def _library_error(code: int) -> AmdSmiLibraryException:
    if code == AMDSMI_STATUS_RETRY:
        return AmdSmiRetryException()
    if code == AMDSMI_STATUS_TIMEOUT:
        return AmdSmiTimeoutException()
    return AmdSmiLibraryException(code)


def _steady_ticks(read: int) -> float:
    """Default energy script: 65 536 ticks (1 J at the default resolution) per read."""
    return 65_536.0 * read


def _steady_power_w(read: int) -> float:
    """Default power script: a steady 300 W."""
    del read
    return 300.0


@dataclass(frozen=True)
class FakeAMDGPU:
    """One scripted AMD GPU (or one die of a multi-die package, as amdsmi lists them).

    Attributes:
        name: ``market_name`` of ``amdsmi_get_gpu_asic_info``.
        uuid: what ``amdsmi_get_gpu_device_uuid`` returns; empty gives one
            built from the index.
        bdf: PCI address; empty gives ``0000:<c1+index>:00.0``.
        asic_serial: ``0x...`` serial; empty gives one built from the index.
            ``ROCR_VISIBLE_DEVICES`` UUIDs are ``GPU-`` + this serial's hex.
        hip_id: the HIP device index; default the position in the list.
        supports_energy: ``False`` makes ``amdsmi_get_energy_count`` raise
            ``AMDSMI_STATUS_NOT_SUPPORTED``.
        energy_ticks: accumulator value (ticks) at each read.
        counter_resolution_uj: microjoules per tick.
        legacy_energy_key: return the accumulator under ``"power"``, as
            amdsmi before 6.2.1 did.
        power_w: socket power in watts at each read.
        power_field: the ``amdsmi_get_power_info`` field that carries power;
            the other power fields read ``"N/A"``.
        errors: read number → status code that read raises instead.
    """

    name: str = "AMD Instinct MI250X"
    uuid: str = ""
    bdf: str = ""
    asic_serial: str = ""
    hip_id: int | None = None
    supports_energy: bool = True
    energy_ticks: Script = _steady_ticks
    counter_resolution_uj: float = DEFAULT_COUNTER_RESOLUTION_UJ
    legacy_energy_key: bool = False
    power_w: Script = _steady_power_w
    power_field: str = "average_socket_power"
    errors: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeProcessorHandle:
    """Opaque processor handle of a fake AMD GPU."""

    index: int


class FakeAMDSMI:
    """A scripted ``amdsmi`` module; see the module docstring.

    Args:
        gpus: the GPUs in amdsmi's order; default one MI250X die.
        init_error: a status code ``amdsmi_init`` raises; ``None`` works.

    Attributes:
        init_calls: successful ``amdsmi_init`` calls.
        shutdown_calls: successful ``amdsmi_shut_down`` calls.
    """

    AmdSmiException = AmdSmiException
    AmdSmiLibraryException = AmdSmiLibraryException
    AmdSmiRetryException = AmdSmiRetryException
    AmdSmiTimeoutException = AmdSmiTimeoutException

    def __init__(self, gpus: Sequence[FakeAMDGPU] | None = None, init_error: int | None = None):
        self.gpus: list[FakeAMDGPU] = list(gpus) if gpus is not None else [FakeAMDGPU()]
        self.init_error = init_error
        self.init_calls = 0
        self.shutdown_calls = 0
        self._initialised = False
        self._reads = [0] * len(self.gpus)
        self._lock = threading.Lock()

    # --- inspection helpers (not part of amdsmi) ---

    @property
    def initialised(self) -> bool:
        """Whether the library is initialised."""
        return self._initialised

    def read_count(self, index: int) -> int:
        """How many energy or power reads GPU ``index`` has answered or failed."""
        return self._reads[index]

    def uuid_of(self, index: int) -> str:
        """The UUID GPU ``index`` reports."""
        return self.gpus[index].uuid or f"{index:08x}-0000-1000-80ff-0000000000a1"

    def serial_of(self, index: int) -> str:
        """The ``0x...`` ASIC serial GPU ``index`` reports."""
        return self.gpus[index].asic_serial or f"0x{0xA1B2C3D400000000 + index:016X}"

    def bdf_of(self, index: int) -> str:
        """The PCI address GPU ``index`` reports."""
        return self.gpus[index].bdf or f"0000:{0xC1 + index:02x}:00.0"

    # --- internals ---

    def _gpu(self, handle: object) -> tuple[int, FakeAMDGPU]:
        if not self._initialised:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_INIT)
        if not isinstance(handle, FakeProcessorHandle) or not 0 <= handle.index < len(self.gpus):
            raise AmdSmiLibraryException(AMDSMI_STATUS_INVAL)
        return handle.index, self.gpus[handle.index]

    def _take_read(self, index: int, gpu: FakeAMDGPU, script: Script, label: str) -> float:
        with self._lock:
            read = self._reads[index]
            self._reads[index] += 1
        if read in gpu.errors:
            raise _library_error(gpu.errors[read])
        if callable(script):
            return float(script(read))
        if read >= len(script):
            raise IndexError(
                f"fake AMD GPU {index} ({gpu.name}) has {len(script)} scripted {label} values "
                f"but read #{read} was asked for: script more values"
            )
        return float(script[read])

    # --- amdsmi functions ---

    def amdsmi_init(self, flag: int | None = None) -> None:
        """Initialise; raises ``init_error`` when one was given."""
        del flag
        if self.init_error is not None:
            raise _library_error(self.init_error)
        self._initialised = True
        self.init_calls += 1

    def amdsmi_shut_down(self) -> None:
        """Shut the library down."""
        if not self._initialised:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_INIT)
        self._initialised = False
        self.shutdown_calls += 1

    def amdsmi_get_processor_handles(self) -> list[FakeProcessorHandle]:
        """One handle per GPU."""
        if not self._initialised:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_INIT)
        return [FakeProcessorHandle(i) for i in range(len(self.gpus))]

    def amdsmi_get_gpu_device_uuid(self, handle: object) -> str:
        """The GPU's UUID."""
        index, _ = self._gpu(handle)
        return self.uuid_of(index)

    def amdsmi_get_gpu_device_bdf(self, handle: object) -> str:
        """The GPU's PCI address, ``dddd:bb:dd.f``."""
        index, _ = self._gpu(handle)
        return self.bdf_of(index)

    def amdsmi_get_gpu_asic_info(self, handle: object) -> dict[str, Any]:
        """ASIC information: ``market_name`` and ``asic_serial``."""
        index, gpu = self._gpu(handle)
        return {"market_name": gpu.name, "asic_serial": self.serial_of(index)}

    def amdsmi_get_gpu_enumeration_info(self, handle: object) -> dict[str, Any]:
        """How the runtimes number the GPU (``hip_id``, ``hip_uuid``...)."""
        index, gpu = self._gpu(handle)
        hip_id = index if gpu.hip_id is None else gpu.hip_id
        return {
            "hip_id": hip_id,
            "hip_uuid": "GPU-" + self.serial_of(index)[2:].lower(),
            "drm_card": index,
            "drm_render": 128 + index,
            "hsa_id": hip_id,
        }

    def amdsmi_get_energy_count(self, handle: object) -> dict[str, Any]:
        """The energy accumulator: ticks, µJ per tick, and a timestamp."""
        index, gpu = self._gpu(handle)
        if not gpu.supports_energy:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        ticks = self._take_read(index, gpu, gpu.energy_ticks, "energy_ticks")
        key = "power" if gpu.legacy_energy_key else "energy_accumulator"
        return {
            key: int(ticks),
            "counter_resolution": gpu.counter_resolution_uj,
            "timestamp": self._reads[index] * 1_000_000_000,
        }

    def amdsmi_get_power_info(self, handle: object) -> dict[str, Any]:
        """Socket power in watts in ``power_field``, ``"N/A"`` in the other power fields."""
        index, gpu = self._gpu(handle)
        watts = self._take_read(index, gpu, gpu.power_w, "power_w")
        info: dict[str, Any] = {name: "N/A" for name in _POWER_FIELDS}
        info[gpu.power_field] = int(watts) if float(watts).is_integer() else watts
        info.update({"gfx_voltage": "N/A", "soc_voltage": "N/A", "mem_voltage": "N/A"})
        info["power_limit"] = 500_000_000
        return info
