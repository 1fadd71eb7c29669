"""A run's devices: the sensors it opens and the energy it reports per device.

:func:`open_sensors` detects the sensors a run reads (from its settings);
:class:`DeviceEnergy` is one device's energy over the run, as
:meth:`wattprint.run.Tracker.by_device` returns it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from wattprint.config import Settings
from wattprint.sensors.base import DeviceInfo, Sensor, SkippedSensor
from wattprint.sensors.context import SensorContext


@dataclass(frozen=True)
class DeviceEnergy:
    """One device's energy over a run.

    Attributes:
        id: device id (``rapl:package-0``, ``nvml:GPU-…``).
        kind: ``cpu``, ``dram``, ``ram``, ``gpu``, ``psys`` or ``node``.
        name: device name.
        source: sensor that read it.
        measured: ``True`` for hardware counters, ``False`` for power models.
        model: the power model, for estimated devices.
        energy_j: whole-device energy (joules).
        attributed_energy_j: the tracked processes' share (joules).
        share_rule: how the share was computed.
        mean_power_w: whole-device mean power over the measured time.
    """

    id: str
    kind: str
    name: str
    source: str
    measured: bool
    model: str | None
    energy_j: float
    attributed_energy_j: float
    share_rule: str
    mean_power_w: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "source": self.source,
            "measured": self.measured, "model": self.model, "energy_j": self.energy_j,
            "attributed_energy_j": self.attributed_energy_j, "share_rule": self.share_rule,
            "mean_power_w": self.mean_power_w,
        }


def _device_energy(info: DeviceInfo, rule: str, energy_j: float, attributed_j: float,
                   covered_s: float) -> DeviceEnergy:
    return DeviceEnergy(
        id=info.id, kind=info.kind, name=info.name, source=info.source, measured=info.measured,
        model=info.model, energy_j=energy_j, attributed_energy_j=attributed_j, share_rule=rule,
        mean_power_w=energy_j / covered_s if covered_s > 0 else 0.0,
    )


def sensor_context(settings: Settings, environ: dict[str, str] | None = None) -> SensorContext:
    """The sensor context implied by settings."""
    return SensorContext(
        sysfs_root=settings.sysfs_root,
        environ=dict(os.environ) if environ is None else environ,
        rapl_mode=settings.rapl_mode,
        node_power=node_power_options(settings),
    )


def node_power_options(settings: Settings) -> Any:
    """The BMC the settings name, as :class:`~wattprint.sensors.node_power.NodePowerOptions`.

    ``None`` when node power is off. The Redfish password is read from its
    file only when the sensor opens (a missing file is the sensor's skip reason).
    """
    if settings.node_power == "off":
        return None
    from wattprint.sensors.ipmi import IpmiOptions
    from wattprint.sensors.node_power import NodePowerOptions
    from wattprint.sensors.redfish import RedfishOptions

    ipmi = IpmiOptions(interface=settings.ipmi_interface, host=settings.ipmi_host,
                       user=settings.ipmi_user, password_file=settings.ipmi_password_file)
    redfish = None
    if settings.redfish_url:
        redfish = RedfishOptions(url=settings.redfish_url, user=settings.redfish_user,
                                 chassis=settings.redfish_chassis, auth=settings.redfish_auth,
                                 verify=settings.redfish_verify,
                                 password_file=settings.redfish_password_file)
    return NodePowerOptions(settings.node_power, settings.node_power_period_s,
                            settings.node_power_timeout_s, ipmi, redfish)


def open_sensors(settings: Settings, context: SensorContext | None = None
                 ) -> tuple[list[Sensor], list[SkippedSensor]]:
    """Detect sensors for these settings (raises only for sensors the user asked for)."""
    from wattprint.sensors.detect import detect

    found = detect(context or sensor_context(settings), settings.sensors or None)
    return found.sensors, found.skipped


__all__ = ["DeviceEnergy", "node_power_options", "open_sensors", "sensor_context"]
