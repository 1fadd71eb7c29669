"""The agent client against a real agent (in this process, on loopback) and broken servers."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from wattprint.accounting.intensity import annual_intensity
from wattprint.agent_client import AgentClient
from wattprint.config import load_settings
from wattprint.errors import WattprintError
from wattprint.serve.agent import Agent
from wattprint.testing.sensors import ScriptedSensor

TOKEN = "client-test-token-0123456789"


def _agent(token: str | None) -> Agent:
    # cumulative joules: 10 + 20 + 30 = 60 J over three intervals, then flat
    sensor = ScriptedSensor.counter("cpu", [0.0, 10.0, 30.0, 60.0], max_energy_j=1e6)
    settings = load_settings({"region": "DE", "interval_s": 0.05})
    return Agent(bind="127.0.0.1", port=0, token=token, settings=settings,
                 sensor_objects=[sensor], process_interval_s=0.1).start()


@pytest.fixture
def agent(home: Path) -> Iterator[Agent]:
    running = _agent(TOKEN)
    yield running
    running.stop()


def _wait(predicate: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
    return value


def test_devices_and_own_process(agent: Agent) -> None:
    client = AgentClient(agent.url, token=TOKEN, timeout_s=2)
    (device,) = _wait(lambda: (d := client.devices()) and d[0].power_w == 0.0 and d)
    assert (device.id, device.kind, device.source) == ("fake:cpu-0", "cpu", "fake")
    assert device.measured is True
    assert device.energy_j == 60.0
    assert device.co2e_g == pytest.approx(60.0 / 3.6e6 * annual_intensity("DE").g_per_kwh)
    assert device.power_w == 0.0  # the counter stopped: the last interval used nothing

    usage = _wait(lambda: _try_process(client))
    assert usage.pid == os.getpid()
    assert usage.share_rule == "cpu-time-share" and usage.alive
    raw = httpx.get(f"{agent.url}/v1/processes/{os.getpid()}",
                    headers={"Authorization": f"Bearer {TOKEN}"}).json()
    later = client.process()
    assert raw["energy_j"] <= later.energy_j <= 60.0
    assert later.co2e_g == pytest.approx(
        later.energy_j / 3.6e6 * annual_intensity("DE").g_per_kwh)
    assert later.first_seen <= later.last_seen
    assert client.health()["status"] == "ok"


def _try_process(client: AgentClient) -> Any:
    try:
        return client.process()
    except WattprintError:
        return None


def test_unknown_pid_and_tokens_give_clear_errors(agent: Agent) -> None:
    with pytest.raises(WattprintError, match="has not listed process 4194304"):
        AgentClient(agent.url, token=TOKEN).process(4194304)
    with pytest.raises(WattprintError, match=r"pass the agent's token"):
        AgentClient(agent.url).devices()
    with pytest.raises(WattprintError, match="token is wrong"):
        AgentClient(agent.url, token="nope").devices()


def test_unreachable_agent(home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(WattprintError, match="cannot reach the wattprint agent"):
        AgentClient(f"http://127.0.0.1:{port}").process()


def test_agent_that_never_answers_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # accepts the connection in the kernel, never answers
        port = sock.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(WattprintError, match=r"did not answer within 0\.2 s"):
            AgentClient(f"http://127.0.0.1:{port}", timeout_s=0.2).devices()
        assert time.monotonic() - start < 2


def test_server_that_is_not_an_agent() -> None:
    class Text(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Text)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(WattprintError, match="not JSON"):
            AgentClient(f"http://127.0.0.1:{server.server_port}").devices()
    finally:
        server.shutdown()
        server.server_close()


def test_bad_url_is_refused() -> None:
    with pytest.raises(WattprintError, match="http://"):
        AgentClient("127.0.0.1:9464")


def test_token_never_follows_a_redirect_to_another_port() -> None:
    seen: list[dict[str, str]] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b'{"devices": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    other = HTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{other.server_port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    first = HTTPServer(("127.0.0.1", 0), Redirector)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (first, other)]
    for thread in threads:
        thread.start()
    try:
        assert AgentClient(f"http://127.0.0.1:{first.server_port}", token=TOKEN).devices() == []
        (headers,) = seen
        assert "authorization" not in headers
        assert all(TOKEN not in value for value in headers.values())
    finally:
        for server in (first, other):
            server.shutdown()
            server.server_close()


def test_busy_agent_is_retried_through_an_injected_transport() -> None:
    answers = [httpx.Response(503), httpx.Response(200, json={"status": "ok"})]
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return answers.pop(0)

    client = AgentClient("http://agent.invalid:9464", token=TOKEN,
                         transport=httpx.MockTransport(handler))
    assert client.health() == {"status": "ok"}
    assert paths == ["/healthz", "/healthz"]
