"""Node power from the BMC over Redfish (DMTF DSP0266), the BMC's REST API.

Redfish describes a server as *chassis* (``/redfish/v1/Chassis``), and each
chassis reports the power its supplies deliver to the whole node in one of
three places, tried in this order:

1. ``/redfish/v1/Chassis/{id}/EnvironmentMetrics`` ``PowerWatts.Reading``
   (schema 2020.4 and later). Its ``DataSourceUri`` names the *Sensor*
   behind it, whose ``SensingInterval`` (an ISO 8601 duration, ``PT0.25S``)
   is the BMC's averaging window.
2. ``/redfish/v1/Chassis/{id}/Power`` ``PowerControl[0].PowerConsumedWatts``
   (the original, now deprecated, Power resource that most BMCs in service
   still serve). ``PowerMetrics.IntervalInMin`` is the window of its
   min/max/average statistics.
3. ``/redfish/v1/Chassis/{id}/PowerSubsystem`` power supplies: the sum of
   every supply's ``Metrics`` ``InputPowerWatts.Reading``, used only when
   every supply has one (a partial sum would under-count the node).

The chassis is the one configured (``redfish_chassis``), else the first in
the collection that reports power in any of these places.

Authentication is HTTP basic (a header on every request) or a Redfish
session (``POST /redfish/v1/SessionService/Sessions`` once, then the
``X-Auth-Token`` it returns; a new session is made when the BMC answers 401).
Credentials go only to the BMC's own origin (:mod:`wattprint.httpclient`)
and never into a message or a log. Requests go through wattprint's one HTTP
client, with a short time-out; https certificate checking is on unless
``redfish_verify = false`` (BMCs often have self-signed certificates) or a
CA bundle is given.
"""

from __future__ import annotations

import base64
import contextlib
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattprint.errors import HttpError, SensorError, SensorUnavailable
from wattprint.httpclient import HttpClient, HttpResponse

__all__ = ["RedfishOptions", "RedfishPower", "RedfishReader", "iso_duration_s"]

CHASSIS_PATH = "/redfish/v1/Chassis"
SESSIONS_PATH = "/redfish/v1/SessionService/Sessions"

_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def iso_duration_s(text: str) -> float | None:
    """Seconds of an ISO 8601 duration as Redfish writes them (``PT0.25S``, ``PT1M``, ``P1D``).

    Returns ``None`` for anything else.
    """
    match = _ISO_DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or text.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (parts.get("d", 0.0) * 86400 + parts.get("h", 0.0) * 3600 + parts.get("m", 0.0) * 60
            + parts.get("s", 0.0))


@dataclass(frozen=True)
class RedfishOptions:
    """How to reach a Redfish service.

    Attributes:
        url: the BMC's base URL (``https://bmc.example``); ``/redfish/v1`` is added.
        user: the BMC user (``None``: no authentication).
        password: its password (never printed); ``None``: read from ``password_file``.
        password_file: a file whose first line is the password.
        chassis: the chassis id (``None``: discovered).
        auth: ``basic`` or ``session``.
        verify: check the TLS certificate (``True``), not (``False``), or a CA bundle path.
        timeout_s: longest a request may take, s.
    """

    url: str
    user: str | None = None
    password: str | None = None
    password_file: Path | None = None
    chassis: str | None = None
    auth: str = "basic"
    verify: bool | str = True
    timeout_s: float = 5.0

    def __repr__(self) -> str:
        from wattprint.config import mask_store_url

        return (f"RedfishOptions(url={mask_store_url(self.url)!r}, "
                f"user={'***' if self.user else None}, "
                f"chassis={self.chassis!r}, auth={self.auth!r})")


@dataclass(frozen=True)
class RedfishPower:
    """One power reading of a chassis.

    Attributes:
        power_w: the node's power, W.
        window_s: the BMC's averaging window for it, s (``None``: not stated).
        resource: where it was read (``EnvironmentMetrics``, ``Power``, ``PowerSubsystem``).
    """

    power_w: float
    window_s: float | None
    resource: str


def _with_credentials(options: RedfishOptions) -> RedfishOptions:
    """The options with the password read from its file, or user and password taken from the URL.

    Raises:
        SensorUnavailable: the password file cannot be read.
    """
    from dataclasses import replace

    from wattprint.sensors.node_power import read_password_file

    parts = urllib.parse.urlsplit(options.url)
    if parts.username is not None:  # user:password@host in the URL: used, then removed from it
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        options = replace(options, url=urllib.parse.urlunsplit(parts._replace(netloc=netloc)),
                          user=options.user or urllib.parse.unquote(parts.username),
                          password=(options.password if options.password is not None else
                                    urllib.parse.unquote(parts.password or "")))
    if options.password is None and options.password_file is not None:
        options = replace(options, password=read_password_file(options.password_file,
                                                               "Redfish"))
    return options


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _link(doc: Any, key: str) -> str | None:
    if isinstance(doc, dict):
        ref = doc.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("@odata.id"), str):
            return str(ref["@odata.id"])
    return None


class RedfishReader:
    """Reads a chassis's power from a Redfish service (see the module docstring).

    Args:
        options: where and how.
        client: the HTTP client (default one with the options' time-out and
            certificate rule; tests may pass one with a mock transport).
    """

    def __init__(self, options: RedfishOptions, client: HttpClient | None = None) -> None:
        options = _with_credentials(options)
        self.options = options
        self.base = options.url.rstrip("/")
        if self.base.endswith("/redfish/v1"):
            self.base = self.base[: -len("/redfish/v1")]
        self.client = client or HttpClient(timeout_s=options.timeout_s, retries=0,
                                           verify=options.verify, trust_env=False)
        self._token: str | None = None
        self._session_url: str | None = None
        self.chassis_path: str | None = None
        self.resource: str | None = None
        self.sensor_window_s: float | None = None
        self._links: dict[str, str] = {}

    @property
    def where(self) -> str:
        """The service in words, without credentials."""
        from wattprint.config import mask_store_url

        return mask_store_url(self.base) + (f" chassis {self.chassis_path.rsplit('/', 1)[-1]}"
                                            if self.chassis_path else "")

    # -- requests -------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        o = self.options
        if o.user is None:
            return {}
        if o.auth == "session":
            if self._token is None:
                self._login()
            return {"X-Auth-Token": self._token or ""}
        pair = f"{o.user}:{o.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def _login(self) -> None:
        o = self.options
        response = self.client.send("POST", self.base + SESSIONS_PATH,
                                    json_body={"UserName": o.user, "Password": o.password or ""})
        token = response.headers.get("x-auth-token")
        if not response.ok or not token:
            raise SensorError(f"Redfish session login at {self.where} failed: HTTP "
                              f"{response.status} {response.reason}".rstrip()
                              + ("" if token or not response.ok else " (no X-Auth-Token)"))
        self._token = token
        location = response.headers.get("location")
        self._session_url = (location if location is None or location.startswith("http")
                             else self.base + location)

    def get(self, path: str) -> Any:
        """GET a Redfish resource (a path under the base URL) as JSON.

        Raises:
            SensorError: time-out, connection failure, an error status, or no JSON.
        """
        try:
            response = self.client.get(self.base + path, headers=self._auth_headers())
            if response.status == 401 and self.options.auth == "session" and self._token:
                self._token = None  # the session expired: log in again, once
                response = self.client.get(self.base + path, headers=self._auth_headers())
        except HttpError as exc:
            raise SensorError(f"Redfish {self.where}: {exc.reason or exc}") from exc
        return self._json(response, path)

    def _json(self, response: HttpResponse, path: str) -> Any:
        if not response.ok:
            raise SensorError(f"Redfish {self.where}: GET {path} answered HTTP "
                              f"{response.status} {response.reason}".rstrip())
        try:
            return response.json()
        except ValueError as exc:
            raise SensorError(f"Redfish {self.where}: GET {path} gave no JSON") from exc

    # -- discovery ------------------------------------------------------------
    def discover(self) -> RedfishPower:
        """Find the chassis and the resource that reports its power; the first reading.

        Raises:
            SensorUnavailable: the service cannot be reached, or no chassis
                reports power.
        """
        try:
            members = self._members()
            errors: list[str] = []
            for path in members:
                self.chassis_path = path
                try:
                    chassis = self.get(path)
                    found = self._first_reading(chassis)
                except SensorError as exc:
                    errors.append(str(exc))
                    continue
                if found is not None:
                    return found
        except SensorError as exc:
            raise SensorUnavailable(str(exc)) from exc
        self.chassis_path = None
        detail = f" ({errors[0]})" if errors else ""
        raise SensorUnavailable(f"no chassis of the Redfish service at {self.where} reports its "
                                f"power (EnvironmentMetrics, Power or PowerSubsystem){detail}")

    def _members(self) -> list[str]:
        if self.options.chassis:
            return [f"{CHASSIS_PATH}/{self.options.chassis}"]
        collection = self.get(CHASSIS_PATH)
        members = collection.get("Members") if isinstance(collection, dict) else None
        paths = [m["@odata.id"] for m in members or []
                 if isinstance(m, dict) and isinstance(m.get("@odata.id"), str)]
        if not paths:
            raise SensorError(f"the Redfish service at {self.where} lists no chassis")
        return [p.rstrip("/") for p in paths]

    def _first_reading(self, chassis: Any) -> RedfishPower | None:
        for resource in ("EnvironmentMetrics", "Power", "PowerSubsystem"):
            link = _link(chassis, resource)
            if link is None:
                continue
            self.resource = resource
            try:
                reading = self._read_resource(resource, link)
            except SensorError:
                reading = None
            if reading is not None:
                self._links = {resource: link}
                if resource == "EnvironmentMetrics":
                    self.sensor_window_s = self._sensing_interval(link)
                    reading = RedfishPower(reading.power_w, self.sensor_window_s, resource)
                return reading
        self.resource = None
        return None

    def _sensing_interval(self, link: str) -> float | None:
        try:
            doc = self.get(link)
            uri = doc.get("PowerWatts", {}).get("DataSourceUri")
            if not isinstance(uri, str):
                return None
            sensor = self.get(uri)
        except (SensorError, AttributeError):
            return None
        value = sensor.get("SensingInterval") if isinstance(sensor, dict) else None
        return iso_duration_s(value) if isinstance(value, str) else None

    # -- readings -------------------------------------------------------------
    def read(self) -> RedfishPower:
        """One reading of the discovered chassis.

        Raises:
            SensorError: the read failed (time-out, error status, no value).
        """
        if self.resource is None:
            self.discover()
        assert self.resource is not None
        reading = self._read_resource(self.resource, self._links[self.resource])
        if reading is None:
            raise SensorError(f"Redfish {self.where}: {self.resource} gave no power reading")
        if self.resource == "EnvironmentMetrics":
            return RedfishPower(reading.power_w, self.sensor_window_s, self.resource)
        return reading

    def _read_resource(self, resource: str, link: str) -> RedfishPower | None:
        doc = self.get(link)
        if not isinstance(doc, dict):
            return None
        if resource == "EnvironmentMetrics":
            power = doc.get("PowerWatts")
            value = _number(power.get("Reading")) if isinstance(power, dict) else None
            return None if value is None else RedfishPower(value, None, resource)
        if resource == "Power":
            for control in doc.get("PowerControl") or []:
                if not isinstance(control, dict):
                    continue
                value = _number(control.get("PowerConsumedWatts"))
                if value is None:
                    continue
                metrics = control.get("PowerMetrics")
                minutes = (_number(metrics.get("IntervalInMin"))
                           if isinstance(metrics, dict) else None)
                return RedfishPower(value, minutes * 60.0 if minutes else None, resource)
            return None
        return self._supplies_sum(doc)

    def _supplies_sum(self, subsystem: dict[str, Any]) -> RedfishPower | None:
        link = _link(subsystem, "PowerSupplies")
        if link is None:
            return None
        collection = self.get(link)
        total = 0.0
        members = collection.get("Members") if isinstance(collection, dict) else None
        if not members:
            return None
        for member in members:
            supply = self.get(member["@odata.id"])
            metrics_link = _link(supply, "Metrics")
            if metrics_link is None:
                return None  # a supply without metrics: a sum would under-count the node
            metrics = self.get(metrics_link)
            power = metrics.get("InputPowerWatts") if isinstance(metrics, dict) else None
            value = _number(power.get("Reading")) if isinstance(power, dict) else None
            if value is None:
                return None
            total += value
        return RedfishPower(total, None, "PowerSubsystem")

    def close(self) -> None:
        """End the Redfish session, if one was made (best effort)."""
        if self._session_url and self._token:
            with contextlib.suppress(HttpError):
                self.client.send("DELETE", self._session_url,
                                 headers={"X-Auth-Token": self._token})
        self._token = None
        self._session_url = None
