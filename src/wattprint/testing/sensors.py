"""Deterministic fake sensors and clocks for testing integrations.

:class:`ScriptedSensor` replays scripted readings, one per :meth:`read`, so a
test knows exactly which joules the sampler must produce::

    sensor = ScriptedSensor.counter("gpu", [0.0, 100.0, 250.0], max_energy_j=1000.0)
    sampler = Sampler([sensor], sink, interval_s=1, monotonic=clock, wall=clock)

``None`` in a script is a failed read (a gap). Raising an exception from a
script (pass the exception instance) makes the whole sensor fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wattprint.sensors.base import DeviceInfo, Reading


@dataclass
class FakeClock:
    """A manual clock: call it for the time, :meth:`advance` to move it."""

    now: float = 0.0

    def __call__(self) -> float:
        """The current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@dataclass
class ScriptedSensor:
    """A sensor whose devices replay scripted values.

    Attributes:
        name: sensor name.
        scripts: device id -> values (cumulative joules for counters, watts
            for power devices); ``None`` = failed read; an exception instance
            = the whole sensor raises. After the script ends the last value
            repeats.
        infos: device id -> :class:`DeviceInfo`.
    """

    name: str
    scripts: dict[str, Sequence[float | BaseException | None]]
    infos: dict[str, DeviceInfo]
    reads: int = 0
    closed: bool = False
    _pos: dict[str, int] = field(default_factory=dict)

    @classmethod
    def counter(cls, kind: str, values: Sequence[float | BaseException | None], *,
                max_energy_j: float | None = None, device_id: str | None = None,
                name: str = "fake", measured: bool = True) -> ScriptedSensor:
        """One counter device replaying cumulative joules."""
        did = device_id or f"{name}:{kind}-0"
        info = DeviceInfo(did, kind, f"fake {kind}", name, measured, True, max_energy_j)
        return cls(name, {did: values}, {did: info})

    @classmethod
    def power(cls, kind: str, values: Sequence[float | BaseException | None], *,
              device_id: str | None = None, name: str = "fake",
              measured: bool = True) -> ScriptedSensor:
        """One power device replaying watts."""
        did = device_id or f"{name}:{kind}-0"
        info = DeviceInfo(did, kind, f"fake {kind}", name, measured, False, None,
                          None if measured else "scripted power model")
        return cls(name, {did: values}, {did: info})

    def devices(self) -> list[DeviceInfo]:
        """The scripted devices."""
        return list(self.infos.values())

    def read(self) -> Mapping[str, Reading]:
        """Next scripted value of each device."""
        self.reads += 1
        out: dict[str, Reading] = {}
        for device_id, script in self.scripts.items():
            pos = self._pos.get(device_id, 0)
            value = script[min(pos, len(script) - 1)]
            self._pos[device_id] = pos + 1
            if isinstance(value, BaseException):
                raise value
            if value is None:
                continue
            counter = self.infos[device_id].counter
            out[device_id] = Reading(energy_j=value) if counter else Reading(power_w=value)
        return out

    def close(self) -> None:
        """Mark closed."""
        self.closed = True
