"""Real servers on loopback (uvicorn + FastAPI, werkzeug + Flask) serving a tiny numpy MLP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from flask import Flask, jsonify, request
from pydantic import BaseModel
from werkzeug.serving import make_server

from wattprint.serve.meter import EnergyMeter
from wattprint.serve.middleware import EnergyMiddleware, EnergyWSGIMiddleware
from wattprint.store import Store
from wattprint.testing.sensors import ScriptedSensor

from . import reference_shares

JOULES_PER_READ = 10.0
CLIENTS = 8
REQUESTS_PER_CLIENT = 25
HEADER = "X-Energy-Joules"


class Mlp:
    """A tiny two-layer perceptron: 16 inputs, 64 hidden units (ReLU), 4 outputs."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(0.0, 0.25, (16, 64))
        self.b1 = rng.normal(0.0, 0.1, 64)
        self.w2 = rng.normal(0.0, 0.25, (64, 4))
        self.b2 = rng.normal(0.0, 0.1, 4)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        return np.asarray(hidden @ self.w2 + self.b2)


MODEL = Mlp()


class Features(BaseModel):
    x: list[float]


def _sensor() -> ScriptedSensor:
    return ScriptedSensor.counter(
        "cpu", [JOULES_PER_READ * i for i in range(200_000)], max_energy_j=1e12)


def _inputs(n: int) -> list[list[float]]:
    rng = np.random.default_rng(1)
    return [list(map(float, row)) for row in rng.normal(size=(n, 16))]


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    def predict(features: Features) -> dict[str, list[float]]:
        return {"y": MODEL(np.asarray(features.x)).tolist()}

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def flask_app() -> Flask:
    app = Flask(__name__)

    @app.post("/predict")
    def predict() -> Any:
        x = np.asarray(request.get_json()["x"], dtype=float)
        return jsonify(y=MODEL(x).tolist())

    return app


@contextmanager
def serve_uvicorn(app: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # ws="none": no websockets here, and uvicorn would import the deprecated websockets.legacy
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def serve_werkzeug(wsgi: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _load(url: str, call: Callable[[httpx.Client, list[float]], httpx.Response]
          ) -> list[httpx.Response]:
    """CLIENTS threads, each with its own connection, sending REQUESTS_PER_CLIENT requests."""
    inputs = _inputs(CLIENTS * REQUESTS_PER_CLIENT)

    def client(k: int) -> list[httpx.Response]:
        with httpx.Client(base_url=url, timeout=10) as http:
            return [call(http, inputs[k * REQUESTS_PER_CLIENT + i])
                    for i in range(REQUESTS_PER_CLIENT)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [r for batch in pool.map(client, range(CLIENTS)) for r in batch]


def _predict(http: httpx.Client, x: list[float]) -> httpx.Response:
    return http.post("/predict", json={"x": x})


def _check_shares(meter: EnergyMeter, n: int) -> None:
    totals = meter.totals()
    records = sorted(meter.completed, key=lambda r: r.request_id)
    assert len(records) == n == totals.requests
    intervals = meter.tracker.intervals()
    assert intervals and all(i.energy_j == JOULES_PER_READ for i in intervals)
    expected, idle_j = reference_shares(
        [(i.t_start, i.t_end, i.energy_j) for i in intervals],
        [(r.t_start, r.t_end) for r in records])
    for record, want in zip(records, expected, strict=True):
        assert record.energy_j == pytest.approx(want, abs=1e-6)
    # per-request energies add up to the energy attributed to requests; with idle, to all
    assert sum(r.energy_j or 0.0 for r in records) == pytest.approx(sum(expected), abs=1e-6)
    assert sum(r.energy_j or 0.0 for r in records) == pytest.approx(totals.request_energy_j)
    assert totals.idle_energy_j == pytest.approx(idle_j, abs=1e-6)
    assert totals.request_energy_j + totals.idle_energy_j == pytest.approx(
        JOULES_PER_READ * len(intervals))
    assert totals.request_energy_j > 0


def _check_answers(responses: list[httpx.Response], header: bool) -> None:
    x = np.asarray(_inputs(CLIENTS * REQUESTS_PER_CLIENT))
    expected = sorted(map(tuple, np.round(MODEL(x), 9).tolist()))
    got = sorted(tuple(np.round(r.json()["y"], 9).tolist()) for r in responses)
    assert got == expected
    assert all(r.status_code == 200 for r in responses)
    for r in responses:
        if header:
            assert float(r.headers[HEADER]) >= 0.0
        else:
            assert HEADER not in r.headers


def test_fastapi_under_uvicorn_concurrent_requests_add_up(home: Path) -> None:
    meter = EnergyMeter(project="chatbot", interval_s=0.02, region="DE",
                        sensor_objects=[_sensor()])
    app = fastapi_app()
    app.add_middleware(EnergyMiddleware, meter=meter, header=HEADER,
                       exclude_paths=["/healthz"])
    with meter, serve_uvicorn(app) as url:
        responses = _load(url, _predict)
        assert HEADER not in httpx.get(url + "/healthz").headers  # excluded: not metered
        time.sleep(0.05)
    _check_answers(responses, header=True)
    _check_shares(meter, CLIENTS * REQUESTS_PER_CLIENT)
    assert {r.label for r in meter.completed} == {"POST /predict"}


def test_flask_under_werkzeug_concurrent_requests_add_up(home: Path) -> None:
    meter = EnergyMeter(project="chatbot", interval_s=0.02, region="DE",
                        sensor_objects=[_sensor()])
    app = flask_app()
    app.wsgi_app = EnergyWSGIMiddleware(app.wsgi_app, meter=meter)  # type: ignore[method-assign]
    with meter, serve_werkzeug(app) as url:
        responses = _load(url, _predict)
        time.sleep(0.05)
    _check_answers(responses, header=False)
    _check_shares(meter, CLIENTS * REQUESTS_PER_CLIENT)


def test_middleware_owning_its_meter_stores_an_inference_run(home: Path) -> None:
    app = fastapi_app()
    app.add_middleware(EnergyMiddleware, project="chatbot", interval_s=0.02, region="DE",
                       sensor_objects=[_sensor()], header=HEADER)
    # lifespan startup starts the meter, shutdown stops it
    with serve_uvicorn(app) as url, httpx.Client(base_url=url) as http:
        for x in _inputs(12):
            assert HEADER in _predict(http, x).headers
    store = Store(home / "wattprint.db")
    (run,) = store.runs("chatbot")
    assert (run.phase, run.status) == ("inference", "finished")
    assert store.units(run.id) == {"request": 12.0}
    serve = run.info["serve"]
    assert serve["requests"] == 12
    assert serve["request_energy_j"] + serve["idle_energy_j"] == pytest.approx(
        serve["energy_j"])
    assert serve["sci_g_per_1k_requests"] == pytest.approx(
        serve["energy_j"] / 3.6e6 * serve["intensity_g_per_kwh"] / 12 * 1000)
    store.close()


def test_wsgi_request_ends_when_a_streamed_body_is_closed(home: Path) -> None:
    def streaming(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body() -> Iterator[bytes]:
            for _ in range(3):
                time.sleep(0.03)
                yield b"x"

        return body()

    meter = EnergyMeter(interval_s=0.02, region="DE", sensor_objects=[_sensor()])
    with meter, serve_werkzeug(EnergyWSGIMiddleware(streaming, meter=meter,
                                                    header=HEADER)) as url:
        response = httpx.get(url + "/")
        time.sleep(0.05)
    assert response.text == "xxx"
    (record,) = meter.completed
    assert record.duration_s >= 0.09  # the whole stream, not just the call


def test_invalid_header_name_is_refused(home: Path) -> None:
    with pytest.raises(ValueError, match="header"):
        EnergyWSGIMiddleware(lambda e, s: [], meter=EnergyMeter(sensor_objects=[]),
                             header="X Energy")


# ----------------------------------------------------------------- an unwritable store

@pytest.fixture
def unwritable_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A WATTPRINT_HOME that cannot be created: its parent is a regular file (even for root)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's parent directory should be")
    home = blocker / "home"
    monkeypatch.setenv("WATTPRINT_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("WATTPRINT_REGION", raising=False)
    return home


def _owned_meter(stack: Any) -> EnergyMeter:
    """The meter of the EnergyMiddleware in a built Starlette middleware stack."""
    while not isinstance(stack, EnergyMiddleware):
        stack = stack.app
    return stack.meter


def _meter_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("wattprint") and r.levelno >= 30]


@pytest.mark.parametrize("lifespan", [True, False], ids=["lifespan", "no-lifespan"])
def test_fastapi_serves_every_request_with_an_unwritable_store(
        unwritable_home: Path, lifespan: bool, caplog: pytest.LogCaptureFixture) -> None:
    """7 of 7 requests succeed; the meter's trouble is logged once, not raised."""
    import asyncio

    app = fastapi_app()
    app.add_middleware(EnergyMiddleware, project="web", region="DE",
                       sensor_objects=[_sensor()], interval_s=0.05)
    if lifespan:
        with serve_uvicorn(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            codes = [client.post("/predict", json={"x": x}).status_code for x in _inputs(7)]
    else:
        async def serve() -> list[int]:
            transport = httpx.ASGITransport(app=app)  # no lifespan
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return [(await client.post("/predict", json={"x": x})).status_code
                        for x in _inputs(7)]

        codes = asyncio.run(serve())
        _owned_meter(app.middleware_stack).stop()  # started by the first request
    assert codes == [200] * 7
    assert not unwritable_home.exists()
    errors = _meter_errors(caplog)
    assert len(errors) == 1, errors
    assert str(unwritable_home) in errors[0]


def test_flask_serves_every_request_with_an_unwritable_store(
        unwritable_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = flask_app()
    app.wsgi_app = EnergyWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, project="web", region="DE", sensor_objects=[_sensor()])
    client = app.test_client()
    codes = [client.post("/predict", json={"x": x}).status_code for x in _inputs(7)]
    app.wsgi_app.meter.stop()  # type: ignore[attr-defined]
    assert codes == [200] * 7
    errors = _meter_errors(caplog)
    assert len(errors) == 1, errors
    assert str(unwritable_home) in errors[0]


def test_a_failing_meter_never_fails_the_request(home: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Errors inside the meter at request time (not at start) are logged once and swallowed."""
    meter = EnergyMeter(project="web", region="DE", sensor_objects=[_sensor()], interval_s=0.05)
    meter.start()

    def broken(*args: object) -> None:
        raise RuntimeError("ledger exploded")

    meter._begin = broken  # type: ignore[method-assign]
    meter._end = broken  # type: ignore[method-assign]
    meter._estimate = broken  # type: ignore[assignment,method-assign]
    try:
        app = flask_app()
        app.wsgi_app = EnergyWSGIMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, meter=meter, header=HEADER)
        client = app.test_client()
        responses = [client.post("/predict", json={"x": x}) for x in _inputs(7)]
        assert [r.status_code for r in responses] == [200] * 7
        assert all(HEADER not in r.headers for r in responses)
    finally:
        meter.stop()
    errors = [e for e in _meter_errors(caplog) if "ledger exploded" in e]
    assert len(errors) == 1, errors


def test_fastapi_with_lifespan_starts_when_the_meter_cannot(
        home: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A meter that fails at lifespan startup (unknown region) leaves the app serving."""
    app = fastapi_app()
    app.add_middleware(EnergyMiddleware, project="web", region="NOT-A-REGION",
                       sensor_objects=[_sensor()], interval_s=0.05)
    with serve_uvicorn(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        codes = [client.post("/predict", json={"x": x}).status_code for x in _inputs(7)]
    assert codes == [200] * 7
    errors = _meter_errors(caplog)
    assert len(errors) == 1, errors
    assert "could not start" in errors[0] and "NOT-A-REGION" in errors[0]
