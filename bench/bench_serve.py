"""Benchmark the serving side: per-request metering overhead, and the agent under load.

Usage::

    python bench/bench_serve.py [--requests 200000] [--scrapes 2000] [--api-calls 10000]
                                [--clients 4] [--budget-s 120] [--quick] [--agent-only]
                                [--live-run]

1. **Meter overhead.** ``with meter.request(): pass`` on a running
   :class:`~wattprint.serve.meter.EnergyMeter` (a scripted sensor sampled
   every 0.1 s, so the sharing thread works meanwhile), against the same loop
   with an empty context manager; then the ASGI and WSGI middlewares around a
   trivial app, called directly (no server, no network), against the bare
   app. Mean overhead per request from the loop time; p50/p99 from timing
   each request alone (those include about 0.1 us of timer cost).
2. **Agent under load.** Starts ``python -m wattprint agent`` on a loopback
   port over a fake powercap tree (so it runs anywhere; processes and their
   CPU times are the real ones of this machine), then, from this process,
   makes the scrapes of ``/metrics`` and the API calls (``/v1/devices``,
   ``/v1/processes``, ``/v1/processes/{pid}``, ``/v1/runs``, ``/healthz`` in
   turn; the store holds 50 runs, ``/v1/runs`` returns the newest 50) over
   ``--clients`` keep-alive connections, stopping at
   ``--budget-s`` whatever is left. Reports latency percentiles and
   throughput. With ``--live-run``, a run being tracked writes one interval
   to the store every 0.25 s meanwhile (so ``/v1/runs`` is read afresh
   rather than served from the agent's unchanged-store cache).

Prints markdown tables and the machine they ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from wattprint.serve.meter import EnergyMeter
from wattprint.serve.middleware import EnergyMiddleware, EnergyWSGIMiddleware
from wattprint.store import IntervalRecord, Store
from wattprint.testing.powercap import PowercapTree
from wattprint.testing.sensors import ScriptedSensor


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{cpu}, {psutil.cpu_count()} logical CPUs, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- 1. meter overhead ------------------------------------------------------------------


def _loop(n: int, body: Callable[[], None]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        body()
    return (time.perf_counter() - start) / n


def _each(n: int, body: Callable[[], None]) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        body()
        out.append((clock() - t0) / 1000.0)
    return out


def bench_meter(n: int, home: Path) -> list[tuple[str, float, float, float]]:
    os.environ["WATTPRINT_HOME"] = str(home)
    sensor = ScriptedSensor.counter("cpu", [float(i) for i in range(10_000_000)],
                                    max_energy_j=1e15)
    meter = EnergyMeter(project="bench", interval_s=0.1, region="DE", sensor_objects=[sensor],
                        keep_last=1000)
    meter.start()
    null = contextlib.nullcontext()

    def bare() -> None:
        with null:
            pass

    def metered() -> None:
        with meter.request():
            pass

    rows = []
    base = _loop(n, bare)
    mean = _loop(n, metered) - base
    each = _each(min(n, 100_000), metered)
    rows.append(("`with meter.request():`", mean * 1e6, pct(each, 0.5), pct(each, 0.99)))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    scope = {"type": "http", "method": "GET", "path": "/predict", "headers": []}
    asgi = EnergyMiddleware(app, meter=meter)
    asgi_header = EnergyMiddleware(app, meter=meter, header="X-Energy-Joules")

    async def asgi_loop(target: Any, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            await target(dict(scope), receive, send)
        return (time.perf_counter() - start) / count

    m = min(n, 100_000)
    bare_asgi = asyncio.run(asgi_loop(app, m))
    rows.append(("ASGI `EnergyMiddleware`", (asyncio.run(asgi_loop(asgi, m)) - bare_asgi) * 1e6,
                 float("nan"), float("nan")))
    rows.append(("ASGI, with `X-Energy-Joules` header",
                 (asyncio.run(asgi_loop(asgi_header, m)) - bare_asgi) * 1e6,
                 float("nan"), float("nan")))

    def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        return None

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/predict"}
    wsgi = EnergyWSGIMiddleware(wsgi_app, meter=meter)

    def call(target: Any) -> Callable[[], None]:
        def run() -> None:
            body = target(environ, start_response)
            for _ in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return run

    bare_wsgi = _loop(m, call(wsgi_app))
    rows.append(("WSGI `EnergyWSGIMiddleware`", (_loop(m, call(wsgi)) - bare_wsgi) * 1e6,
                 float("nan"), float("nan")))
    totals = meter.stop()
    print(f"(meter settled {totals.requests:,} requests; "
          f"{totals.energy_j:.0f} J scripted energy shared)\n")
    return rows


# -- 2. the agent under load ---------------------------------------------------------------


def fill_store(path: Path, runs: int = 50, intervals: int = 100) -> None:
    """A store of finished runs, so that /v1/runs reads real rows."""
    store = Store(path)
    t0 = 1_700_000_000.0
    for k in range(runs):
        rid = store.create_run(project=f"p{k % 5}", phase="training", attribution="machine",
                               interval_s=1.0, started_at=t0 + k * 1000)
        store.append_intervals(rid, [
            IntervalRecord("rapl:package-0", t0 + k * 1000 + i, t0 + k * 1000 + i + 1, 50.0,
                           25.0) for i in range(intervals)])
        store.add_units(rid, "sample", 1000)
        store.finish_run(rid, status="finished", ended_at=t0 + k * 1000 + intervals)
    store.close()


def start_agent(root: Path) -> tuple[subprocess.Popen[str], int]:
    fill_store(root / "home" / "wattprint.db")
    tree = PowercapTree(root / "sys")
    package = tree.add_package(0, energy_uj=1_000_000)
    tree.add_dram(0, energy_uj=1_000_000)
    env = dict(os.environ, WATTPRINT_HOME=str(root / "home"),
               WATTPRINT_SYSFS_ROOT=str(tree.sysfs_root), WATTPRINT_SENSORS="rapl",
               WATTPRINT_REGION="DE")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattprint", "agent", "--port", "0", "--interval", "0.5",
         "--process-interval", "2"],
        env=env, cwd=root, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    port = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "listening on " in line:
            port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
            break
    if not port:
        proc.kill()
        raise SystemExit("the agent did not start; is `wattprint agent` registered?")
    threading.Thread(target=lambda: [None for _ in proc.stderr or []], daemon=True).start()

    def tick() -> None:  # keep the fake counter moving (about 50 W)
        energy = 1_000_000
        while proc.poll() is None:
            energy += 25_000_000
            tree.set_energy(package, energy)
            time.sleep(0.5)

    threading.Thread(target=tick, daemon=True).start()
    return proc, port


def live_run(db: Path, stop: threading.Event) -> None:
    """A run being tracked meanwhile: one interval written to the store every 0.25 s."""
    store = Store(db)
    rid = store.create_run(project="live", phase="training", attribution="machine",
                           interval_s=0.25, started_at=time.time())
    t = time.time()
    while not stop.wait(0.25):
        store.append_intervals(rid, [IntervalRecord("rapl:package-0", t, t + 0.25, 12.5, 6.0)])
        t += 0.25
    store.finish_run(rid, status="finished", ended_at=t)
    store.close()


def bench_agent(scrapes: int, api_calls: int, clients: int, budget_s: float,
                root: Path, writer: bool = False) -> None:
    proc, port = start_agent(root)
    stop_writer = threading.Event()
    if writer:
        threading.Thread(target=live_run, args=(root / "home" / "wattprint.db", stop_writer),
                         daemon=True).start()
    time.sleep(2.5)  # a process listing or two, so /v1/processes has content
    api_paths = ["/v1/devices", "/v1/processes", f"/v1/processes/{os.getpid()}",
                 "/v1/runs", "/healthz"]
    jobs = ["/metrics"] * scrapes + [api_paths[i % len(api_paths)] for i in range(api_calls)]
    random.Random(0).shuffle(jobs)  # scrapes and API calls interleaved
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + budget_s
    sizes: dict[str, int] = {}

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = jobs[k::clients]
        local: dict[str, list[float]] = defaultdict(list)
        for path in mine:
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(f"{path}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            elapsed = (time.perf_counter() - t0) * 1000.0
            key = "/metrics" if path == "/metrics" else (
                "/v1/processes/{pid}" if path.startswith("/v1/processes/") else path)
            if status != 200:
                with lock:
                    errors.append(f"{path}: HTTP {status}")
            local[key].append(elapsed)
            sizes[key] = len(body)
        conn.close()
        with lock:
            for key, values in local.items():
                latencies[key].extend(values)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall_s = time.perf_counter() - start
    stop_writer.set()
    agent_cpu_s = sum(psutil.Process(proc.pid).cpu_times()[:2])
    proc.terminate()
    proc.wait(10)

    done = sum(len(v) for v in latencies.values())
    print(f"{done:,} of {len(jobs):,} requests in {wall_s:.1f} s over {clients} keep-alive "
          f"connections ({done / wall_s:,.0f} req/s); {len(errors)} errors; agent CPU "
          f"{agent_cpu_s:.1f} s over its life\n")
    print("| endpoint | requests | p50 ms | p99 ms | max ms | mean ms | body bytes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    api_all: list[float] = []
    for key in ["/metrics", "/v1/devices", "/v1/processes", "/v1/processes/{pid}", "/v1/runs",
                "/healthz"]:
        values = latencies.get(key, [])
        if not values:
            continue
        if key != "/metrics":
            api_all.extend(values)
        print(f"| `{key}` | {len(values):,} | {pct(values, 0.5):.2f} | {pct(values, 0.99):.2f} "
              f"| {max(values):.2f} | {statistics.fmean(values):.2f} | {sizes.get(key, 0):,} |")
    if api_all:
        print(f"| all API calls | {len(api_all):,} | {pct(api_all, 0.5):.2f} | "
              f"{pct(api_all, 0.99):.2f} | {max(api_all):.2f} | {statistics.fmean(api_all):.2f}"
              " | |")
    for line in errors[:5]:
        print("error:", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--scrapes", type=int, default=2000)
    parser.add_argument("--api-calls", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="a tenth of everything")
    parser.add_argument("--agent-only", action="store_true",
                        help="only the agent load test (part 2)")
    parser.add_argument("--live-run", action="store_true",
                        help="a run writes to the store during the agent load test")
    args = parser.parse_args()
    if args.quick:
        args.requests //= 10
        args.scrapes //= 10
        args.api_calls //= 10
    print(f"Machine: {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.agent_only:
            print("## Per-request metering overhead\n")
            rows = bench_meter(args.requests, root / "meter")
            print("| what | mean overhead us | p50 us | p99 us |")
            print("|---|---:|---:|---:|")
            for name, mean, p50, p99 in rows:
                cells = " | ".join("" if v != v else f"{v:.2f}" for v in (p50, p99))
                print(f"| {name} | {mean:.2f} | {cells} |")
            print(f"\n({args.requests:,} requests for the plain meter; p50/p99 time each "
                  "request alone, including timer cost)\n")
        print("## Agent under load\n")
        bench_agent(args.scrapes, args.api_calls, args.clients, args.budget_s, root / "agent",
                    writer=args.live_run)


if __name__ == "__main__":
    main()
