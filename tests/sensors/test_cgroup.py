from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wattprint.sensors import cgroup

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cgroup"
MIB = 1024 * 1024


def tree(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A writable copy of a fixture tree: (sysfs root, procfs root)."""
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root / "sys", root / "proc"


def test_v2_limits_smaller_than_host(tmp_path: Path) -> None:
    sys_root, proc_root = tree(tmp_path, "v2")
    info = cgroup.read_cgroup(sys_root, proc_root)
    assert info.version == 2
    assert info.path == "/kubepods.slice/pod1/container1"
    assert info.cpu_dir == sys_root / "fs/cgroup/kubepods.slice/pod1/container1"
    assert info.cpu_quota_vcpus == pytest.approx(150000 / 100000)
    # the pod's 1 GiB is smaller than the container's own 2 GiB
    assert info.memory_limit_bytes == 1024 * MIB
    assert cgroup.cpu_usage_s(info) == pytest.approx(5.0)
    assert cgroup.memory_used_bytes(info) == (900 - 100) * MIB
    charged = cgroup.charged_memory_bytes(cgroup.memory_used_bytes(info) or 0,
                                          info.memory_limit_bytes)
    assert charged == 800 * MIB
    assert cgroup.effective_vcpus(8, frozenset(range(8)), info.cpu_quota_vcpus) == 1.5


def test_v1_limits_smaller_than_host(tmp_path: Path) -> None:
    sys_root, proc_root = tree(tmp_path, "v1")
    info = cgroup.read_cgroup(sys_root, proc_root)
    assert info.version == 1
    assert info.path == "/docker/abc123"
    # /docker/abc123 is not under the mounts: the mount root is the container
    assert info.cpu_dir == sys_root / "fs/cgroup/cpu,cpuacct"
    assert info.memory_dir == sys_root / "fs/cgroup/memory"
    assert info.cpu_quota_vcpus == pytest.approx(200000 / 100000)
    assert info.memory_limit_bytes == 512 * MIB
    assert cgroup.cpu_usage_s(info) == pytest.approx(30.0)
    used = cgroup.memory_used_bytes(info)
    assert used == (650 - 50) * MIB
    assert cgroup.charged_memory_bytes(used or 0, info.memory_limit_bytes) == 512 * MIB
    assert cgroup.effective_vcpus(8, None, info.cpu_quota_vcpus) == 2.0


def test_v1_separate_cpu_and_cpuacct_mounts(tmp_path: Path) -> None:
    sys_root, proc_root = tree(tmp_path, "v1")
    cg = sys_root / "fs/cgroup"
    (cg / "cpu,cpuacct").rename(cg / "cpu")
    (cg / "cpuacct").mkdir()
    (cg / "cpuacct/cpuacct.usage").write_text("1500000000\n")
    (proc_root / "self/cgroup").write_text(
        "12:memory:/docker/abc123\n4:cpu:/docker/abc123\n3:cpuacct:/docker/abc123\n")
    info = cgroup.read_cgroup(sys_root, proc_root)
    assert info.cpu_quota_vcpus == pytest.approx(2.0)
    assert cgroup.cpu_usage_s(info) == pytest.approx(1.5)


def test_v1_unlimited_values(tmp_path: Path) -> None:
    sys_root, proc_root = tree(tmp_path, "v1")
    cg = sys_root / "fs/cgroup"
    (cg / "cpu,cpuacct/cpu.cfs_quota_us").write_text("-1\n")
    (cg / "memory/memory.limit_in_bytes").write_text("9223372036854771712\n")
    info = cgroup.read_cgroup(sys_root, proc_root)
    assert info.cpu_quota_vcpus is None
    assert info.memory_limit_bytes is None
    assert cgroup.effective_vcpus(8, frozenset({0, 1, 2}), None) == 3.0


def test_v2_no_limits_and_namespaced_root(tmp_path: Path) -> None:
    sys_root, proc_root = tree(tmp_path, "v2")
    container = sys_root / "fs/cgroup/kubepods.slice/pod1/container1"
    (container / "cpu.max").write_text("max 100000\n")
    (container / "memory.max").write_text("max\n")
    (container.parent / "memory.max").write_text("max\n")
    info = cgroup.read_cgroup(sys_root, proc_root)
    assert info.cpu_quota_vcpus is None
    assert info.memory_limit_bytes is None

    # inside a cgroup namespace the process sees "/" and the mount is its cgroup
    (proc_root / "self/cgroup").write_text("0::/\n")
    (sys_root / "fs/cgroup/cpu.max").write_text("50000 100000\n")
    info = cgroup.read_cgroup(sys_root, proc_root)
    assert info.cpu_dir == sys_root / "fs/cgroup"
    assert info.cpu_quota_vcpus == pytest.approx(0.5)


def test_no_cgroup_information(tmp_path: Path) -> None:
    info = cgroup.read_cgroup(tmp_path / "sys", tmp_path / "proc")
    assert info == cgroup.CgroupInfo(version=None)
    assert cgroup.cpu_usage_s(info) is None
    assert cgroup.memory_used_bytes(info) is None


def test_own_cgroups_parses_both_versions(tmp_path: Path) -> None:
    _, proc_root = tree(tmp_path, "v1")
    entries = cgroup.own_cgroups(proc_root)
    assert (("memory",), "/docker/abc123") in entries
    assert (("cpu", "cpuacct"), "/docker/abc123") in entries
    assert ((), "/system.slice/containerd.service") in entries


@pytest.mark.parametrize(
    ("host", "affinity", "quota", "expected"),
    [
        (8, frozenset(range(8)), 1.5, 1.5),
        (8, frozenset({0, 1}), None, 2.0),
        (4, None, 6.0, 4.0),
        (64, frozenset(range(16)), 3.0, 3.0),
    ],
)
def test_effective_vcpus_is_the_smallest_bound(host: int, affinity: frozenset[int] | None,
                                               quota: float | None, expected: float) -> None:
    assert cgroup.effective_vcpus(host, affinity, quota) == expected


def test_charged_memory_never_exceeds_limit() -> None:
    assert cgroup.charged_memory_bytes(600, 512) == 512
    assert cgroup.charged_memory_bytes(100, 512) == 100
    assert cgroup.charged_memory_bytes(100, None) == 100
    assert cgroup.charged_memory_bytes(-5, None) == 0


def test_affinity_of_this_process() -> None:
    cpus = cgroup.affinity_cpus()
    if cpus is None:
        pytest.skip("no sched_getaffinity on this platform")
    assert len(cpus) >= 1
