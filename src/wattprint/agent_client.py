"""Ask the node agent for this process's energy and carbon so far.

An application served on a machine that runs ``wattprint agent`` can report
its own footprint without measuring anything itself: the agent already
samples every device and shares the CPU-side energy between processes by
their CPU time (see :mod:`wattprint.serve.agent`)::

    from wattprint.agent_client import AgentClient

    usage = AgentClient().process()          # this process
    print(f"{usage.energy_j:.1f} J, {usage.co2e_g:.3f} gCO2e so far")

The client speaks plain HTTP with the standard library (no dependency), with
a timeout on every call, and never goes through an HTTP proxy (the agent is
on this machine or the cluster's own network). Every failure is a
:class:`~wattprint.errors.WattprintError` whose message says what to do.

Pids: the agent sees the host's pid namespace. Inside a container, the
container's own pid of a process differs from the host's, so pass the
host pid explicitly there.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wattprint.errors import WattprintError
from wattprint.time import parse_datetime

__all__ = ["AgentClient", "AgentDevice", "ProcessUsage"]


@dataclass(frozen=True)
class ProcessUsage:
    """One process's energy and carbon as the agent has counted them.

    Attributes:
        pid: the process id (host namespace).
        name: the process name.
        alive: whether the process was alive at the agent's last listing.
        energy_j: CPU-side energy charged to it since the agent first listed it, joules.
        co2e_g: operational carbon of that energy, grams CO2e.
        cpu_s: CPU seconds it used over the same span.
        share_rule: how its share was computed (``cpu-time-share``).
        cgroup: its cgroup path, if known.
        container_id: its container id, if it runs in one.
        first_seen: when the agent first listed it (UTC).
        last_seen: the agent's last listing of it (UTC).
    """

    pid: int
    name: str
    alive: bool
    energy_j: float
    co2e_g: float
    cpu_s: float
    share_rule: str
    cgroup: str | None
    container_id: str | None
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class AgentDevice:
    """One device's totals since the agent started.

    Attributes:
        id: device id (``rapl:package-0``).
        kind: ``cpu``, ``dram``, ``ram``, ``gpu``, ``psys`` or ``node``.
        name: device name.
        source: the sensor that reads it.
        measured: ``True`` for hardware counters, ``False`` for power models.
        energy_j: energy since the agent started, joules.
        co2e_g: its operational carbon, grams CO2e.
        power_w: mean power over the last interval, watts (``None`` before one).
    """

    id: str
    kind: str
    name: str
    source: str
    measured: bool
    energy_j: float
    co2e_g: float
    power_w: float | None


class AgentClient:
    """A client of a running ``wattprint agent``.

    Args:
        url: the agent's base URL.
        token: its bearer token, if it was started with ``--token-file``.
        timeout_s: timeout of each call, seconds.
    """

    def __init__(self, url: str = "http://127.0.0.1:9464", token: str | None = None,
                 timeout_s: float = 2) -> None:
        if not url.startswith(("http://", "https://")):
            raise WattprintError(f"agent url {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _get(self, path: str, not_found: str | None = None) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Accept": "application/json"})
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and not_found is not None:
                raise WattprintError(not_found) from exc
            raise self._http_error(exc, path) from exc
        except TimeoutError as exc:
            raise WattprintError(
                f"the wattprint agent at {self.url} did not answer within {self.timeout_s:g} s; "
                "check that it is running, or raise timeout_s") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WattprintError(
                f"cannot reach the wattprint agent at {self.url}: {reason}; start it with "
                "`wattprint agent` or pass its url") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise WattprintError(
                f"the answer of {self.url}{path} is not JSON; is {self.url} a wattprint agent?"
            ) from exc

    def _http_error(self, exc: urllib.error.HTTPError, path: str) -> WattprintError:
        detail = ""
        with contextlib.suppress(ValueError, AttributeError, OSError):
            detail = str(json.loads(exc.read()).get("error", ""))
        if exc.code == 401:
            hint = ("pass the agent's token: AgentClient(token=...)" if self.token is None
                    else "the token is wrong; use the one in the agent's --token-file")
            return WattprintError(f"the wattprint agent at {self.url} refused the request: "
                                  f"{hint}")
        return WattprintError(f"the wattprint agent at {self.url} answered {exc.code} for "
                              f"{path}: {detail or exc.reason}")

    def health(self) -> dict[str, Any]:
        """The agent's ``/healthz`` document.

        Raises:
            WattprintError: the agent cannot be reached or answered an error.
        """
        doc = self._get("/healthz")
        if not isinstance(doc, dict):
            raise WattprintError(f"unexpected /healthz answer from {self.url}")
        return doc

    def process(self, pid: int | None = None) -> ProcessUsage:
        """Energy and carbon of this process (or ``pid``) so far.

        Raises:
            WattprintError: the agent cannot be reached, refused the token,
                or has not listed the process (it lists processes every few
                seconds, so a process that just started may need a moment).
        """
        target = os.getpid() if pid is None else pid
        if target < 0:
            raise WattprintError(f"pid {target} is negative")
        doc = self._get(
            f"/v1/processes/{target}",
            not_found=f"the wattprint agent at {self.url} has not listed process {target}: it "
                      "lists processes every few seconds, so retry shortly; inside a container "
                      "pass the host pid")
        try:
            return ProcessUsage(
                pid=int(doc["pid"]), name=str(doc["name"]), alive=bool(doc["alive"]),
                energy_j=float(doc["energy_j"]), co2e_g=float(doc["co2e_g"]),
                cpu_s=float(doc["cpu_s"]), share_rule=str(doc["share_rule"]),
                cgroup=doc.get("cgroup"), container_id=doc.get("container_id"),
                first_seen=parse_datetime(str(doc["first_seen"])),
                last_seen=parse_datetime(str(doc["last_seen"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WattprintError(
                f"unexpected process document from {self.url}: {exc}; is the agent of the "
                "same wattprint version?") from exc

    def devices(self) -> list[AgentDevice]:
        """Every device's energy, carbon and power since the agent started.

        Raises:
            WattprintError: the agent cannot be reached or answered an error.
        """
        doc = self._get("/v1/devices")
        try:
            return [
                AgentDevice(
                    id=str(d["id"]), kind=str(d["kind"]), name=str(d["name"]),
                    source=str(d["source"]), measured=bool(d["measured"]),
                    energy_j=float(d["energy_j"]), co2e_g=float(d["co2e_g"]),
                    power_w=None if d["power_w"] is None else float(d["power_w"]),
                )
                for d in doc["devices"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise WattprintError(
                f"unexpected devices document from {self.url}: {exc}; is the agent of the "
                "same wattprint version?") from exc
