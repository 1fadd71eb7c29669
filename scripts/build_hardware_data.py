"""Build wattprint's shipped hardware tables from the reference data sets.

Reads the CSV folders of the wattprint reference data (by default
``../shared/data`` next to the repository; override with ``--data``) and
writes compact tables to ``src/wattprint/data/hardware/``. One output table
per input licence, never merged across licences; single published constants
(with their citation) go to ``constants.json``. The script is deterministic:
run it twice and the files are byte-identical. Run it again whenever a
reference folder is updated::

    python scripts/build_hardware_data.py [--data PATH] [--out PATH]

Outputs (see ``src/wattprint/data/SOURCES.md`` and
``src/wattprint/data/hardware/LICENSE.md`` for origin and licence):

* ``ccf_cpu_coefficients.csv``       Apache-2.0  min/max W per vCPU by CPU architecture
* ``cpu_tdp_green_algorithms.csv``   CC BY 4.0   CPU TDP and core count
* ``cpu_tdp_codecarbon.csv``         MIT         CPU TDP (4,900 models)
* ``gpu_tdp_green_algorithms.csv``   CC BY 4.0   GPU/TPU TDP and memory
* ``chip_embodied_llmcarbon.csv``    Apache-2.0  die-level embodied carbon
* ``gpu_cards.csv``                  wattprint   card names, NVML aliases, join keys,
                                                 vendor-datasheet TDPs (facts)
* ``constants.json``                 per entry  BLOOM study constants, derived
                                                 fractions and per-GB factors
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "src" / "wattprint" / "data" / "hardware"

BLOOM = (
    "Luccioni, Viguier, Ligozat (2023), Estimating the Carbon Footprint of BLOOM, "
    "a 176B Parameter Language Model, JMLR 24(253), arXiv:2211.02001"
)
CCF = "Cloud Carbon Footprint ccf-coefficients (Thoughtworks), Apache-2.0"
GREEN_ALGORITHMS = (
    "Green Algorithms (Lannelongue, Grealey, Inouye 2021, Advanced Science 8(12):2100707), "
    "CC BY 4.0"
)
LLMCARBON = "LLMCarbon (Faiz et al., ICLR 2024), MLCarbon repository, Apache-2.0"
CODECARBON = "codecarbon 3.3.2 data/hardware/cpu_power.csv, MIT"

#: BLOOM's amortisation assumptions. They are not in the reference data
#: folder; the paper states a 6-year replacement rate and 85 % average use.
#: :func:`check_bloom` verifies that, with the folder's 150 kg per GPU and
#: 2,500 kg per 8-GPU node, they reproduce the paper's 11.2 t of embodied
#: emissions for 1,082,990 GPU-hours, so a wrong value here fails the build.
BLOOM_LIFETIME_YEARS = 6.0
BLOOM_UTILIZATION = 0.85
#: GPUs per HPE Apollo 6500 Gen10 Plus node of the Jean Zay partition BLOOM used.
BLOOM_GPUS_PER_NODE = 8
H_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Card:
    """A GPU card wattprint names itself: canonical name, aliases, join keys.

    ``tdp_w`` is set only for cards whose TDP is in no reference table; it is
    then a vendor-datasheet fact (the maximum board power) cited in
    ``tdp_reference``.
    """

    name: str
    aliases: tuple[str, ...] = ()
    green_algorithms: str = ""
    llmcarbon: str = ""
    tdp_w: float | None = None
    tdp_reference: str = ""
    memory_gb: float | None = None
    #: the card BLOOM measured: TDP, idle power and embodied carbon from the
    #: literature folder instead of the defaults
    bloom: bool = False


NVIDIA_A100 = "NVIDIA A100 Tensor Core GPU datasheet"
NVIDIA_H100 = "NVIDIA H100 Tensor Core GPU datasheet (maximum TDP, configurable)"
NVIDIA_H200 = "NVIDIA H200 Tensor Core GPU datasheet (maximum TDP, configurable)"

#: Cards named by wattprint. Names NVML reports (``nvmlDeviceGetName``) are
#: listed as aliases so a measured device finds its catalogue entry. Cards of
#: the Green Algorithms table not listed here are added under their own name.
CARDS: tuple[Card, ...] = (
    Card(
        "NVIDIA A100 SXM4",
        aliases=("A100 SXM4 40GB", "A100 SXM4 80GB", "NVIDIA A100-SXM4-40GB",
                 "NVIDIA A100-SXM4-80GB", "A100 SXM"),
        bloom=True,
    ),
    Card("NVIDIA A100 40GB PCIe", aliases=("NVIDIA A100-PCIE-40GB",),
         green_algorithms="NVIDIA A100 40GB PCIe", memory_gb=40),
    Card("NVIDIA A100 80GB PCIe", aliases=("NVIDIA A100-PCIE-80GB",),
         green_algorithms="NVIDIA A100 80GB PCIe", memory_gb=80),
    Card("NVIDIA H100 SXM5", aliases=("NVIDIA H100 80GB HBM3", "H100 SXM", "H100-SXM5-80GB"),
         llmcarbon="H100", tdp_w=700, tdp_reference=NVIDIA_H100, memory_gb=80),
    Card("NVIDIA H100 PCIe", aliases=("H100 PCIe 80GB",), llmcarbon="H100", tdp_w=350,
         tdp_reference=NVIDIA_H100, memory_gb=80),
    Card("NVIDIA H200 SXM", aliases=("NVIDIA H200", "H200 SXM 141GB"), tdp_w=700,
         tdp_reference=NVIDIA_H200, memory_gb=141),
    Card("NVIDIA L4", tdp_w=72, tdp_reference="NVIDIA L4 Tensor Core GPU datasheet",
         memory_gb=24),
    Card("NVIDIA L40S", tdp_w=350, tdp_reference="NVIDIA L40S GPU datasheet", memory_gb=48),
    Card("NVIDIA A10", tdp_w=150, tdp_reference="NVIDIA A10 Tensor Core GPU datasheet",
         memory_gb=24),
    Card("NVIDIA Tesla V100 SXM2", aliases=("Tesla V100-SXM2-16GB", "Tesla V100-SXM2-32GB",
                                             "NVIDIA Tesla V100", "V100 SXM2"),
         green_algorithms="NVIDIA Tesla V100", llmcarbon="V100"),
    Card("NVIDIA Tesla V100 PCIe", aliases=("Tesla V100-PCIE-16GB", "Tesla V100-PCIE-32GB"),
         llmcarbon="V100", tdp_w=250, tdp_reference="NVIDIA Tesla V100 GPU datasheet (PCIe)"),
    Card("NVIDIA Tesla T4", aliases=("Tesla T4",), green_algorithms="NVIDIA Tesla T4"),
    Card("NVIDIA Tesla P100 PCIe", aliases=("Tesla P100-PCIE-16GB", "Tesla P100-PCIE-12GB"),
         green_algorithms="NVIDIA Tesla P100 PCIe"),
    Card("NVIDIA Tesla K80", aliases=("Tesla K80",), green_algorithms="NVIDIA Tesla K80"),
    Card("AMD Instinct MI300X", aliases=("MI300X",), tdp_w=750,
         tdp_reference="AMD Instinct MI300X accelerator data sheet", memory_gb=192),
    Card("Google TPU v3", aliases=("TPU v3",), green_algorithms="TPU v3", llmcarbon="TPUv3"),
    Card("Google TPU v4", aliases=("TPU v4",), green_algorithms="TPU v4", llmcarbon="TPUv4"),
)


# ---------------------------------------------------------------- reading


def read_rows(path: Path, skip: int = 0) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts, skipping ``skip`` lines before the header."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for _ in range(skip):
            fh.readline()
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in
                csv.DictReader(fh)]


def num(text: str) -> float:
    """A finite float from a table cell."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def fmt(value: float | None) -> str:
    """Shortest text that reads back as the same float (deterministic)."""
    if value is None:
        return ""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a CSV with ``\\n`` line ends, so re-runs are byte-identical."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# ---------------------------------------------------------------- tables


def ccf_coefficients(data: Path) -> list[list[str]]:
    """CCF min/max watts per vCPU by architecture, one row per provider table."""
    rows: list[list[str]] = []
    for provider in ("aws", "azure", "gcp"):
        path = data / "cloud_ccf_coefficients" / f"coefficients-{provider}-use.csv"
        for row in read_rows(path):
            low, high = num(row["Min Watts"]), num(row["Max Watts"])
            if not 0 < low < high:
                raise ValueError(f"{path}: bad min/max for {row['Architecture']}")
            rows.append([provider, row["Architecture"], fmt(low), fmt(high),
                         fmt(num(row["GB/Chip"]))])
    return rows


def ga_cpus(data: Path) -> list[list[str]]:
    """Green Algorithms CPU TDPs; the generic ``Any`` row is left out."""
    out: dict[str, list[str]] = {}
    for row in read_rows(data / "green_algorithms" / "TDP_cpu.csv", skip=1):
        name = row["model"]
        if not name or name == "Any" or not row["TDP"]:
            continue
        cores = row["n_cores"]
        out.setdefault(name, [name, fmt(num(row["TDP"])),
                              str(int(num(cores))) if cores else "", row["source"]])
    return [out[k] for k in sorted(out, key=str.lower)]


def codecarbon_cpus(data: Path) -> list[list[str]]:
    """codecarbon CPU TDPs, cleaned.

    Dropped: rows with TDP <= 0 and four Celeron rows whose TDP cell is two
    numbers run together (``27.29.5``); of names repeated (case-insensitive,
    spaces collapsed) the first row is kept.
    """
    out: dict[str, list[str]] = {}
    for row in read_rows(data / "codecarbon_3_3_2" / "cpu_tdp.csv"):
        name = " ".join(row["Name"].split())
        try:
            tdp = num(row["TDP"])
        except ValueError:
            continue
        if not name or tdp <= 0:
            continue
        out.setdefault(name.lower(), [name, fmt(tdp)])
    return [out[k] for k in sorted(out)]


def ga_gpus(data: Path) -> list[list[str]]:
    """Green Algorithms GPU/TPU TDPs; the generic ``Any`` row is left out."""
    rows = []
    for row in read_rows(data / "green_algorithms" / "TDP_gpu.csv", skip=1):
        if not row["model"] or row["model"] == "Any":
            continue
        memory = row.get("memory", "")
        rows.append([row["model"], fmt(num(row["TDP"])),
                     fmt(num(memory)) if memory else "", row["source"]])
    return sorted(rows, key=lambda r: r[0].lower())


def llmcarbon_chips(data: Path) -> list[list[str]]:
    """LLMCarbon carbon per area (or per GB) with the chip total recomputed.

    ``chip_kg`` is amount x carbon per unit, computed here; ``published_chip_kg``
    is the table's own column, which differs for two rows (SSD: 32,000 GB
    used instead of 32,768; ``others``), so the recomputed value is the one
    wattprint uses.
    """
    rows = []
    for row in read_rows(data / "llmcarbon_chip_embodied" / "hardware_cpa.csv"):
        amount = num(row["unit (cm2 or GB)"])
        per_unit = num(row["CPA (kgCO2/cm2 or GB)"])
        unit = "GB" if row["hardware"] in ("DRAM", "SSD") else "cm2"
        rows.append([row["hardware"], row["description"], fmt(amount), unit, fmt(per_unit),
                     fmt(round(amount * per_unit, 6)), fmt(num(row["CO2e_chip (kgCO2eq)"]))])
    return rows


def gpu_cards(literature: dict[str, float], ga_names: set[str],
              llm_names: set[str]) -> list[list[str]]:
    """wattprint's card table; every join key must exist in its source table."""
    rows = []
    for card in CARDS:
        if card.green_algorithms and card.green_algorithms not in ga_names:
            raise ValueError(f"{card.name}: {card.green_algorithms!r} not in Green Algorithms")
        if card.llmcarbon and card.llmcarbon not in llm_names:
            raise ValueError(f"{card.name}: {card.llmcarbon!r} not in LLMCarbon")
        tdp, reference = card.tdp_w, card.tdp_reference
        idle: float | None = None
        embodied: float | None = None
        bloom_reference = ""
        if card.bloom:
            tdp, reference = literature["gpu_power_assumed"], f"{BLOOM} (A100 SXM TDP)"
            idle = literature["gpu_idle_power_assumed"]
            embodied = literature["embodied_emissions_per_gpu"]
            bloom_reference = BLOOM
        if (tdp is None) == (not card.green_algorithms):
            raise ValueError(f"{card.name}: give exactly one of a TDP or a Green Algorithms key")
        rows.append([card.name, ";".join(card.aliases), card.green_algorithms, card.llmcarbon,
                     fmt(tdp), reference, fmt(idle), bloom_reference if idle else "",
                     fmt(embodied), bloom_reference if embodied else "", fmt(card.memory_gb)])
    return rows


# ---------------------------------------------------------------- constants


def literature_constants(data: Path) -> dict[str, float]:
    """The BLOOM constants of the literature folder, by quantity name."""
    rows = read_rows(data / "literature_ml_embodied_constants" / "literature_constants.csv")
    return {row["quantity"]: num(row["value"]) for row in rows}


def check_bloom(lit: dict[str, float]) -> None:
    """Re-derive BLOOM's embodied total from its constants; fail if it disagrees."""
    per_hour_kg = (lit["embodied_emissions_per_gpu"]
                   + lit["embodied_emissions_per_server_node_excluding_gpus"]
                   / BLOOM_GPUS_PER_NODE) / (BLOOM_LIFETIME_YEARS * H_PER_YEAR * BLOOM_UTILIZATION)
    total_t = lit["bloom_training_gpu_hours"] * per_hour_kg / 1000.0
    if round(total_t, 1) != lit["bloom_training_embodied_emissions"]:
        raise ValueError(f"BLOOM embodied check failed: {total_t:.2f} t")


def check_ccf_gpu(data: Path, gpu_kg: float) -> float:
    """CCF's per-GPU embodied value (p4d.24xlarge: 8 A100) must equal BLOOM's."""
    for row in read_rows(data / "cloud_ccf_coefficients" / "coefficients-aws-embodied.csv"):
        if row["type"] == "p4d.24xlarge":
            per_gpu = num(row["additional_gpus"]) / 8
            if per_gpu != gpu_kg:
                raise ValueError(f"CCF p4d per-GPU embodied {per_gpu} != BLOOM {gpu_kg}")
            return per_gpu
    raise ValueError("CCF embodied table has no p4d.24xlarge row")


def ccf_base_server_kg(data: Path) -> float:
    """CCF's base rack server: ``total`` minus every ``additional_*`` column, all rows."""
    bases = set()
    for provider in ("aws", "azure", "gcp"):
        for row in read_rows(data / "cloud_ccf_coefficients" /
                             f"coefficients-{provider}-embodied.csv"):
            extra = math.fsum(num(row[k]) for k in row if k.startswith("additional_"))
            bases.add(round(num(row["total"]) - extra, 6))
    if len(bases) != 1:
        raise ValueError(f"CCF base server differs between rows: {sorted(bases)}")
    return bases.pop()


def constants(data: Path, ccf_rows: list[list[str]]) -> dict[str, dict[str, object]]:
    """Single constants, each with unit, source, licence and how it was obtained."""
    lit = literature_constants(data)
    check_bloom(lit)
    check_ccf_gpu(data, lit["embodied_emissions_per_gpu"])
    ga = {row["variable"]: row["value"] for row in
          read_rows(data / "green_algorithms" / "hardware_impacts.csv")}
    ga_ref = {row["variable"]: row["value"] for row in
              read_rows(data / "green_algorithms" / "referenceValues.csv", skip=1)}
    llm = {row[0]: num(row[4]) for row in llmcarbon_chips(data)}

    aws = [row for row in ccf_rows if row[0] == "aws"]
    mins = [float(row[2]) for row in aws]
    maxs = [float(row[3]) for row in aws]
    idle_fraction = math.fsum(lo / hi for lo, hi in zip(mins, maxs, strict=True)) / len(aws)

    ram_die_kg_per_gb = num(ga["ram_die_impact_gwp"]) / num(ga["ram_density"]) / 1000.0
    ram_base_kg_per_gb = num(ga["ram_base_impact_gwp"]) / num(ga["ram_default_strip_size"]) / 1000
    lit_file = "literature_ml_embodied_constants/literature_constants.csv"

    def entry(value: float, unit: str, source: str, licence: str, method: str) -> dict[str, object]:
        return {"value": value, "unit": unit, "source": source, "licence": licence,
                "method": method}

    return {
        "gpu_embodied_kg": entry(
            lit["embodied_emissions_per_gpu"], "kgCO2e per GPU card", BLOOM, "fact with citation",
            f"{lit_file} embodied_emissions_per_gpu (A100 card); CCF uses the same 150 kg per "
            "GPU (p4d.24xlarge additional_gpus / 8)"),
        "server_embodied_kg": entry(
            lit["embodied_emissions_per_server_node_excluding_gpus"],
            "kgCO2e per server node without GPUs", BLOOM, "fact with citation",
            f"{lit_file} embodied_emissions_per_server_node_excluding_gpus "
            "(HPE Apollo 6500 Gen10 Plus)"),
        "gpus_per_node": entry(
            BLOOM_GPUS_PER_NODE, "GPUs per node", BLOOM, "fact with citation",
            "8 A100 per HPE Apollo 6500 Gen10 Plus node"),
        "lifetime_years": entry(
            BLOOM_LIFETIME_YEARS, "years", BLOOM, "fact with citation",
            "BLOOM replacement rate; checked: reproduces the paper's 11.2 t embodied for "
            "1,082,990 GPU-hours with 150 kg/GPU and 2,500 kg per 8-GPU node"),
        "utilization": entry(
            BLOOM_UTILIZATION, "fraction of lifetime in use", BLOOM, "fact with citation",
            "BLOOM average use; checked together with lifetime_years"),
        "gpu_power_w": entry(
            lit["gpu_power_assumed"], "W per GPU", BLOOM, "fact with citation",
            f"{lit_file} gpu_power_assumed (A100 SXM)"),
        "gpu_idle_w": entry(
            lit["gpu_idle_power_assumed"], "W per GPU", BLOOM, "fact with citation",
            f"{lit_file} gpu_idle_power_assumed (A100)"),
        "gpu_idle_fraction_of_tdp": entry(
            lit["gpu_idle_power_assumed"] / lit["gpu_power_assumed"], "fraction of TDP",
            BLOOM, "fact with citation",
            "assumption: BLOOM's A100 idle power / A100 TDP, applied to cards with no "
            "published idle power"),
        "cpu_idle_fraction_of_max": entry(
            idle_fraction, "fraction of max power", CCF, "Apache-2.0",
            "mean of Min Watts / Max Watts over the architectures of "
            "coefficients-aws-use.csv; min power of a TDP-based CPU model"),
        "ccf_average_min_w_per_vcpu": entry(
            math.fsum(mins) / len(mins), "W per vCPU", CCF, "Apache-2.0",
            "mean Min Watts over the architectures of coefficients-aws-use.csv"),
        "ccf_average_max_w_per_vcpu": entry(
            math.fsum(maxs) / len(maxs), "W per vCPU", CCF, "Apache-2.0",
            "mean Max Watts over the architectures of coefficients-aws-use.csv"),
        "ram_power_w_per_gb": entry(
            num(ga_ref["memoryPower"]), "W per GB of memory", GREEN_ALGORITHMS, "CC BY 4.0",
            "green_algorithms/referenceValues.csv memoryPower"),
        "ram_embodied_kg_per_gb": entry(
            ram_die_kg_per_gb + ram_base_kg_per_gb, "kgCO2e per GB", GREEN_ALGORITHMS
            + " after Groeger et al. 2021 (UBA Green Cloud Computing)", "CC BY 4.0",
            "ram_die_impact_gwp / ram_density + ram_base_impact_gwp / ram_default_strip_size "
            "(green_algorithms/hardware_impacts.csv)"),
        "ssd_embodied_kg_per_tb": entry(
            llm["SSD"] * 1000.0, "kgCO2e per TB (1000 GB)", LLMCARBON, "Apache-2.0",
            "SSD carbon per GB (llmcarbon_chip_embodied/hardware_cpa.csv) x 1000"),
        "ccf_server_embodied_kg": entry(
            ccf_base_server_kg(data), "kgCO2e per rack server", CCF, "Apache-2.0",
            "total minus additional_* of every row of coefficients-*-embodied.csv "
            "(Teads / Dell R740 base server)"),
    }


def build(data: Path, out: Path) -> list[Path]:
    """Write every hardware table into ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    ccf = ccf_coefficients(data)
    ga_gpu = ga_gpus(data)
    chips = llmcarbon_chips(data)
    lit = literature_constants(data)
    written = []

    def save(name: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        path = out / name
        write_csv(path, header, rows)
        written.append(path)

    save("ccf_cpu_coefficients.csv",
         ["provider", "architecture", "min_w_per_vcpu", "max_w_per_vcpu", "gb_per_chip"], ccf)
    save("cpu_tdp_green_algorithms.csv", ["name", "tdp_w", "cores", "source"], ga_cpus(data))
    save("cpu_tdp_codecarbon.csv", ["name", "tdp_w"], codecarbon_cpus(data))
    save("gpu_tdp_green_algorithms.csv", ["name", "tdp_w", "memory_gb", "source"], ga_gpu)
    save("chip_embodied_llmcarbon.csv",
         ["hardware", "process", "amount", "unit", "kg_per_unit", "chip_kg",
          "published_chip_kg"], chips)
    save("gpu_cards.csv",
         ["name", "aliases", "green_algorithms", "llmcarbon", "tdp_w", "tdp_reference",
          "idle_w", "idle_reference", "embodied_kg", "embodied_reference", "memory_gb"],
         gpu_cards(lit, {row[0] for row in ga_gpu}, {row[0] for row in chips}))
    path = out / "constants.json"
    path.write_text(json.dumps(constants(data, ccf), indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="reference data folder (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: src/wattprint/data/hardware)")
    args = parser.parse_args(argv)
    for path in build(args.data, args.out):
        print(path)


if __name__ == "__main__":
    main()
