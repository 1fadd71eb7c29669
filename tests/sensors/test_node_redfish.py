"""Node power over Redfish, against the real sushy-tools emulator serving the DMTF mockup.

``sushy-static`` serves the DMTF ``public-rackmount1`` mockup
(tests/fixtures/redfish/SOURCE.md) from a copy the tests may edit between
polls, so readings and periods are known exactly.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from wattprint.errors import SensorUnavailable
from wattprint.httpclient import HttpClient
from wattprint.sampling import Sampler
from wattprint.sensors.context import SensorContext
from wattprint.sensors.detect import detect
from wattprint.sensors.node_power import BmcPoller, NodePowerOptions, NodePowerSensor
from wattprint.sensors.redfish import RedfishOptions, RedfishReader, iso_duration_s
from wattprint.testing.sensors import ScriptedSensor

MOCKUP = Path(__file__).resolve().parents[1] / "fixtures" / "redfish" / "public-rackmount1"
SUSHY_STATIC = Path(sys.executable).with_name("sushy-static")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """sushy-static on a loopback port serving an editable copy of the mockup."""
    if not SUSHY_STATIC.exists():
        pytest.skip("sushy-tools is not installed (pip install sushy-tools, in the dev extra)")
    root = tmp_path / "mockup"
    shutil.copytree(MOCKUP, root)
    port = _free_port()
    proc = subprocess.Popen([str(SUSHY_STATIC), "-i", "127.0.0.1", "-p", str(port),
                             "-m", str(root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/redfish/v1/Chassis", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("sushy-static did not start")
            time.sleep(0.1)
        yield url, root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _edit(root: Path, path: str, change: dict[str, object]) -> None:
    f = root / path / "index.json"
    doc = json.loads(f.read_text())
    for key, value in change.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    f.write_text(json.dumps(doc))


def test_iso_durations() -> None:
    assert iso_duration_s("PT0.25S") == 0.25
    assert iso_duration_s("PT1M") == 60.0
    assert iso_duration_s("P1DT1H") == 90000.0
    assert iso_duration_s("soon") is None


def test_discovers_environment_metrics_first(emulator: tuple[str, Path]) -> None:
    url, _ = emulator
    reader = RedfishReader(RedfishOptions(url=url))
    first = reader.discover()
    assert (first.power_w, first.window_s, first.resource) == (374.0, 0.25, "EnvironmentMetrics")
    assert reader.chassis_path == "/redfish/v1/Chassis/1U"


def test_falls_back_to_power_then_power_subsystem(emulator: tuple[str, Path]) -> None:
    url, root = emulator
    _edit(root, "Chassis/1U", {"EnvironmentMetrics": None})
    first = RedfishReader(RedfishOptions(url=url, chassis="1U")).discover()
    # PowerControl[0].PowerConsumedWatts, PowerMetrics.IntervalInMin = 30 -> 1800 s
    assert (first.power_w, first.window_s, first.resource) == (344.0, 1800.0, "Power")
    _edit(root, "Chassis/1U", {"Power": None})
    # Bay2 has no Metrics: a sum of the supplies would under-count the node
    with pytest.raises(SensorUnavailable, match="no chassis"):
        RedfishReader(RedfishOptions(url=url)).discover()
    _edit(root, "Chassis/1U/PowerSubsystem/PowerSupplies", {"Members": [
        {"@odata.id": "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1"}]})
    first = RedfishReader(RedfishOptions(url=url)).discover()
    assert (first.power_w, first.resource) == (937.4, "PowerSubsystem")


def test_known_readings_over_known_periods(emulator: tuple[str, Path]) -> None:
    url, root = emulator
    reader = RedfishReader(RedfishOptions(url=url))
    first = reader.discover()
    now = [100.0]
    poller = BmcPoller(lambda: (reader.read().power_w, None), 5.0, 60.0, lambda: now[0])
    poller.seed(first.power_w, first.window_s)
    sensor = NodePowerSensor("redfish", poller, reader.where, {})
    out: list[object] = []
    sampler = Sampler([sensor], lambda i, g: out.extend(i), monotonic=lambda: now[0],
                      wall=lambda: 1_700_000_000.0)
    sampler.prime()  # t = 100: 374 W (baseline)
    now[0] = 101.0
    first_tick, _ = sampler.tick()  # 374 W held: (374 + 374) / 2 x 1 s
    _edit(root, "Chassis/1U/EnvironmentMetrics", {"PowerWatts": {"Reading": 500}})
    poller.poll_once()  # the BMC now says 500 W
    now[0] = 103.0
    second_tick, _ = sampler.tick()  # (374 + 500) / 2 x 2 s
    assert [r.energy_j for r in first_tick] == [374.0]
    assert [r.energy_j for r in second_tick] == [874.0]


def test_sampled_through_detection(emulator: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = emulator
    options = NodePowerOptions("redfish", 0.3, 1.0, redfish=RedfishOptions(url=url))
    found = detect(SensorContext(sysfs_root=tmp_path, environ={}, node_power=options),
                   only=["node"])
    device = found.sensors[0].devices()[0]
    assert (device.id, device.kind, device.source, device.measured) == (
        "node:redfish", "node", "redfish", True)
    assert device.extra["bmc_window_s"] == "0.25"
    assert device.extra["reading"] == "Redfish EnvironmentMetrics"
    intervals: list[object] = []
    sampler = Sampler(found.sensors, lambda i, g: intervals.extend(i), interval_s=0.1)
    sampler.start()
    time.sleep(1.0)
    sampler.stop()
    found.close()
    covered = sum(r.t_end - r.t_start for r in intervals)  # type: ignore[attr-defined]
    assert covered > 0.5
    assert sum(r.energy_j for r in intervals) == pytest.approx(374.0 * covered, rel=1e-6)  # type: ignore[attr-defined]


class _SlowBmc(BaseHTTPRequestHandler):
    """Serves the mockup; every request waits ``delay_s`` (set by the test) first."""

    delay_s = 0.0
    seen_auth: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        time.sleep(type(self).delay_s)
        type(self).seen_auth.append(self.headers.get("Authorization", ""))
        path = self.path.rstrip("/").removeprefix("/redfish/v1").lstrip("/")
        f = MOCKUP / path / "index.json"
        if not f.exists():
            self.send_error(404)
            return
        body = f.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_slow_bmc_is_a_gap_and_never_stalls_the_sampler(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowBmc)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _SlowBmc.delay_s = 0.0
    password = tmp_path / "redfish.pass"
    password.write_text("hunter2\n")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        options = NodePowerOptions("redfish", 0.2, 0.3, redfish=RedfishOptions(
            url=url, user="admin", password_file=password))
        found = detect(SensorContext(sysfs_root=tmp_path, environ={}, node_power=options),
                       only=["node"])
        assert _SlowBmc.seen_auth[0] == "Basic YWRtaW46aHVudGVyMg=="  # admin:hunter2
        cpu = ScriptedSensor.power("cpu", [10.0])
        intervals: list[object] = []
        gaps: list[object] = []
        sampler = Sampler([cpu, *found.sensors],
                          lambda i, g: (intervals.extend(i), gaps.extend(g)), interval_s=0.05)
        _SlowBmc.delay_s = 2.0  # longer than the time-out and 40 sampler intervals
        sampler.start()
        time.sleep(1.5)
        sampler.stop()
        found.close()
    finally:
        _SlowBmc.delay_s = 0.0
        server.shutdown()
        server.server_close()
    cpu_intervals = [r for r in intervals if r.device_id == "fake:cpu-0"]  # type: ignore[attr-defined]
    lengths = [r.t_end - r.t_start for r in cpu_intervals]  # type: ignore[attr-defined]
    assert len(cpu_intervals) >= 20  # 1.5 s at 0.05 s, on a shared machine
    assert max(lengths) < 0.25  # the CPU kept its cadence while the BMC hung
    node_gaps = [g for g in gaps if g.device_id == "node:redfish"]  # type: ignore[attr-defined]
    assert node_gaps and ("timed out" in node_gaps[0].reason  # type: ignore[attr-defined]
                          or "no answer from the BMC" in node_gaps[0].reason)  # type: ignore[attr-defined]
    assert "hunter2" not in repr(gaps) and "hunter2" not in repr(options)


def test_session_login_and_renewal() -> None:
    tokens = iter(["tok-1", "tok-2"])
    calls: list[tuple[str, str, str]] = []
    valid: set[str] = set()
    expired = {"once": True}

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("X-Auth-Token", "")
        calls.append((request.method, request.url.path, token))
        if request.method == "POST":
            body = json.loads(request.content)
            assert body == {"UserName": "admin", "Password": "pw"}
            t = next(tokens)
            valid.add(t)
            location = f"/redfish/v1/SessionService/Sessions/{t}"
            return httpx.Response(201, headers={"X-Auth-Token": t, "Location": location})
        if request.method == "DELETE":
            return httpx.Response(204)
        if token not in valid:
            return httpx.Response(401)
        if request.url.path.endswith("/Power") and expired["once"] and token == "tok-1":
            expired["once"] = False
            valid.discard("tok-1")  # the BMC ended the session
            return httpx.Response(401)
        path = request.url.path.removeprefix("/redfish/v1").lstrip("/")
        return httpx.Response(200, content=(MOCKUP / path / "index.json").read_bytes())

    client = HttpClient(transport=httpx.MockTransport(answer), retries=0)
    reader = RedfishReader(RedfishOptions(url="https://bmc.example", user="admin",
                                          password="pw", auth="session", chassis="1U"),
                           client)
    first = reader.discover()
    assert first.power_w == 374.0
    reader.resource, reader._links = "Power", {"Power": "/redfish/v1/Chassis/1U/Power"}
    assert reader.read().power_w == 344.0
    reader.close()
    assert [c for c in calls if c[0] == "POST"] == [
        ("POST", "/redfish/v1/SessionService/Sessions", ""),
        ("POST", "/redfish/v1/SessionService/Sessions", "")]
    assert calls[-1] == ("DELETE", "/redfish/v1/SessionService/Sessions/tok-2", "tok-2")


def test_credentials_in_the_url_are_never_shown() -> None:
    shown = RedfishReader(RedfishOptions(url="https://admin:pw@bmc.example")).where
    assert shown == "https://bmc.example"
