"""Current data-centre and workstation GPUs in the catalogue, each TDP with its source.

Expected TDPs are read off ML CO2 Impact's ``data/gpus.csv`` rows (RTX 3090
350 W, RTX 4090 450 W, RTX A6000 300 W, RTX A5000 230 W, A10G 150 W, H100
NVL 400 W) and the vendor datasheets already cited (H100 SXM 700 W, H200
700 W, L4 72 W, L40S 350 W, MI300X 750 W).
"""

from __future__ import annotations

import pytest

from wattprint.accounting import hardware

EXPECTED = [
    ("NVIDIA GeForce RTX 3090", 350.0, "ML CO2 Impact"),
    ("NVIDIA GeForce RTX 4090", 450.0, "ML CO2 Impact"),
    ("NVIDIA RTX A6000", 300.0, "ML CO2 Impact"),
    ("NVIDIA RTX A5000", 230.0, "ML CO2 Impact"),
    ("NVIDIA A10G", 150.0, "ML CO2 Impact"),
    ("NVIDIA H100 NVL", 400.0, "ML CO2 Impact"),
    ("NVIDIA H100 80GB HBM3", 700.0, "datasheet"),
    ("NVIDIA H200", 700.0, "datasheet"),
    ("NVIDIA L4", 72.0, "datasheet"),
    ("NVIDIA L40S", 350.0, "datasheet"),
    ("MI300X", 750.0, "data sheet"),
    ("Tesla T4", 70.0, "Green Algorithms"),
    ("Tesla V100-SXM2-32GB", 300.0, "Green Algorithms"),
]


@pytest.mark.parametrize(("name", "tdp_w", "source"), EXPECTED)
def test_card_tdp_and_source(name: str, tdp_w: float, source: str) -> None:
    spec = hardware.gpu(name)
    assert spec.tdp_w == tdp_w
    assert source in spec.sources["tdp_w"]
    # no card-specific idle or embodied figure is published: both are marked assumed
    if "A100" not in spec.name:
        assert {"idle_w", "embodied_kg"} <= spec.assumed


def test_nvml_names_of_workstation_cards_resolve() -> None:
    assert hardware.gpu("NVIDIA GeForce RTX 4090").name == "NVIDIA GeForce RTX 4090"
    assert hardware.gpu("RTX 3090").name == "NVIDIA GeForce RTX 3090"
    assert hardware.gpu("A10G").name == "NVIDIA A10G"
    assert hardware.gpu("NVIDIA A10").name == "NVIDIA A10"
