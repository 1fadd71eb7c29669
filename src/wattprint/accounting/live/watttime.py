"""WattTime API v3: the marginal operating emission rate (MOER) of a grid region.

WattTime (``https://api.watttime.org``) estimates the **marginal** emission
rate: the CO2 of the plants that respond when demand changes by a little,
which is what one more (or one less) job on the grid actually causes. It is
CO2 from combustion only (**direct** basis), at 5-minute resolution, for
WattTime's balancing-authority regions (``CAISO_NORTH``, ``PJM_DC``), in
pounds of CO2 per MWh: 1 lb/MWh = 0.45359237 g/kWh
(:data:`~wattprint.accounting.live.base.G_PER_KWH_PER_LB_PER_MWH`).

**Auth, in two steps.** ``GET /login`` with HTTP Basic auth
(``Authorization: Basic base64(user:password)``) answers
``{"token": "<bearer token>"}``, valid for 30 minutes; every data request
then carries ``Authorization: Bearer <token>``. wattprint reads the user and
password from the arguments or ``WATTPRINT_WATTTIME_USERNAME`` /
``WATTPRINT_WATTTIME_PASSWORD``, reuses a token for 25 minutes, logs in again
after a refusal, never caches the login, and never sends either header
across origins or over plain http on a redirect.

**Endpoints used** (with ``region=<region>&signal_type=co2_moer``)::

    GET /v3/forecast                      the next hours; its first point is "now"
    GET /v3/historical?start=...Z&end=...Z  past values
    {"data": [{"point_time": "2024-05-21T10:00:00+00:00", "value": 1000.0}, ...],
     "meta": {"region": "CAISO_NORTH", "signal_type": "co2_moer",
              "units": "lbs_co2_per_mwh", "data_point_period_seconds": 300}}

``meta.units`` is checked: ``lbs_co2_per_mwh`` is converted, ``g_co2_per_kwh``
and ``kg_co2_per_mwh`` (the same quantity) are taken as they are, anything
else (a percentile signal) is refused as malformed.
"""

from __future__ import annotations

import base64
import math
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from wattprint.accounting.live.base import (
    G_PER_KWH_PER_LB_PER_MWH,
    LiveClient,
    _Failure,
    _field,
    _iso_z,
    _list,
    _number,
    _series_from_points,
    _time,
)
from wattprint.accounting.series import IntensitySeries, IntensityValue, Provenance

__all__ = ["WattTimeClient"]


class WattTimeClient(LiveClient):
    """WattTime API v3: marginal operating emission rate (MOER), converted to gCO2/kWh.

    Region codes are WattTime regions (``CAISO_NORTH``, ``PJM_DC``). As they
    are not shipped-table codes, give ``fallback_region`` (e.g. ``"US-CA"``)
    so a failure falls back to that region's marginal factor rather than the
    world.

    Args:
        username: WattTime user; ``None`` reads ``WATTPRINT_WATTTIME_USERNAME``.
        password: password; ``None`` reads ``WATTPRINT_WATTTIME_PASSWORD``.
        **options: the options every live client takes (``base_url``, ``timeout_s``,
            ``cache_dir``, ``cache``, ``cache_ttl_s``, ``retry_after_s``, ``strict``,
            ``fallback``, ``fallback_region``, ``environ``, ``clock``, ``transport``):
            see :class:`~wattprint.accounting.live.base.LiveClient`.
    """

    name = "watttime"
    title = "WattTime API"
    method = "marginal"
    default_base_url = "https://api.watttime.org"
    #: Seconds a login token is reused (WattTime tokens last 30 minutes).
    token_lifetime_s = 25 * 60.0

    def __init__(self, username: str | None = None, password: str | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self._username = username or self.environ.get("WATTPRINT_WATTTIME_USERNAME") or None
        self._password = password or self.environ.get("WATTPRINT_WATTTIME_PASSWORD") or None
        self._token: str | None = None
        self._token_until = -math.inf

    def __repr__(self) -> str:
        user = "set" if self._username else "unset"
        return f"WattTimeClient(base_url={self.base_url!r}, credentials={user})"

    def _credential_hint(self) -> str:
        return "the credentials were refused; check WATTPRINT_WATTTIME_USERNAME and _PASSWORD"

    def _zone(self, region: str) -> str:
        return region.strip().upper()

    def _login(self) -> str:
        if self._token and self._clock() < self._token_until:
            return self._token
        if not self._username or not self._password:
            raise _Failure(
                "no credentials; set WATTPRINT_WATTTIME_USERNAME and WATTPRINT_WATTTIME_PASSWORD"
            )
        pair = base64.b64encode(f"{self._username}:{self._password}".encode()).decode("ascii")
        body = self._get("/login", headers={"Authorization": f"Basic {pair}"}, use_cache=False)
        token = _field(body, "token", "token")
        if not isinstance(token, str) or not token:
            raise _Failure("malformed response: login gave no token")
        self._token, self._token_until = token, self._clock() + self.token_lifetime_s
        return token

    def _fetch(self, path: str, params: dict[str, str]) -> Any:
        token = self._login()
        try:
            return self._get(path, params, {"Authorization": f"Bearer {token}"})
        except _Failure:
            self._token = None  # a refused or expired token: log in again next time
            raise

    def _points(
        self, body: Any, zone: str, endpoint: str
    ) -> tuple[list[tuple[float, float]], Provenance]:
        meta = body.get("meta", {}) if isinstance(body, dict) else {}
        units = meta.get("units", "lbs_co2_per_mwh") if isinstance(meta, dict) else None
        if units == "lbs_co2_per_mwh":
            factor = G_PER_KWH_PER_LB_PER_MWH
        elif units in ("g_co2_per_kwh", "kg_co2_per_mwh"):
            factor = 1.0
        else:
            raise _Failure(f"malformed response: units {units!r} are not an emission rate")
        points = []
        for item in _list(body, "data"):
            t = _time(_field(item, "point_time", "point_time"), "point_time")
            raw = _field(item, "value", "value")
            g = math.nan if raw is None else _number(raw, "value") * factor
            points.append((t, g))
        provenance = Provenance(
            source="WattTime API",
            dataset=f"/v3/{endpoint}?region={zone}&signal_type=co2_moer ({units})",
            year=None,
            method="marginal",
            basis="direct",
            licence="WattTime data terms",
            citation="WattTime, https://watttime.org",
            region=zone,
        )
        return points, provenance

    def _latest(self, zone: str) -> IntensityValue:
        body = self._fetch("/v3/forecast", {"region": zone, "signal_type": "co2_moer"})
        points, provenance = self._points(body, zone, "forecast")
        t, g = points[0]
        if math.isnan(g):
            raise _Failure("malformed response: the current value is null")
        year = datetime.fromtimestamp(t, timezone.utc).year
        provenance = replace(provenance, year=year, dataset=provenance.dataset + " (current point)")
        return IntensityValue(g, provenance)

    def _history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        start = math.floor(start_s / 3600.0) * 3600.0
        end = math.ceil(end_s / 3600.0) * 3600.0
        params = {
            "region": zone,
            "signal_type": "co2_moer",
            "start": _iso_z(start),
            "end": _iso_z(end),
        }
        points, provenance = self._points(self._fetch("/v3/historical", params), zone, "historical")
        return _series_from_points(points, zone=zone, method="marginal", provenance=provenance)

    def _forecast(self, zone: str) -> IntensitySeries:
        body = self._fetch("/v3/forecast", {"region": zone, "signal_type": "co2_moer"})
        points, provenance = self._points(body, zone, "forecast")
        return _series_from_points(points, zone=zone, method="marginal", provenance=provenance)
