"""AMD GPUs through AMD SMI (``amdsmi``), the library behind ``amd-smi``.

**Two ways to measure.** The SMU firmware of Instinct GPUs (MI100 and later)
keeps an *energy accumulator*: ``amdsmi_get_energy_count`` returns it as a
tick count with a ``counter_resolution`` in microjoules per tick (2⁻¹⁶ J,
about 15.3 µJ, on most parts), so energy in µJ = ticks × resolution. Such a
GPU becomes a *counter* device, read in joules; the sampler takes the
differences. The accumulator is read as 64 bits, but how wide the firmware
counter behind it is varies, so wattprint declares no wrap range
(``max_energy_j=None``): a counter that goes backwards drops that interval
rather than guessing. amdsmi before 6.2.1 returned the ticks under the key
``"power"``; both keys are read.

Where there is no accumulator, the GPU becomes a *power* device polled with
``amdsmi_get_power_info`` in watts: ``average_socket_power`` where the GPU
gives it, else ``socket_power`` (ROCm 7) or ``current_socket_power``
(MI300, which reports ``"N/A"`` for the average). The field is chosen when
the sensor opens and recorded in ``extra["power_field"]``.

Known hardware limits: an MI250/MI250X package is two dies that amdsmi lists
as two GPUs, and the power and energy of the *package* are reported on the
first die only (the second reads zero); some GPUs have been reported to
accumulate energy inaccurately (ROCm/amdsmi issue 38), which
``bench/gpu_check.py``-style comparison against power polling reveals.

**Which GPUs.** ``ROCR_VISIBLE_DEVICES`` selects among all GPUs (indices or
``GPU-<serial>`` UUIDs), then ``HIP_VISIBLE_DEVICES`` — or
``CUDA_VISIBLE_DEVICES`` when that is unset — selects by index among those
left, with the rules of :mod:`wattprint.sensors.visible`. Indices follow
HIP's numbering (``hip_id`` from ``amdsmi_get_gpu_enumeration_info`` where
the library has it, else amdsmi's order).

**Failures** are handled as for NVML: a failed read is a reading with the
library's error as its ``failure`` (a gap, never 0 J); the sampler drops a
GPU that fails too often in a row, with one warning, and calls
:meth:`AmdSmiSensor.drop`. Per-process accounting is not implemented for AMD.

``amdsmi`` is imported only when the sensor opens (it prints to stdout when
its shared library is missing; wattprint swallows that); tests pass
:class:`wattprint.testing.fake_amdsmi.FakeAMDSMI` through
:class:`~wattprint.sensors.context.SensorContext`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wattprint.errors import SensorUnavailable
from wattprint.extras import install_hint
from wattprint.sensors.base import DeviceInfo, Reading, SkippedSensor, open_with_library
from wattprint.sensors.context import SensorContext
from wattprint.sensors.visible import select_visible_chain
from wattprint.units import uj_to_j

log = logging.getLogger(__name__)

#: Registry name of this sensor.
SOURCE = "amdsmi"
#: ``amdsmi_get_power_info`` fields holding socket power in watts, in preference order.
POWER_FIELDS = ("average_socket_power", "socket_power", "current_socket_power")

_INSTALL_HINT = (
    f"amdsmi not installed: {install_hint('amd')}; "
    "or use the amdsmi package shipped with your ROCm, /opt/rocm/share/amd_smi"
)


@dataclass
class _AmdGpu:
    """One AMD GPU as found at open, and its run-time state."""

    position: int
    handle: Any
    uuid: str
    bdf: str
    name: str
    serial: str
    hip_id: int | None
    hip_uuid: str
    info: DeviceInfo | None = None
    power_field: str | None = None
    dropped: bool = False

    def identifiers(self) -> list[str]:
        """Every string a ``*_VISIBLE_DEVICES`` UUID entry may match."""
        names = [self.hip_uuid, self.uuid, f"GPU-{self.uuid}"]
        if self.serial:
            names.append("GPU-" + self.serial.lower().removeprefix("0x"))
        return [name for name in names if name and name != "GPU-"]


def _as_watts(value: object) -> float | None:
    """A power field's value in watts, or ``None`` for ``"N/A"`` and the like."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _energy_uj(count: Mapping[str, Any]) -> float:
    """Energy in µJ from an ``amdsmi_get_energy_count`` answer (new or pre-6.2.1 keys)."""
    ticks = count.get("energy_accumulator", count.get("power"))
    resolution = count.get("counter_resolution")
    if not isinstance(ticks, int | float) or not isinstance(resolution, int | float):
        raise ValueError(f"unexpected amdsmi_get_energy_count answer: {dict(count)!r}")
    return float(ticks) * float(resolution)


class AmdSmiSensor:
    """AMD GPUs: the energy accumulator where the GPU has one, else socket-power polling.

    Built by :func:`open_sensor`; see the module docstring for the rules.
    """

    name = SOURCE

    def __init__(
        self,
        smi: Any,
        gpus: list[_AmdGpu],
    ) -> None:
        self._smi = smi
        self._gpus = gpus
        self._error: type[BaseException] = getattr(smi, "AmdSmiException", Exception)
        self._closed = False

    def devices(self) -> list[DeviceInfo]:
        """The visible AMD GPUs."""
        return [gpu.info for gpu in self._gpus if gpu.info is not None]

    def read(self) -> Mapping[str, Reading]:
        """Read every GPU once: joules from the accumulator, or watts.

        Returns:
            Readings by device id; a GPU whose read failed has a reading with
            the reason as its ``failure`` (a gap); a dropped GPU is absent.
        """
        readings: dict[str, Reading] = {}
        for gpu in self._gpus:
            if gpu.dropped or gpu.info is None:
                continue
            try:
                reading = self._read_one(gpu)
            except (self._error, ValueError) as exc:
                log.debug("amdsmi read of GPU %s failed: %s (a gap)", gpu.position, exc)
                # the library's messages span lines ("Error code:\n\t30 | ...")
                reading = Reading(failure=f"amdsmi read failed: {' '.join(str(exc).split())}")
            readings[gpu.info.id] = reading
        return readings

    def drop(self, device_id: str) -> None:
        """Stop reading a GPU the sampler gave up on (its energy stays a gap)."""
        for gpu in self._gpus:
            if gpu.info is not None and gpu.info.id == device_id:
                gpu.dropped = True

    def _read_one(self, gpu: _AmdGpu) -> Reading:
        if gpu.power_field is None:
            return Reading(
                energy_j=uj_to_j(_energy_uj(self._smi.amdsmi_get_energy_count(gpu.handle)))
            )
        watts = _as_watts(self._smi.amdsmi_get_power_info(gpu.handle).get(gpu.power_field))
        if watts is None:
            raise ValueError(f"{gpu.power_field} is not available")
        return Reading(power_w=watts)

    def close(self) -> None:
        """Shut amdsmi down (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._smi.amdsmi_shut_down()
        except self._error as exc:
            log.debug("amdsmi_shut_down failed: %s", exc)


# --- opening -------------------------------------------------------------------------------


def _import_amdsmi() -> Any:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import amdsmi
    except ImportError as exc:
        raise SensorUnavailable(_INSTALL_HINT) from exc
    except Exception as exc:  # OSError, AttributeError, KeyError: library/version mismatch
        raise SensorUnavailable(
            f"amdsmi cannot load its library: {exc}; is ROCm installed (ROCM_PATH) and is "
            "the amdsmi Python package the version of your ROCm?"
        ) from exc
    return amdsmi


def _discover(smi: Any, position: int, handle: Any, error: type[BaseException]) -> _AmdGpu:
    uuid = str(smi.amdsmi_get_gpu_device_uuid(handle))
    try:
        bdf = str(smi.amdsmi_get_gpu_device_bdf(handle))
    except error:
        bdf = ""
    name, serial = "AMD GPU", ""
    try:
        asic = smi.amdsmi_get_gpu_asic_info(handle)
        name = str(asic.get("market_name") or name)
        serial = str(asic.get("asic_serial") or "")
    except error:
        pass
    hip_id: int | None = None
    hip_uuid = ""
    enumeration = getattr(smi, "amdsmi_get_gpu_enumeration_info", None)
    if enumeration is not None:  # amdsmi from ROCm 6.4 on
        try:
            info = enumeration(handle)
            hip_id = int(info["hip_id"]) if isinstance(info.get("hip_id"), int) else None
            hip_uuid = str(info.get("hip_uuid") or "")
        except (error, KeyError):
            pass
    return _AmdGpu(position, handle, uuid, bdf, name, serial, hip_id, hip_uuid)


def _choose_power_field(smi: Any, gpu: _AmdGpu, error: type[BaseException]) -> str | None:
    """``None`` when the energy accumulator works, else the power field to poll.

    Raises:
        ValueError: neither energy nor any power field can be read.
    """
    try:
        _energy_uj(smi.amdsmi_get_energy_count(gpu.handle))
        return None
    except (error, ValueError) as exc:
        log.debug("AMD GPU %s has no energy accumulator (%s): polling power", gpu.position, exc)
    try:
        info = smi.amdsmi_get_power_info(gpu.handle)
    except error as exc:
        raise ValueError(f"neither energy nor power readable: {exc}") from exc
    for candidate in POWER_FIELDS:
        if _as_watts(info.get(candidate)) is not None:
            return candidate
    raise ValueError("neither energy nor power readable: every power field is N/A")


def _device_info(gpu: _AmdGpu, hip_index: int) -> DeviceInfo:
    extra = {
        "uuid": gpu.uuid,
        "bdf": gpu.bdf,
        "index": str(hip_index),
        "reading": "energy_accumulator" if gpu.power_field is None else "power_info",
    }
    if gpu.power_field is not None:
        extra["power_field"] = gpu.power_field
    if gpu.serial:
        extra["asic_serial"] = gpu.serial
    return DeviceInfo(
        id=f"{SOURCE}:{gpu.uuid or gpu.bdf}",
        kind="gpu",
        name=gpu.name,
        source=SOURCE,
        measured=True,
        counter=gpu.power_field is None,
        max_energy_j=None,
        extra=extra,
    )


def open_sensor(
    ctx: SensorContext, covered_kinds: frozenset[str], notes: list[SkippedSensor]
) -> AmdSmiSensor:
    """Open amdsmi and list the AMD GPUs this process may use.

    Args:
        ctx: where to look; ``ctx.amdsmi`` replaces the ``amdsmi`` module
            (tests), ``ctx.environ`` supplies the visibility variables.
        covered_kinds: ignored: GPUs of other vendors are other devices.
        notes: receives one entry per GPU that could not be used.

    Returns:
        The sensor, holding the amdsmi initialisation until closed.

    Raises:
        SensorUnavailable: ``amdsmi`` is not installed or cannot load, cannot
            initialise, finds no GPU, none is visible, or none can be read.
    """
    del covered_kinds
    if ctx.amdsmi is None and not (os.path.exists("/dev/kfd")
                                   or (ctx.sysfs_root / "module" / "amdgpu").exists()):
        raise SensorUnavailable("no AMD GPU driver found (no /dev/kfd, no amdgpu module)")
    smi = ctx.amdsmi if ctx.amdsmi is not None else _import_amdsmi()
    error: type[BaseException] = getattr(smi, "AmdSmiException", Exception)
    return open_with_library("amdsmi", smi.amdsmi_init, smi.amdsmi_shut_down, error,
                             "is the amdgpu driver loaded?",
                             lambda: _open(smi, ctx, notes, error))


def _open(
    smi: Any, ctx: SensorContext, notes: list[SkippedSensor], error: type[BaseException]
) -> AmdSmiSensor:
    try:
        handles = list(smi.amdsmi_get_processor_handles())
    except error as exc:
        raise SensorUnavailable(f"amdsmi cannot list GPUs: {exc}") from exc
    if not handles:
        raise SensorUnavailable("amdsmi found no AMD GPU")
    found: list[_AmdGpu] = []
    for position, handle in enumerate(handles):
        try:
            found.append(_discover(smi, position, handle, error))
        except error as exc:
            notes.append(SkippedSensor(SOURCE, f"GPU {position}: cannot be queried: {exc}", False))
    if found and all(gpu.hip_id is not None for gpu in found):
        found.sort(key=lambda gpu: gpu.hip_id if gpu.hip_id is not None else gpu.position)
    environ = ctx.environ
    hip_value = environ.get("HIP_VISIBLE_DEVICES", environ.get("CUDA_VISIBLE_DEVICES"))
    positions = select_visible_chain(
        [environ.get("ROCR_VISIBLE_DEVICES"), hip_value], [gpu.identifiers() for gpu in found]
    )
    visible = found if positions is None else [found[p] for p in positions]
    if not visible:
        raise SensorUnavailable(
            "ROCR_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES "
            "leave this process no AMD GPU"
        )
    gpus: list[_AmdGpu] = []
    for gpu in visible:
        try:
            gpu.power_field = _choose_power_field(smi, gpu, error)
        except ValueError as exc:
            notes.append(SkippedSensor(SOURCE, f"GPU {gpu.position} ({gpu.name}): {exc}", False))
            continue
        gpu.info = _device_info(gpu, found.index(gpu))
        gpus.append(gpu)
    if not gpus:
        raise SensorUnavailable("no visible AMD GPU can report energy or power")
    return AmdSmiSensor(smi, gpus)


__all__ = ["POWER_FIELDS", "AmdSmiSensor", "open_sensor"]
