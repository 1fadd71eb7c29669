"""Find the sensors this machine has, in preference order, keeping every skip reason.

The registry is a plain dict from name to factory, tried in order: measured
sources first (RAPL, NVML, amdsmi), then the power models, which only cover
the device kinds no measured sensor covers (a machine with RAPL package
domains gets no CPU model; one without a RAPL ``dram`` domain gets a RAM
model). A sensor the user *asked for* that cannot open is an error; one merely
discovered is skipped with its reason, which ``wattprint sensors`` shows.
The node power sensor (``node``: the BMC over IPMI or Redfish) comes last:
it contains the others rather than replacing any, and it is skipped, with
the reason, unless ``node_power`` is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wattprint.errors import SensorError, SensorUnavailable
from wattprint.sensors.base import Sensor, SkippedSensor
from wattprint.sensors.context import SensorContext

log = logging.getLogger(__name__)

#: ``factory(context, covered_kinds, notes) -> Sensor``. ``covered_kinds`` are
#: device kinds already measured by an earlier sensor; ``notes`` collects
#: per-domain skips of a sensor that otherwise opens. Raises
#: :class:`~wattprint.errors.SensorUnavailable` to be skipped.
SensorFactory = Callable[[SensorContext, frozenset[str], list[SkippedSensor]], Sensor]


def _rapl(ctx: SensorContext, covered: frozenset[str], notes: list[SkippedSensor]) -> Sensor:
    from wattprint.sensors import rapl

    return rapl.open_sensor(ctx, covered, notes)


def _nvml(ctx: SensorContext, covered: frozenset[str], notes: list[SkippedSensor]) -> Sensor:
    from wattprint.sensors import nvml

    return nvml.open_sensor(ctx, covered, notes)


def _amdsmi(ctx: SensorContext, covered: frozenset[str], notes: list[SkippedSensor]) -> Sensor:
    from wattprint.sensors import amdsmi

    return amdsmi.open_sensor(ctx, covered, notes)


def _model(ctx: SensorContext, covered: frozenset[str], notes: list[SkippedSensor]) -> Sensor:
    from wattprint.sensors import model

    return model.open_sensor(ctx, covered, notes)


def _node(ctx: SensorContext, covered: frozenset[str], notes: list[SkippedSensor]) -> Sensor:
    from wattprint.sensors import node_power

    return node_power.open_sensor(ctx, covered, notes)


#: Sensors in preference order. Modules are imported only when tried.
REGISTRY: dict[str, SensorFactory] = {
    "rapl": _rapl,
    "nvml": _nvml,
    "amdsmi": _amdsmi,
    "model": _model,
    "node": _node,
}


@dataclass
class Detection:
    """The sensors opened and everything skipped, with reasons."""

    sensors: list[Sensor] = field(default_factory=list)
    skipped: list[SkippedSensor] = field(default_factory=list)

    def close(self) -> None:
        """Close every opened sensor."""
        for sensor in self.sensors:
            try:
                sensor.close()
            except Exception:  # closing must never hurt the host program
                log.debug("closing sensor %s failed", sensor.name, exc_info=True)


def detect(ctx: SensorContext | None = None, only: Sequence[str] | None = None) -> Detection:
    """Open every available sensor (or only those named in ``only``).

    Args:
        ctx: where to look; default the real machine.
        only: sensor names the user asked for. Each must open, or
            :class:`~wattprint.errors.SensorError` is raised naming the reason.

    Returns:
        A :class:`Detection` with the opened sensors and the skip reasons.
    """
    ctx = ctx or SensorContext()
    wanted = list(only) if only else list(REGISTRY)
    unknown = [name for name in wanted if name not in REGISTRY]
    if unknown:
        raise SensorError(
            f"unknown sensor(s) {', '.join(unknown)}: choose from {', '.join(REGISTRY)}"
        )
    found = Detection()
    covered: set[str] = set()
    for name in REGISTRY:
        if name not in wanted:
            continue
        notes: list[SkippedSensor] = []
        try:
            sensor = REGISTRY[name](ctx, frozenset(covered), notes)
        except SensorUnavailable as exc:
            if only:
                raise SensorError(
                    f"sensor {name!r} was asked for but is unavailable: {exc}"
                ) from exc
            found.skipped.append(SkippedSensor(name, str(exc)))
            found.skipped.extend(notes)
            continue
        except Exception as exc:  # a broken vendor library must not stop the run
            if only:
                raise SensorError(f"sensor {name!r} failed to open: {exc}") from exc
            log.debug("sensor %s failed to open", name, exc_info=True)
            found.skipped.append(SkippedSensor(name, f"failed to open: {exc}"))
            found.skipped.extend(notes)
            continue
        found.sensors.append(sensor)
        found.skipped.extend(notes)
        covered.update(device.kind for device in sensor.devices())
    return found
