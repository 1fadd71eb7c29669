"""GPU cards and accelerator chips: TDP, idle power and embodied carbon, each with its source.

**TDP** (thermal design power, W) is the sustained power a card is designed
to dissipate; for accelerators vendors publish it as the maximum board power.
wattprint uses it to *estimate* a run before it happens (``wattprint
estimate``); a measured run never uses it. TDPs come from the Green
Algorithms table ``TDP_gpu.csv`` (CC BY 4.0) and, for cards it lacks (A100
SXM, H100, H200, L4...), from the vendor datasheet (a fact, cited per card in
``gpu_cards.csv``) or the BLOOM study (A100 SXM, 400 W).

**Idle power** is what a card draws doing nothing. For the A100 SXM it is
BLOOM's 50 W (Luccioni, Viguier, Ligozat 2023); for every other card no
published value is shipped, and the catalogue *assumes* the same fraction of
TDP as BLOOM's A100 (50 / 400 = 0.125), marked in :attr:`GpuSpec.assumed`.

**Embodied carbon** of a whole card is published for the A100 only (BLOOM,
150 kgCO2e, the value Cloud Carbon Footprint also uses); every other card
takes that per-GPU default, marked as assumed. Die-level estimates from
LLMCarbon (Apache-2.0; die area × carbon per cm² of the process node, e.g.
H100: 8.14 cm² × 1.8 kg/cm² = 14.7 kg) are given in
:attr:`GpuSpec.die_embodied_kg`; they leave out the board, memory packages
and cooling, so they are never the default.

This module loads the shipped cards (``gpu_cards.csv`` joined with the Green
Algorithms and LLMCarbon tables); :mod:`wattprint.catalogue.lookup` resolves
the defaults and matches names.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from wattprint.catalogue.data import rows

GREEN_ALGORITHMS_GPU = "Green Algorithms TDP_gpu.csv (CC BY 4.0)"


@dataclass(frozen=True)
class GpuSpec:
    """One GPU card (or accelerator chip) of the catalogue.

    Attributes:
        name: canonical name (``"NVIDIA A100 SXM4"``).
        aliases: other spellings, including the names NVML reports
            (``"NVIDIA A100-SXM4-80GB"``).
        tdp_w: thermal design power (maximum board power), W.
        idle_w: idle power, W.
        embodied_kg: manufacturing carbon of the whole card, kgCO2e.
        die_embodied_kg: manufacturing carbon of the die alone (LLMCarbon),
            kgCO2e; ``None`` if no die data.
        memory_gb: on-board memory, GB, where known.
        sources: field name -> where the value comes from.
        assumed: fields whose value is an assumption (a default or a
            documented fraction), not a published value for this card.
    """

    name: str
    aliases: tuple[str, ...]
    tdp_w: float
    idle_w: float
    embodied_kg: float
    die_embodied_kg: float | None
    memory_gb: float | None
    sources: Mapping[str, str]
    assumed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Card:
    """A card as shipped: values it has of its own; ``None`` takes a catalogue default."""

    name: str
    aliases: tuple[str, ...]
    tdp_w: float
    idle_w: float | None
    embodied_kg: float | None
    die_embodied_kg: float | None
    memory_gb: float | None
    sources: Mapping[str, str]


def _float(text: str) -> float | None:
    return float(text) if text else None


@functools.lru_cache(maxsize=1)
def shipped_cards() -> tuple[Card, ...]:
    """The cards of the shipped tables, ``gpu_cards.csv`` first, then Green Algorithms' others.

    Returns:
        Each card with the values it has of its own and their sources.
    """
    ga = {row["name"]: row for row in rows("gpu_tdp_green_algorithms.csv")}
    chips = {row["hardware"]: row for row in rows("chip_embodied_llmcarbon.csv")}
    cards: list[Card] = []
    used: set[str] = set()
    for row in rows("gpu_cards.csv"):
        sources: dict[str, str] = {}
        aliases = tuple(a for a in row["aliases"].split(";") if a)
        key = row["green_algorithms"]
        if key:
            used.add(key)
            tdp_w = float(ga[key]["tdp_w"])
            sources["tdp_w"] = f"{GREEN_ALGORITHMS_GPU} {key}, {ga[key]['source']}"
            if key != row["name"] and key not in aliases:
                aliases += (key,)
        else:
            tdp_w = float(row["tdp_w"])
            sources["tdp_w"] = row["tdp_reference"]
        idle_w = _float(row["idle_w"])
        if idle_w is not None:
            sources["idle_w"] = row["idle_reference"]
        embodied_kg = _float(row["embodied_kg"])
        if embodied_kg is not None:
            sources["embodied_kg"] = row["embodied_reference"]
        die_kg: float | None = None
        chip = chips.get(row["llmcarbon"]) if row["llmcarbon"] else None
        if chip is not None:
            die_kg = float(chip["chip_kg"])
            sources["die_embodied_kg"] = (
                f"LLMCarbon (Apache-2.0): die {chip['amount']} cm2 x {chip['kg_per_unit']} "
                f"kgCO2e/cm2 ({chip['process']}); die only")
        memory = _float(row["memory_gb"])
        if memory is not None:
            sources["memory_gb"] = sources["tdp_w"]
        cards.append(Card(row["name"], aliases, tdp_w, idle_w, embodied_kg, die_kg, memory,
                          sources))
    for key, row in ga.items():
        if key not in used:
            cards.append(Card(key, (), float(row["tdp_w"]), None, None, None,
                              _float(row["memory_gb"]),
                              {"tdp_w": f"{GREEN_ALGORITHMS_GPU}, {row['source']}"}))
    return tuple(cards)
