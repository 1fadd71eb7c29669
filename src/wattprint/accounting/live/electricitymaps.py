"""Electricity Maps API v3: average, lifecycle, consumption-based intensity per zone.

Electricity Maps (``https://api.electricitymaps.com``) models the grid of
about 350 *zones* (``DE``, ``FR``, ``US-CAL-CISO``) hour by hour. Its
intensity is **consumption-based**: imports are traced back through the
interconnectors to the plants that made them, so a zone importing coal power
carries the coal. It is an **average** intensity (all generation, not the
marginal plant) and by default **lifecycle** (construction, fuel supply and
combustion; ``emissionFactorType`` says ``lifecycle`` or ``direct``).

**Auth.** Every request carries the API token in the ``auth-token`` header
(not ``Authorization``); wattprint reads it from ``token=`` or
``WATTPRINT_ELECTRICITYMAPS_TOKEN`` and marks the header secret, so it is
never sent across origins or over plain http on a redirect, never put in a
URL, the cache, a log or an error message. Without a token the client is off
and answers the shipped-table value.

**Endpoints used** (each with ``?zone=<zone key>``)::

    GET /v3/carbon-intensity/latest    the current hour
    {"zone": "DE", "carbonIntensity": 302, "datetime": "2024-05-21T10:00:00.000Z",
     "updatedAt": "...", "emissionFactorType": "lifecycle", "isEstimated": true}

    GET /v3/carbon-intensity/history   the last 24 hours
    {"zone": "DE", "history": [{"carbonIntensity": 300, "datetime": "...Z",
                                "emissionFactorType": "lifecycle"}, ...]}

    GET /v3/carbon-intensity/forecast  the next hours
    {"zone": "DE", "forecast": [{"carbonIntensity": 350, "datetime": "...Z"}, ...]}

``carbonIntensity`` is in gCO2e/kWh; ``datetime`` is the start of the hour,
ISO 8601 in UTC. A ``null`` value (an hour the model has not filled) becomes
a gap, filled by interpolation in the series.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from wattprint.accounting.intensity import canonical_region
from wattprint.accounting.live.base import (
    LiveClient,
    _Failure,
    _field,
    _list,
    _number,
    _series_from_points,
    _time,
)
from wattprint.accounting.series import IntensitySeries, IntensityValue, Provenance
from wattprint.errors import RegionError

__all__ = ["ElectricityMapsClient"]


class ElectricityMapsClient(LiveClient):
    """Electricity Maps API v3: average, lifecycle, consumption-based intensity.

    Region codes are Electricity Maps zone keys (``DE``, ``US-CAL-CISO``;
    ``em:`` prefixes and the EIA codes of the hourly regions are accepted).

    Args:
        token: API token; ``None`` reads ``WATTPRINT_ELECTRICITYMAPS_TOKEN``.
        **options: the options every live client takes (``base_url``, ``timeout_s``,
            ``cache_dir``, ``cache``, ``cache_ttl_s``, ``retry_after_s``, ``strict``,
            ``fallback``, ``fallback_region``, ``environ``, ``clock``, ``transport``):
            see :class:`~wattprint.accounting.live.base.LiveClient`.
    """

    name = "electricitymaps"
    title = "Electricity Maps API"
    method = "average"
    default_base_url = "https://api.electricitymaps.com"

    def __init__(self, token: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._token = token or self.environ.get("WATTPRINT_ELECTRICITYMAPS_TOKEN") or None

    def __repr__(self) -> str:
        token = "set" if self._token else "unset"
        return f"ElectricityMapsClient(base_url={self.base_url!r}, token={token})"

    def _credential_hint(self) -> str:
        return "the token was refused; check WATTPRINT_ELECTRICITYMAPS_TOKEN"

    def _zone(self, region: str) -> str:
        code = region.strip()
        if code.casefold().startswith("em:"):
            return code[3:].strip().upper()
        try:
            canonical = canonical_region(code)
        except RegionError:
            return code.upper()
        return canonical[3:] if canonical.startswith("em:") else canonical

    def _fetch(self, endpoint: str, zone: str) -> Any:
        if not self._token:
            raise _Failure("no token; set WATTPRINT_ELECTRICITYMAPS_TOKEN or pass token=")
        return self._get(
            f"/v3/carbon-intensity/{endpoint}", {"zone": zone}, {"auth-token": self._token}
        )

    def _provenance(self, endpoint: str, zone: str, basis: Any, year: int | None) -> Provenance:
        return Provenance(
            source="Electricity Maps API",
            dataset=f"/v3/carbon-intensity/{endpoint}?zone={zone}",
            year=year,
            method="average",
            basis=basis if basis in ("lifecycle", "direct") else "lifecycle",
            licence="Electricity Maps API terms",
            citation="Electricity Maps, https://www.electricitymaps.com",
            region=zone,
        )

    def _latest(self, zone: str) -> IntensityValue:
        body = self._fetch("latest", zone)
        g = _number(_field(body, "carbonIntensity", "carbonIntensity"), "carbonIntensity")
        t = _time(_field(body, "datetime", "datetime"), "datetime")
        year = datetime.fromtimestamp(t, timezone.utc).year
        provenance = self._provenance("latest", zone, body.get("emissionFactorType"), year)
        return IntensityValue(g, provenance)

    def _points(self, body: Any, key: str) -> tuple[list[tuple[float, float]], Any]:
        points = []
        basis = None
        for item in _list(body, key):
            t = _time(_field(item, "datetime", "datetime"), "datetime")
            raw = _field(item, "carbonIntensity", "carbonIntensity")
            g = math.nan if raw is None else _number(raw, "carbonIntensity")
            basis = item.get("emissionFactorType", basis)
            points.append((t, g))
        return points, basis

    def _history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        points, basis = self._points(self._fetch("history", zone), "history")
        provenance = self._provenance("history", zone, basis, None)
        return _series_from_points(points, zone=zone, method="average", provenance=provenance)

    def _forecast(self, zone: str) -> IntensitySeries:
        points, basis = self._points(self._fetch("forecast", zone), "forecast")
        provenance = self._provenance("forecast", zone, basis, None)
        return _series_from_points(points, zone=zone, method="average", provenance=provenance)
