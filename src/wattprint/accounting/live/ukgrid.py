"""The NESO Carbon Intensity API: Great Britain's grid, national or by postcode, no key.

The Carbon Intensity API (``https://api.carbonintensity.org.uk``, run by the
National Energy System Operator, data under CC BY 4.0) gives the **average**
intensity of Great Britain's electricity per half-hour, on a **direct**
basis (CO2 from generation; imports counted at their own factors), as a
forecast and, once metered, an ``actual`` value. It needs **no key**, so no
credential is ever sent.

**Endpoints used**, national or for an outward postcode (``RG10``)::

    GET /intensity                                   the current half-hour
    GET /intensity/{from}/{to}                       a past span
    GET /intensity/{from}/fw48h                      the next 48 hours
    {"data": [{"from": "2024-05-21T10:00Z", "to": "2024-05-21T10:30Z",
               "intensity": {"forecast": 266, "actual": 263, "index": "moderate"}}]}

    GET /regional/postcode/{pc}                      the current half-hour there
    GET /regional/intensity/{from}/{to}/postcode/{pc}
    GET /regional/intensity/{from}/fw48h/postcode/{pc}
    {"data": [{"regionid": 12, "shortname": "South England", "postcode": "RG10",
               "data": [{"from": ..., "to": ..., "intensity": {"forecast": 126}}]}]}

Times are ISO 8601 in UTC to the minute (``2024-05-21T10:00Z``); the value
is in gCO2/kWh. ``actual`` is used when present, else ``forecast``. Regional
answers nest the periods one level down, under ``data[0].data`` (a list) or
``data.data`` (an object), depending on the endpoint.
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
    _iso_z,
    _list,
    _number,
    _series_from_points,
    _time,
)
from wattprint.accounting.series import IntensitySeries, IntensityValue, Provenance
from wattprint.errors import RegionError

__all__ = ["UKCarbonIntensityClient"]


class UKCarbonIntensityClient(LiveClient):
    """NESO Carbon Intensity API for Great Britain (no key needed).

    Only region ``GB`` (also ``GBR``, ``UK``) is served; with ``postcode`` the
    regional endpoints of that outward postcode (``RG10``) are used instead of
    the national ones.

    Args:
        postcode: outward postcode for regional data, or ``None`` for national.
        **options: the options every live client takes (``base_url``, ``timeout_s``,
            ``cache_dir``, ``cache``, ``cache_ttl_s``, ``retry_after_s``, ``strict``,
            ``fallback``, ``fallback_region``, ``environ``, ``clock``, ``transport``):
            see :class:`~wattprint.accounting.live.base.LiveClient`.
    """

    name = "ukgrid"
    title = "UK Carbon Intensity API"
    method = "average"
    default_base_url = "https://api.carbonintensity.org.uk"

    def __init__(self, postcode: str | None = None, **options: Any) -> None:
        options.setdefault("fallback_region", "GB")
        super().__init__(**options)  # the UK API needs no key: nothing read from environ
        self.postcode = postcode.strip().upper().replace(" ", "") if postcode else None

    def _zone(self, region: str) -> str:
        try:
            code = canonical_region(region)
        except RegionError:
            code = region
        if code != "GB":
            raise RegionError(
                f"the UK Carbon Intensity API covers Great Britain only (region GB), not "
                f"{region!r}; use ElectricityMapsClient or the shipped tables for other regions"
            )
        return "GB"

    def _provenance(self, endpoint: str, year: int | None) -> Provenance:
        return Provenance(
            source="NESO Carbon Intensity API",
            dataset=endpoint,
            year=year,
            method="average",
            basis="direct",
            licence="CC BY 4.0",
            citation="National Energy System Operator, Carbon Intensity API, "
            "https://carbonintensity.org.uk",
            region="GB" + (f" postcode {self.postcode}" if self.postcode else ""),
        )

    def _periods(self, body: Any) -> list[Any]:
        data = _field(body, "data", "data")
        if self.postcode:
            # Regional answers nest the periods one level down, under data[0].data
            # (a list) or data.data (an object), depending on the endpoint.
            region = data[0] if isinstance(data, list) and data else data
            return _list(region, "data")
        return _list(body, "data")

    def _points(self, body: Any) -> list[tuple[float, float]]:
        points = []
        for period in self._periods(body):
            t = _time(_field(period, "from", "from"), "from")
            intensity = _field(period, "intensity", "intensity")
            raw = intensity.get("actual") if isinstance(intensity, dict) else None
            if raw is None:
                raw = _field(intensity, "forecast", "intensity.forecast")
            g = math.nan if raw is None else _number(raw, "intensity")
            points.append((t, g))
        return points

    def _latest(self, zone: str) -> IntensityValue:
        path = f"/regional/postcode/{self.postcode}" if self.postcode else "/intensity"
        points = self._points(self._get(path))
        t, g = points[-1]
        if math.isnan(g):
            raise _Failure("malformed response: the current value is null")
        year = datetime.fromtimestamp(t, timezone.utc).year
        return IntensityValue(g, self._provenance(path, year))

    def _history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        start = math.floor(start_s / 1800.0) * 1800.0
        end = math.ceil(end_s / 1800.0) * 1800.0
        span = f"{_iso_z(start)[:-4]}Z/{_iso_z(max(end, start + 1800.0))[:-4]}Z"
        path = (
            f"/regional/intensity/{span}/postcode/{self.postcode}"
            if self.postcode
            else f"/intensity/{span}"
        )
        points = self._points(self._get(path))
        return _series_from_points(
            points, zone="GB", method="average", provenance=self._provenance(path, None)
        )

    def _forecast(self, zone: str) -> IntensitySeries:
        now = math.floor(self._clock() / 1800.0) * 1800.0
        start = f"{_iso_z(now)[:-4]}Z"
        path = (
            f"/regional/intensity/{start}/fw48h/postcode/{self.postcode}"
            if self.postcode
            else f"/intensity/{start}/fw48h"
        )
        points = self._points(self._get(path))
        return _series_from_points(
            points, zone="GB", method="average", provenance=self._provenance(path, None)
        )
