"""NVIDIA GPUs through NVML, the library behind ``nvidia-smi``.

**Two ways to measure.** Since Volta (V100, 2017) NVML keeps a *total-energy
counter* per board, ``nvmlDeviceGetTotalEnergyConsumption``: millijoules
since the driver was loaded, in 64 bits (it does not wrap in the life of a
machine; it restarts when the driver reloads). Such a GPU becomes a *counter*
device: each read returns the counter in joules and the sampler takes
differences, so no energy between two reads is missed, however sparse the
reads. Older GPUs (and some virtualised ones) answer ``NotSupported``; they
become *power* devices: each read returns ``nvmlDeviceGetPowerUsage``
(milliwatts, reported here in watts), which the sampler integrates over time.
On Ampere and later that value is a one-second average, on older boards an
instantaneous one, so sparse polling of a bursty load misses detail.

Opening the sensor reads each counter once to learn whether it works; the
value is discarded.

**Which GPUs.** Only GPUs the tracked process may use are reported:
``CUDA_VISIBLE_DEVICES`` is parsed with CUDA's rules
(:mod:`wattprint.sensors.visible`). Indices are mapped in NVML order, which is
PCI bus order; CUDA numbers GPUs fastest first unless
``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so on a machine mixing GPU models, indices
can name other GPUs than CUDA means (wattprint logs a warning then; set
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or use UUIDs).

**MIG.** An A100/H100 in Multi-Instance GPU mode is split into *GPU
instances* of whole *slices* (7 on A100/H100, 4 on A30), each holding one or
more *compute instances*; CUDA sees each compute instance as a MIG device with
its own ``MIG-...`` UUID. NVML measures energy and power only for the whole
board, never per instance. wattprint therefore reports the **parent GPU once**
(id ``nvml:<GPU uuid>``), and when ``CUDA_VISIBLE_DEVICES`` selects MIG
devices it records in :attr:`~wattprint.sensors.base.DeviceInfo.extra`:

* ``mig_instances``: the visible MIG devices with their profiles;
* ``mig_slices``: ``"<slices held>/<slices of the GPU>"``, counting each GPU
  instance once (compute instances of one GPU instance share its memory and
  slices, so a compute instance is charged its whole GPU instance);
* ``mig_share``: the same as a fraction, the share of the board's energy the
  process is charged by the *slice rule*.

A whole GPU selected (variable unset, an index, a ``GPU-`` UUID) is charged
whole even in MIG mode; its ``extra`` lists all its MIG devices but has no
``mig_share``.

**Per-process shares** (:meth:`NvmlSensor.process_shares`, the
:class:`~wattprint.sensors.base.ProcessEnergySource` ability):

* outside MIG, the SM-utilisation samples of
  ``nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp)``: share =
  the tracked pids' summed SM utilisation over all processes', rule
  ``nvml-process-utilization``. The driver samples at its own pace (every
  1/6 s to 1 s, depending on the GPU) and returns only samples stamped
  (in microseconds) after ``lastSeenTimeStamp``, answering ``NotFound`` when
  none is new. Between two driver samples the last SM share is kept, so
  sampling faster than the driver never flips the basis from one tick to
  the next. Only a GPU that has given no SM share yet (no samples, or no
  support for them) falls back to ``nvmlDeviceGetComputeRunningProcesses``:
  share = the tracked pids' used GPU memory over all compute processes',
  rule ``nvml-process-memory``;
* in MIG mode (no utilisation there): the slices of the GPU instances on
  which a tracked pid runs, over the GPU's slices — a fraction of the whole
  board, which replaces (does not multiply) ``mig_share``; rule
  ``mig-slice-share``.

A device is left out (the sampler falls back: ``mig_share`` for selected MIG
instances, else the whole device) when the driver gives no process
information or no process runs on it, or when none of the pids NVML reports
exists under ``/proc`` of this process's pid namespace: inside a container
NVML reports host pids, which cannot be matched, and "none of them is ours"
would then be a silent zero. :meth:`NvmlSensor.share_rules` says which rule
each share followed, and marks that last case ``whole-device-foreign-pids``.

**Failures.** A failed read is a gap for that device: :meth:`NvmlSensor.read`
returns a :class:`~wattprint.sensors.base.Reading` with no value and NVML's
error as its ``failure``, never 0 J and never an exception. When NVML says
the GPU is lost the failure is ``permanent`` and the sensor stops touching
that GPU. The sampler counts failures in a row and drops a device (with one
warning) after too many, calling :meth:`NvmlSensor.drop`. ``nvmlShutdown``
is called once on :meth:`NvmlSensor.close`.

The ``pynvml`` module (package ``nvidia-ml-py``) is imported only when the
sensor opens; tests pass :class:`wattprint.testing.fake_nvml.FakeNVML`
instead through :class:`~wattprint.sensors.context.SensorContext`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wattprint.errors import SensorUnavailable
from wattprint.records import (
    MIG_SLICE_SHARE,
    NVML_PROCESS,
    NVML_PROCESS_MEMORY,
    WHOLE_DEVICE_FOREIGN_PIDS,
)
from wattprint.sensors.base import DeviceInfo, Reading, SkippedSensor, open_with_library
from wattprint.sensors.context import SensorContext
from wattprint.sensors.nvml_devices import (
    EXTRA_MIG_INSTANCES,
    EXTRA_MIG_PROFILE,
    EXTRA_MIG_SHARE,
    EXTRA_MIG_SLICES,
    MW_PER_W,
    NVML_ERROR_GPU_IS_LOST,
    SOURCE,
    Gpu,
    choose_mode,
    device_info,
    discover,
    error_code,
    import_pynvml,
    require_driver,
    select_gpus,
)
from wattprint.units import mj_to_j

log = logging.getLogger(__name__)


class _Unmatched:
    """Marker: the driver reported pids, none of them in our pid namespace."""


_UNMATCHED = _Unmatched()
#: what a share lookup found: a share, nothing, or pids that cannot be matched
_Found = float | None | _Unmatched


def _format_share(share: float) -> str:
    return f"{share:.6g}"


class NvmlSensor:
    """NVIDIA GPUs: total-energy counter where the GPU has one, else power polling.

    Built by :func:`open_sensor`; see the module docstring for the rules.
    """

    name = SOURCE

    def __init__(
        self,
        nvml: Any,
        gpus: list[Gpu],
        proc_root: Path = Path("/proc"),
    ) -> None:
        self._nvml = nvml
        self._gpus = gpus
        self._proc_root = proc_root
        self._error: type[BaseException] = getattr(nvml, "NVMLError", Exception)
        self._lost_code = getattr(nvml, "NVML_ERROR_GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST)
        self._not_found_code = getattr(nvml, "NVML_ERROR_NOT_FOUND", 6)
        self._closed = False
        self._rules: dict[str, str] = {}

    def devices(self) -> list[DeviceInfo]:
        """The visible GPUs, one device each (a MIG GPU once, as its parent)."""
        return [gpu.info for gpu in self._gpus if gpu.info is not None]

    def read(self) -> Mapping[str, Reading]:
        """Read every GPU once: joules from the counter, or watts.

        Returns:
            Readings by device id; a GPU whose read failed has a reading with
            the reason as its ``failure`` (a gap); a dropped GPU is absent.
        """
        readings: dict[str, Reading] = {}
        for gpu in self._gpus:
            if gpu.dropped or gpu.info is None:
                continue
            try:
                if gpu.counter:
                    energy_mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle)
                    reading = Reading(energy_j=mj_to_j(float(energy_mj)))
                else:
                    power_mw = self._nvml.nvmlDeviceGetPowerUsage(gpu.handle)
                    reading = Reading(power_w=float(power_mw) / MW_PER_W)
            except self._error as exc:
                reading = self._failure(gpu, exc)
            readings[gpu.info.id] = reading
        return readings

    def _failure(self, gpu: Gpu, exc: BaseException) -> Reading:
        if error_code(exc) == self._lost_code:
            gpu.dropped = True  # a lost GPU never answers again: stop calling NVML on it
            return Reading(failure=f"NVML reports GPU {gpu.index} ({gpu.uuid}) lost: {exc}; "
                                   "it needs a reset (nvidia-smi -r) or a reboot",
                           permanent=True)
        log.debug("NVML read of GPU %s failed: %s (a gap)", gpu.index, exc)
        return Reading(failure=f"NVML read failed: {exc}")

    def drop(self, device_id: str) -> None:
        """Stop reading a GPU the sampler gave up on (its energy stays a gap)."""
        for gpu in self._gpus:
            if gpu.info is not None and gpu.info.id == device_id:
                gpu.dropped = True

    def process_shares(self, pids: frozenset[int]) -> Mapping[str, float]:
        """Share (0..1) of each GPU's recent activity due to ``pids``.

        Args:
            pids: the tracked process tree, as host pids.

        Returns:
            Shares by device id; GPUs without usable per-process accounting
            are left out (see the module docstring for the rules, and
            :meth:`share_rules` for the rule each share followed).
        """
        shares: dict[str, float] = {}
        rules: dict[str, str] = {}
        for gpu in self._gpus:
            if gpu.dropped or gpu.info is None:
                continue
            found: _Found
            if gpu.mig_enabled:
                found, rule = self._mig_share(gpu, pids), MIG_SLICE_SHARE
            else:
                found, rule = self._utilisation_share(gpu, pids), NVML_PROCESS
                if found is None:
                    found, rule = self._memory_share(gpu, pids), NVML_PROCESS_MEMORY
            if isinstance(found, _Unmatched):
                rules[gpu.info.id] = WHOLE_DEVICE_FOREIGN_PIDS
            elif found is not None:
                shares[gpu.info.id] = found
                rules[gpu.info.id] = rule
        self._rules = rules
        return shares

    def share_rules(self) -> Mapping[str, str]:
        """The rule of each share the latest :meth:`process_shares` call returned.

        ``nvml-process-utilization``, ``nvml-process-memory`` or
        ``mig-slice-share``; a GPU left out because none of the driver's pids
        is in our pid namespace is ``whole-device-foreign-pids``; other GPUs
        left out are absent.
        """
        return dict(self._rules)

    def _visible_here(self, reported: set[int], pids: frozenset[int]) -> bool:
        """Whether NVML's pids live in our pid namespace (else shares cannot be matched)."""
        if reported & pids:
            return True
        return any((self._proc_root / str(pid)).exists() for pid in reported)

    def _utilisation_by_pid(self, gpu: Gpu, since_us: int
                            ) -> tuple[dict[int, float], int] | None:
        """SM utilisation per pid in the driver's samples newer than ``since_us``.

        Returns:
            The utilisation per pid (empty when the driver has no new sample,
            which NVML answers with ``NotFound``) and the newest timestamp;
            ``None`` when the GPU gives no utilisation samples at all.
        """
        try:
            samples = self._nvml.nvmlDeviceGetProcessUtilization(gpu.handle, since_us)
        except self._error as exc:
            if error_code(exc) == self._not_found_code:
                return {}, since_us  # no sample since the last one: the driver's pace
            log.debug("no process utilisation on GPU %s: %s", gpu.index, exc)
            return None
        by_pid: dict[int, float] = {}
        newest = since_us
        for sample in samples:
            stamp = int(sample.timeStamp)
            if stamp <= since_us:
                continue
            newest = max(newest, stamp)
            by_pid[int(sample.pid)] = by_pid.get(int(sample.pid), 0.0) + float(sample.smUtil)
        return by_pid, newest

    def _memory_by_pid(self, gpu: Gpu) -> dict[int, float] | None:
        """GPU memory in use per pid."""
        try:
            processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(gpu.handle)
        except self._error as exc:
            log.debug("no process list on GPU %s: %s", gpu.index, exc)
            return None
        memory: dict[int, float] = {}
        for process in processes:
            used = process.usedGpuMemory
            memory[int(process.pid)] = memory.get(int(process.pid), 0.0) + float(used or 0)
        return memory

    def _utilisation_share(self, gpu: Gpu, pids: frozenset[int]) -> _Found:
        """The SM share; the last one between driver samples; ``None`` if there never was one."""
        found = self._utilisation_by_pid(gpu, gpu.last_sample_us)
        if found is None:
            return gpu.last_util_share
        by_pid, gpu.last_sample_us = found
        total = sum(by_pid.values())
        if total <= 0:  # no new sample (or an idle GPU): keep the basis of the last one
            return gpu.last_util_share
        if not self._visible_here(set(by_pid), pids):
            return _UNMATCHED
        gpu.last_util_share = sum(util for pid, util in by_pid.items() if pid in pids) / total
        return gpu.last_util_share

    def _memory_share(self, gpu: Gpu, pids: frozenset[int]) -> _Found:
        memory = self._memory_by_pid(gpu)
        if memory is None:
            return None
        total = sum(memory.values())
        if total <= 0:
            return None
        if not self._visible_here(set(memory), pids):
            return _UNMATCHED
        return sum(used for pid, used in memory.items() if pid in pids) / total

    def process_breakdown(self) -> Mapping[str, Mapping[int, float]]:
        """Each GPU's activity since the last call split by process (shares sum to 1).

        For a node agent that charges every process its share. By SM
        utilisation samples where the driver gives them, else by GPU memory in
        use; GPUs in MIG mode and GPUs with no reported activity are left out
        (their energy stays unattributed).
        """
        out: dict[str, Mapping[int, float]] = {}
        for gpu in self._gpus:
            if gpu.dropped or gpu.info is None or gpu.mig_enabled:
                continue
            weights: dict[int, float] | None = None
            found = self._utilisation_by_pid(gpu, gpu.breakdown_sample_us)
            if found is not None:
                weights, gpu.breakdown_sample_us = found
            if weights and sum(weights.values()) > 0:
                gpu.last_util_weights = weights
            else:  # between driver samples: the last SM weights, not another basis
                weights = gpu.last_util_weights or self._memory_by_pid(gpu)
            total = sum(weights.values()) if weights else 0.0
            if weights and total > 0:
                out[gpu.info.id] = {pid: w / total for pid, w in weights.items() if w > 0}
        return out

    def _mig_share(self, gpu: Gpu, pids: frozenset[int]) -> _Found:
        if not gpu.total_slices:
            return None
        reported: set[int] = set()
        ours_on: dict[int, int] = {}  # gpu instance id -> its slices
        for mig in gpu.mig_devices:
            try:
                processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(mig.handle)
            except self._error as exc:
                log.debug("no process list on MIG device %s: %s", mig.uuid, exc)
                return None
            for process in processes:
                reported.add(int(process.pid))
                if int(process.pid) in pids:
                    if mig.slices is None:
                        return None
                    ours_on[mig.gpu_instance_id] = mig.slices
        if not reported:
            return None
        if not self._visible_here(reported, pids):
            return _UNMATCHED
        return min(1.0, sum(ours_on.values()) / gpu.total_slices)

    def close(self) -> None:
        """Shut NVML down (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._nvml.nvmlShutdown()
        except self._error as exc:
            log.debug("nvmlShutdown failed: %s", exc)


def open_sensor(
    ctx: SensorContext, covered_kinds: frozenset[str], notes: list[SkippedSensor]
) -> NvmlSensor:
    """Open NVML and list the GPUs this process may use.

    Args:
        ctx: where to look; ``ctx.nvml`` replaces ``pynvml`` (tests), and
            ``ctx.environ`` supplies ``CUDA_VISIBLE_DEVICES``.
        covered_kinds: ignored: GPUs of other vendors are other devices.
        notes: receives one entry per GPU that could not be used.

    Returns:
        The sensor, holding one NVML initialisation until closed.

    Raises:
        SensorUnavailable: ``nvidia-ml-py`` is not installed, NVML cannot
            initialise (no driver), there is no GPU, none is visible to this
            process, or none can be read.
    """
    del covered_kinds
    if ctx.nvml is None:
        require_driver(ctx)
    nvml = ctx.nvml if ctx.nvml is not None else import_pynvml()
    error: type[BaseException] = getattr(nvml, "NVMLError", Exception)
    return open_with_library("NVML", nvml.nvmlInit, nvml.nvmlShutdown, error,
                             "is the NVIDIA driver installed and loaded?",
                             lambda: _open(nvml, ctx, notes, error))


def _open(
    nvml: Any, ctx: SensorContext, notes: list[SkippedSensor], error: type[BaseException]
) -> NvmlSensor:
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except error as exc:
        raise SensorUnavailable(f"NVML cannot count GPUs: {exc}") from exc
    if count == 0:
        raise SensorUnavailable("NVML found no NVIDIA GPU")
    found: list[Gpu] = []
    for index in range(count):
        try:
            found.append(discover(nvml, index, error))
        except error as exc:
            notes.append(SkippedSensor(SOURCE, f"GPU {index}: cannot be queried: {exc}", False))
    selection = select_gpus(found, ctx.environ)
    if not selection:
        raise SensorUnavailable(
            f"CUDA_VISIBLE_DEVICES={ctx.environ.get('CUDA_VISIBLE_DEVICES', '')!r} "
            "leaves this process no GPU"
        )
    gpus: list[Gpu] = []
    for gpu, selected_migs in selection:
        try:
            mode = choose_mode(nvml, gpu, error)
        except error as exc:
            notes.append(
                SkippedSensor(
                    SOURCE,
                    f"GPU {gpu.index} ({gpu.name}): neither energy nor power readable: {exc}",
                    False,
                )
            )
            continue
        gpu.counter = mode == "counter"
        gpu.info = device_info(gpu, mode, selected_migs)
        gpus.append(gpu)
    if not gpus:
        raise SensorUnavailable("no visible NVIDIA GPU can report energy or power")
    for gpu in gpus:
        if gpu.mig_enabled and not gpu.total_slices:
            log.info(
                "GPU %s is in MIG mode but its slice count is unknown: "
                "no MIG share is recorded for it",
                gpu.index,
            )
    return NvmlSensor(nvml, gpus, proc_root=ctx.proc_root)


__all__ = [
    "EXTRA_MIG_INSTANCES",
    "EXTRA_MIG_PROFILE",
    "EXTRA_MIG_SHARE",
    "EXTRA_MIG_SLICES",
    "NvmlSensor",
    "open_sensor",
]
