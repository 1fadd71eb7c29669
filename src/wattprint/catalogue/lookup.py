"""The catalogue as one object: look a device up by any usual name, override any value.

:class:`Catalogue` joins the shipped facts (:mod:`~wattprint.catalogue.gpus`,
:mod:`~wattprint.catalogue.cpus`, :mod:`~wattprint.catalogue.ccf`,
:mod:`~wattprint.catalogue.embodied`) and fills what a card lacks from the
catalogue-wide defaults, marking each such value as an assumption. Every
value can be overridden from configuration (:meth:`Catalogue.with_overrides`,
e.g. ``[hardware]`` in ``wattprint.toml``), and the override is recorded as
the value's source.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from wattprint.catalogue.ccf import cpu_architecture
from wattprint.catalogue.cpus import CpuSpec, lookup_cpu_tdp, suggest_cpu_names
from wattprint.catalogue.embodied import Assumptions, ServerSpec, servers, shipped_assumptions
from wattprint.catalogue.gpus import Card, GpuSpec, shipped_cards
from wattprint.catalogue.names import normalise_cpu_name, normalise_gpu_name
from wattprint.errors import ConfigError, HardwareError

ASSUMED_IDLE = "assumption: {fraction:g} x TDP, the idle/TDP ratio of BLOOM's A100 ({source})"
ASSUMED_EMBODIED = "assumption: per-GPU default {value:g} kg ({source})"

_C = TypeVar("_C", bound="Catalogue")


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

    Build one from the shipped data with :meth:`shipped` (accounting's
    :func:`wattprint.accounting.hardware.default_catalogue` keeps one) and
    derive variants with :meth:`with_overrides`; a catalogue never changes.

    Args:
        cards: the GPU cards as shipped.
        assumptions: catalogue-wide defaults.
        cpu_overrides: normalised CPU name -> overridden fields.
        cpu_sources: normalised CPU name -> source of each overridden field.
    """

    def __init__(self, cards: Iterable[Card], assumptions: Assumptions,
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

    @classmethod
    def shipped(cls: type[_C]) -> _C:
        """A catalogue of the shipped tables with BLOOM's amortisation defaults."""
        return cls(shipped_cards(), shipped_assumptions())

    # -- GPUs

    def _resolve(self, card: Card) -> GpuSpec:
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

    def find_gpu(self, name: str) -> GpuSpec | None:
        """Like :meth:`gpu`, but ``None`` for a name the catalogue does not know.

        For callers that fall back on a default (accounting's idle and embodied
        values): no nearest names are looked for.

        Raises:
            HardwareError: the name matches several cards.
        """
        index = self._find_card(name)
        return None if index is None else self._resolve(self._cards[index])

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
            sources["architecture"] = "model-name rules of wattprint.catalogue.ccf"
        tdp_w = float(override.get("tdp_w", found.tdp_w if found else 0.0))
        cores = override.get("cores", found.cores if found else None)
        threads = override.get("threads")
        return CpuSpec(name=found.name if found else name, tdp_w=tdp_w,
                       cores=None if cores is None else int(cores),
                       threads=None if threads is None else int(threads),
                       architecture=arch, sources=sources)

    # -- servers

    def servers(self) -> list[ServerSpec]:
        """Server chassis: the default (BLOOM's GPU node) first."""
        return servers(self.assumptions)

    # -- overrides

    def with_overrides(self: _C, overrides: Mapping[str, Any],
                       origin: str = "configuration") -> _C:
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
            elif key == "instance_type":
                if not isinstance(value, str) or not value.strip():
                    raise ConfigError("hardware override 'instance_type': give a cloud instance "
                                      "type such as \"m5.large\"")
                changes[key] = value.strip()
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
        return type(self)(cards, assumptions, cpu_overrides, cpu_origin)

    def _override_card(self, cards: list[Card], card_name: str, values: Any,
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
            cards.append(Card(card_name, aliases, numbers["tdp_w"], numbers.get("idle_w"),
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

