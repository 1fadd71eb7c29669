"""The node monitor's arithmetic on hand-made listings, and /proc read from a fake tree."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from wattprint.accounting.intensity import AnnualIntensity, annual_intensity
from wattprint.attribution import cpu_time_shares
from wattprint.procfs import read_proc_stat
from wattprint.sensors.base import DeviceInfo
from wattprint.serve.metrics import registry_for
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


# -- bounded process series ----------------------------------------------------------------

CPU = DeviceInfo("rapl:package-0", "cpu", "package 0", "rapl", True, True, 1e6)


def _kstat_line(pid: int, comm: str, ppid: int, flags: int) -> str:
    after = ["S", str(ppid), "0", "0", "0", "-1", str(flags), "0", "0", "0", "0",
             "3", "2", "0", "0", "20", "0", "1", "0", "5", "0", "0"] + ["0"] * 30
    return f"{pid} ({comm}) " + " ".join(after) + "\n"


def test_kernel_threads_are_told_by_flag_or_parent_never_by_name(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("btime 1700000000\n")
    for pid, comm, ppid, flags in [(2, "kthreadd", 0, 0x00208040),
                                   (31, "kworker/0:1", 2, 0x04208060),
                                   (32, "ksoftirqd/0", 0, 0x00200000),  # the flag alone
                                   (33, "rcu_sched", 2, 0),  # the parent alone
                                   (400, "kworker/0:0", 1, 0x00400100),  # a user program
                                   (401, "python3", 1, 0x00400100)]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(_kstat_line(pid, comm, ppid, flags))
    kernel = {pid: s.kernel for pid, s in read_processes(tmp_path).items()}
    assert kernel == {2: True, 31: True, 32: True, 33: True, 400: False, 401: False}


class _Churn:
    """A machine with a trainer, a kernel thread and three new short-lived processes per listing.

    Listing k (k >= 1) closes a 10 s window of 64 J on the CPU package in
    which the machine was busy 8 s: trainer 4 s, kworker 1 s, and three
    processes born in the window 1 s each, so they are charged 32, 8 and 8 J
    each. Their pids are all new; their names come from ``names(k)``.
    """

    def __init__(self, names: Callable[[int], list[str]]) -> None:
        self.names = names
        self.k = 0

    def wall(self) -> float:
        return 100.0 + 10.0 * self.k

    def busy(self) -> float:
        return 8.0 * self.k

    def processes(self) -> dict[int, ProcessSample]:
        k = self.k
        out = {10: ProcessSample(50.0, "trainer", 4.0 * k),
               20: ProcessSample(0.0, "kworker/0:1", 1.0 * k, True)}
        if k >= 1:
            for i, name in enumerate(self.names(k)):
                out[1000 + 3 * k + i] = ProcessSample(self.wall() - 9.0, name, 1.0)
        return out


def _monitor(churn: _Churn, tmp_path: Path, **kwargs: Any) -> NodeMonitor:
    return NodeMonitor({CPU.id: CPU}, region=REGION, intensity=AnnualIntensity(),
                       proc_root=tmp_path, wall=churn.wall, busy_s=churn.busy,
                       list_processes=churn.processes, process_ttl_s=25.0, **kwargs)


def _scrape(monitor: NodeMonitor) -> dict[str, list[Sample]]:
    text = generate_latest(registry_for(monitor, "test")).decode()
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = list(family.samples)
    return out


def _run_churn(churn: _Churn, monitor: NodeMonitor, windows: int,
               top: int) -> set[tuple[tuple[str, str], ...]]:
    monitor.refresh_processes()  # baseline
    label_sets: set[tuple[tuple[str, str], ...]] = set()
    for k in range(1, windows + 1):
        monitor.on_intervals([IntervalRecord(CPU.id, churn.wall(), churn.wall() + 10.0,
                                             64.0, 64.0)], [])
        churn.k = k
        monitor.refresh_processes()
        samples = _scrape(monitor)["wattprint_process_energy_joules"]
        assert len(samples) <= top + 2
        label_sets |= {tuple(sorted(s.labels.items())) for s in samples}
        # the series add up to all energy charged to processes, exactly
        assert sum(s.value for s in samples) == monitor.attributed()[0]
        assert monitor.attributed()[0] + monitor.unattributed()[0] == 64.0 * k
    return label_sets


def test_process_series_stay_few_and_add_up_exactly(tmp_path: Path) -> None:
    pool = ["A", "B", "C", "D", "E", "F"]
    churn = _Churn(lambda k: pool[3 * (k % 2):3 * (k % 2) + 3])
    monitor = _monitor(churn, tmp_path, top_processes=3)
    label_sets = _run_churn(churn, monitor, 60, top=3)
    assert len(label_sets) == 5  # 180 short-lived pids, yet N + 2 label sets in all
    values = {(s.labels["series"], s.labels["name"]): s.value
              for s in _scrape(monitor)["wattprint_process_energy_joules"]}
    # window 1 fills the slots: trainer (32 J), then D and E (8 J each, names in order);
    # from then trainer gets 32 J a window (59), D and E 8 J in odd windows 3..59 (29)
    assert values == {("process", "trainer"): 1888.0, ("process", "D"): 232.0,
                      ("process", "E"): 232.0, ("kernel", "kernel"): 480.0,
                      ("other", "other"): 1008.0}  # 56 J of window 1, F 232, A-C 720
    assert monitor.attributed()[0] == 64.0 * 60 and monitor.unattributed()[0] == 0.0
    assert all("pid" not in s.labels for s in _scrape(monitor)["wattprint_process_co2e_grams"])


def test_unique_names_take_freed_slots_and_the_sum_stays_whole(tmp_path: Path) -> None:
    churn = _Churn(lambda k: [f"job-{k:02d}-{i}" for i in range(3)])
    monitor = _monitor(churn, tmp_path, top_processes=3)
    _run_churn(churn, monitor, 10, top=3)
    assert monitor.attributed()[0] == 640.0
    values = {s.labels["name"]: s.value
              for s in _scrape(monitor)["wattprint_process_energy_joules"]}
    # slots after window 1: trainer, job-01-0, job-01-1; the jobs are never charged again
    # and lose their slots at listing 4 (30 s idle > 25 s), when job-04-0 and -1 take them;
    # those lose theirs at listing 7, and job-07-0 and -1 theirs at listing 10
    assert values == {"trainer": 32.0 * 9, "job-10-0": 0.0, "job-10-1": 0.0,
                      "kernel": 80.0, "other": 640.0 - 288.0 - 80.0}


def test_the_pid_label_only_when_asked_for(tmp_path: Path) -> None:
    churn = _Churn(lambda k: ["sh"])
    monitor = _monitor(churn, tmp_path, top_processes=5, pid_label=True)
    _run_churn(churn, monitor, 3, top=5)
    labels = {(s.labels["pid"], s.labels["name"], s.labels["series"])
              for s in _scrape(monitor)["wattprint_process_energy_joules"]}
    # each listing k has one new "sh" at pid 1000 + 3k; each is charged 8 J and gets a
    # slot of its own (trainer's at listing 1), as the pid is part of the label set
    assert labels == {("10", "trainer", "process"), ("1003", "sh", "process"),
                      ("1006", "sh", "process"), ("1009", "sh", "process"),
                      ("", "kernel", "kernel"), ("", "other", "other")}


def test_intensity_in_base_units_is_the_kwh_gauge_over_3_6e6(tmp_path: Path) -> None:
    monitor = _monitor(_Churn(lambda k: []), tmp_path)
    families = _scrape(monitor)
    (per_kwh,) = families["wattprint_grid_intensity_grams_per_kilowatt_hour"]
    (per_j,) = families["wattprint_grid_intensity_grams_per_joule"]
    assert per_kwh.value == annual_intensity(REGION).g_per_kwh
    assert per_j.value == per_kwh.value / 3.6e6
    assert per_j.labels == per_kwh.labels
