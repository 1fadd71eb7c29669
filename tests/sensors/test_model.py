from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from wattprint.catalogue.ccf import cpu_architecture
from wattprint.catalogue.cpus import lookup_cpu_tdp
from wattprint.errors import SensorUnavailable
from wattprint.hostinfo import CpuInfo, read_cpuinfo
from wattprint.sensors import model
from wattprint.sensors.base import Sensor, SkippedSensor
from wattprint.sensors.context import SensorContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cgroup"
DATA = Path(__file__).resolve().parents[2] / "src" / "wattprint" / "data" / "hardware"
MIB = 1024 * 1024
GIB = 1024 * MIB


def ccf(architecture: str, provider: str = "aws") -> tuple[float, float]:
    """(min, max) W/vCPU of one architecture, read straight from the shipped table."""
    with (DATA / "ccf_cpu_coefficients.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["provider"] == provider and row["architecture"] == architecture:
                return float(row["min_w_per_vcpu"]), float(row["max_w_per_vcpu"])
    raise AssertionError(f"{architecture} not in the CCF table")


def aws_rows() -> list[tuple[float, float]]:
    with (DATA / "ccf_cpu_coefficients.csv").open() as fh:
        return [(float(r["min_w_per_vcpu"]), float(r["max_w_per_vcpu"]))
                for r in csv.DictReader(fh) if r["provider"] == "aws"]


def ram_w_per_gb() -> float:
    constants = json.loads((DATA / "constants.json").read_text())
    return float(constants["ram_power_w_per_gb"]["value"])


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def copy_tree(tmp_path: Path, name: str) -> tuple[Path, Path]:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root / "sys", root / "proc"


def write_stat(proc_root: Path, per_cpu: list[tuple[int, int, int]]) -> None:
    """/proc/stat with (user, system, idle) jiffies per CPU and their sum."""
    total = [sum(c[i] for c in per_cpu) for i in range(3)]
    lines = [f"cpu  {total[0]} 0 {total[1]} {total[2]} 0 0 0 0 0 0"]
    lines += [f"cpu{i} {u} 0 {s} {idle} 0 0 0 0 0 0" for i, (u, s, idle) in enumerate(per_cpu)]
    (proc_root / "stat").write_text("\n".join(lines) + "\nintr 0\n")


def host_tree(tmp_path: Path, model_name: str = "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
              ) -> tuple[Path, Path]:
    """A host without cgroup limits: 4 CPUs, 16 GiB, 12 GiB available."""
    proc_root, sys_root = tmp_path / "proc", tmp_path / "sys"
    (proc_root / "self").mkdir(parents=True)
    (proc_root / "self/cgroup").write_text("0::/user.slice\n")
    (sys_root / "fs/cgroup/user.slice").mkdir(parents=True)
    (sys_root / "fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    (proc_root / "cpuinfo").write_text("".join(
        f"processor\t: {i}\nmodel name\t: {model_name}\nphysical id\t: 0\nsiblings\t: 4\n"
        f"cpu cores\t: 2\n\n" for i in range(4)))
    (proc_root / "meminfo").write_text(
        "MemTotal:       16777216 kB\nMemAvailable:   12582912 kB\n")
    write_stat(proc_root, [(100, 100, 800)] * 4)
    return sys_root, proc_root


# ---------------------------------------------------------------- formulas


def test_cpu_power_by_hand() -> None:
    curve = model.CpuPowerCurve(0.5, 4.0, "test", "test")
    # 2 vCPU x (0.5 + 0.25 x (4.0 - 0.5)) = 2 x 1.375
    assert model.cpu_power_w(2, 0.25, curve) == pytest.approx(2.75)
    assert model.cpu_power_w(1.5, 0.0, curve) == pytest.approx(0.75)
    assert model.cpu_power_w(1, 1.7, curve) == pytest.approx(4.0)  # clipped


def test_ram_power_by_hand() -> None:
    assert model.ram_power_w(8 * GIB, 0.3725) == pytest.approx(8 * 0.3725)
    assert model.ram_power_w(512 * MIB, 0.392) == pytest.approx(0.5 * 0.392)


# ---------------------------------------------------------------- choosing the curve


@pytest.mark.parametrize(
    ("name", "arch"),
    [
        ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Cascade Lake"),
        ("Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", "Skylake"),
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Ice Lake"),
        ("Intel(R) Xeon(R) Platinum 8380H CPU @ 2.90GHz", "Cascade Lake"),
        ("Intel(R) Xeon(R) Platinum 8480+", "Sapphire Rapids"),
        ("INTEL(R) XEON(R) PLATINUM 8581C CPU @ 2.10GHz", "Emerald Rapids"),
        ("Intel(R) Xeon(R) 6980P", "Granite Rapids"),
        ("Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz", "Broadwell"),
        ("Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz", "Haswell"),
        ("Intel(R) Xeon(R) CPU E5-2650 v2 @ 2.60GHz", "Ivy Bridge"),
        ("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "Sandy Bridge"),
        ("Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz", "Coffee Lake"),
        ("AMD EPYC 7601 32-Core Processor", "EPYC 1st Gen"),
        ("AMD EPYC 7R32", "EPYC 2nd Gen"),
        ("AMD EPYC 7763 64-Core Processor", "EPYC 3rd Gen"),
        ("AMD EPYC 9654 96-Core Processor", "EPYC 4th Gen"),
        ("AMD EPYC 9965 192-Core Processor", "EPYC 5th Gen"),
        ("Intel Xeon Processor (Icelake)", "Ice Lake"),
        ("Intel Core Processor (Broadwell, IBRS)", "Broadwell"),
        ("AMD EPYC-Rome Processor", "EPYC 2nd Gen"),
        ("AMD Ryzen 9 5950X 16-Core Processor", None),
        ("Common KVM processor", None),
    ],
)
def test_architecture_from_name(name: str, arch: str | None) -> None:
    assert cpu_architecture(name) == arch


def test_architecture_from_cpuid_when_name_is_generic() -> None:
    name = "Intel(R) Xeon(R) CPU @ 2.20GHz"
    info = CpuInfo(vendor="GenuineIntel", family=6, model=79, stepping=0)
    assert cpu_architecture(name, info) == "Broadwell"
    info = CpuInfo(vendor="GenuineIntel", family=6, model=85, stepping=7)
    assert cpu_architecture(name, info) == "Cascade Lake"
    info = CpuInfo(vendor="GenuineIntel", family=6, model=85, stepping=4)
    assert cpu_architecture(name, info) == "Skylake"
    info = CpuInfo(vendor="AuthenticAMD", family=23, model=49)
    assert cpu_architecture("AMD EPYC Processor (with IBPB)", info) == "EPYC 2nd Gen"
    assert cpu_architecture(name, None) is None


def test_arm_neoverse_from_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(
        "processor\t: 0\nBogoMIPS\t: 243.75\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
        "CPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n")
    info = read_cpuinfo(tmp_path)
    assert info.model_name == "Arm Neoverse-N1"
    assert cpu_architecture(info.model_name, info) == "Graviton2"
    curve = model.cpu_power_curve(info.model_name, info)
    assert (curve.min_w_per_vcpu, curve.max_w_per_vcpu) == ccf("Graviton2")


def test_curve_from_ccf_architecture() -> None:
    curve = model.cpu_power_curve("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")
    assert curve.basis == "ccf-architecture"
    assert (curve.min_w_per_vcpu, curve.max_w_per_vcpu) == ccf("Cascade Lake")
    assert "Cascade Lake" in curve.description


def test_curve_from_tdp_with_cores_and_smt() -> None:
    # Green Algorithms: Ryzen 9 3950X, 105 W, 16 cores; 2 threads per core here
    info = CpuInfo(siblings=32, cores_per_package=16)
    curve = model.cpu_power_curve("AMD Ryzen 9 3950X 16-Core Processor", info)
    fraction = sum(lo / hi for lo, hi in aws_rows()) / len(aws_rows())
    assert curve.basis == "tdp"
    assert curve.max_w_per_vcpu == pytest.approx(105 / 32)
    assert curve.min_w_per_vcpu == pytest.approx(fraction * 105 / 32)


def test_curve_from_tdp_without_cores_uses_siblings() -> None:
    # codecarbon only: Ryzen 9 5950X, 105 W; siblings from /proc/cpuinfo
    info = CpuInfo(siblings=32, cores_per_package=16)
    curve = model.cpu_power_curve("AMD Ryzen 9 5950X 16-Core Processor", info)
    assert curve.basis == "tdp"
    assert curve.max_w_per_vcpu == pytest.approx(105 / 32)
    curve = model.cpu_power_curve("AMD Ryzen 9 5950X", None, threads_per_package=16)
    assert curve.max_w_per_vcpu == pytest.approx(105 / 16)


def test_curve_falls_back_to_ccf_average() -> None:
    rows = aws_rows()
    for name in ("Common KVM processor", None):
        curve = model.cpu_power_curve(name)
        assert curve.basis == "ccf-average"
        assert curve.min_w_per_vcpu == pytest.approx(sum(r[0] for r in rows) / len(rows))
        assert curve.max_w_per_vcpu == pytest.approx(sum(r[1] for r in rows) / len(rows))


def test_tdp_lookup_spellings() -> None:
    found = lookup_cpu_tdp("Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz")
    assert found is not None and found.tdp_w == 135
    found = lookup_cpu_tdp("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz (KVM guest)")
    assert found is not None and (found.tdp_w, found.cores) == (150, 20)
    assert lookup_cpu_tdp("Totally Unknown Chip") is None


# ---------------------------------------------------------------- the sensor on a host


def test_host_sensor_devices_and_power(tmp_path: Path) -> None:
    sys_root, proc_root = host_tree(tmp_path)
    clock = FakeClock()
    ctx = SensorContext(sysfs_root=sys_root, proc_root=proc_root)
    sensor = model.ModelSensor(ctx, clock=clock, affinity=range(4))
    assert isinstance(sensor, Sensor)
    cpu, ram = sensor.devices()
    assert (cpu.id, cpu.kind, cpu.measured, cpu.counter) == ("model:cpu", "cpu", False, False)
    assert (ram.id, ram.kind, ram.measured, ram.counter) == ("model:ram", "ram", False, False)
    assert cpu.model is not None and "Cascade Lake" in cpu.model and "x 4 vCPU" in cpu.model
    assert cpu.extra["scope"] == "host"
    assert ram.extra["scope"] == "host"

    # every CPU: +300 busy (200 user, 100 system) and +100 idle -> 75 % busy
    write_stat(proc_root, [(300, 200, 900)] * 4)
    clock.now += 1.0
    readings = sensor.read()
    low, high = ccf("Cascade Lake")
    assert readings["model:cpu"].power_w == pytest.approx(4 * (low + 0.75 * (high - low)))
    assert readings["model:cpu"].energy_j is None
    used = (16777216 - 12582912) * 1024
    assert readings["model:ram"].power_w == pytest.approx(used / GIB * ram_w_per_gb())


def test_host_sensor_affinity_subset_uses_its_cpus(tmp_path: Path) -> None:
    sys_root, proc_root = host_tree(tmp_path)
    ctx = SensorContext(sysfs_root=sys_root, proc_root=proc_root)
    sensor = model.ModelSensor(ctx, kinds=["cpu"], clock=FakeClock(), affinity={1, 2})
    assert [d.extra["vcpus"] for d in sensor.devices()] == ["2"]
    # CPUs 1 and 2 fully busy, 0 and 3 idle: the charged CPUs are at 100 %
    write_stat(proc_root, [(100, 100, 1800), (1100, 100, 800), (1100, 100, 800),
                           (100, 100, 1800)])
    _, high = ccf("Cascade Lake")
    assert sensor.read()["model:cpu"].power_w == pytest.approx(2 * high)


def test_no_elapsed_counters_is_a_gap_not_zero(tmp_path: Path) -> None:
    sys_root, proc_root = host_tree(tmp_path)
    ctx = SensorContext(sysfs_root=sys_root, proc_root=proc_root)
    sensor = model.ModelSensor(ctx, kinds=["cpu"], clock=FakeClock(), affinity=range(4))
    assert "model:cpu" not in sensor.read()  # nothing elapsed since open: no utilisation yet
    write_stat(proc_root, [(100, 100, 1800)] * 4)  # +1000 idle: 0 % busy
    low, _ = ccf("Cascade Lake")
    assert sensor.read()["model:cpu"].power_w == pytest.approx(4 * low)
    # counters unchanged since: the last utilisation is repeated
    assert sensor.read()["model:cpu"].power_w == pytest.approx(4 * low)


def test_cpu_model_override(tmp_path: Path) -> None:
    sys_root, proc_root = host_tree(tmp_path)
    ctx = SensorContext(sysfs_root=sys_root, proc_root=proc_root,
                        cpu_model="AMD EPYC 7763 64-Core Processor")
    sensor = model.ModelSensor(ctx, kinds=["cpu"], clock=FakeClock(), affinity=range(4))
    device = sensor.devices()[0]
    low, high = ccf("EPYC 3rd Gen")
    assert device.model is not None and "EPYC 3rd Gen" in device.model
    assert sensor.curve.min_w_per_vcpu == low and sensor.curve.max_w_per_vcpu == high


# ---------------------------------------------------------------- the sensor in containers


def test_cgroup_v2_container_is_charged_its_limits(tmp_path: Path) -> None:
    sys_root, proc_root = copy_tree(tmp_path, "v2")
    clock = FakeClock(100.0)
    ctx = SensorContext(sysfs_root=sys_root, proc_root=proc_root)
    sensor = model.ModelSensor(ctx, clock=clock, affinity=range(8))
    cpu, ram = sensor.devices()
    assert cpu.extra["scope"] == "cgroup" and cpu.extra["vcpus"] == "1.5"
    assert ram.extra["scope"] == "cgroup" and ram.extra["limit_bytes"] == str(GIB)

    # 2 s later the cgroup used 1.5 more CPU-seconds: 1.5 / (2 x 1.5 vCPU) = 50 %
    stat = sys_root / "fs/cgroup/kubepods.slice/pod1/container1/cpu.stat"
    stat.write_text("usage_usec 6500000\nuser_usec 5000000\nsystem_usec 1500000\n")
    clock.now = 102.0
    readings = sensor.read()
    low, high = ccf("Cascade Lake")
    assert readings["model:cpu"].power_w == pytest.approx(1.5 * (low + 0.5 * (high - low)))
    # 900 MiB current - 100 MiB inactive file = 800 MiB, under the 1 GiB limit
    assert readings["model:ram"].power_w == pytest.approx(800 / 1024 * ram_w_per_gb())

    stat.unlink()  # the counter disappears: a gap, never 0 W
    clock.now = 103.0
    assert "model:cpu" not in sensor.read()


def test_cgroup_v1_container_is_charged_its_limits(tmp_path: Path) -> None:
    sys_root, proc_root = copy_tree(tmp_path, "v1")
    clock = FakeClock(10.0)
    ctx = SensorContext(sysfs_root=sys_root, proc_root=proc_root)
    sensor = model.ModelSensor(ctx, clock=clock, affinity=range(8))
    cpu, ram = sensor.devices()
    assert cpu.extra["vcpus"] == "2"
    assert cpu.model is not None and "x 2 vCPU" in cpu.model
    assert ram.extra["limit_bytes"] == str(512 * MIB)
    (sys_root / "fs/cgroup/cpu,cpuacct/cpuacct.usage").write_text("34000000000\n")
    clock.now = 14.0
    readings = sensor.read()
    low, high = ccf("EPYC 3rd Gen")
    # 4 CPU-seconds in 4 s over 2 vCPUs = 50 %
    assert readings["model:cpu"].power_w == pytest.approx(2 * (low + 0.5 * (high - low)))
    # 650 MiB - 50 MiB inactive = 600 MiB used, above the 512 MiB limit: charged 512 MiB
    assert readings["model:ram"].power_w == pytest.approx(0.5 * ram_w_per_gb())


# ---------------------------------------------------------------- detection


def test_open_sensor_covers_only_unmeasured_kinds(tmp_path: Path) -> None:
    sys_root, proc_root = host_tree(tmp_path)
    ctx = SensorContext(sysfs_root=sys_root, proc_root=proc_root)
    notes: list[SkippedSensor] = []
    sensor = model.open_sensor(ctx, frozenset({"cpu"}), notes)
    assert [d.kind for d in sensor.devices()] == ["ram"]
    assert [(n.sensor, n.whole) for n in notes] == [("model", False)]

    notes = []
    sensor = model.open_sensor(ctx, frozenset({"dram", "gpu"}), notes)
    assert [d.kind for d in sensor.devices()] == ["cpu"]

    sensor = model.open_sensor(ctx, frozenset(), [])
    assert [d.kind for d in sensor.devices()] == ["cpu", "ram"]
    sensor.close()

    for covered in ({"cpu", "dram"}, {"psys"}):
        notes = []
        with pytest.raises(SensorUnavailable):
            model.open_sensor(ctx, frozenset(covered), notes)
        assert notes == []
