"""The node power sensor (kind ``node``): the whole server's wall power, from its BMC.

RAPL and NVML see the CPU packages, memory and GPUs; the node also feeds
fans, disks, NICs, the board and the power supplies' own conversion loss.
Only the baseboard management controller (BMC) measures the whole, at the
supplies. wattprint reads it over IPMI DCMI (:mod:`wattprint.sensors.ipmi`)
or Redfish (:mod:`wattprint.sensors.redfish`), as configured with
``node_power = "ipmi"`` or ``"redfish"`` (default ``"off"``: a BMC is never
contacted unless asked for).

**Polled off the sampler's thread.** A BMC answers in tens of milliseconds to
seconds, and sometimes not at all. So the sensor runs a poller thread of its
own that asks the BMC every ``node_power_period_s`` (default 5 s), each
request bounded by a time-out; the sampler's :meth:`NodePowerSensor.read`
only returns the latest answer and never waits. The node device is a power
device: the sampler integrates the held readings by the trapezoid rule at
its own ticks. A poll that failed (time-out, error status, unreadable
output), or no answer for longer than two periods plus the time-out, is a
failed read, so those intervals are a recorded *gap* with the BMC's reason,
never 0 W. The BMC keeps being polled and the gap closes when it answers
again: the device is never dropped for failing (``extra["failures"] ==
"polled"``), since a slow BMC costs the sampler nothing.

**Measured, with the BMC's window.** Readings are labelled measured; the
device's ``extra`` keeps how it is read (``ipmi``/``redfish``, the BMC
without credentials, the Redfish resource) and the BMC's averaging window
(``bmc_window_s``: DCMI's sampling period, Redfish's ``SensingInterval`` or
``PowerMetrics.IntervalInMin``), and the poll period.

**Node power contains the components.** It is never added to a run's
totals (:func:`is_node_power`): reports show it beside CPU, DRAM and GPU,
with ``other = node − (CPU + DRAM + GPU)`` (fans, PSU loss, disks, NICs),
and a run can be accounted on it instead (``--basis node``). In a
distributed job it is a node-level device, measured by the node's elected
measurer only (:mod:`wattprint.distributed`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wattprint.errors import SensorError, SensorUnavailable
from wattprint.records import NODE_POWER_SOURCES, DeviceInfo, is_node_power
from wattprint.sensors.base import Reading, SkippedSensor
from wattprint.sensors.context import SensorContext

__all__ = ["EXTRA_FAILURES", "NODE_POWER_METHODS", "NODE_POWER_SOURCES", "POLLED",
           "BmcPoller", "NodePowerOptions", "NodePowerSensor", "is_node_power", "open_sensor"]

log = logging.getLogger(__name__)

#: values of the ``node_power`` setting
NODE_POWER_METHODS = ("off", "ipmi", "redfish")
#: :attr:`DeviceInfo.extra` key: who counts a device's failed reads
EXTRA_FAILURES = "failures"
#: the device is read from a poller of its own: the sampler never drops it for failing
POLLED = "polled"


@dataclass(frozen=True)
class NodePowerOptions:
    """Which BMC to read and how often.

    Attributes:
        method: ``ipmi``, ``redfish`` or ``off``.
        period_s: seconds between two polls of the BMC.
        timeout_s: longest one poll may take, s.
        ipmi: ipmitool options (``method == "ipmi"``).
        redfish: Redfish options (``method == "redfish"``).
    """

    method: str = "off"
    period_s: float = 5.0
    timeout_s: float = 3.0
    ipmi: object | None = field(default=None, repr=False)
    redfish: object | None = field(default=None, repr=False)


#: what a poll returns: (power_w, the BMC's averaging window in s or None)
PollFn = Callable[[], tuple[float, float | None]]


class BmcPoller:
    """Asks the BMC for its power every ``period_s`` on a thread of its own.

    Args:
        poll: one request to the BMC; raises :class:`SensorError` when it fails.
        period_s: seconds between polls.
        stale_after_s: a reading older than this is no longer given.
        monotonic: the clock (tests step it).
    """

    def __init__(self, poll: PollFn, period_s: float, stale_after_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._poll = poll
        self.period_s = period_s
        self.stale_after_s = stale_after_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value: tuple[float, float] | None = None  # (t, power_w)
        self._failure: str | None = None
        self.window_s: float | None = None
        self.polls = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seed(self, power_w: float, window_s: float | None) -> None:
        """Take a reading made elsewhere (the one made when the sensor opened)."""
        with self._lock:
            self._value = (self._monotonic(), power_w)
            self._failure = None
            if window_s is not None:
                self.window_s = window_s

    def poll_once(self) -> None:
        """Ask the BMC once and keep its answer (or why there is none)."""
        try:
            power_w, window_s = self._poll()
        except SensorError as exc:
            with self._lock:
                self._failure = str(exc)
            log.debug("BMC poll failed: %s", exc)
        except Exception as exc:  # a broken reply must not end the poller
            with self._lock:
                self._failure = f"BMC poll failed: {type(exc).__name__}: {exc}"
            log.debug("BMC poll failed", exc_info=True)
        else:
            if not math.isfinite(power_w) or power_w < 0:
                with self._lock:
                    self._failure = f"the BMC gave an invalid power reading {power_w!r}"
            else:
                self.seed(power_w, window_s)
        self.polls += 1

    def latest(self) -> Reading:
        """The latest reading, or a failed one saying why (never waits for the BMC)."""
        with self._lock:
            value, failure = self._value, self._failure
        if failure is not None:
            return Reading(failure=failure)
        if value is None:
            return Reading(failure="no reading from the BMC yet")
        age_s = self._monotonic() - value[0]
        if age_s > self.stale_after_s:
            return Reading(failure=f"no answer from the BMC for {age_s:.1f} s")
        return Reading(power_w=value[1])

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.poll_once()

    def start(self) -> None:
        """Start polling on a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="wattprint-bmc", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling; a poll in progress ends by its own time-out. Idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=0.1)  # never wait out a slow BMC; the thread is a daemon


class NodePowerSensor:
    """One ``node`` device read from the BMC through a :class:`BmcPoller`.

    Args:
        method: ``ipmi`` or ``redfish`` (the device's source).
        poller: the poller, already seeded with a first reading.
        where: the BMC in words, without credentials.
        extra: details stored with the device.
        close_fn: releases the reader (a Redfish session).
    """

    name = "node"

    def __init__(self, method: str, poller: BmcPoller, where: str,
                 extra: Mapping[str, str], close_fn: Callable[[], None] | None = None) -> None:
        self.method = method
        self.poller = poller
        self.device = DeviceInfo(
            id=f"node:{method}", kind="node", name=f"node power ({method}: {where})",
            source=method, measured=True, counter=False,
            extra={EXTRA_FAILURES: POLLED, "bmc": where, "poll_period_s": f"{poller.period_s:.12g}",
                   **extra})
        self._close_fn = close_fn
        self._closed = False

    def devices(self) -> list[DeviceInfo]:
        """The node device."""
        return [self.device]

    def read(self) -> Mapping[str, Reading]:
        """The latest BMC reading (never blocks on the BMC)."""
        return {self.device.id: self.poller.latest()}

    def close(self) -> None:
        """Stop polling and release the BMC session; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.poller.stop()
        if self._close_fn is not None:
            try:
                self._close_fn()
            except Exception:
                log.debug("closing the BMC reader failed", exc_info=True)


def _window_extra(window_s: float | None) -> dict[str, str]:
    return {"bmc_window_s": f"{window_s:.12g}"} if window_s is not None else {}


def _open_ipmi(options: NodePowerOptions, ctx: SensorContext) -> NodePowerSensor:
    from wattprint.sensors.ipmi import IpmiOptions, IpmiReader

    ipmi = options.ipmi if isinstance(options.ipmi, IpmiOptions) else IpmiOptions()
    reader = IpmiReader(IpmiOptions(**{**vars(ipmi), "timeout_s": options.timeout_s}),
                        ctx.environ)
    try:
        first = reader.read()
    except SensorError as exc:
        raise SensorUnavailable(str(exc)) from exc

    def poll() -> tuple[float, float | None]:
        r = reader.read()
        return r.instantaneous_w, r.sampling_period_s

    poller = _poller(poll, options)
    poller.seed(first.instantaneous_w, first.sampling_period_s)
    extra = {"reading": "DCMI instantaneous power reading",
             **_window_extra(first.sampling_period_s)}
    if first.state:
        extra["dcmi_state"] = first.state
    return NodePowerSensor("ipmi", poller, reader.where, extra)


def _open_redfish(options: NodePowerOptions) -> NodePowerSensor:
    from wattprint.sensors.redfish import RedfishOptions, RedfishReader

    if not isinstance(options.redfish, RedfishOptions):
        raise SensorUnavailable("node_power = 'redfish' but no redfish_url is configured")
    reader = RedfishReader(RedfishOptions(**{**vars(options.redfish),
                                             "timeout_s": options.timeout_s}))
    first = reader.discover()

    def poll() -> tuple[float, float | None]:
        r = reader.read()
        return r.power_w, r.window_s

    poller = _poller(poll, options)
    poller.seed(first.power_w, first.window_s)
    extra = {"reading": f"Redfish {first.resource}", **_window_extra(first.window_s)}
    return NodePowerSensor("redfish", poller, reader.where, extra, reader.close)


def _poller(poll: PollFn, options: NodePowerOptions) -> BmcPoller:
    return BmcPoller(poll, options.period_s, 2 * options.period_s + options.timeout_s)


def open_sensor(ctx: SensorContext, covered_kinds: frozenset[str],
                notes: list[SkippedSensor]) -> NodePowerSensor:
    """Open the configured BMC reader, take a first reading and start polling.

    Args:
        ctx: ``ctx.node_power`` holds the :class:`NodePowerOptions`.
        covered_kinds: ignored (node power is read beside every other sensor).
        notes: unused.

    Raises:
        SensorUnavailable: node power is off or not configured, ipmitool is
            absent, or the BMC gives no reading (the reason says which).
    """
    del covered_kinds, notes
    options = getattr(ctx, "node_power", None)
    if not isinstance(options, NodePowerOptions) or options.method == "off":
        raise SensorUnavailable("node power is off (set node_power = \"ipmi\" or \"redfish\" "
                                "to read the BMC)")
    if options.method == "ipmi":
        sensor = _open_ipmi(options, ctx)
    elif options.method == "redfish":
        sensor = _open_redfish(options)
    else:
        raise SensorUnavailable(f"unknown node_power method {options.method!r}")
    sensor.poller.start()
    return sensor


def read_password_file(path: Path | None, what: str) -> str | None:
    """The first line of a password file (``None`` without a file).

    Raises:
        SensorUnavailable: the file cannot be read (the message names it, never its content).
    """
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SensorUnavailable(f"the {what} password file {path} cannot be read: "
                                f"{type(exc).__name__}") from exc
    lines = text.splitlines()
    return lines[0] if lines else ""
