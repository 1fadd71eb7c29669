"""The sensor protocol: what every hardware source gives the sampler.

A sensor *reads*; the sampler *computes*. A sensor lists its devices once
(:meth:`Sensor.devices`) and, on every tick, returns one raw :class:`Reading`
per device (:meth:`Sensor.read`):

* a **counter** device (RAPL ``energy_uj``, NVML total energy) returns its
  cumulative counter in joules in :attr:`Reading.energy_j`; the sampler takes
  deltas and handles wrap-around using :attr:`DeviceInfo.max_energy_j`;
* a **power** device (NVML power on pre-Volta GPUs, IPMI, power models)
  returns instantaneous watts in :attr:`Reading.power_w`; the sampler
  integrates over time (trapezoid rule).

A device whose read failed is absent from the returned mapping, or present
with both values ``None`` and, better, the reason in :attr:`Reading.failure`:
the sampler records a *gap* for that interval with the reason, never 0 J.
Sensors do not keep score of failures: the sampler counts failed reads in a
row per device and, after too many (or at once for a failure marked
:attr:`Reading.permanent`, such as a GPU the driver reports lost), drops the
device with one warning and tells the sensor through
:meth:`DeviceDropper.drop`, where it has that ability.

Optional abilities are separate small protocols, so a sensor only implements
what its hardware can do: :class:`ProcessEnergySource` (per-process GPU
accounting from the driver), :class:`ShareRuleSource`, :class:`ProcessBreakdownSource`,
:class:`DeviceDropper`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar, runtime_checkable

from wattprint.errors import SensorUnavailable
from wattprint.records import DEVICE_KINDS, DeviceInfo

log = logging.getLogger(__name__)
_Opened = TypeVar("_Opened")

__all__ = [
    "DEVICE_KINDS",
    "EXTRA_POWER_READING",
    "MEAN_SINCE_PREVIOUS_READ",
    "DeviceDropper",
    "DeviceInfo",
    "ProcessBreakdownSource",
    "ProcessEnergySource",
    "Reading",
    "Sensor",
    "ShareRuleSource",
    "SkippedSensor",
    "open_with_library",
]

#: :attr:`DeviceInfo.extra` key saying what a power device's watts stand for.
EXTRA_POWER_READING = "power_reading"
#: The watts are the mean power since the sensor's previous read (a power model
#: whose utilisation is a difference of counters), not an instantaneous value.
#: Such a sensor takes its counters' baseline when it opens, so its first read
#: may carry no value yet: the sampler then counts the device from that first
#: read on, charging the first value over the whole first interval.
MEAN_SINCE_PREVIOUS_READ = "mean-since-previous-read"


class Reading(NamedTuple):
    """One raw reading of one device (a named tuple: one is made per device per tick).

    Exactly one of ``energy_j`` (counter devices, cumulative joules) or
    ``power_w`` (power devices, instantaneous watts) is set; both ``None``
    means the read failed and the interval is a gap, ``failure`` saying why.
    ``permanent`` marks a failure that will not go away (a GPU the driver
    reports lost): the sampler drops the device at once.
    """

    energy_j: float | None = None
    power_w: float | None = None
    failure: str | None = None
    permanent: bool = False


@runtime_checkable
class Sensor(Protocol):
    """A source of device readings (RAPL, NVML, amdsmi, a power model...)."""

    #: registry name of the sensor (``"rapl"``, ``"nvml"``...)
    name: str

    def devices(self) -> list[DeviceInfo]:
        """The devices this sensor reports on; fixed for the sensor's life."""
        ...

    def read(self) -> Mapping[str, Reading]:
        """Read every device once; keys are :attr:`DeviceInfo.id`.

        Must not raise for a failed device: return a :class:`Reading` with
        its ``failure`` (or leave the device out): a gap. May raise only if
        the whole sensor is broken, in which case the sampler drops the
        sensor with one warning, its devices' gaps carrying the error.
        """
        ...

    def close(self) -> None:
        """Release the library or file handles; idempotent."""
        ...


@runtime_checkable
class ProcessEnergySource(Protocol):
    """Optional ability: per-process shares of a device's energy.

    NVML gives per-process GPU utilisation on most data-centre GPUs; a sensor
    that can say "these pids used this share of device X" implements this.
    """

    def process_shares(self, pids: frozenset[int]) -> Mapping[str, float]:
        """Share (0..1) of each device's recent activity due to ``pids``.

        Devices for which the driver gives no per-process accounting are left
        out; the sampler then falls back to its default rule for that device.
        """
        ...


@runtime_checkable
class ShareRuleSource(Protocol):
    """Optional ability: the rule behind each share of the latest ``process_shares`` call.

    Rules are the names in :mod:`wattprint.records` (``nvml-process-utilization``,
    ``nvml-process-memory``, ``mig-slice-share``). A device left out of the
    shares because none of the driver's pids can be matched with ours (they
    live in another pid namespace) is reported as ``whole-device-foreign-pids``.
    """

    def share_rules(self) -> Mapping[str, str]:
        """Device id -> rule of the latest :meth:`ProcessEnergySource.process_shares` call."""
        ...


@runtime_checkable
class ProcessBreakdownSource(Protocol):
    """Optional ability: each device's recent activity split across all its processes.

    What a node agent needs to charge every process its share of a GPU.
    """

    def process_breakdown(self) -> Mapping[str, Mapping[int, float]]:
        """Device id -> pid -> share (shares of a device sum to 1) since the last call."""
        ...


@runtime_checkable
class DeviceDropper(Protocol):
    """Optional ability: stop reading a device the sampler gave up on.

    Saves the driver calls (and their timeouts) a broken device would cost on
    every later tick.
    """

    def drop(self, device_id: str) -> None:
        """Stop reading ``device_id``: later reads and shares leave it out."""
        ...


@dataclass
class SkippedSensor:
    """Why a sensor (or one of its domains) was not used."""

    sensor: str
    reason: str
    #: ``True`` when this is a whole sensor skipped, ``False`` for one
    #: domain/device of a sensor that is otherwise in use.
    whole: bool = True


def open_with_library(library: str, init: Callable[[], object], shutdown: Callable[[], object],
                      error: type[BaseException], hint: str,
                      open_devices: Callable[[], _Opened]) -> _Opened:
    """Initialise a vendor library, open its devices, and shut it down if that fails.

    Args:
        library: the library's name in messages (``NVML``, ``amdsmi``).
        init: the library's initialisation call.
        shutdown: its shutdown call, made when opening the devices fails.
        error: the library's own exception type (a failed shutdown is only logged).
        hint: what to check when initialisation fails, for the message.
        open_devices: opens the sensor once the library is initialised.

    Returns:
        What ``open_devices`` returns; it holds the initialisation until closed.

    Raises:
        SensorUnavailable: the library could not initialise; any error of
            ``open_devices`` is raised after the shutdown.
    """
    try:
        init()
    except Exception as exc:
        raise SensorUnavailable(f"{library} could not initialise: {exc}; {hint}") from exc
    try:
        return open_devices()
    except BaseException:
        try:
            shutdown()
        except error:
            log.debug("%s shutdown after a failed open failed", library, exc_info=True)
        raise
