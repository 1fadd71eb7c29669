"""The node agent, run as ``python -m wattprint agent`` on loopback over a fake powercap tree."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client.parser import text_string_to_metric_families

from wattprint import validate
from wattprint.accounting.intensity import AnnualIntensity, annual_intensity
from wattprint.config import load_settings
from wattprint.errors import ConfigError
from wattprint.sensors.base import DeviceInfo
from wattprint.serve.agent import (
    Agent,
    NodeMonitor,
    check_bind,
    container_id,
    is_loopback,
    read_token_file,
)
from wattprint.store import IntervalRecord, Store
from wattprint.testing.powercap import PowercapTree
from wattprint.testing.sensors import ScriptedSensor

OPENAPI = Path(__file__).resolve().parents[2] / "src" / "wattprint" / "serve" / "openapi.yaml"
REGION = "DE"
UJ = 1_000_000
DOCKER_ID = "3f2a" + "0123456789abcdef" * 3 + "deadbeefcafe"


@dataclass
class AgentProcess:
    proc: subprocess.Popen[str]
    url: str
    tree: PowercapTree
    package: str
    home: Path
    stderr: list[str] = field(default_factory=list)
    energy_uj: int = 1 * UJ
    drain: threading.Thread | None = None

    def bump(self, joules: int) -> None:
        """Advance the fake package counter by whole joules."""
        self.energy_uj += joules * UJ
        self.tree.set_energy(self.package, self.energy_uj)


def _env(root: Path, home: Path, tree: PowercapTree) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("WATTPRINT_PROJECT", "WATTPRINT_ATTRIBUTION", "WATTPRINT_PUE",
                "WATTPRINT_INTERVAL"):
        env.pop(var, None)
    env.update(WATTPRINT_HOME=str(home), WATTPRINT_SYSFS_ROOT=str(tree.sysfs_root),
               WATTPRINT_SENSORS="rapl", WATTPRINT_REGION=REGION,
               XDG_CONFIG_HOME=str(root / "xdg"))
    return env


def _agent_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "wattprint", "agent", *args]


def start_agent(root: Path, *args: str) -> AgentProcess:
    root.mkdir(parents=True, exist_ok=True)
    tree = PowercapTree(root / "sys")
    package = tree.add_package(0, energy_uj=1 * UJ)
    home = root / "home"
    proc = subprocess.Popen(
        _agent_cmd("--port", "0", "--interval", "0.05", "--process-interval", "0.2", *args),
        env=_env(root, home, tree), cwd=root, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    agent = AgentProcess(proc, "", tree, package, home)
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            agent.stderr.append(line)
            if "listening on " in line:
                agent.url = line.split("listening on ", 1)[1].split()[0]
                ready.set()

    agent.drain = threading.Thread(target=drain, daemon=True)
    agent.drain.start()
    if not ready.wait(20):
        proc.kill()
        proc.wait()
        agent.drain.join(5)
        assert proc.stderr is not None
        proc.stderr.close()
        raise AssertionError("the agent did not start:\n" + "".join(agent.stderr))
    return agent


def stop_agent(agent: AgentProcess) -> None:
    agent.proc.terminate()
    try:
        assert agent.proc.wait(10) == 0
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()
        if agent.drain is not None:
            agent.drain.join(5)
        assert agent.proc.stderr is not None
        agent.proc.stderr.close()


def wait_for(predicate: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    root = tmp_path_factory.mktemp("agent")
    store = Store(root / "home" / "wattprint.db")
    run_id = store.create_run(project="resnet", phase="training", attribution="machine",
                              interval_s=1.0, started_at=1_700_000_000.0)
    store.append_intervals(run_id, [IntervalRecord("rapl:package-0", 1_700_000_000.0,
                                                   1_700_000_010.0, 120.0, 60.0)])
    store.add_units(run_id, "sample", 512)
    store.finish_run(run_id, status="finished", ended_at=1_700_000_010.0)
    store.close()
    # pids as labels, and a slot for every process group: this test process shows in /metrics
    proc = start_agent(root, "--process-pid-label", "--top-processes", "100000")
    yield proc
    stop_agent(proc)


@pytest.fixture(scope="module")
def token_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProcess, str]]:
    root = tmp_path_factory.mktemp("token-agent")
    token = "s3cr3t-" + "a1" * 16
    token_file = root / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    proc = start_agent(root, "--bind", "127.0.0.1", "--token-file", str(token_file),
                       "--verbose")
    yield proc, token
    stop_agent(proc)


def _device(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    doc = httpx.get(url + "/v1/devices", headers=headers).json()
    (device,) = doc["devices"]
    return dict(device)


# -- energy, carbon and metrics ---------------------------------------------------------


def test_device_energy_and_carbon_follow_the_counter_exactly(agent: AgentProcess) -> None:
    before = _device(agent.url)["energy_j"]
    agent.bump(5)
    device = wait_for(lambda: (d := _device(agent.url))["energy_j"] >= before + 5 and d)
    assert device["id"] == "rapl:package-0" and device["kind"] == "cpu"
    assert device["measured"] is True
    assert device["energy_j"] == pytest.approx(before + 5.0, abs=1e-9)
    g_per_kwh = annual_intensity(REGION).g_per_kwh
    assert device["co2e_g"] == pytest.approx(device["energy_j"] / 3.6e6 * g_per_kwh)

    families = {f.name: f for f in text_string_to_metric_families(
        httpx.get(agent.url + "/metrics").text)}
    energy = families["wattprint_device_energy_joules"]
    assert energy.type == "counter"
    (sample,) = energy.samples
    assert sample.name == "wattprint_device_energy_joules_total"
    assert sample.labels == {"device": "rapl:package-0", "kind": "cpu", "source": "rapl",
                             "measured": "true"}
    assert sample.value == pytest.approx(device["energy_j"], abs=1e-9)
    (co2e,) = families["wattprint_co2e_grams"].samples
    assert co2e.name == "wattprint_co2e_grams_total"
    assert co2e.value == pytest.approx(sample.value / 3.6e6 * g_per_kwh)
    (intensity,) = families["wattprint_grid_intensity_grams_per_kilowatt_hour"].samples
    assert families["wattprint_grid_intensity_grams_per_kilowatt_hour"].type == "gauge"
    assert intensity.value == pytest.approx(g_per_kwh)
    assert intensity.labels["region"] == REGION and intensity.labels["method"] == "average"
    assert families["wattprint_device_power_watts"].type == "gauge"
    for name in ("wattprint_process_energy_joules", "wattprint_cgroup_energy_joules",
                 "wattprint_unattributed_energy_joules", "wattprint_process_co2e_grams"):
        assert families[name].type == "counter"


def test_processes_share_cpu_energy_by_cpu_time(agent: AgentProcess) -> None:
    pid = os.getpid()
    wait_for(lambda: httpx.get(f"{agent.url}/v1/processes/{pid}").status_code == 200)
    agent.bump(50)
    end = time.monotonic() + 0.6
    while time.monotonic() < end:  # busy: this process earns a share of the 50 J
        pass
    mine = wait_for(lambda: (d := httpx.get(f"{agent.url}/v1/processes/{pid}").json())
                    ["energy_j"] > 0 and d)
    assert mine["share_rule"] == "cpu-time-share" and mine["alive"] is True
    assert mine["cpu_s"] > 0
    doc = httpx.get(agent.url + "/v1/processes").json()
    device_j = _device(agent.url)["energy_j"]
    charged = sum(p["energy_j"] for p in doc["processes"]) + doc["unattributed_energy_j"]
    assert 0 < mine["energy_j"] <= device_j
    assert charged <= device_j + 1e-9
    assert doc["devices"] == ["rapl:package-0"]
    energies = [p["energy_j"] for p in doc["processes"]]
    assert energies == sorted(energies, reverse=True)
    assert len(httpx.get(agent.url + "/v1/processes?limit=2").json()["processes"]) == 2
    metrics = httpx.get(agent.url + "/metrics").text
    pids = {s.labels["pid"] for f in text_string_to_metric_families(metrics)
            if f.name == "wattprint_process_energy_joules" for s in f.samples}
    assert str(pid) in pids


def test_runs_are_listed_from_the_store(agent: AgentProcess) -> None:
    (run,) = httpx.get(agent.url + "/v1/runs").json()["runs"]
    assert run["project"] == "resnet" and run["status"] == "finished"
    assert run["energy_j"] == 120.0 and run["attributed_energy_j"] == 60.0
    assert run["units"] == {"sample": 512.0}
    assert run["started_at"].startswith("2023-11-14T22:13:20")
    assert httpx.get(agent.url + "/v1/runs?project=other").json() == {"runs": []}


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/nope", 404),
    ("GET", "/v1/processes/abc", 400),
    ("GET", "/v1/processes/4000000000", 404),
    ("GET", "/v1/processes?limit=0", 400),
    ("GET", "/v1/runs?limit=many", 400),
    ("POST", "/v1/runs", 405),
    ("DELETE", "/v1/devices", 405),
])
def test_bad_requests_get_clear_4xx(agent: AgentProcess, method: str, path: str,
                                    status: int) -> None:
    response = httpx.request(method, agent.url + path)
    assert response.status_code == status
    assert response.json()["error"]


def test_health_and_head(agent: AgentProcess) -> None:
    assert httpx.get(agent.url + "/healthz").json()["status"] == "ok"
    host, port = agent.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("HEAD", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b""
    conn.close()


# -- schemathesis against the OpenAPI description ------------------------------------------

schema = schemathesis.openapi.from_path(OPENAPI)


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_openapi_no_server_errors(case: Any, agent: AgentProcess) -> None:
    case.call_and_validate(base_url=agent.url)


# -- authentication ---------------------------------------------------------------------


def test_token_is_required_and_checked(token_agent: tuple[AgentProcess, str]) -> None:
    proc, token = token_agent
    for path in ("/metrics", "/v1/devices", "/v1/processes", "/v1/runs"):
        missing = httpx.get(proc.url + path)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = httpx.get(proc.url + path, headers={"Authorization": f"Bearer {token}x"})
        assert wrong.status_code == 401
        basic = httpx.get(proc.url + path, headers={"Authorization": f"Basic {token}"})
        assert basic.status_code == 401
        right = httpx.get(proc.url + path, headers={"Authorization": f"Bearer {token}"})
        assert right.status_code == 200
    assert httpx.get(proc.url + "/healthz").status_code == 200  # liveness needs no token
    time.sleep(0.1)
    assert proc.stderr, "verbose agent logged nothing"
    assert not any(token in line for line in proc.stderr)


def test_non_loopback_bind_without_token_is_refused(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0)
    result = subprocess.run(_agent_cmd("--bind", "0.0.0.0", "--port", "0"),
                            env=_env(tmp_path, tmp_path / "home", tree), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--token-file" in result.stderr
    assert "listening" not in result.stderr


def test_check_bind_and_loopback_rules() -> None:
    for host in ("127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="--token-file"):
            check_bind(host, None)
        check_bind(host, "a-token")


def test_token_file_rules(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text("  abc123\n")
    assert read_token_file(good) == "abc123"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        read_token_file(empty)
    spaced = tmp_path / "spaced"
    spaced.write_text("abc 123")
    with pytest.raises(ConfigError, match="whitespace"):
        read_token_file(spaced)
    with pytest.raises(ConfigError, match="cannot read"):
        read_token_file(tmp_path / "missing")


# -- the monitor, in process -------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    (f"/system.slice/docker-{DOCKER_ID}.scope", DOCKER_ID),
    (f"/docker/{DOCKER_ID}", DOCKER_ID),
    (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/"
     f"cri-containerd-{DOCKER_ID}.scope", DOCKER_ID),
    (f"/machine.slice/libpod-{DOCKER_ID}.scope/container", DOCKER_ID),
    (f"/kubepods/besteffort/pod1234/crio-{DOCKER_ID}.scope", DOCKER_ID),
    ("/user.slice/user-1000.slice/session-2.scope", None),
    ("/", None),
])
def test_container_id_from_cgroup_path(path: str, expected: str | None) -> None:
    assert container_id(path) == expected


def _cpu_info() -> DeviceInfo:
    return DeviceInfo("rapl:package-0", "cpu", "package 0", "rapl", True, True, 1e6)


def test_monitor_counts_device_energy_power_and_carbon() -> None:
    gpu = DeviceInfo("nvml:GPU-0", "gpu", "gpu 0", "nvml", True, True, None)
    monitor = NodeMonitor({"rapl:package-0": _cpu_info(), "nvml:GPU-0": gpu},
                          region=REGION, intensity=AnnualIntensity())
    monitor.on_intervals([IntervalRecord("rapl:package-0", 100.0, 102.0, 30.0, 30.0),
                          IntervalRecord("nvml:GPU-0", 100.0, 102.0, 500.0, 500.0)], [])
    monitor.on_intervals([IntervalRecord("rapl:package-0", 102.0, 106.0, 20.0, 20.0)], [])
    devices = {d["id"]: d for d in monitor.devices_snapshot()}
    g_per_kwh = annual_intensity(REGION).g_per_kwh
    assert devices["rapl:package-0"]["energy_j"] == 50.0
    assert devices["rapl:package-0"]["power_w"] == 5.0  # 20 J over the last 4 s
    assert devices["rapl:package-0"]["co2e_g"] == pytest.approx(50.0 / 3.6e6 * g_per_kwh)
    assert devices["nvml:GPU-0"]["power_w"] == 250.0
    assert devices["rapl:package-0"]["intervals"] == 2
    assert monitor.cpu_device_ids == ["rapl:package-0"]


def test_monitor_shares_cpu_energy_between_processes_and_containers(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        cgroup = f"/system.slice/docker-{DOCKER_ID}.scope"
        (tmp_path / str(child.pid)).mkdir()
        (tmp_path / str(child.pid) / "cgroup").write_text(f"0::{cgroup}\n")
        monitor = NodeMonitor({"rapl:package-0": _cpu_info()}, region=REGION,
                              intensity=AnnualIntensity(), proc_root=tmp_path)
        monitor.refresh_processes()  # the baseline
        time.sleep(0.3)
        monitor.on_intervals([IntervalRecord("rapl:package-0", 0.0, 0.3, 100.0, 100.0)], [])
        monitor.refresh_processes()
        mine = monitor.process(child.pid)
        assert mine is not None
        assert mine["container_id"] == DOCKER_ID and mine["cgroup"] == cgroup
        assert 0 < mine["energy_j"] <= 100.0
        unattributed_j, _ = monitor.unattributed()
        total = sum(p["energy_j"] for p in monitor.processes_snapshot()) + unattributed_j
        assert total == pytest.approx(100.0)
        (container,) = [c for c in monitor.cgroups_snapshot() if c["container_id"]]
        assert container["energy_j"] == pytest.approx(mine["energy_j"])
    finally:
        child.kill()
        child.wait()


def test_monitor_charges_gpu_energy_to_processes_by_the_drivers_breakdown(
        tmp_path: Path) -> None:
    gpu = DeviceInfo("nvml:GPU-0", "gpu", "gpu 0", "nvml", True, True, None)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        unseen_pid = 999_999_999  # a pid the agent cannot list (another namespace)
        breakdown = {"nvml:GPU-0": {child.pid: 0.75, unseen_pid: 0.25}}
        monitor = NodeMonitor({"nvml:GPU-0": gpu}, region=REGION,
                              intensity=AnnualIntensity(), proc_root=tmp_path,
                              gpu_breakdown=lambda: breakdown)
        monitor.on_intervals([IntervalRecord("nvml:GPU-0", 0.0, 1.0, 40.0, 40.0)], [])
        monitor.refresh_processes()  # the first listing: energy so far stays unattributed
        monitor.on_intervals([IntervalRecord("nvml:GPU-0", 1.0, 2.0, 200.0, 200.0)], [])
        monitor.refresh_processes()
        mine = monitor.process(child.pid)
        assert mine is not None
        assert mine["gpu_energy_j"] == pytest.approx(0.75 * 200.0)
        assert mine["energy_j"] == pytest.approx(0.75 * 200.0)
        unattributed_j, _ = monitor.unattributed()
        assert unattributed_j == pytest.approx(40.0 + 0.25 * 200.0)
    finally:
        child.kill()
        child.wait()


# -- hardening: framing, names, read-only store, options, TLS -----------------------------


def _raw_exchange(url: str, payload: bytes) -> list[tuple[int, bytes]]:
    """Send raw bytes on one connection; the (status, body) of every response until close."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response: {data[:200]!r}"
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(b":", 1) for line in lines[1:])
        length = int({k.strip().lower(): v for k, v in headers.items()}[b"content-length"])
        responses.append((status, rest[:length]))
        data = rest[length:]
    return responses


SMUGGLED = b"GET /v1/runs HTTP/1.1\r\nHost: agent\r\n\r\n"
LAST = b"GET /v1/devices HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(("first", "status"), [
    (b"GET /healthz HTTP/1.1\r\nHost: agent\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
     + SMUGGLED, 200),
    (b"GET /healthz HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\n\r\n"
     + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n", 200),
    (b"POST /v1/runs HTTP/1.1\r\nHost: agent\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
     + SMUGGLED, 405),
    (b"DELETE /nope HTTP/1.1\r\nHost: agent\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
     + SMUGGLED, 405),
])
def test_a_request_body_is_never_read_as_a_second_request(agent: AgentProcess, first: bytes,
                                                           status: int) -> None:
    responses = _raw_exchange(agent.url, first + LAST)
    assert [s for s, _ in responses] == [status, 200]  # one answer per request, none smuggled
    assert b'"runs"' not in b"".join(body for _, body in responses)
    assert b'"devices"' in responses[1][1]


def test_process_names_are_the_kernels_comm_never_argv(agent: AgentProcess,
                                                       tmp_path: Path) -> None:
    # a 15-character comm is where psutil's name() falls back to argv[0]
    link = tmp_path / "wattprint-comm-secret-hunter2"
    link.symlink_to(shutil.which("sleep") or "/bin/sleep")
    child = subprocess.Popen([str(link), "30"])
    try:
        comm = "wattprint-comm-"  # the executable's name cut to 15 bytes by the kernel
        assert len(comm) == 15
        assert wait_for(lambda: Path(f"/proc/{child.pid}/comm").read_text() == comm + "\n")
        mine = wait_for(lambda: (r := httpx.get(f"{agent.url}/v1/processes/{child.pid}"))
                        .status_code == 200 and r.json())
        assert mine["name"] == comm
        assert "secret" not in httpx.get(agent.url + "/v1/processes").text
        assert "secret" not in httpx.get(agent.url + "/metrics").text

        monitor = NodeMonitor({"rapl:package-0": _cpu_info()}, region=REGION,
                              intensity=AnnualIntensity(), proc_root=tmp_path)
        monitor.refresh_processes()
        listed = monitor.process(child.pid)
        assert listed is not None and listed["name"] == comm
    finally:
        child.kill()
        child.wait()


def test_listing_runs_never_writes_the_store(home: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a run whose process has ended: reading it once marked it interrupted
    db = home / "wattprint.db"
    store = Store(db)
    run_id = store.create_run(project="lost", phase="training", attribution="machine",
                              interval_s=1.0, started_at=1_700_000_000.0, pid=gone.pid)
    store.append_intervals(run_id, [IntervalRecord("rapl:package-0", 1_700_000_000.0,
                                                   1_700_000_002.0, 30.0, 30.0)])
    store.close()
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    sensor = ScriptedSensor.counter("cpu", [0.0, 1.0], max_energy_j=1e6)
    node_agent = Agent(port=0, settings=load_settings({"region": REGION, "interval_s": 0.05}),
                       sensor_objects=[sensor], process_interval_s=0.1).start()
    try:
        for _ in range(3):
            (run,) = httpx.get(node_agent.url + "/v1/runs").json()["runs"]
            assert run["id"] == run_id and run["status"] == "running"
            assert run["energy_j"] == 30.0 and run["ended_at"] is None
            assert (db.read_bytes(), db.stat().st_mtime_ns) == before
    finally:
        node_agent.stop()
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


def test_listed_runs_follow_every_commit_to_the_store(home: Path) -> None:
    store = Store(home / "wattprint.db")
    run_id = store.create_run(project="live", phase="training", attribution="process",
                              interval_s=1.0, started_at=1_700_000_000.0)
    sensor = ScriptedSensor.counter("cpu", [0.0, 1.0], max_energy_j=1e6)
    node_agent = Agent(port=0, settings=load_settings({"region": REGION, "interval_s": 0.05}),
                       sensor_objects=[sensor], process_interval_s=0.1).start()
    try:
        for k in range(1, 4):  # each GET after a commit sees it, none serves the old list
            store.append_intervals(run_id, [IntervalRecord(
                "rapl:package-0", 1_700_000_000.0 + k, 1_700_000_001.0 + k, 10.0, 4.0)])
            (run,) = httpx.get(node_agent.url + "/v1/runs").json()["runs"]
            assert (run["device_energy_j"], run["energy_j"]) == (10.0 * k, 4.0 * k)
            assert httpx.get(node_agent.url + "/v1/runs").json()["runs"] == [run]
        store.add_units(run_id, "sample", 64)
        (run,) = httpx.get(node_agent.url + "/v1/runs").json()["runs"]
        assert run["units"] == {"sample": 64.0}
        store.finish_run(run_id, status="finished", ended_at=1_700_000_004.0)
        (run,) = httpx.get(node_agent.url + "/v1/runs").json()["runs"]
        assert run["status"] == "finished" and run["duration_s"] == 4.0
        assert httpx.get(node_agent.url + "/v1/runs?project=other").json() == {"runs": []}
    finally:
        node_agent.stop()
        store.close()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 0.0, -1.0,
                                   0.099, 86_400.5, 1e300])
def test_process_interval_out_of_bounds_is_refused(value: float) -> None:
    with pytest.raises(ConfigError, match="--process-interval"):
        validate.process_interval_s(value)


@pytest.mark.parametrize("value", [0.1, 5.0, 86_400.0])
def test_process_interval_in_bounds_is_kept(value: float) -> None:
    assert validate.process_interval_s(value) == value


def test_agent_refuses_a_nan_process_interval(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0)
    result = subprocess.run(_agent_cmd("--port", "0", "--process-interval", "nan"),
                            env=_env(tmp_path, tmp_path / "home", tree), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--process-interval" in result.stderr and "at least 0.1" in result.stderr
    assert "listening" not in result.stderr


def test_agent_refuses_half_a_tls_pair(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0)
    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    result = subprocess.run(_agent_cmd("--port", "0", "--tls-cert", str(cert)),
                            env=_env(tmp_path, tmp_path / "home", tree), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--tls-key" in result.stderr
    assert "listening" not in result.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_serves_https_only(home: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    sensor = ScriptedSensor.counter("cpu", [0.0, 1.0], max_energy_j=1e6)
    node_agent = Agent(port=0, settings=load_settings({"region": REGION, "interval_s": 0.05}),
                       sensor_objects=[sensor], tls_cert=cert, tls_key=key).start()
    try:
        assert node_agent.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(node_agent.url + "/healthz", verify=trusted)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        with pytest.raises(httpx.ConnectError):  # an untrusted certificate is refused
            httpx.get(node_agent.url + "/healthz")
        with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer
            httpx.get(node_agent.url.replace("https://", "http://") + "/healthz")
    finally:
        node_agent.stop()


def test_tls_with_a_bad_certificate_is_a_config_error(home: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    key.write_text("not a key\n")
    sensor = ScriptedSensor.counter("cpu", [0.0, 1.0], max_energy_j=1e6)
    node_agent = Agent(port=0, settings=load_settings({"region": REGION, "interval_s": 0.05}),
                       sensor_objects=[sensor], tls_cert=cert, tls_key=key)
    with pytest.raises(ConfigError, match="TLS certificate"):
        node_agent.start()
    node_agent.stop()


def test_metric_help_says_process_counters_include_gpu_energy(agent: AgentProcess) -> None:
    families = {f.name: f for f in text_string_to_metric_families(
        httpx.get(agent.url + "/metrics").text)}
    for name in ("wattprint_process_energy_joules", "wattprint_cgroup_energy_joules",
                 "wattprint_unattributed_energy_joules"):
        assert "GPU" in families[name].documentation


def test_answers_on_a_keep_alive_connection_are_not_held_back(agent: AgentProcess) -> None:
    # without TCP_NODELAY, Nagle's algorithm and the client's delayed ACK hold each
    # answer back about 40 ms
    host, port = agent.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    elapsed_s = []
    for _ in range(21):
        t0 = time.perf_counter()
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert response.status == 200 and response.read()
        elapsed_s.append(time.perf_counter() - t0)
    conn.close()
    assert sorted(elapsed_s)[10] < 0.02


def test_every_grafana_panel_has_a_unit() -> None:
    dashboard = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
    panels = json.loads(dashboard.read_text(encoding="utf-8"))["panels"]
    units = {p["title"]: p.get("fieldConfig", {}).get("defaults", {}).get("unit")
             for p in panels}
    assert len(units) == len(panels) == 10
    assert all(unit and unit != "none" for unit in units.values()), units
    assert units["Grid intensity"] == "suffix: gCO2e/kWh"
    assert units["Carbon rate"] == "suffix: gCO2e/h"
    assert "pid" not in dashboard.read_text(encoding="utf-8")  # no label the agent lacks
