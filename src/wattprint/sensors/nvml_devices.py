"""Finding the NVIDIA GPUs and MIG devices a process may use, and naming them.

At open, NVML lists the GPUs; ``CUDA_VISIBLE_DEVICES`` (indices, UUIDs, UUID
prefixes or MIG UUIDs; :mod:`wattprint.sensors.visible`) narrows them to the
ones this process can use. A GPU in MIG mode is split into instances: each
has a profile (``1g.10gb``...), a number of compute slices out of the GPU's
total, and no energy counter of its own, so a MIG device is measured through
its parent GPU and charged its slice share (``mig-slice-share``). The result
is one :class:`~wattprint.records.DeviceInfo` per GPU, with the MIG facts in
its ``extra``; :mod:`wattprint.sensors.nvml` reads them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattprint.errors import SensorUnavailable
from wattprint.extras import install_hint
from wattprint.sensors.base import DeviceInfo
from wattprint.sensors.context import SensorContext
from wattprint.sensors.visible import select_visible

log = logging.getLogger(__name__)

#: Registry name of this sensor.
SOURCE = "nvml"
#: Keys this sensor sets in :attr:`DeviceInfo.extra`.
EXTRA_MIG_SHARE = "mig_share"
EXTRA_MIG_SLICES = "mig_slices"
EXTRA_MIG_INSTANCES = "mig_instances"
EXTRA_MIG_PROFILE = "mig_profile"

MW_PER_W = 1000.0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_GPU_IS_LOST = 15
_NVML_DEVICE_MIG_ENABLE = 1
_PROFILE_IN_NAME = re.compile(r"MIG\s+(\S+)\s*$")
_INSTALL_HINT = f"nvidia-ml-py not installed: {install_hint('nvidia')}"


@dataclass(frozen=True)
class MigDevice:
    """One MIG device of a GPU, as found at open."""

    handle: Any
    uuid: str
    legacy_name: str
    profile: str
    gpu_instance_id: int
    slices: int | None


@dataclass
class Gpu:
    """One GPU as found at open, and its run-time state."""

    index: int
    handle: Any
    uuid: str
    name: str
    pci_bus_id: str
    mig_enabled: bool
    mig_devices: list[MigDevice]
    total_slices: int | None
    info: DeviceInfo | None = None
    counter: bool = True
    dropped: bool = False
    last_sample_us: int = 0
    breakdown_sample_us: int = 0
    #: the tracked pids' share of the latest SM-utilisation samples, kept
    #: between two driver samples
    last_util_share: float | None = None
    #: each pid's weight in the latest SM-utilisation samples (for the breakdown)
    last_util_weights: dict[int, float] | None = None


def nvml_text(value: object) -> str:
    """NVML strings arrive as ``str`` or, from older bindings and ctypes fields, ``bytes``."""
    if isinstance(value, bytes):
        return value.decode(errors="replace").rstrip("\x00")
    return str(value)


def error_code(exc: BaseException) -> int | None:
    """The NVML error code of a pynvml exception (``None`` for other exceptions)."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None




def require_driver(ctx: SensorContext) -> None:
    """Skip quickly where no NVIDIA driver is loaded, without importing pynvml.

    The driver shows itself as ``/proc/driver/nvidia`` (Linux, containers
    included), ``/dev/nvidiactl``, or ``/dev/dxg`` under WSL 2.
    """
    signs = (ctx.proc_root / "driver" / "nvidia", Path("/dev/nvidiactl"), Path("/dev/dxg"))
    if not any(os.path.exists(p) for p in signs):
        raise SensorUnavailable("no NVIDIA driver found (no /proc/driver/nvidia, /dev/nvidiactl "
                                "or /dev/dxg)")


def import_pynvml() -> Any:
    """The ``pynvml`` module (nvidia-ml-py), or :class:`SensorUnavailable` with the install hint."""
    try:
        import pynvml
    except ImportError as exc:
        raise SensorUnavailable(_INSTALL_HINT) from exc
    return pynvml


def _profile_of(name: str, slices: int | None) -> str:
    match = _PROFILE_IN_NAME.search(name)
    if match:
        return match.group(1)
    return f"{slices}g" if slices else "unknown"


def _total_slices(nvml: Any, handle: Any, error: type[BaseException]) -> int | None:
    """Slices of the whole GPU: the largest GPU-instance profile it supports."""
    best: int | None = None
    for profile in range(int(getattr(nvml, "NVML_GPU_INSTANCE_PROFILE_COUNT", 5))):
        try:
            info = nvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, profile)
        except error:
            continue
        slices = int(info.sliceCount)
        if slices > 0 and (best is None or slices > best):
            best = slices
    return best


def _mig_devices(
    nvml: Any, gpu_handle: Any, gpu_uuid: str, error: type[BaseException]
) -> list[MigDevice]:
    found: list[MigDevice] = []
    for slot in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(gpu_handle))):
        try:
            handle = nvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu_handle, slot)
        except error:
            continue  # an empty slot answers NotFound
        uuid = nvml_text(nvml.nvmlDeviceGetUUID(handle))
        gi = int(nvml.nvmlDeviceGetGpuInstanceId(handle))
        ci = int(nvml.nvmlDeviceGetComputeInstanceId(handle))
        slices: int | None
        try:
            slices = int(nvml.nvmlDeviceGetAttributes(handle).gpuInstanceSliceCount) or None
        except error:
            slices = None
        try:
            name = nvml_text(nvml.nvmlDeviceGetName(handle))
        except error:
            name = ""
        found.append(
            MigDevice(
                handle=handle,
                uuid=uuid,
                legacy_name=f"MIG-{gpu_uuid}/{gi}/{ci}",
                profile=_profile_of(name, slices),
                gpu_instance_id=gi,
                slices=slices,
            )
        )
    return found


def discover(nvml: Any, index: int, error: type[BaseException]) -> Gpu:
    """The GPU at NVML ``index``: identity, PCI bus, MIG mode and MIG devices."""
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    uuid = nvml_text(nvml.nvmlDeviceGetUUID(handle))
    name = nvml_text(nvml.nvmlDeviceGetName(handle))
    try:
        pci_bus_id = nvml_text(nvml.nvmlDeviceGetPciInfo(handle).busId)
    except error:
        pci_bus_id = ""
    mig_enabled = False
    try:
        current = nvml.nvmlDeviceGetMigMode(handle)[0]
        mig_enabled = int(current) == int(
            getattr(nvml, "NVML_DEVICE_MIG_ENABLE", _NVML_DEVICE_MIG_ENABLE)
        )
    except error:
        pass  # GPUs without MIG answer NotSupported
    migs: list[MigDevice] = []
    total: int | None = None
    if mig_enabled:
        try:
            migs = _mig_devices(nvml, handle, uuid, error)
        except error as exc:
            log.warning(
                "GPU %s is in MIG mode but its MIG devices cannot be listed (%s): "
                "MIG UUIDs in CUDA_VISIBLE_DEVICES will not match it",
                index,
                exc,
            )
        total = _total_slices(nvml, handle, error)
    return Gpu(index, handle, uuid, name, pci_bus_id, mig_enabled, migs, total)


def choose_mode(nvml: Any, gpu: Gpu, error: type[BaseException]) -> str:
    """``"counter"`` if the total-energy counter answers, else ``"power"``.

    Raises the NVML error of the power read when power cannot be read either.
    """
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle)
        return "counter"
    except error as exc:
        log.debug("GPU %s has no total-energy counter (%s): polling power", gpu.index, exc)
    nvml.nvmlDeviceGetPowerUsage(gpu.handle)  # raises when power is not readable either
    return "power"


def device_info(gpu: Gpu, mode: str, selected_migs: list[MigDevice] | None) -> DeviceInfo:
    """The :class:`DeviceInfo` of a GPU read in ``mode``, with its MIG share when sliced."""
    extra: dict[str, str] = {
        "uuid": gpu.uuid,
        "index": str(gpu.index),
        "pci_bus_id": gpu.pci_bus_id,
        "reading": "total_energy_counter" if mode == "counter" else "power_usage",
        "mig_mode": "enabled" if gpu.mig_enabled else "disabled",
    }
    name = gpu.name
    listed = selected_migs if selected_migs is not None else gpu.mig_devices
    if listed:
        extra[EXTRA_MIG_INSTANCES] = ", ".join(f"{m.uuid} ({m.profile})" for m in listed)
        extra[EXTRA_MIG_PROFILE] = ", ".join(m.profile for m in listed)
    if selected_migs is not None:
        name = f"{gpu.name} (MIG {', '.join(m.profile for m in selected_migs)})"
        instances: dict[int, int | None] = {m.gpu_instance_id: m.slices for m in selected_migs}
        held = list(instances.values())
        if gpu.total_slices and all(s is not None for s in held):
            slices = sum(s for s in held if s is not None)
            extra[EXTRA_MIG_SLICES] = f"{slices}/{gpu.total_slices}"
            extra[EXTRA_MIG_SHARE] = f"{min(1.0, slices / gpu.total_slices):.6g}"
    return DeviceInfo(
        id=f"{SOURCE}:{gpu.uuid}",
        kind="gpu",
        name=name,
        source=SOURCE,
        measured=True,
        counter=mode == "counter",
        max_energy_j=None,  # a 64-bit millijoule counter: no wrap to handle
        extra=extra,
    )


def select_gpus(
    gpus: list[Gpu], environ: Mapping[str, str]
) -> list[tuple[Gpu, list[MigDevice] | None]]:
    """Visible GPUs in CUDA order, each with its selected MIG devices (``None``: whole GPU)."""
    value = environ.get("CUDA_VISIBLE_DEVICES")
    identifiers: list[list[str]] = [[gpu.uuid] for gpu in gpus]
    owners: list[tuple[Gpu, MigDevice]] = []
    for gpu in gpus:
        for mig in gpu.mig_devices:
            identifiers.append([mig.uuid, mig.legacy_name])
            owners.append((gpu, mig))
    positions = select_visible(value, identifiers, index_count=len(gpus))
    if positions is None:
        return [(gpu, None) for gpu in gpus]
    if value is not None and any(p < len(gpus) for p in positions):
        order = environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
        if order != "PCI_BUS_ID" and len({gpu.name for gpu in gpus}) > 1:
            log.warning(
                "CUDA_VISIBLE_DEVICES=%s gives indices on a machine with different GPU models "
                "and CUDA_DEVICE_ORDER=%s: CUDA may number GPUs differently from NVML. "
                "Set CUDA_DEVICE_ORDER=PCI_BUS_ID or use GPU UUIDs.",
                value,
                order,
            )
    chosen: dict[int, tuple[Gpu, list[MigDevice] | None]] = {}
    for position in positions:
        if position < len(gpus):
            gpu = gpus[position]
            chosen[id(gpu)] = (gpu, None)
            continue
        gpu, mig = owners[position - len(gpus)]
        current = chosen.get(id(gpu))
        if current is None:
            chosen[id(gpu)] = (gpu, [mig])
        elif current[1] is not None:
            current[1].append(mig)
    return list(chosen.values())
