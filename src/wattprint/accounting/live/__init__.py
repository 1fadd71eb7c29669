"""Live carbon-intensity APIs: Electricity Maps, WattTime, UK Carbon Intensity.

One module per API, each teaching its format and auth:
:mod:`~wattprint.accounting.live.electricitymaps`,
:mod:`~wattprint.accounting.live.watttime` and
:mod:`~wattprint.accounting.live.ukgrid`; what they share (the base class,
response checks, cache and fallback) is in :mod:`~wattprint.accounting.live.base`,
and their HTTP goes through :mod:`wattprint.httpclient`.

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

**Time-outs, retries, redirects, cache, fallback.** Each request waits at most
``timeout_s`` (2 s by default); a failed connection or a 429/502/503/504 answer
is retried twice, after 0.1 s then 0.2 s. A redirect is followed, but the
credentials go with it only to the same https origin, never to another host
or port nor over plain http. Responses are cached on disk (``cache_dir``, by default
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

from wattprint.accounting.live.base import (
    DEFAULT_CACHE_TTL_S,
    DEFAULT_RETRY_AFTER_S,
    DEFAULT_TIMEOUT_S,
    G_PER_KWH_PER_LB_PER_MWH,
    LiveClient,
)
from wattprint.accounting.live.electricitymaps import ElectricityMapsClient
from wattprint.accounting.live.ukgrid import UKCarbonIntensityClient
from wattprint.accounting.live.watttime import WattTimeClient

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

#: Live clients by name, for configuration and the CLI.
LIVE_SOURCES: dict[str, type[LiveClient]] = {
    ElectricityMapsClient.name: ElectricityMapsClient,
    WattTimeClient.name: WattTimeClient,
    UKCarbonIntensityClient.name: UKCarbonIntensityClient,
}
