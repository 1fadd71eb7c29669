"""RAPL energy counters of the CPU and DRAM, read through Linux powercap.

**What RAPL is.** Running Average Power Limit is the power-management unit of
Intel CPUs since Sandy Bridge (and of AMD CPUs since Zen, which implement the
same interface). It keeps 32-bit *energy status* counters per domain, updated
about every millisecond from a model calibrated against on-die sensors. Linux
shows them through the power-capping framework in sysfs, one *zone* per
domain, under ``/sys/class/powercap``:

===================  =========================================================
zone name            what it measures
===================  =========================================================
``package-N``        the whole CPU package of socket N: cores, caches, uncore,
                     integrated memory controller
``package-N-die-M``  one die of a multi-die package (Cascade Lake-AP); the
                     kernel then has no plain ``package-N`` zone
``core``             (child of a package) the cores only (PP0). On AMD it is
                     one core's counter read on the package's first CPU
``uncore``           (child of a package) the integrated GPU of client parts (PP1)
``dram``             (child of a package) the memory attached to that socket
``psys``             the platform (``psys-N`` for packages other than 0): what the
                     power delivery feeds, package and DRAM *included*
===================  =========================================================

Each zone directory has ``name``, ``energy_uj`` (the counter scaled to
microjoules) and ``max_energy_range_uj`` (where it wraps back to 0: the 32-bit
register times the energy unit, 262,143 J for an Intel package, about 65,713 J
for server DRAM: minutes at full load). The same package may be shown twice:
by the MSR interface (zones ``intel-rapl:N``) and, on client CPUs since
Skylake, by the MMIO interface (``intel-rapl-mmio:N``) with the same
``name``; Granite Rapids and later add the TPMI interface
(``intel-rapl-tpmi:N``). Zone numbers follow registration order, not sockets,
so zones are identified by ``name``.

**The counting rule** (so no joule is counted twice):

1. Per socket, ``package`` (device ``rapl:package-N``, kind ``cpu``) plus its
   ``dram`` child (``rapl:dram-N``, kind ``dram``). ``core`` and ``uncore``
   are parts of the package and are never added to it.
2. A package seen through several interfaces is counted once: the MSR zone
   (``intel-rapl``) is preferred, then TPMI, then MMIO; each duplicate left out
   is noted.
3. Multi-die packages: each ``package-N-die-M`` zone is a separate counter for
   one die, so each die is its own device (``rapl:package-N-die-M``, with its
   ``dram`` as ``rapl:dram-N-die-M``). They are not summed into one device:
   a sum of two counters that wrap independently cannot be unwrapped from one
   ``max_energy_j``. If a plain ``package-N`` zone exists as well, it is used
   and the die zones of package N are noted and left out.
4. ``psys`` is used *instead of* the others, never added to them: with
   ``rapl_mode="psys"`` the psys zones are the only devices (kind ``psys``),
   and package and DRAM are noted as left out; in the default
   ``rapl_mode="package"`` psys is noted and left out. With ``"psys"`` on a
   machine without a psys zone, the package rule is used and that is noted.

**Permissions.** Since the 2020 fix for CVE-2020-8694 ("Platypus", a power
side channel) ``energy_uj`` is readable by root only on most distributions.
A domain whose counter cannot be read is left out with one note that says how
to grant read access (:data:`RAPL_UDEV_RULE`); if no domain can be read the
sensor is unavailable.

**Reading.** The sensor returns the raw counter in joules (``energy_uj / 1e6``)
and the wrap range in :attr:`~wattprint.sensors.base.DeviceInfo.max_energy_j`;
the sampler takes deltas and undoes wrap-around. Each read opens, reads and
closes the resolved ``energy_uj`` paths. Measured on a tmpfs file, that is
about 3 us per counter against 0.6 us for ``pread`` on a kept descriptor:
8 counters read 10 times a second cost about 0.25 ms a second (0.025% of one
core), and, unlike a kept descriptor, reopening keeps working when the kernel
unregisters and registers a zone again (CPU hotplug, driver reload). A counter
that fails to read is absent from that read's result: a gap, never 0 J.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wattprint.config import RAPL_MODES
from wattprint.errors import ConfigError, SensorUnavailable
from wattprint.sensors.base import DeviceInfo, Reading, SkippedSensor
from wattprint.sensors.context import SensorContext
from wattprint.units import uj_to_j

log = logging.getLogger(__name__)

__all__ = ["RAPL_MODES", "RAPL_UDEV_RULE", "RaplSensor", "open_sensor"]

#: A udev rule that makes every RAPL ``energy_uj`` readable by all users at
#: boot. Put it in ``/etc/udev/rules.d/99-wattprint-rapl.rules`` and run
#: ``sudo udevadm trigger --subsystem-match=powercap``. It re-opens the power
#: side channel of CVE-2020-8694 to local users; on shared machines grant a
#: group instead (see ``docs/sensors-rapl.md``).
RAPL_UDEV_RULE = 'SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chmod a+r /sys%p/energy_uj"'

_PERMISSION_HOWTO = (
    "energy_uj is readable by root only since the 2020 fix for CVE-2020-8694 "
    "('Platypus'). To grant read access for this boot run "
    "`sudo chmod a+r /sys/class/powercap/intel-rapl*/energy_uj`; to keep it across "
    f"reboots put the udev rule `{RAPL_UDEV_RULE}` in "
    "/etc/udev/rules.d/99-wattprint-rapl.rules and run "
    "`sudo udevadm trigger --subsystem-match=powercap`; or run as root. "
    "In a container, grant it on the host."
)

#: Preferred interface first; a package seen through several is counted once.
_INTERFACE_ORDER = ("intel-rapl", "intel-rapl-tpmi", "intel-rapl-mmio")

_ZONE_DIR = re.compile(r"^(?P<ctl>intel-rapl(?:-[a-z]+)?):(?P<idx>\d+(?::\d+)*)$")
_PACKAGE = re.compile(r"^package-(?P<socket>\d+)(?:-die-(?P<die>\d+))?$")
_PSYS = re.compile(r"^psys(?:-(?P<socket>\d+))?$")


@dataclass(frozen=True)
class _Zone:
    """One powercap zone directory as found in ``class/powercap``."""

    dir_name: str  # "intel-rapl:0:1"
    control_type: str  # "intel-rapl"
    indices: tuple[int, ...]  # (0, 1)
    name: str  # "dram"
    path: Path

    @property
    def parent(self) -> str | None:
        if len(self.indices) < 2:
            return None
        return f"{self.control_type}:" + ":".join(str(i) for i in self.indices[:-1])


@dataclass(frozen=True)
class _Planned:
    """A zone chosen to become a device."""

    device_id: str
    kind: str
    label: str
    zone: _Zone


class RaplSensor:
    """Cumulative RAPL energy counters, one device per counted zone.

    Build it with :func:`open_sensor`, which applies the counting rule and
    checks which counters can be read.

    Args:
        devices: the devices, all ``counter=True`` and ``measured=True``.
        energy_paths: ``energy_uj`` file of each device, by device id.
    """

    name = "rapl"

    def __init__(self, devices: Sequence[DeviceInfo], energy_paths: Mapping[str, Path]) -> None:
        self._devices = list(devices)
        self._paths = [(device.id, os.fspath(energy_paths[device.id])) for device in devices]

    def devices(self) -> list[DeviceInfo]:
        """The counted RAPL domains; fixed for the sensor's life."""
        return list(self._devices)

    def read(self) -> dict[str, Reading]:
        """Read every counter once.

        Returns:
            ``Reading(energy_j=...)`` per device id: the raw cumulative counter
            in joules, not corrected for wrap-around. A counter that could not
            be read is absent (a gap); this never raises for one counter.
        """
        readings: dict[str, Reading] = {}
        for device_id, path in self._paths:
            try:
                energy_uj = _read_counter_uj(path)
            except (OSError, ValueError) as exc:
                log.debug("RAPL read of %s (%s) failed: %s", device_id, path, exc)
                continue
            readings[device_id] = Reading(energy_j=uj_to_j(energy_uj))
        return readings

    def close(self) -> None:
        """Nothing to release: files are opened per read. Idempotent."""


def open_sensor(
    ctx: SensorContext, covered_kinds: frozenset[str], notes: list[SkippedSensor]
) -> RaplSensor:
    """Open the RAPL sensor on ``<ctx.sysfs_root>/class/powercap``.

    Args:
        ctx: where sysfs is and which RAPL mode the user chose.
        covered_kinds: device kinds an earlier sensor already measures; RAPL
            domains of those kinds are left out (noted).
        notes: receives one :class:`SkippedSensor` (``whole=False``) per
            domain or group of domains left out, with the reason.

    Returns:
        The sensor, with at least one readable device.

    Raises:
        ConfigError: ``ctx.rapl_mode`` is not one of :data:`RAPL_MODES`.
        SensorUnavailable: no RAPL zones under the sysfs root, or none of the
            counted ones can be read (the message says how to grant access).
    """
    if ctx.rapl_mode not in RAPL_MODES:
        raise ConfigError(
            f"rapl_mode {ctx.rapl_mode!r} is not valid: use 'package' (package + DRAM "
            "per socket, the default) or 'psys' (the platform domain alone)"
        )
    base = Path(ctx.sysfs_root) / "class" / "powercap"
    zones = _discover(base)
    if not zones:
        raise SensorUnavailable(
            f"no RAPL zones under {base}: the CPU has no RAPL, the intel_rapl_msr module "
            "is not loaded (`sudo modprobe intel_rapl_msr`), or this is a VM or container "
            "that does not show the host's powercap. In a container, mount the host's /sys "
            "and point WATTPRINT_SYSFS_ROOT at it."
        )

    local_notes: list[str] = []
    planned = _plan(zones, ctx.rapl_mode, local_notes)
    kept: list[_Planned] = []
    for item in planned:
        if item.kind in covered_kinds:
            local_notes.append(
                f"{item.device_id} ({item.zone.dir_name}) not used: {item.kind} is already "
                "measured by an earlier sensor"
            )
        else:
            kept.append(item)

    devices: list[DeviceInfo] = []
    paths: dict[str, Path] = {}
    denied: list[str] = []
    failures: list[str] = []
    for item in kept:
        energy_path = item.zone.path / "energy_uj"
        try:
            _read_counter_uj(os.fspath(energy_path))
        except PermissionError:
            denied.append(f"{item.device_id} ({item.zone.dir_name})")
            continue
        except (OSError, ValueError) as exc:
            failures.append(f"{item.device_id}: cannot read {energy_path}: {exc}")
            continue
        devices.append(
            DeviceInfo(
                id=item.device_id,
                kind=item.kind,
                name=item.label,
                source="rapl",
                measured=True,
                counter=True,
                max_energy_j=_max_energy_j(item.zone.path / "max_energy_range_uj"),
                extra={"zone": item.zone.dir_name, "control_type": item.zone.control_type},
            )
        )
        paths[item.device_id] = energy_path

    denied_text = ""
    if denied:
        denied_text = f"cannot read RAPL counters of {', '.join(denied)}: permission denied. "
        denied_text += _PERMISSION_HOWTO
    if not devices:
        if not kept:
            reason = "no RAPL domain left to count: " + "; ".join(local_notes)
        else:
            reason = " ".join(part for part in (denied_text, "; ".join(failures)) if part)
        raise SensorUnavailable(reason)

    if denied_text:
        local_notes.append(denied_text)
    local_notes.extend(failures)
    notes.extend(SkippedSensor("rapl", text, whole=False) for text in local_notes)
    log.debug("RAPL devices: %s", ", ".join(device.id for device in devices))
    return RaplSensor(devices, paths)


def _read_counter_uj(path: str) -> int:
    """One counter read: open, read, close; raises OSError or ValueError."""
    fd = os.open(path, os.O_RDONLY)
    try:
        raw = os.read(fd, 64)
    finally:
        os.close(fd)
    return int(raw)


def _max_energy_j(path: Path) -> float | None:
    """``max_energy_range_uj`` in joules, or ``None`` if unreadable or not positive."""
    try:
        value_uj = int(path.read_bytes())
    except (OSError, ValueError) as exc:
        log.debug("no wrap range from %s: %s", path, exc)
        return None
    return uj_to_j(value_uj) if value_uj > 0 else None


def _discover(base: Path) -> list[_Zone]:
    """Every RAPL zone under ``base`` (``class/powercap``) with a readable name."""
    try:
        entries = sorted(os.listdir(base))
    except OSError as exc:
        log.debug("cannot list %s: %s", base, exc)
        return []
    zones: list[_Zone] = []
    for entry in entries:
        match = _ZONE_DIR.match(entry)
        if match is None:
            continue  # a control-type directory, or another driver's zones (dtpm...)
        path = base / entry
        try:
            name = (path / "name").read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            log.debug("skipping powercap zone %s: cannot read its name: %s", entry, exc)
            continue
        indices = tuple(int(part) for part in match["idx"].split(":"))
        zones.append(_Zone(entry, match["ctl"], indices, name, path))
    return zones


def _interface_rank(control_type: str) -> int:
    try:
        return _INTERFACE_ORDER.index(control_type)
    except ValueError:
        return len(_INTERFACE_ORDER)


def _plan(zones: list[_Zone], mode: str, notes: list[str]) -> list[_Planned]:
    """Apply the counting rule of the module docstring; append notes for what is left out."""
    top = [zone for zone in zones if zone.parent is None]
    children: dict[str, list[_Zone]] = {}
    for zone in zones:
        if zone.parent is not None:
            children.setdefault(zone.parent, []).append(zone)

    # Rule 2: one zone per top-level name, from the preferred interface.
    by_name: dict[str, list[_Zone]] = {}
    for zone in top:
        by_name.setdefault(zone.name, []).append(zone)
    chosen: list[_Zone] = []
    for name, same in by_name.items():
        ranked = sorted(same, key=lambda z: (_interface_rank(z.control_type), z.indices))
        best_rank = _interface_rank(ranked[0].control_type)
        for zone in ranked:
            if _interface_rank(zone.control_type) == best_rank:
                chosen.append(zone)  # several zones of one interface: distinct counters
            else:
                notes.append(
                    f"{zone.dir_name} ({name}) not counted: the same {name} counter is "
                    f"read through {ranked[0].dir_name}; counting both would double it"
                )
    chosen.sort(key=lambda z: (_interface_rank(z.control_type), z.indices))

    packages: list[tuple[_Zone, int, int | None]] = []
    psys: list[_Zone] = []
    for zone in chosen:
        package = _PACKAGE.match(zone.name)
        if package is not None:
            die = package["die"]
            packages.append((zone, int(package["socket"]), None if die is None else int(die)))
        elif _PSYS.match(zone.name):
            psys.append(zone)
        else:
            log.debug("ignoring RAPL zone %s named %r", zone.dir_name, zone.name)

    # Rule 3: a plain package-N wins over die zones of the same package.
    plain_sockets = {socket for _, socket, die in packages if die is None}
    counted_packages: list[tuple[_Zone, int, int | None]] = []
    for zone, socket, die in packages:
        if die is not None and socket in plain_sockets:
            notes.append(
                f"{zone.dir_name} ({zone.name}) not counted: package-{socket} already "
                "includes this die"
            )
        else:
            counted_packages.append((zone, socket, die))

    # Rule 4: psys instead of the others, never on top of them.
    if mode == "psys" and psys:
        left_out = [zone.name for zone, _, _ in counted_packages]
        if left_out:
            notes.append(
                f"{', '.join(left_out)} and their DRAM not counted: rapl_mode is 'psys' "
                "and psys already includes them"
            )
        return [
            _Planned(f"rapl:{zone.name}", "psys", f"platform ({zone.name})", zone) for zone in psys
        ]
    if mode == "psys":
        notes.append(
            "rapl_mode is 'psys' but this machine has no psys zone; counting package and "
            "DRAM instead"
        )
    for zone in psys:
        notes.append(
            f"{zone.dir_name} ({zone.name}) not counted: psys covers the whole platform, "
            "package and DRAM included, so adding it would double count; set rapl_mode "
            "to 'psys' to count it instead of them"
        )

    # Rule 1: package + dram per socket (or die); core and uncore never.
    planned: list[_Planned] = []
    for zone, socket, die in counted_packages:
        suffix = f"{socket}" if die is None else f"{socket}-die-{die}"
        where = f"socket {socket}" if die is None else f"socket {socket}, die {die}"
        label = f"CPU package {socket}" if die is None else f"CPU package {socket}, die {die}"
        planned.append(_Planned(f"rapl:package-{suffix}", "cpu", label, zone))
        for child in sorted(children.get(zone.dir_name, []), key=lambda z: z.indices):
            if child.name == "dram":
                planned.append(_Planned(f"rapl:dram-{suffix}", "dram", f"DRAM ({where})", child))
            else:
                log.debug("not counting %s (%s): part of its package", child.dir_name, child.name)
    return _unique_ids(planned)


def _unique_ids(planned: list[_Planned]) -> list[_Planned]:
    """Give a zone-based id to any device whose name-based id is taken twice."""
    seen: dict[str, int] = {}
    for item in planned:
        seen[item.device_id] = seen.get(item.device_id, 0) + 1
    result: list[_Planned] = []
    for item in planned:
        if seen[item.device_id] > 1:
            log.warning(
                "two RAPL zones give device id %s; using %s for %s",
                item.device_id,
                f"rapl:{item.zone.dir_name}",
                item.zone.dir_name,
            )
            item = _Planned(f"rapl:{item.zone.dir_name}", item.kind, item.label, item.zone)
        result.append(item)
    return result
