"""Build fake Linux powercap (RAPL) trees on disk, for tests of anything that reads RAPL.

The kernel's power-capping framework shows every RAPL *zone* as a directory
under ``/sys/class/powercap``. On a real machine these are symlinks into
``/sys/devices/virtual/powercap/<control type>/...``, where child zones are
nested inside their parent::

    /sys/class/powercap/
    ├── intel-rapl          -> ../../devices/virtual/powercap/intel-rapl
    ├── intel-rapl:0        -> .../intel-rapl/intel-rapl:0            name: package-0
    ├── intel-rapl:0:0      -> .../intel-rapl/intel-rapl:0/intel-rapl:0:0   name: core
    ├── intel-rapl:0:1      -> .../intel-rapl/intel-rapl:0/intel-rapl:0:1   name: dram
    ├── intel-rapl:1        -> .../intel-rapl/intel-rapl:1            name: psys
    ├── intel-rapl-mmio     -> ../../devices/virtual/powercap/intel-rapl-mmio
    └── intel-rapl-mmio:0   -> .../intel-rapl-mmio/intel-rapl-mmio:0  name: package-0

Each zone directory holds ``name``, ``energy_uj`` (a cumulative counter in
microjoules that wraps at ``max_energy_range_uj``), ``max_energy_range_uj``
and ``enabled`` (whether a power *limit* is enforced; it has nothing to do with
energy counting). The kernel numbers top-level zones of a control type in the
order it registers them, and child zones in the order of their parent's
domains (core, uncore, dram), so readers must go by ``name``, never by index.

:class:`PowercapTree` writes such a tree under any directory; point
:class:`~wattprint.sensors.context.SensorContext` (``sysfs_root``) or
``WATTPRINT_SYSFS_ROOT`` at :attr:`PowercapTree.sysfs_root` and the RAPL sensor
reads it like the real one. Counters are scripted over time with
:meth:`PowercapTree.set_energy`, written in place so a reader sees each new
value on its next read.

Unreadable counters, as on real machines: since the 2020 fix for
CVE-2020-8694 ("Platypus") the kernel makes ``energy_uj`` readable by root
only. ``readable=False`` (or :meth:`PowercapTree.set_readable`) gives the file
mode ``000``, so a normal user gets :class:`PermissionError` exactly as on a
real machine. Root ignores file modes (``CAP_DAC_OVERRIDE``); a test suite
that runs as root, as in many containers, reads the tree inside
:func:`without_read_privileges`, which drops those privileges from the calling
thread for the duration. :meth:`PowercapTree.fail_reads` makes reads fail with
an :class:`OSError` that is not a permission problem, for every user.

Example::

    tree = PowercapTree(tmp_path)
    pkg = tree.add_package(0, energy_uj=1_000_000)
    tree.add_dram(0, energy_uj=500_000)
    ctx = SensorContext(sysfs_root=tree.sysfs_root)
    ...
    tree.set_energy(pkg, 3_000_000)
"""

from __future__ import annotations

import ctypes
import logging
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = [
    "AMD_MAX_ENERGY_RANGE_UJ",
    "DRAM_MAX_ENERGY_RANGE_UJ",
    "PACKAGE_MAX_ENERGY_RANGE_UJ",
    "PowercapTree",
    "without_read_privileges",
]

#: ``max_energy_range_uj`` of Intel package, core and psys zones: the 32-bit
#: energy-status register, (2**32 - 1) counts of 61.035 uJ (the usual
#: ``MSR_RAPL_POWER_UNIT`` energy unit of 1/2**14 J), in microjoules.
PACKAGE_MAX_ENERGY_RANGE_UJ = 262_143_328_850

#: ``max_energy_range_uj`` of the DRAM zone of Intel servers (Haswell-EP and
#: later), whose DRAM counter has a fixed unit of 15.3 uJ: (2**32 - 1) x 15.3 uJ.
DRAM_MAX_ENERGY_RANGE_UJ = 65_712_999_613

#: ``max_energy_range_uj`` of AMD Zen package zones (unit 1/2**16 J, 15.259 uJ).
AMD_MAX_ENERGY_RANGE_UJ = 65_532_610_987

_MSR = "intel-rapl"
_MMIO = "intel-rapl-mmio"

_READABLE_MODE = 0o644  # owner-writable, so the builder can script the counter
_UNREADABLE_MODE = 0o000


@dataclass
class _ZoneState:
    """What the builder remembers about one zone it wrote."""

    path: Path  # the zone's real directory
    name: str
    readable: bool


class PowercapTree:
    """A fake ``/sys`` holding RAPL powercap zones, built file by file.

    Every ``add_*`` method returns the zone's directory name (``"intel-rapl:0"``,
    ``"intel-rapl:0:1"``, ``"intel-rapl-mmio:0"``...), which the other methods
    take to change that zone later.

    Args:
        root: directory to build in; it becomes the sysfs root
            (``<root>/class/powercap/...``). Created if missing.
        symlinks: ``True`` (default) lays the tree out like the kernel does:
            zones nested under ``devices/virtual/powercap`` with symlinks in
            ``class/powercap``. ``False`` writes flat real directories straight
            into ``class/powercap``, which is what checked-in fixture trees use.
    """

    def __init__(self, root: Path, *, symlinks: bool = True) -> None:
        self._root = Path(root)
        self._symlinks = symlinks
        self._class_dir = self._root / "class" / "powercap"
        self._class_dir.mkdir(parents=True, exist_ok=True)
        self._zones: dict[str, _ZoneState] = {}
        self._next_top: dict[str, int] = {}
        self._next_child: dict[str, int] = {}

    @property
    def sysfs_root(self) -> Path:
        """The directory to use as sysfs root (``SensorContext.sysfs_root``)."""
        return self._root

    # -- adding zones ------------------------------------------------------

    def add_package(
        self,
        socket: int,
        energy_uj: int = 0,
        *,
        max_energy_range_uj: int | None = PACKAGE_MAX_ENERGY_RANGE_UJ,
        readable: bool = True,
        control_type: str = _MSR,
    ) -> str:
        """Add the package zone ``package-<socket>`` of one CPU socket.

        Args:
            socket: physical package id (the number in ``package-N``).
            energy_uj: initial counter value, microjoules.
            max_energy_range_uj: wrap range, microjoules; ``None`` leaves the
                ``max_energy_range_uj`` file out, so reading it fails.
            readable: ``False`` makes ``energy_uj`` unreadable (mode ``000``).
            control_type: ``"intel-rapl"`` (the MSR interface, default),
                ``"intel-rapl-mmio"`` or ``"intel-rapl-tpmi"``.

        Returns:
            The zone's directory name, e.g. ``"intel-rapl:0"``.
        """
        return self._add_top(
            control_type, f"package-{socket}", energy_uj, max_energy_range_uj, readable
        )

    def add_die(
        self,
        socket: int,
        die: int,
        energy_uj: int = 0,
        *,
        max_energy_range_uj: int | None = PACKAGE_MAX_ENERGY_RANGE_UJ,
        readable: bool = True,
        control_type: str = _MSR,
    ) -> str:
        """Add the zone ``package-<socket>-die-<die>`` of one die of a multi-die package.

        On CPUs with several dies per package whose RAPL counters are per die
        (e.g. Cascade Lake-AP), the kernel registers one top-level zone per die
        and no plain ``package-<socket>`` zone.

        Args:
            socket: physical package id.
            die: die id within the package.
            energy_uj: initial counter value, microjoules.
            max_energy_range_uj: wrap range, microjoules; ``None`` leaves the file out.
            readable: ``False`` makes ``energy_uj`` unreadable (mode ``000``).
            control_type: the powercap control type (default ``"intel-rapl"``).

        Returns:
            The zone's directory name.
        """
        return self._add_top(
            control_type,
            f"package-{socket}-die-{die}",
            energy_uj,
            max_energy_range_uj,
            readable,
        )

    def add_mmio_package(
        self,
        socket: int,
        energy_uj: int = 0,
        *,
        max_energy_range_uj: int | None = PACKAGE_MAX_ENERGY_RANGE_UJ,
        readable: bool = True,
    ) -> str:
        """Add ``package-<socket>`` under the MMIO interface (``intel-rapl-mmio``).

        Client CPUs since Skylake expose the same package counter a second
        time through the processor's MMIO registers; the MMIO zone has the
        same ``name`` as the MSR one.

        Args:
            socket: physical package id.
            energy_uj: initial counter value, microjoules.
            max_energy_range_uj: wrap range, microjoules; ``None`` leaves the file out.
            readable: ``False`` makes ``energy_uj`` unreadable (mode ``000``).

        Returns:
            The zone's directory name, e.g. ``"intel-rapl-mmio:0"``.
        """
        return self._add_top(_MMIO, f"package-{socket}", energy_uj, max_energy_range_uj, readable)

    def add_psys(
        self,
        energy_uj: int = 0,
        *,
        socket: int = 0,
        max_energy_range_uj: int | None = PACKAGE_MAX_ENERGY_RANGE_UJ,
        readable: bool = True,
        control_type: str = _MSR,
    ) -> str:
        """Add the platform zone ``psys`` (``psys-<socket>`` for sockets other than 0).

        Psys (Skylake client and later, Sapphire Rapids servers) measures the
        whole platform the power delivery feeds: the package, DRAM and more.
        The kernel registers it as a top-level zone, not under the package.

        Args:
            energy_uj: initial counter value, microjoules.
            socket: package the platform domain is reported by.
            max_energy_range_uj: wrap range, microjoules; ``None`` leaves the file out.
            readable: ``False`` makes ``energy_uj`` unreadable (mode ``000``).
            control_type: the powercap control type (default ``"intel-rapl"``).

        Returns:
            The zone's directory name.
        """
        name = "psys" if socket == 0 else f"psys-{socket}"
        return self._add_top(control_type, name, energy_uj, max_energy_range_uj, readable)

    def add_dram(
        self,
        socket: int,
        energy_uj: int = 0,
        *,
        die: int | None = None,
        max_energy_range_uj: int | None = DRAM_MAX_ENERGY_RANGE_UJ,
        readable: bool = True,
        control_type: str = _MSR,
    ) -> str:
        """Add a ``dram`` child zone under the package (or die) zone of ``socket``.

        Args:
            socket: physical package id of the parent zone, which must exist.
            energy_uj: initial counter value, microjoules.
            die: die id, when the parent is a ``package-X-die-Y`` zone.
            max_energy_range_uj: wrap range, microjoules; ``None`` leaves the file out.
            readable: ``False`` makes ``energy_uj`` unreadable (mode ``000``).
            control_type: control type of the parent zone.

        Returns:
            The zone's directory name, e.g. ``"intel-rapl:0:1"``.

        Raises:
            ValueError: no parent zone for that socket (and die) was added.
        """
        parent = self._find_package(socket, die, control_type)
        return self._add_child(parent, "dram", energy_uj, max_energy_range_uj, readable)

    def add_core(
        self,
        socket: int,
        energy_uj: int = 0,
        *,
        die: int | None = None,
        max_energy_range_uj: int | None = PACKAGE_MAX_ENERGY_RANGE_UJ,
        readable: bool = True,
        control_type: str = _MSR,
    ) -> str:
        """Add a ``core`` (PP0) child zone: the cores' share of the package.

        Args:
            socket: physical package id of the parent zone, which must exist.
            energy_uj: initial counter value, microjoules.
            die: die id, when the parent is a ``package-X-die-Y`` zone.
            max_energy_range_uj: wrap range, microjoules; ``None`` leaves the file out.
            readable: ``False`` makes ``energy_uj`` unreadable (mode ``000``).
            control_type: control type of the parent zone.

        Returns:
            The zone's directory name.

        Raises:
            ValueError: no parent zone for that socket (and die) was added.
        """
        parent = self._find_package(socket, die, control_type)
        return self._add_child(parent, "core", energy_uj, max_energy_range_uj, readable)

    def add_uncore(
        self,
        socket: int,
        energy_uj: int = 0,
        *,
        die: int | None = None,
        max_energy_range_uj: int | None = PACKAGE_MAX_ENERGY_RANGE_UJ,
        readable: bool = True,
        control_type: str = _MSR,
    ) -> str:
        """Add an ``uncore`` (PP1, the integrated GPU on client parts) child zone.

        Args:
            socket: physical package id of the parent zone, which must exist.
            energy_uj: initial counter value, microjoules.
            die: die id, when the parent is a ``package-X-die-Y`` zone.
            max_energy_range_uj: wrap range, microjoules; ``None`` leaves the file out.
            readable: ``False`` makes ``energy_uj`` unreadable (mode ``000``).
            control_type: control type of the parent zone.

        Returns:
            The zone's directory name.

        Raises:
            ValueError: no parent zone for that socket (and die) was added.
        """
        parent = self._find_package(socket, die, control_type)
        return self._add_child(parent, "uncore", energy_uj, max_energy_range_uj, readable)

    # -- changing zones ----------------------------------------------------

    def zone_dir(self, zone: str) -> Path:
        """The zone's path under ``class/powercap`` (a symlink in the kernel layout).

        Raises:
            KeyError: no such zone was added.
        """
        self._state(zone)
        return self._class_dir / zone

    def set_energy(self, zone: str, energy_uj: int) -> None:
        """Set the zone's ``energy_uj`` counter, in microjoules.

        The file is rewritten in place. A value lower than the previous one is
        what a wrapped counter looks like. Also undoes :meth:`fail_reads`.

        Raises:
            KeyError: no such zone was added.
        """
        state = self._state(zone)
        path = state.path / "energy_uj"
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        _write(path, f"{energy_uj}\n", _READABLE_MODE if state.readable else _UNREADABLE_MODE)

    def set_readable(self, zone: str, readable: bool) -> None:
        """Make the zone's ``energy_uj`` readable (mode ``644``) or not (mode ``000``).

        Mode ``000`` denies every user without ``CAP_DAC_OVERRIDE``; see
        :func:`without_read_privileges` for tests that run as root.

        Raises:
            KeyError: no such zone was added.
        """
        state = self._state(zone)
        state.readable = readable
        path = state.path / "energy_uj"
        if path.is_file():
            path.chmod(_READABLE_MODE if readable else _UNREADABLE_MODE)

    def fail_reads(self, zone: str) -> None:
        """Make every read of the zone's ``energy_uj`` fail, for every user, root too.

        The file is replaced by a directory, so reading it fails with
        :class:`IsADirectoryError` (an :class:`OSError` that is not a
        permission problem), standing in for a counter the kernel cannot
        read. :meth:`set_energy` makes it a readable counter again.

        Raises:
            KeyError: no such zone was added.
        """
        path = self._state(zone).path / "energy_uj"
        if path.is_dir():
            return
        path.unlink(missing_ok=True)
        path.mkdir()

    # -- internals ---------------------------------------------------------

    def _state(self, zone: str) -> _ZoneState:
        try:
            return self._zones[zone]
        except KeyError:
            raise KeyError(
                f"no zone {zone!r} in this tree; zones are {sorted(self._zones)}"
            ) from None

    def _control_type_dir(self, control_type: str) -> Path:
        if self._symlinks:
            real = self._root / "devices" / "virtual" / "powercap" / control_type
            link = self._class_dir / control_type
            if not real.exists():
                real.mkdir(parents=True)
                _write(real / "enabled", "1\n", 0o644)
                link.symlink_to(os.path.relpath(real, self._class_dir))
            return real
        real = self._class_dir / control_type
        if not real.exists():
            real.mkdir(parents=True)
            _write(real / "enabled", "1\n", 0o644)
        return real

    def _add_top(
        self,
        control_type: str,
        name: str,
        energy_uj: int,
        max_energy_range_uj: int | None,
        readable: bool,
    ) -> str:
        ctl_dir = self._control_type_dir(control_type)
        index = self._next_top.get(control_type, 0)
        self._next_top[control_type] = index + 1
        zone = f"{control_type}:{index}"
        real = ctl_dir / zone if self._symlinks else self._class_dir / zone
        self._write_zone(zone, real, name, energy_uj, max_energy_range_uj, readable, "1")
        return zone

    def _add_child(
        self,
        parent: str,
        name: str,
        energy_uj: int,
        max_energy_range_uj: int | None,
        readable: bool,
    ) -> str:
        index = self._next_child.get(parent, 0)
        self._next_child[parent] = index + 1
        zone = f"{parent}:{index}"
        real = self._zones[parent].path / zone if self._symlinks else self._class_dir / zone
        self._write_zone(zone, real, name, energy_uj, max_energy_range_uj, readable, "0")
        return zone

    def _write_zone(
        self,
        zone: str,
        real: Path,
        name: str,
        energy_uj: int,
        max_energy_range_uj: int | None,
        readable: bool,
        enabled: str,
    ) -> None:
        real.mkdir(parents=True)
        _write(real / "name", f"{name}\n", 0o644)
        _write(real / "enabled", f"{enabled}\n", 0o644)
        if max_energy_range_uj is not None:
            _write(real / "max_energy_range_uj", f"{max_energy_range_uj}\n", 0o644)
        _write(
            real / "energy_uj",
            f"{energy_uj}\n",
            _READABLE_MODE if readable else _UNREADABLE_MODE,
        )
        if self._symlinks:
            (self._class_dir / zone).symlink_to(os.path.relpath(real, self._class_dir))
        self._zones[zone] = _ZoneState(path=real, name=name, readable=readable)

    def _find_package(self, socket: int, die: int | None, control_type: str) -> str:
        name = f"package-{socket}" if die is None else f"package-{socket}-die-{die}"
        for zone, state in self._zones.items():
            if state.name == name and zone.startswith(f"{control_type}:") and zone.count(":") == 1:
                return zone
        adder = "add_package" if die is None else "add_die"
        raise ValueError(
            f"no {name} zone under {control_type}: call {adder}() for it before adding its children"
        )


def _write(path: Path, text: str, mode: int) -> None:
    """Write ``text`` into ``path`` in place (same inode), then set ``mode``."""
    if path.exists():
        # The owner may always chmod; a mode-000 counter must become writable first.
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with path.open("w", encoding="ascii") as handle:
        handle.write(text)
    path.chmod(mode)


# -- dropping file privileges ------------------------------------------------

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


@contextmanager
def without_read_privileges() -> Iterator[None]:
    """Read files as an unprivileged user would, inside the ``with`` block.

    Root (and any process holding ``CAP_DAC_OVERRIDE`` or
    ``CAP_DAC_READ_SEARCH``) reads files whatever their mode, so a mode-000
    ``energy_uj`` written by :class:`PowercapTree` only denies reads to
    ordinary users. This context manager removes those two capabilities from
    the calling thread's *effective* set and restores them on exit (they stay
    in the permitted set, so restoring is always allowed). Other threads are
    not affected. For a process without these capabilities it changes nothing.

    Only Linux has capabilities; elsewhere this does nothing.

    Raises:
        OSError: the C library refused ``capget``/``capset`` (e.g. a seccomp
            policy that forbids them).
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"capget failed: {os.strerror(errno)}")
    saved = data[0].effective
    dropped = saved & ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH))
    if dropped == saved:
        yield
        return
    data[0].effective = dropped
    if libc.capset(ctypes.byref(header), data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"capset failed: {os.strerror(errno)}")
    log.debug("dropped CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this thread")
    try:
        yield
    finally:
        data[0].effective = saved
        if libc.capset(ctypes.byref(header), data) != 0:  # pragma: no cover - defensive
            errno = ctypes.get_errno()
            raise OSError(errno, f"could not restore capabilities: {os.strerror(errno)}")
