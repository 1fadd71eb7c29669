"""Node power from the BMC over IPMI: ``ipmitool dcmi power reading``.

A server's baseboard management controller (BMC) measures the power the
whole node draws at its power supplies: CPUs, memory, GPUs, fans, disks,
NICs and the supplies' own conversion loss. DCMI (the Data Center
Manageability Interface, an IPMI extension) exposes it through the *Get
Power Reading* command, which ``ipmitool`` prints as::

    Instantaneous power reading:                   215 Watts
    Minimum during sampling period:                162 Watts
    Maximum during sampling period:                276 Watts
    Average power reading over sample period:      176 Watts
    IPMI timestamp:                           Wed Feb 15 12:49:51 2017
    Sampling period:                          01131466 Seconds.
    Power reading state is:                   activated

The *instantaneous* reading is what wattprint integrates; most BMCs average
it over a short window of their own (vendor-defined, typically about a
second). Minimum, maximum and average are statistics over the *sampling
period*, the BMC's rolling statistics window (often days: the time since the
BMC last reset them); it is recorded with each device as the BMC's averaging
window. ipmitool 1.8.19 prints the timestamp without a line break before
``Sampling period``, so each field is found by its label wherever it sits.
A reading whose state is ``deactivated`` with an instantaneous value of 0 W
(BMCs that do not implement DCMI power readings answer this way) is a failed
read, never 0 W.

ipmitool is run as a subprocess with a time-out, either in-band on the node
itself (``/dev/ipmi0``, needs root or the ``ipmi`` device's group) or over
the network (``-I lanplus -H host -U user -f password-file``). The password
is only ever passed as a file (``-f``) or through ``IPMI_PASSWORD`` (``-E``),
never on the command line where other users could see it in ``ps``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wattprint.errors import SensorError, SensorUnavailable

__all__ = ["DcmiPowerReading", "IpmiOptions", "IpmiReader", "parse_dcmi_power_reading"]

_WATTS = {
    "instantaneous_w": r"Instantaneous power reading:\s*(\d+)\s*Watts",
    "minimum_w": r"Minimum during sampling period:\s*(\d+)\s*Watts",
    "maximum_w": r"Maximum during sampling period:\s*(\d+)\s*Watts",
    "average_w": r"Average power reading over sample period:\s*(\d+)\s*Watts",
}
_PERIOD = re.compile(r"Sampling period:\s*(\d+)\s*Seconds")
_STATE = re.compile(r"Power reading state is:\s*(\w+)")


@dataclass(frozen=True)
class DcmiPowerReading:
    """One DCMI power reading, as ipmitool printed it.

    Attributes:
        instantaneous_w: the current power of the node, W.
        minimum_w: the lowest power over the sampling period, W.
        maximum_w: the highest power over the sampling period, W.
        average_w: the mean power over the sampling period, W.
        sampling_period_s: the BMC's statistics window, s (``None`` if not printed).
        state: ``activated`` or ``deactivated`` (``None`` if not printed).
    """

    instantaneous_w: float
    minimum_w: float | None
    maximum_w: float | None
    average_w: float | None
    sampling_period_s: float | None
    state: str | None


def parse_dcmi_power_reading(text: str) -> DcmiPowerReading:
    """Parse the output of ``ipmitool dcmi power reading``.

    Raises:
        ValueError: no instantaneous reading in the text, or the BMC says
            power readings are deactivated and gives 0 W.
    """
    values: dict[str, float | None] = {}
    for key, pattern in _WATTS.items():
        match = re.search(pattern, text)
        values[key] = float(match.group(1)) if match else None
    period = _PERIOD.search(text)
    state = _STATE.search(text)
    instantaneous = values.pop("instantaneous_w")
    if instantaneous is None:
        first = text.strip().splitlines()[0] if text.strip() else "no output"
        raise ValueError(f"no DCMI power reading in ipmitool's output ({first[:120]})")
    state_word = state.group(1).lower() if state else None
    if state_word == "deactivated" and instantaneous == 0:
        raise ValueError("the BMC reports DCMI power readings deactivated (0 W)")
    return DcmiPowerReading(instantaneous, values["minimum_w"], values["maximum_w"],
                            values["average_w"],
                            float(period.group(1)) if period else None, state_word)


@dataclass(frozen=True)
class IpmiOptions:
    """How to reach the BMC with ipmitool.

    Attributes:
        interface: ipmitool's ``-I`` (``lanplus``, ``lan``, ``open``); ``None``
            for ipmitool's default (in-band on the node itself).
        host: the BMC's address for ``-H`` (network interfaces only).
        port: its UDP port for ``-p`` (``None``: 623).
        user: the BMC user for ``-U``.
        password_file: a file holding the password (``-f``).
        password_env: pass ``-E``: ipmitool reads ``IPMI_PASSWORD`` (set from
            the ``ipmi_password`` setting, never a command-line argument).
        ipmitool: the ipmitool executable (``None``: found on ``PATH``).
        timeout_s: longest a call may take before it is killed, s.
    """

    interface: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    ipmitool: str | None = None
    timeout_s: float = 5.0


class IpmiReader:
    """Runs ``ipmitool dcmi power reading`` and parses its answer.

    Args:
        options: how to reach the BMC.
        environ: the environment ipmitool runs in (its ``PATH`` finds it).

    Raises:
        SensorUnavailable: ipmitool is not installed, or the password file
            cannot be read.
    """

    def __init__(self, options: IpmiOptions, environ: Mapping[str, str] | None = None) -> None:
        self.options = options
        env = dict(os.environ if environ is None else environ)
        exe = options.ipmitool or shutil.which("ipmitool", path=env.get("PATH"))
        if not exe:
            raise SensorUnavailable("ipmitool not found on PATH (Debian/Ubuntu: apt-get "
                                    "install ipmitool)")
        if options.password_file is not None and not os.access(options.password_file, os.R_OK):
            raise SensorUnavailable(f"the IPMI password file {options.password_file} cannot be "
                                    "read")
        self.executable = exe
        self._env = env
        if options.password_env is not None:
            self._env["IPMI_PASSWORD"] = options.password_env

    @property
    def where(self) -> str:
        """The BMC in words, without a credential: ``in-band`` or ``lanplus://host``."""
        o = self.options
        if o.host:
            return f"{o.interface or 'lan'}://{o.host}" + (f":{o.port}" if o.port else "")
        return f"in-band ({o.interface or 'default interface'})"

    def command(self) -> list[str]:
        """The ipmitool command line (it never holds the password itself)."""
        o = self.options
        cmd = [self.executable]
        if o.interface:
            cmd += ["-I", o.interface]
        if o.host:
            cmd += ["-H", o.host]
        if o.port:
            cmd += ["-p", str(o.port)]
        if o.user:
            cmd += ["-U", o.user]
        if o.password_file is not None:
            cmd += ["-f", str(o.password_file)]
        elif o.password_env is not None:
            cmd += ["-E"]
        return [*cmd, "dcmi", "power", "reading"]

    def read(self) -> DcmiPowerReading:
        """One reading from the BMC.

        Raises:
            SensorError: ipmitool timed out, failed, or printed no reading;
                the message carries its first line of error output.
        """
        return self._run(self.command())

    def _run(self, cmd: Sequence[str]) -> DcmiPowerReading:
        try:
            done = subprocess.run(list(cmd), capture_output=True, text=True, env=self._env,
                                  timeout=self.options.timeout_s, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise SensorError(f"ipmitool ({self.where}) did not answer within "
                              f"{self.options.timeout_s:g} s") from exc
        except OSError as exc:
            raise SensorError(f"ipmitool could not run: {exc}") from exc
        if done.returncode != 0:
            lines = [line.strip() for line in (done.stderr or done.stdout).splitlines()
                     if line.strip()]
            detail = lines[0][:160] if lines else f"exit code {done.returncode}"
            raise SensorError(f"ipmitool ({self.where}) failed: {detail}")
        try:
            return parse_dcmi_power_reading(done.stdout)
        except ValueError as exc:
            raise SensorError(f"ipmitool ({self.where}): {exc}") from exc
