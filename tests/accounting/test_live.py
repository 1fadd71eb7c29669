"""Live API clients against a local HTTP server speaking the documented formats."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from wattprint.accounting.intensity import IntensitySource, annual_intensity
from wattprint.accounting.live import (
    LIVE_SOURCES,
    ElectricityMapsClient,
    UKCarbonIntensityClient,
    WattTimeClient,
)
from wattprint.errors import IntensityError, RegionError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intensity"
TOKEN = "em-secret-token-7f3a9"
WT_USER, WT_PASSWORD, WT_TOKEN = "ada", "wt-secret-pass-41c2", "wt-bearer-token-9d8e"
G_PER_KWH_PER_LB_PER_MWH = 453.59237 / 1000.0


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Route:
    status: int = 200
    body: bytes = b"{}"
    delay_s: float = 0.0


@dataclass
class FakeAPI:
    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def route(
        self, prefix: str, body: bytes | str = b"{}", status: int = 200, delay_s: float = 0.0
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.routes[prefix] = Route(status, data, delay_s)

    def find(self, path: str) -> Route | None:
        matches = [p for p in self.routes if path.startswith(p)]
        return self.routes[max(matches, key=len)] if matches else None

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    fake = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = fake.find(urllib.parse.urlsplit(self.path).path)
            if route is None:
                route = Route(404, b'{"error": "not found"}')
            if route.delay_s and fake.stop.wait(route.delay_s):
                return
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (time-out test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    fake.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


NOW = utc(2024, 5, 21, 10, 30)


def em(api: FakeAPI, tmp_path: Path, **kwargs: object) -> ElectricityMapsClient:
    options: dict[str, object] = {
        "base_url": api.url,
        "cache_dir": tmp_path / "cache",
        "clock": Clock(NOW),
        "environ": {},
    }
    options.update(kwargs)
    token = options.pop("token", TOKEN)
    return ElectricityMapsClient(token, **options)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Electricity Maps


def test_em_latest(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/v3/carbon-intensity/latest", fixture("em_latest.json"))
    client = em(api, tmp_path, cache=False)
    assert isinstance(client, IntensitySource)
    value = client.latest("de")
    assert value.g_per_kwh == 302.0
    p = value.provenance
    assert (p.source, p.method, p.basis, p.year, p.fallback) == (
        "Electricity Maps API",
        "average",
        "lifecycle",
        2024,
        None,
    )
    path, headers = api.requests[0]
    assert path == "/v3/carbon-intensity/latest?zone=DE"
    assert headers["auth-token"] == TOKEN
    client.latest("ciso")
    client.latest("em:DE")
    assert api.paths()[1:] == [
        "/v3/carbon-intensity/latest?zone=US-CAL-CISO",
        "/v3/carbon-intensity/latest?zone=DE",
    ]


def test_em_history_forecast_and_interval_accounting(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/v3/carbon-intensity/history", fixture("em_history.json"))
    api.route("/v3/carbon-intensity/forecast", fixture("em_forecast.json"))
    client = em(api, tmp_path)
    history = client.history("DE")
    assert history.step_s == 3600.0 and history.start_s[0] == utc(2024, 5, 21, 7)
    # 09:00 is null: filled halfway between 310 and 340.
    np.testing.assert_allclose(history.g_per_kwh, [300, 310, 325, 340])
    assert history.provenance.filled_gaps == 1
    forecast = client.forecast("DE")
    np.testing.assert_allclose(forecast.g_per_kwh, [350, 330, 290])
    assert forecast.start_s[0] == utc(2024, 5, 21, 11)

    starts = np.array([utc(2024, 5, 21, 8, 30), utc(2024, 5, 21, 10, 15), utc(2024, 5, 20, 0)])
    ends = np.array([utc(2024, 5, 21, 9, 30), utc(2024, 5, 21, 11, 15), utc(2024, 5, 20, 1)])
    values = client.intensities("DE", starts, ends)
    older = annual_intensity("DE").g_per_kwh
    np.testing.assert_allclose(values.g_per_kwh, [(310 + 325) / 2, 340.0, older])
    assert "1 of 3 intervals are older than the Electricity Maps API's data" in (
        values.provenance.fallback or ""
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "HTTP 401: the token was refused; check WATTPRINT_ELECTRICITYMAPS_TOKEN"),
        (403, "HTTP 403: the token was refused"),
        (500, "HTTP 500"),
    ],
)
def test_em_http_errors_fall_back_to_the_shipped_table(
    api: FakeAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    api.route("/v3/carbon-intensity/", '{"message": "nope"}', status=status)
    value = em(api, tmp_path).latest("DE")
    shipped = annual_intensity("DE")
    assert value.g_per_kwh == shipped.g_per_kwh
    assert value.provenance.source == shipped.provenance.source
    assert value.provenance.fallback is not None
    assert f"Electricity Maps API unavailable: {reason}" in value.provenance.fallback
    assert "used the annual value for DE" in value.provenance.fallback
    assert TOKEN not in caplog.text and TOKEN not in value.provenance.fallback
    assert "Electricity Maps API unavailable" in caplog.text


def test_em_strict_raises_without_the_token(
    api: FakeAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.route("/v3/carbon-intensity/", "{}", status=401)
    client = em(api, tmp_path, strict=True)
    with pytest.raises(IntensityError, match="HTTP 401") as info:
        client.latest("DE")
    assert TOKEN not in str(info.value) and TOKEN not in repr(client)
    with pytest.raises(IntensityError):
        client.forecast("DE")
    assert TOKEN not in caplog.text


def test_em_time_out_falls_back_quickly(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/v3/carbon-intensity/latest", fixture("em_latest.json"), delay_s=5.0)
    client = em(api, tmp_path, timeout_s=0.2)
    begin = time.monotonic()
    value = client.latest("FR")
    assert time.monotonic() - begin < 2.0
    assert "timed out after 0.2 s" in (value.provenance.fallback or "")
    assert value.g_per_kwh == annual_intensity("FR").g_per_kwh


@pytest.mark.parametrize(
    "body",
    [
        "<html>gateway</html>",
        '{"zone": "DE", "datetime": "2024-05-21T10:00:00.000Z"}',
        '{"zone": "DE", "carbonIntensity": "high", "datetime": "2024-05-21T10:00:00.000Z"}',
        '{"zone": "DE", "carbonIntensity": 300, "datetime": "yesterday"}',
    ],
)
def test_em_malformed_body_falls_back(api: FakeAPI, tmp_path: Path, body: str) -> None:
    api.route("/v3/carbon-intensity/latest", body)
    value = em(api, tmp_path).latest("DE")
    assert "malformed response" in (value.provenance.fallback or "")
    assert value.g_per_kwh == annual_intensity("DE").g_per_kwh


def test_em_malformed_forecast_gives_a_flat_series(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/v3/carbon-intensity/forecast", '{"zone": "DE", "forecast": []}')
    series = em(api, tmp_path).forecast("DE")
    assert len(series) == 24 and series.step_s == 3600.0
    assert series.start_s[0] == utc(2024, 5, 21, 10)
    np.testing.assert_allclose(series.g_per_kwh, annual_intensity("DE").g_per_kwh)
    assert "malformed response" in (series.provenance.fallback or "")


def test_em_without_token_is_off(api: FakeAPI, tmp_path: Path) -> None:
    client = em(api, tmp_path, token=None, environ={})
    value = client.latest("DE")
    assert "no token; set WATTPRINT_ELECTRICITYMAPS_TOKEN" in (value.provenance.fallback or "")
    assert api.requests == []
    api.route("/v3/carbon-intensity/latest", fixture("em_latest.json"))
    from_env = em(
        api, tmp_path, token=None, environ={"WATTPRINT_ELECTRICITYMAPS_TOKEN": "token-from-env"}
    )
    assert from_env.latest("DE").provenance.fallback is None
    assert api.requests[0][1]["auth-token"] == "token-from-env"


def test_em_cache_and_back_off(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/v3/carbon-intensity/latest", fixture("em_latest.json"))
    clock = Clock(NOW)
    client = em(api, tmp_path, clock=clock)
    client.latest("DE")
    client.latest("DE")
    assert len(api.requests) == 1  # second answer from the cache
    # A new client shares the on-disk cache.
    em(api, tmp_path, clock=clock).latest("DE")
    assert len(api.requests) == 1
    cached = list((tmp_path / "cache").iterdir())
    assert cached and all(TOKEN not in p.read_text() for p in cached)
    clock.t += 301.0  # past the 300 s TTL
    client.latest("DE")
    assert len(api.requests) == 2
    # After a failure the API is left alone for retry_after_s.
    api.route("/v3/carbon-intensity/latest", "{}", status=500)
    clock.t += 301.0
    first = client.latest("DE")
    second = client.latest("DE")
    assert len(api.requests) == 3
    assert "HTTP 500" in (first.provenance.fallback or "")
    assert "not retried" in (second.provenance.fallback or "")
    no_cache = em(api, tmp_path, clock=clock, cache=False, retry_after_s=0.0)
    no_cache.latest("DE")
    no_cache.latest("DE")
    assert len(api.requests) == 5


# ----------------------------------------------------------------------------- WattTime


def watttime(api: FakeAPI, tmp_path: Path, **kwargs: object) -> WattTimeClient:
    options: dict[str, object] = {
        "base_url": api.url,
        "cache_dir": tmp_path / "cache",
        "clock": Clock(NOW),
        "environ": {},
        "fallback_region": "US-CA",
    }
    options.update(kwargs)
    return WattTimeClient(WT_USER, WT_PASSWORD, **options)  # type: ignore[arg-type]


def test_watttime_login_and_moer_conversion(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/login", json.dumps({"token": WT_TOKEN}))
    api.route("/v3/forecast", fixture("watttime_forecast.json"))
    api.route("/v3/historical", fixture("watttime_historical.json"))
    client = watttime(api, tmp_path, cache=False)
    value = client.latest("caiso_north")
    assert value.g_per_kwh == pytest.approx(1000.0 * G_PER_KWH_PER_LB_PER_MWH)
    assert value.provenance.method == "marginal" and value.provenance.basis == "direct"
    assert value.provenance.fallback is None
    login_path, login_headers = api.requests[0]
    assert login_path == "/login"
    assert base64.b64decode(login_headers["authorization"].split()[1]).decode() == (
        f"{WT_USER}:{WT_PASSWORD}"
    )
    data_path, data_headers = api.requests[1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(data_path).query)
    assert query == {"region": ["CAISO_NORTH"], "signal_type": ["co2_moer"]}
    assert data_headers["authorization"] == f"Bearer {WT_TOKEN}"

    forecast = client.forecast("CAISO_NORTH")
    assert forecast.step_s == 300.0 and forecast.method == "marginal"
    np.testing.assert_allclose(
        forecast.g_per_kwh, np.array([1000.0, 900.0, 800.0]) * G_PER_KWH_PER_LB_PER_MWH
    )
    values = client.intensities(
        "CAISO_NORTH", np.array([utc(2024, 5, 21, 8)]), np.array([utc(2024, 5, 21, 8, 10)])
    )
    assert values.g_per_kwh[0] == pytest.approx(1050.0 * G_PER_KWH_PER_LB_PER_MWH)
    assert [p.split("?")[0] for p in api.paths()].count("/login") == 1  # token reused
    hist = next(p for p in api.paths() if p.startswith("/v3/historical"))
    hist_query = urllib.parse.parse_qs(urllib.parse.urlsplit(hist).query)
    assert hist_query["start"] == ["2024-05-21T08:00:00Z"]
    assert hist_query["end"] == ["2024-05-21T09:00:00Z"]


def test_watttime_refused_login_falls_back_to_marginal_table(
    api: FakeAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.route("/login", '{"error": "invalid"}', status=403)
    client = watttime(api, tmp_path)
    value = client.latest("CAISO_NORTH")
    assert WT_PASSWORD not in repr(client)
    us = annual_intensity("US", method="marginal")
    assert value.g_per_kwh == us.g_per_kwh
    assert value.provenance.method == "marginal"
    fallback = value.provenance.fallback or ""
    assert "WattTime API unavailable: HTTP 403: the credentials were refused" in fallback
    assert "used the annual value for US-CA" in fallback
    for secret in (
        WT_PASSWORD,
        WT_TOKEN,
        base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode(),
    ):
        assert secret not in caplog.text and secret not in fallback


def test_watttime_units_must_be_an_emission_rate(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/login", json.dumps({"token": WT_TOKEN}))
    body = json.loads(fixture("watttime_forecast.json"))
    body["meta"]["units"] = "percentile"
    api.route("/v3/forecast", json.dumps(body))
    value = watttime(api, tmp_path).latest("CAISO_NORTH")
    assert "units 'percentile' are not an emission rate" in (value.provenance.fallback or "")


def test_watttime_without_credentials_is_off(api: FakeAPI, tmp_path: Path) -> None:
    client = WattTimeClient(base_url=api.url, cache_dir=tmp_path, environ={}, clock=Clock(NOW))
    value = client.latest("CAISO_NORTH")
    assert "no credentials" in (value.provenance.fallback or "")
    assert api.requests == []


# ----------------------------------------------------------------------------- UK


def uk(api: FakeAPI, tmp_path: Path, **kwargs: object) -> UKCarbonIntensityClient:
    options: dict[str, object] = {
        "base_url": api.url,
        "cache_dir": tmp_path / "cache",
        "clock": Clock(NOW),
    }
    options.update(kwargs)
    return UKCarbonIntensityClient(**options)  # type: ignore[arg-type]


def test_uk_national_regional_and_forecast(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/intensity", fixture("uk_intensity.json"))
    api.route("/intensity/2024-05-21T10:30Z/fw48h", fixture("uk_fw48h.json"))
    api.route("/regional/postcode/RG10", fixture("uk_regional_postcode.json"))
    national = uk(api, tmp_path).latest("GB")
    assert national.g_per_kwh == 263.0  # the actual value, not the forecast
    assert national.provenance.licence == "CC BY 4.0" and national.provenance.basis == "direct"
    regional = uk(api, tmp_path, postcode="rg10 ").latest("uk")
    assert regional.g_per_kwh == 126.0
    assert "/regional/postcode/RG10" in api.paths()
    forecast = uk(api, tmp_path).forecast("GBR")
    assert forecast.step_s == 1800.0
    np.testing.assert_allclose(forecast.g_per_kwh, [200, 180, 150, 120])
    with pytest.raises(RegionError, match="Great Britain only"):
        uk(api, tmp_path).latest("DE")


def test_uk_intervals_use_the_range_endpoint(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/intensity/2024-05-21T10:00Z/2024-05-21T11:00Z", fixture("uk_fw48h.json"))
    value = uk(api, tmp_path).intensity("GB", utc(2024, 5, 21, 10), utc(2024, 5, 21, 11))
    assert value.g_per_kwh == pytest.approx((200 + 180) / 2)
    assert value.provenance.fallback is None


def test_uk_server_error_falls_back_to_gb(api: FakeAPI, tmp_path: Path) -> None:
    api.route("/intensity", "{}", status=503)
    value = uk(api, tmp_path).latest("GB")
    assert value.g_per_kwh == annual_intensity("GB").g_per_kwh
    assert "UK Carbon Intensity API unavailable: HTTP 503" in (value.provenance.fallback or "")


def test_registry_names_the_clients() -> None:
    expected = {
        "electricitymaps": ElectricityMapsClient,
        "watttime": WattTimeClient,
        "ukgrid": UKCarbonIntensityClient,
    }
    assert expected == LIVE_SOURCES


def test_every_live_client_takes_the_same_constructor() -> None:
    from wattprint.accounting.live import LIVE_SOURCES

    env = {"WATTPRINT_ELECTRICITYMAPS_TOKEN": "t", "WATTPRINT_WATTTIME_USERNAME": "u",
           "WATTPRINT_WATTTIME_PASSWORD": "p"}
    for name, client_class in LIVE_SOURCES.items():
        client = client_class(environ=env)
        assert client.name == name


# ----------------------------------------------------------------------------- redirects


@pytest.fixture
def elsewhere() -> Iterator[FakeAPI]:
    """A second server on another port: another origin, which must never see a credential."""
    fake = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = fake.find(urllib.parse.urlsplit(self.path).path) or Route(404, b"{}")
            self.send_response(route.status)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def redirector() -> Iterator[tuple[FakeAPI, list[str]]]:
    """A server that answers every GET with a 302 to a target set by the test."""
    fake = FakeAPI()
    target: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            self.send_response(302)
            self.send_header("Location", target[0] + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake, target
    server.shutdown()
    server.server_close()


def test_em_token_never_follows_a_redirect_to_another_port(
    redirector: tuple[FakeAPI, list[str]], elsewhere: FakeAPI, tmp_path: Path
) -> None:
    api, target = redirector
    target.append(elsewhere.url)
    elsewhere.route("/v3/carbon-intensity/latest", '{"error": "who are you"}', status=401)
    value = em(api, tmp_path).latest("DE")
    assert api.requests[0][1]["auth-token"] == TOKEN  # the configured API gets it
    (path, headers) = elsewhere.requests[0]
    assert path == "/v3/carbon-intensity/latest?zone=DE"
    assert "auth-token" not in headers
    assert all(TOKEN not in v for v in headers.values())
    assert "HTTP 401" in (value.provenance.fallback or "")


def test_watttime_basic_auth_never_follows_a_redirect_to_another_port(
    redirector: tuple[FakeAPI, list[str]], elsewhere: FakeAPI, tmp_path: Path
) -> None:
    api, target = redirector
    target.append(elsewhere.url)
    elsewhere.route("/login", json.dumps({"token": WT_TOKEN}))
    watttime(api, tmp_path).latest("CAISO_NORTH")
    basic = base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
    assert api.requests[0][1]["authorization"] == f"Basic {basic}"
    assert elsewhere.requests, "the redirect was followed"
    for _, headers in elsewhere.requests:
        assert "authorization" not in headers
        assert all(basic not in v and WT_PASSWORD not in v for v in headers.values())


def test_https_credentials_never_go_to_plain_http_or_another_host(tmp_path: Path) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), dict(request.headers)))
        if request.url.host == "api.electricitymaps.com" and request.url.scheme == "https":
            downgrade = str(request.url).replace("https://", "http://", 1)
            return httpx.Response(301, headers={"Location": downgrade})
        if request.url.scheme == "http":
            return httpx.Response(302, headers={"Location": "https://mirror.example.net/x"})
        return httpx.Response(200, content=fixture("em_latest.json"))

    client = ElectricityMapsClient(TOKEN, cache=False, cache_dir=tmp_path, environ={},
                                   clock=Clock(NOW), transport=httpx.MockTransport(handler))
    value = client.latest("DE")
    assert [url for url, _ in seen] == [
        "https://api.electricitymaps.com/v3/carbon-intensity/latest?zone=DE",
        "http://api.electricitymaps.com/v3/carbon-intensity/latest?zone=DE",
        "https://mirror.example.net/x",
    ]
    assert seen[0][1]["auth-token"] == TOKEN
    for _, headers in seen[1:]:
        assert "auth-token" not in headers
    assert value.g_per_kwh == 302.0  # the answer found at the end of the chain


def test_transport_is_injectable_and_busy_answers_are_retried(tmp_path: Path) -> None:
    answers = [httpx.Response(503), httpx.Response(200, content=fixture("em_latest.json"))]
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return answers.pop(0)

    client = ElectricityMapsClient(TOKEN, cache=False, cache_dir=tmp_path, environ={},
                                   clock=Clock(NOW), transport=httpx.MockTransport(handler))
    assert client.latest("DE").g_per_kwh == 302.0
    assert requests == ["/v3/carbon-intensity/latest"] * 2
