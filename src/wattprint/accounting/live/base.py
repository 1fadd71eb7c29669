"""What the three live clients share: the client base class, response checks, cache use.

Each API client (:mod:`.electricitymaps`, :mod:`.watttime`, :mod:`.ukgrid`)
is a :class:`LiveClient` that supplies three methods speaking its API's
format -- ``_latest``, ``_history`` and ``_forecast`` -- and inherits the
rest:

* **HTTP** through :class:`wattprint.httpclient.HttpClient`: a ``timeout_s``
  time-out, retries with back-off on failed connections and 429/502/503/504,
  credentials never sent across origins or over plain http on a redirect.
* **The cache**: a :class:`wattprint.httpclient.JsonCache` of parsed answers
  under ``cache_dir``, keyed by URL, fresh for ``cache_ttl_s``; logins are
  never cached.
* **Back-off after a failure**: the API is not asked again for
  ``retry_after_s``; the cached reason is given instead.
* **Checks of every answer**: numbers must be finite and non-negative,
  times ISO 8601 with a zone, lists non-empty; anything else is a
  "malformed response" failure, never a silent zero.
* **Fallback**: on any failure the shipped-table value (or the ``fallback``
  source) with ``provenance.fallback`` saying why, or
  :class:`~wattprint.errors.IntensityError` with ``strict=True``.

Failure messages are built here from status codes and exception types only,
so they never hold a credential.
"""

from __future__ import annotations

import logging
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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
from wattprint.httpclient import HttpClient, HttpError, JsonCache, with_query
from wattprint.time import parse_timestamp_s

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_TTL_S",
    "DEFAULT_RETRY_AFTER_S",
    "DEFAULT_TIMEOUT_S",
    "G_PER_KWH_PER_LB_PER_MWH",
    "LiveClient",
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
#: Headers that carry a credential beyond ``Authorization`` (Electricity Maps' token).
_SECRET_HEADERS = ("auth-token",)


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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """The options every client takes (each client adds its own credentials before them).

        Args:
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
            environ: environment credentials are read from (default ``os.environ``).
            clock: time source (UTC epoch seconds), for tests.
            transport: an httpx transport instead of the network (tests pass
                ``httpx.MockTransport``).
        """
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
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
        self._transport = transport
        self._http_client: HttpClient | None = None
        self._json_cache = JsonCache(lambda: self.cache_dir, namespace=self.name, clock=clock)

    # ------------------------------------------------------------------ HTTP and cache

    @property
    def cache_dir(self) -> Path:
        """Where responses are cached."""
        if self._cache_dir is None:
            self._cache_dir = _default_cache_dir()
        return self._cache_dir

    @property
    def _http(self) -> HttpClient:
        # Built on first use, so a changed ``timeout_s`` still applies before it.
        if self._http_client is None:
            self._http_client = HttpClient(
                timeout_s=self.timeout_s,
                max_body_bytes=_MAX_BODY_BYTES,
                secret_headers=_SECRET_HEADERS,
                transport=self._transport,
            )
        return self._http_client

    def _get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        use_cache: bool = True,
    ) -> Any:
        url = with_query(f"{self.base_url}{path}", params)
        use_cache = use_cache and self.cache
        if use_cache:
            cached = self._json_cache.get(url, max_age_s=self.cache_ttl_s)
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
            self._json_cache.put(url, body)
        return body

    def _request(self, url: str, headers: Mapping[str, str]) -> Any:
        try:
            response = self._http.get(url, headers=headers)
        except HttpError as exc:
            if exc.kind == "timeout":
                raise _Failure(f"timed out after {self.timeout_s:g} s") from None
            if exc.kind == "connect":
                raise _Failure(f"cannot connect to {self.base_url} ({exc.reason})") from None
            if exc.kind == "too-large":
                raise _Failure("malformed response: body too large") from None
            raise _Failure(exc.reason) from None
        if response.status in (401, 403):
            raise _Failure(f"HTTP {response.status}: {self._credential_hint()}")
        if not response.ok:
            raise _Failure(f"HTTP {response.status} {response.reason}".rstrip())
        try:
            return response.json()
        except ValueError:
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

