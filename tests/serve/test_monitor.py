"""The node monitor's arithmetic on hand-made listings, and /proc read from a fake tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattprint.accounting.intensity import AnnualIntensity, annual_intensity
from wattprint.attribution import cpu_time_shares
from wattprint.procfs import read_proc_stat
from wattprint.sensors.base import DeviceInfo
from wattprint.serve.monitor import NodeMonitor, ProcessSample, read_processes
from wattprint.store import IntervalRecord

REGION = "DE"
TCK = os.sysconf("SC_CLK_TCK")


def _stat_line(pid: int, comm: str, utime: int, stime: int, cutime: int, cstime: int,
               starttime: int) -> str:
    # fields 3.. of proc(5): state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
    # cminflt, majflt, cmajflt, utime(14), stime, cutime, cstime, priority, nice,
    # num_threads, itrealvalue, starttime(22), then the rest
    after = ["S", "1", "1", "1", "0", "-1", "4194560", "10", "0", "0", "0",
             str(utime), str(stime), str(cutime), str(cstime), "20", "0", "1", "0",
             str(starttime), "1000", "100"] + ["0"] * 30
    return f"{pid} ({comm}) " + " ".join(after) + "\n"


def _fake_proc(root: Path) -> Path:
    (root / "stat").write_text("cpu  100 0 50 1000 0 0 0 0 0 0\nbtime 1700000000\n")
    for pid, comm, times in [(1, "init", (10, 5, 100, 50, 1)),
                             (42, "my (odd) name", (250, 50, 7, 3, 3 * TCK)),
                             (77, "wattprint-comm-", (1, 1, 0, 0, 10 * TCK))]:
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(_stat_line(pid, comm, *times))
        (root / str(pid) / "cmdline").write_bytes(b"wattprint-comm-secret=hunter2\0")
    (root / "self").mkdir()  # not a pid
    (root / "99").mkdir()  # a process that ended while listed: no stat
    return root


def test_proc_stat_fields_in_ticks_and_seconds(tmp_path: Path) -> None:
    root = _fake_proc(tmp_path)
    stat = read_proc_stat(42, str(root))
    assert stat is not None
    assert stat.comm == "my (odd) name"
    assert (stat.cpu_ticks, stat.children_ticks, stat.start_ticks) == (300, 10, 3 * TCK)
    assert stat.cpu_s == 300 / TCK and stat.started_s == 3.0
    assert read_proc_stat(99, str(root)) is None


def test_read_processes_lists_comm_start_and_own_cpu_time(tmp_path: Path) -> None:
    listed = read_processes(_fake_proc(tmp_path))
    assert listed == {
        1: ProcessSample(1_700_000_000 + 1 / TCK, "init", 15 / TCK),
        42: ProcessSample(1_700_000_003.0, "my (odd) name", 300 / TCK),
        77: ProcessSample(1_700_000_010.0, "wattprint-comm-", 2 / TCK),
    }


@pytest.mark.parametrize(("used", "busy", "expected"), [
    ({1: 2.0, 2: 0.5, 3: 0.5}, 4.0, {1: 0.5, 2: 0.125, 3: 0.125}),  # 1 s of 4 unattributed
    ({1: 2.0, 2: 2.0}, 2.0, {1: 0.5, 2: 0.5}),
    ({1: 3.0, 2: 1.0}, 2.0, {1: 0.75, 2: 0.25}),  # more than busy: scaled to sum to 1
    ({1: 1.0, 2: 0.0}, 4.0, {1: 0.25}),  # no CPU time, no share
    ({1: 1.0}, 0.0, {}),
])
def test_cpu_time_shares(used: dict[int, float], busy: float,
                         expected: dict[int, float]) -> None:
    assert cpu_time_shares(used, busy) == expected


class _Listings:
    """Scripted process listings and busy-time readings, one per refresh."""

    def __init__(self, steps: list[tuple[float, float, dict[int, ProcessSample]]]) -> None:
        self.steps = steps
        self.k = -1

    def wall(self) -> float:  # read just before busy() in each refresh
        return self.steps[self.k + 1][0]

    def busy(self) -> float:
        self.k += 1
        return self.steps[self.k][1]

    def processes(self) -> dict[int, ProcessSample]:
        return self.steps[self.k][2]


def test_monitor_shares_cpu_and_gpu_energy_exactly(tmp_path: Path) -> None:
    cpu = DeviceInfo("rapl:package-0", "cpu", "package 0", "rapl", True, True, 1e6)
    gpu = DeviceInfo("nvml:GPU-0", "gpu", "gpu 0", "nvml", True, True, None)
    listings = _Listings([
        (100.0, 1000.0, {1: ProcessSample(50.0, "a", 10.0), 2: ProcessSample(60.0, "b", 5.0)}),
        (110.0, 1004.0, {1: ProcessSample(50.0, "a", 12.0), 2: ProcessSample(60.0, "b", 5.5),
                         3: ProcessSample(105.0, "c", 0.5)}),
        # pid 3 reused by a process born at 115; pid 2 has exited
        (120.0, 1006.0, {1: ProcessSample(50.0, "a", 14.0), 3: ProcessSample(115.0, "d", 2.0)}),
    ])
    breakdown = {"nvml:GPU-0": {1: 0.25, 2: 0.5}}
    monitor = NodeMonitor({"rapl:package-0": cpu, "nvml:GPU-0": gpu}, region=REGION,
                          intensity=AnnualIntensity(), proc_root=tmp_path, wall=listings.wall,
                          busy_s=listings.busy, list_processes=listings.processes,
                          gpu_breakdown=lambda: breakdown)
    monitor.on_intervals([IntervalRecord("rapl:package-0", 90.0, 100.0, 8.0, 8.0)], [])
    monitor.refresh_processes()  # baseline: the 8 J so far stay unattributed
    monitor.on_intervals([IntervalRecord("rapl:package-0", 100.0, 110.0, 100.0, 100.0),
                          IntervalRecord("nvml:GPU-0", 100.0, 110.0, 200.0, 200.0)], [])
    monitor.refresh_processes()
    # CPU: busy 4 s; a used 2 s, b 0.5 s, c (born at 105) 0.5 s -> 50, 12.5, 12.5 J of 100
    # GPU: a 25 %, b 50 % of 200 J -> 50, 100 J; 50 J unattributed
    energy = {p["pid"]: (p["name"], p["energy_j"], p["gpu_energy_j"], p["cpu_s"])
              for p in monitor.processes_snapshot()}
    assert energy == {1: ("a", 100.0, 50.0, 2.0), 2: ("b", 112.5, 100.0, 0.5),
                      3: ("c", 12.5, 0.0, 0.5)}
    assert monitor.unattributed()[0] == 8.0 + 25.0 + 50.0

    monitor.on_intervals([IntervalRecord("rapl:package-0", 110.0, 120.0, 40.0, 40.0)], [])
    monitor.refresh_processes()
    # busy 2 s; a used 2 s, d (new at pid 3) 2 s: 4 s > 2 s, so shares are scaled to 1/2 each
    doc = monitor.process(3)
    assert doc is not None and (doc["name"], doc["energy_j"], doc["alive"]) == ("d", 20.0, True)
    doc = monitor.process(1)
    assert doc is not None and doc["energy_j"] == 120.0 and doc["cpu_s"] == 4.0
    doc = monitor.process(2)
    assert doc is not None and doc["alive"] is False and doc["energy_j"] == 112.5
    assert monitor.unattributed()[0] == 83.0
    g_per_kwh = annual_intensity(REGION).g_per_kwh
    assert monitor.unattributed()[1] == pytest.approx(83.0 / 3.6e6 * g_per_kwh)
