"""Ask the node agent for this process's energy and carbon so far.

An application served on a machine that runs ``wattprint agent`` can report
its own footprint without measuring anything itself: the agent already
samples every device and shares the CPU-side energy between processes by
their CPU time (see :mod:`wattprint.serve.agent`)::

    from wattprint.serve.client import AgentClient

    usage = AgentClient().process()          # this process
    print(f"{usage.energy_j:.1f} J, {usage.co2e_g:.3f} gCO2e so far")

(``wattprint.agent_client`` is the same module under its older name.)

The client speaks HTTP through :class:`wattprint.httpclient.HttpClient`: a
timeout on every call, a refused or dropped connection and a 429/502/503/504
answer retried twice with back-off, the bearer token never sent on a
redirect to another origin or to plain http, and never through an HTTP proxy
(the agent is on this machine or the cluster's own network). Every failure
is a :class:`~wattprint.errors.WattprintError` whose message says what to do.

The agent's JSON API, as read here (see ``serve/openapi.yaml``)::

    GET /healthz                 {"status": "ok", ...}
    GET /v1/devices              {"devices": [{"id": "rapl:package-0", "kind": "cpu",
                                   "name": ..., "source": "rapl", "measured": true,
                                   "energy_j": 60.0, "co2e_g": 0.006, "power_w": 12.5}]}
    GET /v1/processes/{pid}      {"pid": 4242, "name": "python", "alive": true,
                                   "energy_j": ..., "co2e_g": ..., "cpu_s": ...,
                                   "share_rule": "cpu-time-share", "cgroup": ...,
                                   "container_id": null, "first_seen": "...Z",
                                   "last_seen": "...Z"}

With ``--token-file`` the agent wants ``Authorization: Bearer <token>`` and
answers 401 without it; an unlisted pid is a 404.

Pids: the agent sees the host's pid namespace. Inside a container, the
container's own pid of a process differs from the host's, so pass the
host pid explicitly there.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wattprint.errors import WattprintError
from wattprint.httpclient import HttpClient, HttpError, HttpResponse
from wattprint.time import parse_datetime

if TYPE_CHECKING:
    import httpx

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
        transport: an httpx transport instead of the network (tests pass
            ``httpx.MockTransport``).
    """

    def __init__(self, url: str = "http://127.0.0.1:9464", token: str | None = None,
                 timeout_s: float = 2, *, transport: httpx.BaseTransport | None = None
                 ) -> None:
        if not url.startswith(("http://", "https://")):
            raise WattprintError(f"agent url {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._http = HttpClient(timeout_s=timeout_s, trust_env=False, transport=transport)

    def _get(self, path: str, not_found: str | None = None) -> Any:
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        try:
            response = self._http.get(self.url + path, headers=headers)
        except HttpError as exc:
            if exc.kind == "timeout":
                raise WattprintError(
                    f"the wattprint agent at {self.url} did not answer within "
                    f"{self.timeout_s:g} s; check that it is running, or raise timeout_s"
                ) from exc
            raise WattprintError(
                f"cannot reach the wattprint agent at {self.url}: {exc.reason}; start it with "
                "`wattprint agent` or pass its url") from exc
        if response.status == 404 and not_found is not None:
            raise WattprintError(not_found)
        if not response.ok:
            raise self._http_error(response, path)
        try:
            return response.json()
        except ValueError as exc:
            raise WattprintError(
                f"the answer of {self.url}{path} is not JSON; is {self.url} a wattprint agent?"
            ) from exc

    def _http_error(self, response: HttpResponse, path: str) -> WattprintError:
        detail = ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(response.json().get("error", ""))
        if response.status == 401:
            hint = ("pass the agent's token: AgentClient(token=...)" if self.token is None
                    else "the token is wrong; use the one in the agent's --token-file")
            return WattprintError(f"the wattprint agent at {self.url} refused the request: "
                                  f"{hint}")
        return WattprintError(f"the wattprint agent at {self.url} answered {response.status} "
                              f"for {path}: {detail or response.reason}")

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
