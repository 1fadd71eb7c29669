"""Live carbon-intensity APIs: Electricity Maps, WattTime, UK Carbon Intensity.

The shipped tables give one number per region and year; a live API gives the
intensity of *this* hour and a forecast of the next ones, which is what
carbon-aware scheduling needs. Three public APIs are supported:

* **Electricity Maps** (``api.electricitymaps.com``): average, consumption-
  based (imports flow-traced), lifecycle intensity of ~350 zones, hourly.
  Needs a token, sent in the ``auth-token`` header. Endpoints:
  ``/v3/carbon-intensity/latest``, ``/history`` (last 24 h) and ``/forecast``,
  each with ``?zone=<zone key>`` (``DE``, ``US-CAL-CISO``).
* **WattTime** (``api.watttime.org``): the *marginal* operating emission rate
  (MOER) -- the emissions of the plants that respond to a change in demand,
  CO2 from combustion -- at 5-minute resolution, by WattTime region
  (``CAISO_NORTH``). ``/login`` with HTTP basic auth gives a bearer token
  (valid 30 minutes); ``/v3/forecast`` and ``/v3/historical`` with
  ``signal_type=co2_moer`` give the data. Values are in pounds per MWh:
  1 lb/MWh = 0.45359237 g/kWh.
* **UK Carbon Intensity API** (``api.carbonintensity.org.uk``, NESO, CC BY 4.0,
  no key): average, direct (CO2 from generation, imports included) intensity
  of Great Britain per half-hour, national (``/intensity``,
  ``/intensity/{from}/{to}``, ``/intensity/{from}/fw48h``) or by outward
  postcode (``/regional/postcode/{pc}`` and the ``/regional/intensity/...``
  forms).

**Off unless configured.** Nothing here is used unless a client is built on
purpose. Credentials come from the arguments or the environment:
``WATTPRINT_ELECTRICITYMAPS_TOKEN``; ``WATTPRINT_WATTTIME_USERNAME`` and
``WATTPRINT_WATTTIME_PASSWORD``. They are sent only in request headers, never
put in URLs, the cache, log messages or error messages.

**Time-outs, cache, fallback.** Each request waits at most ``timeout_s``
(2 s by default). Responses are cached on disk (``cache_dir``, by default
the user cache directory ``.../wattprint/intensity``) for ``cache_ttl_s``
(300 s by default: Electricity Maps updates hourly, the UK API half-hourly,
WattTime every 5 minutes); the cache is keyed by URL, so it never holds a
credential. On any failure -- no credentials, HTTP 401/403, HTTP 5xx,
time-out, connection error, malformed body -- the client returns the
shipped-table value instead (:class:`~wattprint.accounting.intensity.AnnualIntensity`
with the client's method, or the ``fallback`` source given), with
``provenance.fallback`` saying why; after a failure the API is not asked again
for ``retry_after_s`` (60 s). With ``strict=True`` failures raise
:class:`~wattprint.errors.IntensityError` instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from wattprint.accounting.intensity import (
    WORLD,
    AnnualIntensity,
    IntensitySource,
    canonical_region,
)
from wattprint.accounting.series import (
    IntensitySeries,
    IntensityValue,
    IntensityValues,
    Provenance,
    make_series,
    series_intensity,
)
from wattprint.errors import IntensityError, RegionError
from wattprint.time import parse_timestamp_s

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_TTL_S",
    "DEFAULT_RETRY_AFTER_S",
    "DEFAULT_TIMEOUT_S",
    "G_PER_KWH_PER_LB_PER_MWH",
    "LIVE_SOURCES",
    "ElectricityMapsClient",
    "LiveClient",
    "UKCarbonIntensityClient",
    "WattTimeClient",
]

#: Seconds a request may take before the client falls back.
DEFAULT_TIMEOUT_S = 2.0
#: Seconds a cached response stays fresh.
DEFAULT_CACHE_TTL_S = 300.0
#: Seconds the API is left alone after a failure.
DEFAULT_RETRY_AFTER_S = 60.0
#: One pound per megawatt-hour in grams per kilowatt-hour (1 lb = 453.59237 g).
G_PER_KWH_PER_LB_PER_MWH = 0.45359237

_MAX_BODY_BYTES = 8 * 1024 * 1024


class _Failure(Exception):
    """Why a live request gave no usable answer (safe to show: holds no credential)."""


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("wattprint")) / "intensity"


def _iso_z(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Failure(f"malformed response: {what} is {value!r}, not a number")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise _Failure(f"malformed response: {what} is {value!r}")
    return number


def _time(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise _Failure(f"malformed response: {what} is {value!r}, not a timestamp")
    try:
        return parse_timestamp_s(value)
    except ValueError:
        raise _Failure(
            f"malformed response: {what} {value!r} is not ISO 8601 with a zone"
        ) from None


def _field(obj: Any, key: str, what: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise _Failure(f"malformed response: no {what!r} field")
    return obj[key]


def _list(obj: Any, key: str) -> list[Any]:
    items = _field(obj, key, key)
    if not isinstance(items, list) or not items:
        raise _Failure(f"malformed response: {key!r} is empty or not a list")
    return items


class LiveClient(ABC):
    """Base of the live clients: HTTP, cache, back-off and fallback logic.

    Subclasses supply the API-specific parts (``_latest``, ``_history``,
    ``_forecast``); see :class:`ElectricityMapsClient` for the arguments.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    method: str = "average"
    default_base_url: ClassVar[str] = ""

    def __init__(
        self,
        *,
        base_url: str | None,
        timeout_s: float,
        cache_dir: Path | str | None,
        cache: bool,
        cache_ttl_s: float,
        retry_after_s: float,
        strict: bool,
        fallback: IntensitySource | None,
        fallback_region: str | None,
        clock: Callable[[], float],
    ) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout_s = timeout_s
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache = cache
        self.cache_ttl_s = cache_ttl_s
        self.retry_after_s = retry_after_s
        self.strict = strict
        self.fallback: IntensitySource = fallback or AnnualIntensity(method=self.method)
        self.fallback_region = fallback_region
        self._clock = clock
        self._down_until = -math.inf
        self._down_reason = ""
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ HTTP and cache

    @property
    def cache_dir(self) -> Path:
        """Where responses are cached."""
        if self._cache_dir is None:
            self._cache_dir = _default_cache_dir()
        return self._cache_dir

    def _cache_path(self, url: str) -> Path:
        digest = hashlib.sha256(f"{self.name}\n{url}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{self.name}-{digest}.json"

    def _cached(self, url: str) -> Any:
        if not self.cache:
            return None
        path = self._cache_path(url)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            fresh = self._clock() - float(entry["fetched_at"]) < self.cache_ttl_s
            return entry["body"] if fresh and entry.get("url") == url else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _store(self, url: str, body: Any) -> None:
        if not self.cache:
            return
        path = self._cache_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"fetched_at": self._clock(), "url": url, "body": body})
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
            ) as f:
                f.write(text)
            os.replace(f.name, path)
        except OSError as exc:
            logger.debug("cannot cache %s response in %s: %s", self.title, path.parent, exc)

    def _get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        use_cache: bool = True,
    ) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"{self.base_url}{path}{query}"
        if use_cache:
            cached = self._cached(url)
            if cached is not None:
                return cached
        now = self._clock()
        if now < self._down_until:
            raise _Failure(f"{self._down_reason} (not retried before {self.retry_after_s:.0f} s)")
        try:
            body = self._request(url, headers or {})
        except _Failure as failure:
            self._down_until = now + self.retry_after_s
            self._down_reason = str(failure)
            raise
        if use_cache:
            self._store(url, body)
        return body

    def _request(self, url: str, headers: Mapping[str, str]) -> Any:
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": "wattprint", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read(_MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (401, 403):
                raise _Failure(f"HTTP {exc.code}: {self._credential_hint()}") from None
            raise _Failure(f"HTTP {exc.code} {exc.reason}") from None
        except TimeoutError:
            raise _Failure(f"timed out after {self.timeout_s:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Failure(f"timed out after {self.timeout_s:g} s") from None
            raise _Failure(f"cannot connect to {self.base_url} ({exc.reason})") from None
        except (OSError, ValueError) as exc:
            raise _Failure(f"request failed ({type(exc).__name__})") from None
        if len(raw) > _MAX_BODY_BYTES:
            raise _Failure("malformed response: body too large")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Failure("malformed response: not JSON") from None

    def _credential_hint(self) -> str:
        return "the API refused the request"

    # ------------------------------------------------------------------ fallback

    def _fallback_region(self, region: str) -> str:
        try:
            return canonical_region(region)
        except RegionError:
            if self.fallback_region:
                return canonical_region(self.fallback_region)
            return WORLD

    def _fail(self, region: str, failure: _Failure) -> tuple[float, Provenance]:
        reason = f"{self.title} unavailable: {failure}"
        if self.strict:
            raise IntensityError(f"{reason} (region {region})") from None
        where = self._fallback_region(region)
        now = self._clock()
        value = self.fallback.intensity(where, now, now)
        if reason not in self._warned:
            self._warned.add(reason)
            logger.warning("%s; using the %s value for %s", reason, self.fallback.name, where)
        note = f"{reason}; used the {self.fallback.name} value for {where}"
        return value.g_per_kwh, value.provenance.with_fallback(note)

    def _flat_series(
        self, region: str, failure: _Failure, start_s: float, steps: int
    ) -> IntensitySeries:
        g, provenance = self._fail(region, failure)
        return IntensitySeries(
            region=region,
            start_s=start_s + 3600.0 * np.arange(steps),
            step_s=3600.0,
            g_per_kwh=np.full(steps, g),
            method=provenance.method,
            provenance=provenance,
        )

    # ------------------------------------------------------------------ per-API parts

    def _zone(self, region: str) -> str:
        return region.strip()

    @abstractmethod
    def _latest(self, zone: str) -> IntensityValue:
        """The API's current value for ``zone`` (each client speaks its own format)."""

    @abstractmethod
    def _history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        """The API's past values for ``zone`` over ``[start_s, end_s)``."""

    @abstractmethod
    def _forecast(self, zone: str) -> IntensitySeries:
        """The API's forecast for ``zone``."""

    # ------------------------------------------------------------------ public API

    def latest(self, region: str) -> IntensityValue:
        """The most recent intensity the API has for ``region``, in gCO2e/kWh.

        Raises:
            IntensityError: only with ``strict=True``, when the API fails.
            RegionError: the region is outside the API's coverage (UK client).
        """
        zone = self._zone(region)
        try:
            return self._latest(zone)
        except _Failure as failure:
            g, provenance = self._fail(region, failure)
            return IntensityValue(g, provenance)

    def history(
        self, region: str, start_s: float | None = None, end_s: float | None = None
    ) -> IntensitySeries:
        """Past intensities of ``region`` (default: the last 24 hours).

        Raises:
            IntensityError: only with ``strict=True``, when the API fails.
            RegionError: the region is outside the API's coverage (UK client).
        """
        now = self._clock()
        end = now if end_s is None else end_s
        start = end - 86400.0 if start_s is None else start_s
        zone = self._zone(region)
        try:
            return self._history(zone, start, end)
        except (_Failure, IntensityError) as exc:
            failure = exc if isinstance(exc, _Failure) else _Failure(f"malformed response: {exc}")
            steps = max(1, math.ceil((end - start) / 3600.0))
            return self._flat_series(region, failure, math.floor(start / 3600.0) * 3600.0, steps)

    def forecast(self, region: str) -> IntensitySeries:
        """The API's forecast of ``region``'s intensity, for planning.

        On failure, a flat 24-hour series at the shipped-table value (so a
        planner sees no gain from waiting), with ``provenance.fallback`` set.

        Raises:
            IntensityError: only with ``strict=True``, when the API fails.
            RegionError: the region is outside the API's coverage (UK client).
        """
        zone = self._zone(region)
        try:
            return self._forecast(zone)
        except (_Failure, IntensityError) as exc:
            failure = exc if isinstance(exc, _Failure) else _Failure(f"malformed response: {exc}")
            hour = math.floor(self._clock() / 3600.0) * 3600.0
            return self._flat_series(region, failure, hour, 24)

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray) -> IntensityValues:
        """Time-weighted intensities of intervals from the API's past data.

        Intervals after the newest data point get the newest value (the API
        lags real time a little); intervals older than the data the API
        returned get the fallback value, noted in the provenance.

        Raises:
            IntensityError: only with ``strict=True``, when the API fails.
            RegionError: the region is outside the API's coverage (UK client).
        """
        starts = np.asarray(starts_s, dtype=np.float64)
        ends = np.asarray(ends_s, dtype=np.float64)
        if starts.shape != ends.shape:
            raise IntensityError(
                f"interval starts and ends differ in shape: {starts.shape} vs {ends.shape}"
            )
        now = self._clock()
        lo = float(starts.min()) if starts.size else now
        hi = float(ends.max()) if ends.size else now
        zone = self._zone(region)
        try:
            series = self._history(zone, lo, hi)
        except (_Failure, IntensityError) as exc:
            failure = exc if isinstance(exc, _Failure) else _Failure(f"malformed response: {exc}")
            g, provenance = self._fail(region, failure)
            return IntensityValues(np.full(starts.shape, g), provenance)
        first, last = float(series.start_s[0]), series.end_s
        old = ends <= first
        result = series_intensity(series, np.clip(starts, first, last), np.clip(ends, first, last))
        provenance = series.provenance
        if np.any(old):
            count = int(np.count_nonzero(old))
            gap = f"{count} of {starts.size} intervals are older than the {self.title}'s data"
            if self.strict:
                raise IntensityError(f"{gap} (region {region})")
            where = self._fallback_region(region)
            fallback = self.fallback.intensity(where, now, now)
            result = np.where(old, fallback.g_per_kwh, result)
            provenance = provenance.with_fallback(
                f"{gap}; used the {self.fallback.name} value for {where} for them"
            )
        return IntensityValues(result, provenance)

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        """Time-weighted intensity of one interval; see :meth:`intensities`.

        Raises:
            IntensityError: only with ``strict=True``, when the API fails.
            RegionError: the region is outside the API's coverage (UK client).
        """
        values = self.intensities(region, np.array([start_s]), np.array([end_s]))
        return IntensityValue(float(values.g_per_kwh[0]), values.provenance)


def _series_from_points(
    points: list[tuple[float, float]], *, zone: str, method: str, provenance: Provenance
) -> IntensitySeries:
    if len(points) == 1:  # one point: an hour-long step
        t, g = points[0]
        points = [(t, g), (t + 3600.0, g)]
    times = [t for t, _ in points]
    values = [g for _, g in points]
    return make_series(times, values, region=zone, method=method, provenance=provenance)


# ---------------------------------------------------------------------------- Electricity Maps


class ElectricityMapsClient(LiveClient):
    """Electricity Maps API v3: average, lifecycle, consumption-based intensity.

    Region codes are Electricity Maps zone keys (``DE``, ``US-CAL-CISO``;
    ``em:`` prefixes and the EIA codes of the hourly regions are accepted).

    Args:
        token: API token; ``None`` reads ``WATTPRINT_ELECTRICITYMAPS_TOKEN``.
        base_url: API root (tests point it at a local server).
        timeout_s: per-request time-out.
        cache_dir: response cache folder; ``None`` for the user cache directory.
        cache: set false to disable the on-disk cache.
        cache_ttl_s: how long a cached response is fresh.
        retry_after_s: how long to leave the API alone after a failure.
        strict: raise :class:`~wattprint.errors.IntensityError` on failure
            instead of falling back.
        fallback: source used on failure (default: shipped annual average).
        fallback_region: region for the fallback when the shipped tables do
            not know the requested one (default: world average).
        environ: environment to read the token from (default ``os.environ``).
        clock: time source (UTC epoch seconds), for tests.
    """

    name = "electricitymaps"
    title = "Electricity Maps API"
    method = "average"
    default_base_url = "https://api.electricitymaps.com"

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cache_dir: Path | str | None = None,
        cache: bool = True,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        strict: bool = False,
        fallback: IntensitySource | None = None,
        fallback_region: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            base_url=base_url,
            timeout_s=timeout_s,
            cache_dir=cache_dir,
            cache=cache,
            cache_ttl_s=cache_ttl_s,
            retry_after_s=retry_after_s,
            strict=strict,
            fallback=fallback,
            fallback_region=fallback_region,
            clock=clock,
        )
        env = os.environ if environ is None else environ
        self._token = token or env.get("WATTPRINT_ELECTRICITYMAPS_TOKEN") or None

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


# ---------------------------------------------------------------------------- WattTime


class WattTimeClient(LiveClient):
    """WattTime API v3: marginal operating emission rate (MOER), converted to gCO2/kWh.

    Region codes are WattTime regions (``CAISO_NORTH``, ``PJM_DC``). As they
    are not shipped-table codes, give ``fallback_region`` (e.g. ``"US-CA"``)
    so a failure falls back to that region's marginal factor rather than the
    world.

    Args:
        username: WattTime user; ``None`` reads ``WATTPRINT_WATTTIME_USERNAME``.
        password: password; ``None`` reads ``WATTPRINT_WATTTIME_PASSWORD``.
        base_url: API root (tests point it at a local server).
        timeout_s: per-request time-out.
        cache_dir: response cache folder; ``None`` for the user cache directory.
        cache: set false to disable the on-disk cache.
        cache_ttl_s: how long a cached response is fresh.
        retry_after_s: how long to leave the API alone after a failure.
        strict: raise instead of falling back.
        fallback: source used on failure (default: shipped annual marginal).
        fallback_region: region for the fallback (see above).
        environ: environment to read credentials from (default ``os.environ``).
        clock: time source (UTC epoch seconds), for tests.
    """

    name = "watttime"
    title = "WattTime API"
    method = "marginal"
    default_base_url = "https://api.watttime.org"
    #: Seconds a login token is reused (WattTime tokens last 30 minutes).
    token_lifetime_s = 25 * 60.0

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cache_dir: Path | str | None = None,
        cache: bool = True,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        strict: bool = False,
        fallback: IntensitySource | None = None,
        fallback_region: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            base_url=base_url,
            timeout_s=timeout_s,
            cache_dir=cache_dir,
            cache=cache,
            cache_ttl_s=cache_ttl_s,
            retry_after_s=retry_after_s,
            strict=strict,
            fallback=fallback,
            fallback_region=fallback_region,
            clock=clock,
        )
        env = os.environ if environ is None else environ
        self._username = username or env.get("WATTPRINT_WATTTIME_USERNAME") or None
        self._password = password or env.get("WATTPRINT_WATTTIME_PASSWORD") or None
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


# ---------------------------------------------------------------------------- UK Carbon Intensity


class UKCarbonIntensityClient(LiveClient):
    """NESO Carbon Intensity API for Great Britain (no key needed).

    Only region ``GB`` (also ``GBR``, ``UK``) is served; with ``postcode`` the
    regional endpoints of that outward postcode (``RG10``) are used instead of
    the national ones.

    Args:
        postcode: outward postcode for regional data, or ``None`` for national.
        base_url: API root (tests point it at a local server).
        timeout_s: per-request time-out.
        cache_dir: response cache folder; ``None`` for the user cache directory.
        cache: set false to disable the on-disk cache.
        cache_ttl_s: how long a cached response is fresh.
        retry_after_s: how long to leave the API alone after a failure.
        strict: raise instead of falling back.
        fallback: source used on failure (default: shipped annual average of GB).
        environ: accepted like the other clients' for a uniform constructor; the
            UK API needs no key, so it is not read.
        clock: time source (UTC epoch seconds), for tests.
    """

    name = "ukgrid"
    title = "UK Carbon Intensity API"
    method = "average"
    default_base_url = "https://api.carbonintensity.org.uk"

    def __init__(
        self,
        postcode: str | None = None,
        *,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cache_dir: Path | str | None = None,
        cache: bool = True,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        strict: bool = False,
        fallback: IntensitySource | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        del environ  # the UK API needs no key
        super().__init__(
            base_url=base_url,
            timeout_s=timeout_s,
            cache_dir=cache_dir,
            cache=cache,
            cache_ttl_s=cache_ttl_s,
            retry_after_s=retry_after_s,
            strict=strict,
            fallback=fallback,
            fallback_region="GB",
            clock=clock,
        )
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


#: Live clients by name, for configuration and the CLI.
LIVE_SOURCES: dict[str, type[LiveClient]] = {
    ElectricityMapsClient.name: ElectricityMapsClient,
    WattTimeClient.name: WattTimeClient,
    UKCarbonIntensityClient.name: UKCarbonIntensityClient,
}
