"""The hardware catalogue: power ratings and embodied carbon of the devices ML runs on.

Two kinds of number live here, and every one carries its source.

Power ratings
    **TDP** (thermal design power, W) is the sustained power a card or CPU
    package is designed to dissipate; for accelerators vendors publish it as
    the maximum board power. wattprint uses it to *estimate* a run before it
    happens (``wattprint estimate``) and to sanity-check measurements; a
    measured run never uses it. GPU TDPs come from the Green Algorithms
    table (CC BY 4.0) and, for cards it lacks (A100 SXM, H100, H200, L4...),
    from the vendor datasheet (a fact, cited per card) or the BLOOM study
    (A100 SXM, 400 W). CPU TDPs come from Green Algorithms, then codecarbon
    (MIT); see :mod:`wattprint.sensors.model`, which uses the same tables.

    **Idle power** is what a device draws doing nothing. For the A100 SXM it
    is BLOOM's 50 W; for every other card no published value is shipped and
    the idle power is an **assumption**: the same fraction of TDP as
    BLOOM's A100 (50 / 400 = 0.125). Such values are listed in
    :attr:`GpuSpec.assumed`; measure idle power before a run where it
    matters.

Embodied carbon
    Manufacturing a device emits carbon once; life-cycle accounting spreads
    it over the hours the device is used. Charged per device-hour::

        embodied per hour = embodied_kg / (lifetime_years × 8760 × utilization)

    (:func:`embodied_per_device_hour_kg`). The defaults are the BLOOM study's
    (Luccioni, Viguier, Ligozat 2023): **150 kgCO2e per GPU card**,
    **2,500 kgCO2e per server node without its GPUs** (an 8-GPU HPE Apollo
    6500), a **6-year** lifetime and **85 %** utilisation. With them an
    hour of an A100 card carries 150 / (6 × 8760 × 0.85) ≈ 3.36 gCO2e, plus
    2500 / 8 / (6 × 8760 × 0.85) ≈ 7.0 g for its share of the node; the
    build script checks these reproduce the paper's 11.2 t for BLOOM's
    1,082,990 GPU-hours. Cloud Carbon Footprint uses the same 150 kg
    per GPU.

    Whole-card values exist only for the A100; every other card gets the
    150 kg default, marked as assumed. Die-level estimates from LLMCarbon
    (die area × carbon per cm² of the process node, e.g. H100: 8.14 cm² ×
    1.8 kg/cm² = 14.7 kg) are given in :attr:`GpuSpec.die_embodied_kg`; they
    leave out the board, memory packages and cooling and are an order of
    magnitude below whole-card values, so they are never used as the
    default. Per-GB factors: RAM 1.34 kgCO2e/GB (Green Algorithms after
    Gröger et al. 2021: die impact / density + module base / 32 GB); SSD
    18 kgCO2e/TB (LLMCarbon, 0.018 kg/GB).

Every value can be overridden from configuration
(:meth:`Catalogue.with_overrides`), and the override is recorded as the
value's source.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from wattprint.errors import ConfigError, HardwareError
from wattprint.sensors.model import (
    cpu_architecture,
    data_text,
    hardware_constants,
    lookup_cpu_tdp,
    normalise_cpu_name,
    suggest_cpu_names,
)
from wattprint.units import H_PER_YEAR

log = logging.getLogger(__name__)

GREEN_ALGORITHMS_GPU = "Green Algorithms TDP_gpu.csv (CC BY 4.0)"
ASSUMED_IDLE = "assumption: {fraction:g} x TDP, the idle/TDP ratio of BLOOM's A100 ({source})"
ASSUMED_EMBODIED = "assumption: per-GPU default {value:g} kg ({source})"


def embodied_per_device_hour_kg(embodied_kg: float, lifetime_years: float,
                                utilization: float) -> float:
    """Embodied carbon charged per hour a device is used.

    ``embodied_kg / (lifetime_years × 8760 × utilization)``: the device's
    manufacturing carbon spread evenly over the hours it is in use during
    its life (8760 hours a year, 365 days, as the life-cycle studies count).

    Args:
        embodied_kg: manufacturing carbon of the device, kgCO2e.
        lifetime_years: years in service before replacement.
        utilization: share of those hours the device is in use, 0 < u <= 1.

    Returns:
        kgCO2e per device-hour.

    Raises:
        ConfigError: a negative embodied value, a lifetime <= 0 or a
            utilisation outside (0, 1].
    """
    if embodied_kg < 0:
        raise ConfigError(f"embodied carbon {embodied_kg} kg is negative; give a value >= 0")
    if lifetime_years <= 0:
        raise ConfigError(f"lifetime {lifetime_years} years must be > 0")
    if not 0 < utilization <= 1:
        raise ConfigError(f"utilization {utilization} must be in (0, 1], e.g. 0.85 for 85 %")
    return embodied_kg / (lifetime_years * H_PER_YEAR * utilization)


# ---------------------------------------------------------------- data classes


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
class CpuSpec:
    """One CPU model of the catalogue.

    Attributes:
        name: model name as the source table writes it.
        tdp_w: thermal design power of one package, W.
        cores: physical cores per package, where known.
        threads: hardware threads per package, where known (no shipped table
            has them; set by override).
        architecture: micro-architecture (``"Cascade Lake"``), where known.
        sources: field name -> where the value comes from.
    """

    name: str
    tdp_w: float
    cores: int | None
    threads: int | None
    architecture: str | None
    sources: Mapping[str, str]


@dataclass(frozen=True)
class ServerSpec:
    """A server chassis: everything but its GPUs.

    Attributes:
        name: what it is.
        embodied_kg: manufacturing carbon without GPUs, kgCO2e.
        gpus: GPU slots the embodied value is shared by, where it applies.
        source: where the value comes from.
    """

    name: str
    embodied_kg: float
    gpus: int | None
    source: str


@dataclass(frozen=True)
class Assumptions:
    """Catalogue-wide defaults, the BLOOM study's unless overridden.

    Attributes:
        lifetime_years: years a device is in service.
        utilization: share of its lifetime a device is in use (0..1].
        gpu_embodied_kg: embodied carbon of a GPU card with no own value.
        server_embodied_kg: embodied carbon of a GPU server node without GPUs.
        gpus_per_server: GPUs sharing that node.
        gpu_idle_fraction_of_tdp: idle power of a card with no published
            value, as a fraction of its TDP.
        ram_embodied_kg_per_gb: embodied carbon of memory, kgCO2e per GB.
        ssd_embodied_kg_per_tb: embodied carbon of SSD storage, kgCO2e per TB.
        sources: field name -> where the value comes from.
    """

    lifetime_years: float
    utilization: float
    gpu_embodied_kg: float
    server_embodied_kg: float
    gpus_per_server: int
    gpu_idle_fraction_of_tdp: float
    ram_embodied_kg_per_gb: float
    ssd_embodied_kg_per_tb: float
    sources: Mapping[str, str] = field(default_factory=dict)


#: Assumptions field -> key in the shipped ``constants.json``.
_CONSTANT_KEYS = {
    "lifetime_years": "lifetime_years",
    "utilization": "utilization",
    "gpu_embodied_kg": "gpu_embodied_kg",
    "server_embodied_kg": "server_embodied_kg",
    "gpus_per_server": "gpus_per_node",
    "gpu_idle_fraction_of_tdp": "gpu_idle_fraction_of_tdp",
    "ram_embodied_kg_per_gb": "ram_embodied_kg_per_gb",
    "ssd_embodied_kg_per_tb": "ssd_embodied_kg_per_tb",
}


@dataclass(frozen=True)
class _Card:
    """A card as shipped: values it has of its own; ``None`` takes a default."""

    name: str
    aliases: tuple[str, ...]
    tdp_w: float
    idle_w: float | None
    embodied_kg: float | None
    die_embodied_kg: float | None
    memory_gb: float | None
    sources: Mapping[str, str]


# ---------------------------------------------------------------- name matching

_GPU_NOISE = frozenset({"nvidia", "tesla", "geforce", "amd", "ati", "radeon", "instinct",
                        "google", "gpu", "graphics", "accelerator"})


def normalise_gpu_name(name: str) -> tuple[str, ...]:
    """A GPU name as comparable tokens, in their original order.

    Lower case, punctuation to spaces, vendor and family words dropped
    (NVIDIA, Tesla, GeForce, AMD, Instinct...), ``SXM2``/``SXM4``/``SXM5``
    read as ``sxm``. ``"NVIDIA A100-SXM4-80GB"`` → ``("a100", "sxm", "80gb")``.

    Args:
        name: a card name in any usual spelling.

    Returns:
        The tokens.
    """
    tokens = re.sub(r"[^a-z0-9]+", " ", name.lower()).split()
    return tuple(re.sub(r"^sxm\d$", "sxm", t) for t in tokens if t not in _GPU_NOISE)


# ---------------------------------------------------------------- the catalogue


def _number(value: Any, where: str, *, minimum: float = 0.0, strict: bool = True,
            maximum: float | None = None, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"hardware override {where}: {value!r} is not a number")
    number = float(value)
    if number < minimum or (strict and number == minimum):
        raise ConfigError(f"hardware override {where}: {value!r} must be "
                          f"{'>' if strict else '>='} {minimum:g}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"hardware override {where}: {value!r} must be <= {maximum:g}")
    if integer and number != int(number):
        raise ConfigError(f"hardware override {where}: {value!r} must be a whole number")
    return number


_GPU_FIELDS = ("tdp_w", "idle_w", "embodied_kg", "memory_gb", "aliases")
_CPU_FIELDS = ("tdp_w", "cores", "threads")


class Catalogue:
    """GPU, CPU and server data with their sources, and the amortisation defaults.

    Build one with :func:`default_catalogue` (the shipped data) and derive
    variants with :meth:`with_overrides`; a catalogue never changes.

    Args:
        cards: the GPU cards as shipped.
        assumptions: catalogue-wide defaults.
        cpu_overrides: normalised CPU name -> overridden fields.
        cpu_sources: normalised CPU name -> source of each overridden field.
    """

    def __init__(self, cards: Iterable[_Card], assumptions: Assumptions,
                 cpu_overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 cpu_sources: Mapping[str, str] | None = None) -> None:
        self._cards = tuple(cards)
        self.assumptions = assumptions
        self._cpu_overrides = dict(cpu_overrides or {})
        self._cpu_origin = dict(cpu_sources or {})
        self._index: list[tuple[tuple[str, ...], int]] = []
        for i, card in enumerate(self._cards):
            for spelling in (card.name, *card.aliases):
                tokens = normalise_gpu_name(spelling)
                if tokens:
                    self._index.append((tokens, i))

    # -- GPUs

    def _resolve(self, card: _Card) -> GpuSpec:
        a = self.assumptions
        sources = dict(card.sources)
        assumed: set[str] = set()
        idle_w = card.idle_w
        if idle_w is None:
            idle_w = a.gpu_idle_fraction_of_tdp * card.tdp_w
            sources["idle_w"] = ASSUMED_IDLE.format(
                fraction=a.gpu_idle_fraction_of_tdp,
                source=a.sources.get("gpu_idle_fraction_of_tdp", ""))
            assumed.add("idle_w")
        embodied_kg = card.embodied_kg
        if embodied_kg is None:
            embodied_kg = a.gpu_embodied_kg
            sources["embodied_kg"] = ASSUMED_EMBODIED.format(
                value=a.gpu_embodied_kg, source=a.sources.get("gpu_embodied_kg", ""))
            assumed.add("embodied_kg")
        return GpuSpec(card.name, card.aliases, card.tdp_w, idle_w, embodied_kg,
                       card.die_embodied_kg, card.memory_gb, sources, frozenset(assumed))

    def _find_card(self, name: str) -> int | None:
        """Index of the card ``name`` means; raises if ambiguous; ``None`` if unknown."""
        query = normalise_gpu_name(name)
        if not query:
            return None
        wanted = set(query)
        exact = {i for tokens, i in self._index if set(tokens) == wanted}
        if len(exact) == 1:
            return exact.pop()
        # the query is more specific than a catalogue spelling ("Tesla V100-SXM2-16GB")
        best: set[int] = set()
        best_size = 0
        for tokens, i in self._index:
            if wanted.issuperset(tokens) and any(ch.isdigit() for t in tokens for ch in t):
                if len(tokens) > best_size:
                    best, best_size = {i}, len(tokens)
                elif len(tokens) == best_size:
                    best.add(i)
        if len(best) == 1:
            return best.pop()
        # the query is less specific ("H100"): fine if it names one card only
        broader = {i for tokens, i in self._index if wanted.issubset(tokens)} or best
        if len(broader) == 1:
            return broader.pop()
        if broader:
            names = ", ".join(sorted(self._cards[i].name for i in broader))
            raise HardwareError(f"GPU {name!r} matches several cards: {names}; "
                                "give the full name (form factor and memory)")
        return None

    def gpu(self, name: str) -> GpuSpec:
        """Look up a GPU card by any usual spelling.

        Matching ignores case, punctuation and vendor words, and accepts
        NVML's names: ``"A100-SXM4-80GB"``, ``"NVIDIA A100-SXM4-80GB"`` and
        ``"a100 80gb sxm"`` all find the A100 SXM4.

        Args:
            name: card name.

        Returns:
            The card with its values and their sources.

        Raises:
            HardwareError: the name is unknown (the message lists the nearest
                names) or matches several cards.
        """
        index = self._find_card(name)
        if index is None:
            raise HardwareError(f"GPU {name!r} is not in the hardware catalogue; "
                                f"{self._gpu_suggestions(name)}")
        return self._resolve(self._cards[index])

    def _gpu_suggestions(self, name: str) -> str:
        spellings = {" ".join(tokens): self._cards[i].name for tokens, i in self._index}
        close = difflib.get_close_matches(" ".join(normalise_gpu_name(name)), list(spellings),
                                          n=8, cutoff=0.5)
        names = list(dict.fromkeys(spellings[s] for s in close))[:5]
        hint = "add it with a [hardware.gpu.\"<name>\"] tdp_w = ... override"
        if names:
            return f"nearest: {', '.join(names)}; or {hint}"
        return f"list the known cards with list_gpus(), or {hint}"

    def list_gpus(self) -> list[GpuSpec]:
        """Every card of the catalogue, sorted by name."""
        return sorted((self._resolve(card) for card in self._cards), key=lambda g: g.name)

    # -- CPUs

    def cpu(self, name: str) -> CpuSpec:
        """Look up a CPU model's TDP, cores and architecture.

        Args:
            name: model name in any usual spelling (``/proc/cpuinfo``'s
                ``"Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"`` works).

        Returns:
            The CPU with its values and their sources.

        Raises:
            HardwareError: no table knows the model (the message lists the
                nearest names).
        """
        key = normalise_cpu_name(name)
        override = self._cpu_overrides.get(key, {})
        found = lookup_cpu_tdp(name)
        if found is None and "tdp_w" not in override:
            close = suggest_cpu_names(name)
            nearest = f"nearest: {', '.join(close)}; or " if close else ""
            raise HardwareError(
                f"CPU {name!r} is not in the hardware catalogue; {nearest}add it with a "
                f"[hardware.cpu.\"<name>\"] tdp_w = ... override")
        sources: dict[str, str] = {}
        if found is not None:
            sources = {"tdp_w": found.source}
            if found.cores is not None:
                sources["cores"] = found.source
        origin = self._cpu_origin.get(key, "configuration")
        sources.update({k: f"override from {origin}" for k in override})
        arch = cpu_architecture(name)
        if arch is not None:
            sources["architecture"] = "model-name rules of wattprint.sensors.model"
        tdp_w = float(override.get("tdp_w", found.tdp_w if found else 0.0))
        cores = override.get("cores", found.cores if found else None)
        threads = override.get("threads")
        return CpuSpec(name=found.name if found else name, tdp_w=tdp_w,
                       cores=None if cores is None else int(cores),
                       threads=None if threads is None else int(threads),
                       architecture=arch, sources=sources)

    # -- servers and amortisation

    def servers(self) -> list[ServerSpec]:
        """Server chassis: the default (BLOOM's GPU node) first."""
        a = self.assumptions
        constants = hardware_constants()
        ccf = constants["ccf_server_embodied_kg"]
        return [
            ServerSpec("GPU server node without GPUs (BLOOM: HPE Apollo 6500 Gen10 Plus)",
                       a.server_embodied_kg, a.gpus_per_server,
                       a.sources.get("server_embodied_kg", "")),
            ServerSpec("commodity rack server (CCF: Dell R740 base, Teads)",
                       float(ccf["value"]), None, f"{ccf['source']}; {ccf['method']}"),
        ]

    def embodied_per_hour_kg(self, embodied_kg: float) -> float:
        """:func:`embodied_per_device_hour_kg` with this catalogue's lifetime and utilisation."""
        a = self.assumptions
        return embodied_per_device_hour_kg(embodied_kg, a.lifetime_years, a.utilization)

    def gpu_embodied_per_hour_kg(self, name: str) -> float:
        """Embodied carbon per GPU-hour of a card, its share of the server included.

        ``(card embodied + server embodied / GPUs per server)`` amortised:
        BLOOM's accounting of a GPU-hour.

        Args:
            name: card name.

        Returns:
            kgCO2e per GPU-hour.

        Raises:
            HardwareError: the card is unknown.
        """
        a = self.assumptions
        per_gpu = self.gpu(name).embodied_kg + a.server_embodied_kg / a.gpus_per_server
        return self.embodied_per_hour_kg(per_gpu)

    # -- overrides

    def with_overrides(self, overrides: Mapping[str, Any],
                       origin: str = "configuration") -> Catalogue:
        """A copy with values replaced, e.g. from ``[hardware]`` in ``wattprint.toml``.

        Accepted keys: any :class:`Assumptions` field (``lifetime_years``,
        ``utilization``, ``gpu_embodied_kg``...); ``gpu`` mapping a card name
        to ``tdp_w``, ``idle_w``, ``embodied_kg``, ``memory_gb`` or
        ``aliases`` (a card not in the catalogue is added, and then needs
        ``tdp_w``); ``cpu`` mapping a CPU name to ``tdp_w``, ``cores`` or
        ``threads``. Example::

            {"lifetime_years": 4, "utilization": 0.5,
             "gpu": {"A100-SXM4-80GB": {"embodied_kg": 200}},
             "cpu": {"Xeon Gold 6248": {"threads": 40}}}

        Args:
            overrides: the values to replace.
            origin: where they come from, recorded as each value's source.

        Returns:
            A new catalogue; this one is unchanged.

        Raises:
            ConfigError: an unknown key, a value of the wrong type or range,
                or a new card without ``tdp_w``.
            HardwareError: a card name that matches several cards.
        """
        label = f"override from {origin}"
        assumption_fields = {f.name for f in fields(Assumptions)} - {"sources"}
        allowed = sorted(assumption_fields | {"gpu", "cpu"})
        changes: dict[str, Any] = {}
        sources = dict(self.assumptions.sources)
        for key, value in overrides.items():
            if key not in allowed:
                raise ConfigError(f"hardware override {key!r} is unknown; "
                                  f"choose from {', '.join(allowed)}")
            if key in ("gpu", "cpu"):
                continue
            if key == "utilization":
                changes[key] = _number(value, key, maximum=1.0)
            elif key == "gpu_idle_fraction_of_tdp":
                changes[key] = _number(value, key, strict=False, maximum=1.0)
            elif key == "gpus_per_server":
                changes[key] = int(_number(value, key, integer=True))
            else:
                changes[key] = _number(value, key, strict=key == "lifetime_years")
            sources[key] = label
        assumptions = replace(self.assumptions, **changes, sources=sources)
        cards = list(self._cards)
        for card_name, values in _section(overrides, "gpu").items():
            self._override_card(cards, card_name, values, label)
        cpu_overrides = {k: dict(v) for k, v in self._cpu_overrides.items()}
        cpu_origin = dict(self._cpu_origin)
        for cpu_name, values in _section(overrides, "cpu").items():
            key = normalise_cpu_name(cpu_name)
            entry = cpu_overrides.setdefault(key, {})
            for fname, value in _fields(values, f"cpu.{cpu_name}", _CPU_FIELDS).items():
                entry[fname] = _number(value, f"cpu.{cpu_name}.{fname}",
                                       integer=fname != "tdp_w")
            cpu_origin[key] = origin
        return Catalogue(cards, assumptions, cpu_overrides, cpu_origin)

    def _override_card(self, cards: list[_Card], card_name: str, values: Any,
                       label: str) -> None:
        where = f"gpu.{card_name}"
        given = _fields(values, where, _GPU_FIELDS)
        numbers: dict[str, float] = {}
        for fname, value in given.items():
            if fname != "aliases":
                numbers[fname] = _number(value, f"{where}.{fname}", strict=fname != "idle_w")
        aliases: tuple[str, ...] = ()
        if "aliases" in given:
            raw = given["aliases"]
            if not isinstance(raw, (list, tuple)) or not all(isinstance(a, str) for a in raw):
                raise ConfigError(f"hardware override {where}.aliases: give a list of names")
            aliases = tuple(raw)
        index = self._find_card(card_name)
        if index is None:
            if "tdp_w" not in numbers:
                raise ConfigError(f"hardware override {where}: {card_name!r} is not in the "
                                  "catalogue; a new card needs tdp_w")
            cards.append(_Card(card_name, aliases, numbers["tdp_w"], numbers.get("idle_w"),
                               numbers.get("embodied_kg"), None, numbers.get("memory_gb"),
                               {k: label for k in numbers}))
            return
        card = cards[index]
        sources = dict(card.sources)
        sources.update({k: label for k in numbers})
        cards[index] = replace(
            card,
            aliases=card.aliases + aliases,
            tdp_w=numbers.get("tdp_w", card.tdp_w),
            idle_w=numbers.get("idle_w", card.idle_w),
            embodied_kg=numbers.get("embodied_kg", card.embodied_kg),
            memory_gb=numbers.get("memory_gb", card.memory_gb),
            sources=sources,
        )


def _section(overrides: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = overrides.get(key, {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"hardware override {key!r} must map names to values, "
                          f"e.g. {{{key}: {{\"<name>\": {{\"tdp_w\": 300}}}}}}")
    return section


def _fields(values: Any, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(f"hardware override {where} must map fields to values "
                          f"({', '.join(allowed)})")
    unknown = [k for k in values if k not in allowed]
    if unknown:
        raise ConfigError(f"hardware override {where}: unknown field(s) {', '.join(unknown)}; "
                          f"choose from {', '.join(allowed)}")
    return values


# ---------------------------------------------------------------- loading


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data_text(name))))


def _float(text: str) -> float | None:
    return float(text) if text else None


def _load_cards() -> list[_Card]:
    ga = {row["name"]: row for row in _rows("gpu_tdp_green_algorithms.csv")}
    chips = {row["hardware"]: row for row in _rows("chip_embodied_llmcarbon.csv")}
    cards: list[_Card] = []
    used: set[str] = set()
    for row in _rows("gpu_cards.csv"):
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
        cards.append(_Card(row["name"], aliases, tdp_w, idle_w, embodied_kg, die_kg, memory,
                           sources))
    for key, row in ga.items():
        if key not in used:
            cards.append(_Card(key, (), float(row["tdp_w"]), None, None, None,
                               _float(row["memory_gb"]),
                               {"tdp_w": f"{GREEN_ALGORITHMS_GPU}, {row['source']}"}))
    return cards


def _load_assumptions() -> Assumptions:
    constants = hardware_constants()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, key in _CONSTANT_KEYS.items():
        entry = constants[key]
        values[name] = int(entry["value"]) if name == "gpus_per_server" else float(entry["value"])
        sources[name] = f"{entry['source']}; {entry['method']}"
    return Assumptions(**values, sources=sources)


@functools.lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The catalogue of the shipped data, loaded once.

    Returns:
        A catalogue with BLOOM's amortisation defaults.
    """
    return Catalogue(_load_cards(), _load_assumptions())


def gpu(name: str) -> GpuSpec:
    """Look up a GPU card in the default catalogue (see :meth:`Catalogue.gpu`).

    Raises:
        HardwareError: unknown or ambiguous name.
    """
    return default_catalogue().gpu(name)


def cpu(name: str) -> CpuSpec:
    """Look up a CPU model in the default catalogue (see :meth:`Catalogue.cpu`).

    Raises:
        HardwareError: unknown model.
    """
    return default_catalogue().cpu(name)


def list_gpus() -> list[GpuSpec]:
    """Every card of the default catalogue, sorted by name."""
    return default_catalogue().list_gpus()
