"""Benchmark the run store on a simulated cluster job: SQLite against PostgreSQL.

Usage::

    python bench/bench_store.py [--nodes 8] [--ranks 8] [--seconds 600]
                                [--job-intervals 1000000] [--url postgresql://...] [--quick]

A job of ``nodes x ranks`` ranks samples at 1 s for ``seconds`` seconds.
Each rank measures its own GPU (one interval a second); the one measuring
rank of each node also measures the node's 2 CPU packages and 2 DRAM
domains (four more). Every rank is a writer with its own connection; the
writers of one node share one process (8 processes x 8 threads for the
default job), so a 2-core machine is not swamped by 64 interpreters. The
writers replay the job's 600 seconds as fast as the store takes them, so
the result is the store's capacity, to compare with the job's real rate
(96 intervals per second for the default job).

Then one finished job of ``--job-intervals`` intervals (``nodes x ranks``
runs linked by their job columns, each rank's GPU and each node's 4 devices
at 1 s) is loaded and ``show JOB --json`` is timed on it: its document in
this process (the store open; the energy sums and the accounting of every
measuring run), and the command as a user runs it (a new process each time).

PostgreSQL is a throwaway server started here (``initdb``/``pg_ctl``, fsync
and synchronous commit on, as a real server would run), unless ``--url``
names one. Prints a markdown table and the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from wattprint.records import IntervalRecord  # noqa: E402
from wattprint.store import Store  # noqa: E402

#: devices the measuring rank of a node adds: 2 CPU packages, 2 DRAM domains
NODE_DEVICES = ("rapl:package-0", "rapl:package-1", "rapl:dram-0", "rapl:dram-1")


def _rank(target: str, node: int, rank: int, seconds: int, latencies_s: list[float]) -> None:
    store = Store(target)
    rid = f"job-n{node}-r{rank}"
    store.create_run(project="job", phase="training", attribution="machine", interval_s=1.0,
                     started_at=1_700_000_000.0, run_id=rid)
    devices = [f"nvml:{rank}"] + (list(NODE_DEVICES) if rank == 0 else [])
    for s in range(seconds):
        t0 = 1_700_000_000.0 + s
        batch = [IntervalRecord(d, t0, t0 + 1, 300.0, 300.0) for d in devices]
        start = time.perf_counter()
        store.append_intervals(rid, batch)
        latencies_s.append(time.perf_counter() - start)
    store.finish_run(rid, status="finished", ended_at=1_700_000_000.0 + seconds)
    store.close()


def _node(target: str, node: int, ranks: int, seconds: int) -> list[float]:
    latencies: list[list[float]] = [[] for _ in range(ranks)]
    threads = [threading.Thread(target=_rank, args=(target, node, r, seconds, latencies[r]))
               for r in range(ranks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for per in latencies for x in per]


def write_job(target: str, nodes: int, ranks: int, seconds: int) -> dict[str, float]:
    """Replay the job's writes; intervals per second and write latency percentiles."""
    Store(target).close()  # created and migrated once, as the first node would
    ctx = get_context("spawn")
    start = time.perf_counter()
    with ctx.Pool(nodes) as pool:
        per_node = pool.starmap(_node, [(target, n, ranks, seconds) for n in range(nodes)])
    wall_s = time.perf_counter() - start
    latencies = sorted(x for node in per_node for x in node)
    intervals = nodes * (ranks + len(NODE_DEVICES)) * seconds
    store = Store(target)
    stored = sum(v[3] for rid in store.run_ids("job") for v in store.device_totals(rid).values())
    store.close()
    if stored != intervals:
        raise SystemExit(f"lost intervals: wrote {intervals}, stored {stored}")
    return {"intervals": intervals, "wall_s": wall_s, "per_s": intervals / wall_s,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
            "max_ms": 1000 * latencies[-1]}


JOB_ID = "slurm:4242.0"


def load_job(target: str, nodes: int, ranks: int, total: int) -> tuple[float, int]:
    """Store one finished job of about ``total`` intervals; returns (seconds, intervals).

    Rank 0 of each node measures the node's 4 devices and its GPU, every other rank its
    GPU: ``nodes x (ranks + 4)`` series of 1 s intervals at 300 W (GPU) and 50 W (node).
    """
    from wattprint.distributed import Launch
    from wattprint.records import DeviceRecord

    store = Store(target)
    per_series = total // (nodes * (ranks + len(NODE_DEVICES)))
    t0 = 1_700_000_000.0
    start = time.perf_counter()
    for n in range(nodes):
        for r in range(ranks):
            rid = f"big-n{n}-r{r}"
            store.create_run(project="bigjob", phase="training", attribution="machine",
                             interval_s=1.0, started_at=t0, run_id=rid, region="FR")
            store.set_job(rid, Launch(job_id=JOB_ID, launcher="slurm", node=f"node{n}",
                                      rank=n * ranks + r, local_rank=r,
                                      world_size=nodes * ranks))
            devices = [f"nvml:{r}"] + (list(NODE_DEVICES) if r == 0 else [])
            store.add_devices(rid, [DeviceRecord(d, "gpu" if d.startswith("nvml") else "cpu",
                                                 d, d.split(":")[0], True, True, None,
                                                 "whole-device") for d in devices])
            for chunk in range(0, per_series, 20_000):
                store.append_intervals(rid, [
                    IntervalRecord(d, t0 + s, t0 + s + 1, 300.0 if d.startswith("nvml")
                                   else 50.0, 0.0)
                    for s in range(chunk, min(per_series, chunk + 20_000)) for d in devices])
            store.finish_run(rid, status="finished", ended_at=t0 + per_series, exit_code=0)
    store.close()
    return time.perf_counter() - start, per_series * nodes * (ranks + len(NODE_DEVICES))


def show_job(target: str, nodes: int, ranks: int, total: int) -> dict[str, float]:
    """Load one job of ``total`` intervals; time ``show JOB --json`` on it (best of 5).

    Timed twice: the document in this process (:func:`~wattprint.report.jobview.job_document`,
    the store already open) and the command as a user runs it (a new process each time,
    interpreter start included). Both are checked against the loaded totals.
    """
    import json
    import subprocess

    from wattprint.report.jobview import job_document

    load_s, intervals = load_job(target, nodes, ranks, total)
    per_series = intervals // (nodes * (ranks + len(NODE_DEVICES)))
    expected_j = per_series * nodes * (ranks * 300.0 + len(NODE_DEVICES) * 50.0)
    store = Store(target)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        doc = job_document(store, JOB_ID)
        times.append(time.perf_counter() - t0)
        if doc["energy_j"] != expected_j or len(doc["by_device"]) != nodes * (
                ranks + len(NODE_DEVICES)):
            raise SystemExit("the job document has the wrong totals")
    store.close()
    url = target if target.startswith("postgresql:") else f"sqlite:///{target}"
    env = dict(os.environ, WATTPRINT_STORE=url, PYTHONPATH=str(REPO / "src"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's interpreter keeps its bytecode cache
    cli = []
    for _ in range(5):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "wattprint", "show", JOB_ID, "--json"],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"show JOB --json failed: {done.stderr}")
        cli.append(time.perf_counter() - t0)
        if json.loads(done.stdout)["energy_j"] != expected_j:
            raise SystemExit("show JOB --json printed the wrong totals")
    return {"intervals": intervals, "load_s": load_s, "query_s": min(times),
            "query_median_s": statistics.median(times), "cli_s": min(cli),
            "cli_median_s": statistics.median(cli)}


def machine() -> str:
    """One line naming the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def main() -> None:
    """Run the benchmark and print markdown."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--ranks", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--job-intervals", type=int, default=1_000_000)
    ap.add_argument("--url", help="a PostgreSQL database to use instead of a throwaway server")
    ap.add_argument("--quick", action="store_true", help="60 s and 100k intervals")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.job_intervals = 60, 100_000
    server = None
    url = args.url
    if url is None:
        from store.pgserver import start_server

        server = start_server(fsync=True)
    try:
        results: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("sqlite", "postgresql"):
                targets = ([str(Path(tmp) / "w.db"), str(Path(tmp) / "big.db")]
                           if name == "sqlite" else
                           [url or server.new_database(), url or server.new_database()])  # type: ignore[union-attr]
                writes = write_job(targets[0], args.nodes, args.ranks, args.seconds)
                show = show_job(targets[1], args.nodes, args.ranks, args.job_intervals)
                results[name] = (writes, show)
    finally:
        if server is not None:
            server.stop()
    job_rate = args.nodes * (args.ranks + len(NODE_DEVICES))
    print(f"Job: {args.nodes} nodes x {args.ranks} ranks, 1 s sampling, {args.seconds} s "
          f"({job_rate} intervals/s in real time); {args.nodes} processes x {args.ranks} "
          "writer threads, each with its own connection, replaying as fast as the store takes.\n")
    print("| store | intervals | wall | intervals/s | headroom over real time | write p50 |"
          " write p99 | write max | show JOB --json document (1 job) | show JOB --json command"
          " | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (w, s) in results.items():
        print(f"| {name} | {w['intervals']:,.0f} | {w['wall_s']:.1f} s | {w['per_s']:,.0f} | "
              f"{w['per_s'] / job_rate:,.0f}x | {w['p50_ms']:.1f} ms | {w['p99_ms']:.1f} ms | "
              f"{w['max_ms']:.0f} ms | {s['query_s'] * 1000:.0f} ms for {s['intervals']:,.0f} "
              f"intervals (median {s['query_median_s'] * 1000:.0f} ms) | "
              f"{s['cli_s'] * 1000:.0f} ms (median {s['cli_median_s'] * 1000:.0f} ms) | "
              f"{s['load_s']:.0f} s |")
    print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    main()
