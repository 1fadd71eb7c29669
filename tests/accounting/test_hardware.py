from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from wattprint.accounting import hardware
from wattprint.errors import ConfigError, HardwareError

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "src" / "wattprint" / "data" / "hardware"
EXTRACTS = REPO / "tests" / "fixtures" / "reference"
H_PER_YEAR = 365 * 24


def constants() -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = json.loads((DATA / "constants.json").read_text())
    return loaded


# ---------------------------------------------------------------- GPU lookups


@pytest.mark.parametrize(
    "spelling",
    ["A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", "a100 80gb sxm", "NVIDIA A100-SXM4-40GB",
     "nvidia a100 sxm4"],
)
def test_a100_sxm_spellings(spelling: str) -> None:
    card = hardware.gpu(spelling)
    assert card.name == "NVIDIA A100 SXM4"
    # the BLOOM study's A100: 400 W, 50 W idle, 150 kg, all published, none assumed
    assert (card.tdp_w, card.idle_w, card.embodied_kg) == (400, 50, 150)
    assert card.assumed == frozenset()
    assert "BLOOM" in card.sources["embodied_kg"]


@pytest.mark.parametrize(
    ("nvml_name", "canonical", "tdp_w"),
    [
        ("Tesla V100-SXM2-16GB", "NVIDIA Tesla V100 SXM2", 300),
        ("Tesla V100-PCIE-32GB", "NVIDIA Tesla V100 PCIe", 250),
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5", 700),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe", 350),
        ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 40GB PCIe", 250),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe", 300),
        ("Tesla T4", "NVIDIA Tesla T4", 70),
        ("NVIDIA GeForce RTX 2080 Ti", "NVIDIA RTX 2080 Ti", 250),
        ("TPU v3", "Google TPU v3", 220),
    ],
)
def test_nvml_and_table_names(nvml_name: str, canonical: str, tdp_w: float) -> None:
    card = hardware.gpu(nvml_name)
    assert (card.name, card.tdp_w) == (canonical, tdp_w)
    assert card.sources["tdp_w"]


def test_assumed_idle_and_embodied_are_marked() -> None:
    card = hardware.gpu("Tesla T4")
    assert card.idle_w == pytest.approx(70 * 50 / 400)  # BLOOM's A100 idle/TDP ratio
    assert card.embodied_kg == 150
    assert card.assumed == {"idle_w", "embodied_kg"}
    assert card.sources["idle_w"].startswith("assumption")


def test_die_embodied_from_llmcarbon() -> None:
    assert hardware.gpu("NVIDIA H100 80GB HBM3").die_embodied_kg == pytest.approx(8.14 * 1.8)
    assert hardware.gpu("Tesla V100-SXM2-16GB").die_embodied_kg == pytest.approx(8.15 * 1.2)
    assert hardware.gpu("Tesla T4").die_embodied_kg is None


def test_unknown_gpu_suggests_nearest_names() -> None:
    with pytest.raises(HardwareError, match="not in the hardware catalogue") as err:
        hardware.gpu("NVIDIA GeForce RTX 2090 Ti")
    assert "NVIDIA RTX 2080 Ti" in str(err.value)
    with pytest.raises(HardwareError, match="list_gpus"):
        hardware.gpu("zzzz")


def test_ambiguous_gpu_names_the_candidates() -> None:
    with pytest.raises(HardwareError, match="several cards") as err:
        hardware.gpu("H100")
    assert "NVIDIA H100 SXM5" in str(err.value) and "NVIDIA H100 PCIe" in str(err.value)


def test_list_gpus_sorted_with_sources() -> None:
    cards = hardware.list_gpus()
    names = [c.name for c in cards]
    assert names == sorted(names)
    assert {"NVIDIA A100 SXM4", "NVIDIA H100 SXM5", "NVIDIA GTX 1080", "TPU v2"} <= set(names)
    assert all(c.tdp_w > 0 and c.sources["tdp_w"] for c in cards)
    assert len(set(names)) == len(names)


# ---------------------------------------------------------------- CPU lookups


def test_cpu_lookup_from_cpuinfo_spelling() -> None:
    cpu = hardware.cpu("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")
    assert (cpu.tdp_w, cpu.cores, cpu.architecture) == (150, 20, "Cascade Lake")
    assert "Green Algorithms" in cpu.sources["tdp_w"]
    cpu = hardware.cpu("AMD EPYC 9654 96-Core Processor")
    assert cpu.tdp_w == 360 and cpu.architecture == "EPYC 4th Gen"
    assert "codecarbon" in cpu.sources["tdp_w"]


def test_unknown_cpu_suggests_nearest_names() -> None:
    with pytest.raises(HardwareError, match="nearest") as err:
        hardware.cpu("Intel Xeon Gold 6999")
    assert "Xeon Gold" in str(err.value)


# ---------------------------------------------------------------- amortisation


def test_bloom_defaults() -> None:
    a = hardware.default_catalogue().assumptions
    assert (a.gpu_embodied_kg, a.server_embodied_kg, a.lifetime_years, a.utilization) == (
        150, 2500, 6, 0.85)
    assert a.gpus_per_server == 8


def test_bloom_amortisation_per_gpu_hour() -> None:
    expected = 150 / (6 * 8760 * 0.85)
    assert expected == pytest.approx(3.3575e-3, rel=1e-4)
    assert hardware.embodied_per_device_hour_kg(150, 6, 0.85) == pytest.approx(expected)
    catalogue = hardware.default_catalogue()
    assert catalogue.embodied_per_hour_kg(hardware.gpu("A100-SXM4-80GB").embodied_kg) == \
        pytest.approx(expected)


def test_bloom_training_embodied_total() -> None:
    # 1,082,990 GPU-hours x (150 kg + 2500 kg / 8) / (6 x 8760 x 0.85) = 11.2 t in the paper
    per_gpu_hour = (150 + 2500 / 8) / (6 * H_PER_YEAR * 0.85)
    got = hardware.default_catalogue().gpu_embodied_per_hour_kg("NVIDIA A100-SXM4-80GB")
    assert got == pytest.approx(per_gpu_hour)
    assert round(got * 1_082_990 / 1000, 1) == 11.2


@pytest.mark.parametrize(("kg", "years", "util"), [(-1, 6, 0.85), (150, 0, 0.85),
                                                   (150, 6, 0), (150, 6, 1.2)])
def test_amortisation_rejects_bad_values(kg: float, years: float, util: float) -> None:
    with pytest.raises(ConfigError):
        hardware.embodied_per_device_hour_kg(kg, years, util)


def test_per_gb_factors_and_servers() -> None:
    a = hardware.default_catalogue().assumptions
    # Green Algorithms: 2200 g/cm2 / 1.8762 GB/cm2 + 5220 g per 32 GB module
    assert a.ram_embodied_kg_per_gb == pytest.approx((2200 / 1.8762 + 5220 / 32) / 1000)
    assert a.ssd_embodied_kg_per_tb == pytest.approx(0.018 * 1000)  # LLMCarbon
    bloom_node, ccf_server = hardware.default_catalogue().servers()
    assert (bloom_node.embodied_kg, bloom_node.gpus) == (2500, 8)
    assert ccf_server.embodied_kg == 1000


# ---------------------------------------------------------------- overrides


def test_overrides_replace_values_and_record_the_origin() -> None:
    base = hardware.default_catalogue()
    custom = base.with_overrides({
        "lifetime_years": 4,
        "utilization": 0.5,
        "gpu_embodied_kg": 200,
        "gpu": {"A100-SXM4-80GB": {"embodied_kg": 180, "idle_w": 60},
                "Acme X1": {"tdp_w": 300, "aliases": ["acme-x1-48gb"]}},
        "cpu": {"Xeon Gold 6248": {"threads": 40}, "Acme C9": {"tdp_w": 90, "cores": 8}},
    }, origin="wattprint.toml")
    a100 = custom.gpu("a100 sxm4")
    assert (a100.embodied_kg, a100.idle_w, a100.tdp_w) == (180, 60, 400)
    assert a100.sources["embodied_kg"] == "override from wattprint.toml"
    # a card without its own embodied value takes the new default
    assert custom.gpu("Tesla T4").embodied_kg == 200
    acme = custom.gpu("ACME-X1-48GB")
    assert (acme.name, acme.tdp_w, acme.idle_w) == ("Acme X1", 300, 300 * 50 / 400)
    assert custom.assumptions.lifetime_years == 4
    assert custom.assumptions.sources["utilization"] == "override from wattprint.toml"
    assert custom.embodied_per_hour_kg(100) == pytest.approx(100 / (4 * 8760 * 0.5))
    cpu = custom.cpu("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")
    assert (cpu.tdp_w, cpu.threads) == (150, 40)
    assert custom.cpu("Acme C9").cores == 8
    # the original is unchanged
    assert base.gpu("a100 sxm4").embodied_kg == 150
    assert base.assumptions.lifetime_years == 6
    with pytest.raises(HardwareError):
        base.gpu("Acme X1")


@pytest.mark.parametrize(
    "overrides",
    [
        {"lifetime": 4},
        {"utilization": 1.5},
        {"utilization": "high"},
        {"lifetime_years": True},
        {"gpu": {"Acme X1": {"embodied_kg": 100}}},
        {"gpu": {"A100-SXM4-80GB": {"watts": 100}}},
        {"gpu": {"A100-SXM4-80GB": {"aliases": "one"}}},
        {"gpu": ["A100"]},
        {"cpu": {"Xeon Gold 6248": {"cores": 2.5}}},
    ],
)
def test_bad_overrides_fail_with_config_error(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="hardware override"):
        hardware.default_catalogue().with_overrides(overrides)


# ---------------------------------------------------------------- data files


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = REPO / "scripts" / "build_hardware_data.py"
    spec = importlib.util.spec_from_file_location("build_hardware_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def test_shipped_files_match_a_rerun_of_the_script(reference_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    script = load_script(monkeypatch)
    written = script.build(reference_data, tmp_path)
    assert written
    for path in written:
        shipped = DATA / path.name
        if reference_data == EXTRACTS and path.name == "cpu_tdp_codecarbon.csv":
            # the extract holds some of codecarbon's 4,900 CPUs: each row built from it
            # must be a row of the shipped table
            rows = path.read_text().splitlines()
            shipped_rows = shipped.read_text().splitlines()
            assert rows[0] == shipped_rows[0]
            assert len(rows) > 150 and set(rows[1:]) <= set(shipped_rows[1:])
            continue
        assert shipped.read_bytes() == path.read_bytes(), f"{path.name} is stale: rerun the script"


def test_every_data_file_has_its_licence_noted() -> None:
    notes = (DATA / "LICENSE.md").read_text()
    for path in DATA.iterdir():
        if path.suffix in (".csv", ".json"):
            assert path.name in notes, path.name
    for entry in constants().values():
        assert entry["source"] and entry["licence"] and entry["method"]
