"""Explain a carbon difference: exact Shapley contributions of each factor.

Two runs emit different carbon because several factors differ at once: one
used less GPU energy but ran on a dirtier grid, in a facility with a higher
PUE, for longer on more hardware. Studies of company emissions split such a
difference between its factors with **Shapley values** (the only split that
is additive, symmetric, and gives nothing to a factor that did not change);
wattprint does the same for runs.

The model is the footprint's own (:mod:`wattprint.accounting.footprint`)::

    co2e_kg = Σ_kind E_kind × I × PUE / 1000  +  H × R

* ``E_kind``: the run's energy by device kind (``cpu``, ``gpu``, ``dram``...),
  kWh, under its attribution rule, before PUE;
* ``I``: the intensity the run saw, gCO2e/kWh: its operational carbon over its
  energy (energy-weighted over the hours and the region it ran in, so a change
  of region *and* of hour both land here);
* ``PUE``: the facility overhead;
* ``H``: the device-hours embodied carbon was charged for (the run's duration);
* ``R``: the embodied carbon per hour of those devices (which hardware, how
  much of it, its lifetime and utilisation), kgCO2e/h.

For factors ``x`` going from run A's values to run B's, the Shapley value of
factor ``i`` is the average, over every order of switching the factors from A
to B, of the change in ``co2e`` when ``i`` is switched::

    φ_i = Σ_{S ⊆ N∖{i}} |S|! (n − |S| − 1)! / n!  × (f(S ∪ {i}) − f(S))

where ``f(S)`` is the model with the factors in ``S`` at B's values and the
rest at A's. The contributions sum to ``f(B) − f(A)`` **exactly** (the
efficiency property). wattprint enumerates all ``2^n`` coalitions in exact
rational arithmetic (:class:`fractions.Fraction`) from the floating-point
inputs, so each contribution is the exact Shapley value rounded once. For two
factors ``E × I`` this gives ``φ_E = ½ ΔE (I_A + I_B)`` and
``φ_I = ½ ΔI (E_A + E_B)``; a factor that is the same in both runs gets 0.
Because the model is a sum of an operational and an embodied part on
separate factors, the embodied contributions are exactly those of ``H × R``
alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from wattprint.errors import ConfigError

if TYPE_CHECKING:
    from wattprint.accounting.account import AccountedRun

#: Most factors an explanation enumerates (2^n coalitions).
MAX_FACTORS = 16

#: Labels of the non-energy factors, in table order.
FACTOR_LABELS = {
    "intensity": "grid intensity",
    "pue": "PUE",
    "embodied.device_hours": "embodied: hours",
    "embodied.hardware": "embodied: hardware",
}


@dataclass(frozen=True)
class Factors:
    """One run's factors of the carbon model.

    Attributes:
        energy_kwh: energy by device kind, kWh (before PUE).
        intensity_g_per_kwh: the intensity the run saw, gCO2e/kWh.
        pue: power usage effectiveness.
        embodied_hours: device-hours embodied carbon was charged for, h.
        embodied_kg_per_hour: embodied carbon per charged hour, kgCO2e/h.
    """

    energy_kwh: Mapping[str, float]
    intensity_g_per_kwh: float
    pue: float
    embodied_hours: float = 0.0
    embodied_kg_per_hour: float = 0.0

    @property
    def co2e_kg(self) -> float:
        """The model's carbon, kgCO2e."""
        return (sum(self.energy_kwh.values()) * self.intensity_g_per_kwh * self.pue / 1000.0
                + self.embodied_hours * self.embodied_kg_per_hour)


def _finite(value: Any) -> float:
    number = float(value) if value is not None else 0.0
    return number if math.isfinite(number) else 0.0


def factors_of(accounted: AccountedRun) -> Factors:
    """The factors of an accounted run (energy by kind, intensity, PUE, embodied)."""
    fp = accounted.footprint
    energy: dict[str, float] = {}
    for device in fp.by_device:
        kind = str(device["kind"])
        energy[kind] = energy.get(kind, 0.0) + _finite(device["energy_kwh"])
    it_kwh = fp.energy_kwh["dynamic"] + fp.energy_kwh["idle"]
    operational_kg = fp.co2e_kg["dynamic"] + fp.co2e_kg["idle"]  # before PUE
    if it_kwh > 0:
        intensity = operational_kg * 1000.0 / it_kwh
    else:
        intensity = _finite(fp.intensity.get("mean_g_per_kwh"))
    return Factors(energy, _finite(intensity), float(fp.pue), *_embodied(accounted))


def _embodied(accounted: AccountedRun) -> tuple[float, float]:
    """Charged hours and kgCO2e per hour, the rate summed as the footprint charges it.

    The rate is built from the hardware (not the total over the hours), so two
    runs on the same hardware have the same rate to the last bit and the
    hardware factor contributes exactly 0.
    """
    params = accounted.embodied
    embodied_kg = _finite(accounted.footprint.co2e_kg["embodied"])
    hours = _finite(accounted.embodied_hours)
    if params is None or embodied_kg == 0:
        return 0.0, 0.0
    rate = 0.0
    for use in accounted.uses:
        if use.embodied_kg is not None:
            rate += params.per_hour_kg(use.embodied_kg) * use.embodied_share
    if params.node_kg is not None:
        rate += params.per_hour_kg(params.node_kg) * params.nodes * params.node_share
    if hours <= 0 or rate <= 0:  # charged without hours: keep the total in the rate
        return 1.0, embodied_kg
    return hours, rate


def shapley_values(a: Sequence[float], b: Sequence[float],
                   model: Callable[[Sequence[Fraction]], Fraction]) -> list[Fraction]:
    """Exact Shapley values of each factor for ``model`` going from ``a`` to ``b``.

    Args:
        a: the factors' values in the first situation.
        b: their values in the second (same order).
        model: the quantity as a function of the factors, in exact arithmetic.

    Returns:
        One exact contribution per factor; they sum to ``model(b) − model(a)``.

    Raises:
        ConfigError: different lengths, or more than :data:`MAX_FACTORS` factors.
    """
    n = len(a)
    if len(b) != n:
        raise ConfigError(f"{n} factor values against {len(b)}: give both runs' factors")
    if n > MAX_FACTORS:
        raise ConfigError(f"{n} factors are more than the {MAX_FACTORS} an exact explanation "
                          "enumerates")
    fa = [Fraction(x) for x in a]
    fb = [Fraction(x) for x in b]
    value = []
    for mask in range(1 << n):
        value.append(model([fb[i] if mask >> i & 1 else fa[i] for i in range(n)]))
    weight = [Fraction(math.factorial(s) * math.factorial(n - s - 1), math.factorial(n))
              for s in range(n)]
    phi = [Fraction(0)] * n
    for i in range(n):
        bit = 1 << i
        total = Fraction(0)
        for mask in range(1 << n):
            if not mask & bit:
                total += weight[mask.bit_count()] * (value[mask | bit] - value[mask])
        phi[i] = total
    return phi


def explain(a: Factors, b: Factors) -> dict[str, Any]:
    """Split ``b.co2e_kg − a.co2e_kg`` into exact Shapley contributions of the factors.

    Args:
        a: the baseline run's factors.
        b: the other run's factors.

    Returns:
        ``{"difference_kg", "co2e_kg": [a, b], "contributions": [{"factor",
        "label", "co2e_kg", "share", "values": [a, b], "unit"}], "model"}``;
        ``share`` is the contribution over the difference (``None`` when the
        difference is 0). Energy factors are ``energy.<kind>`` in kind order.
    """
    kinds = sorted(set(a.energy_kwh) | set(b.energy_kwh))
    names = [f"energy.{k}" for k in kinds] + list(FACTOR_LABELS)

    def vector(f: Factors) -> list[float]:
        return ([float(f.energy_kwh.get(k, 0.0)) for k in kinds]
                + [f.intensity_g_per_kwh, f.pue, f.embodied_hours, f.embodied_kg_per_hour])

    k = len(kinds)

    def model(x: Sequence[Fraction]) -> Fraction:
        energy = sum(x[:k], Fraction(0))
        return energy * x[k] * x[k + 1] / 1000 + x[k + 2] * x[k + 3]

    va, vb = vector(a), vector(b)
    phi = shapley_values(va, vb, model)
    exact_diff = model([Fraction(v) for v in vb]) - model([Fraction(v) for v in va])
    difference = float(exact_diff)
    units = ["kWh"] * k + ["gCO2e/kWh", "", "h", "kgCO2e/h"]
    contributions = []
    for i, name in enumerate(names):
        label = FACTOR_LABELS.get(name) or f"energy: {name.split('.', 1)[1]}"
        contributions.append({
            "factor": name, "label": label, "co2e_kg": float(phi[i]),
            "share": float(phi[i] / exact_diff) if exact_diff != 0 else None,
            "values": [va[i], vb[i]], "unit": units[i]})
    return {"difference_kg": difference, "co2e_kg": [a.co2e_kg, b.co2e_kg],
            "contributions": contributions,
            "model": "co2e_kg = sum(E_kind) x I x PUE / 1000 + H x R (exact Shapley values)"}


def explain_runs(a: AccountedRun, b: AccountedRun) -> dict[str, Any]:
    """:func:`explain` for two accounted runs, with their ids (``baseline``, ``run``)."""
    doc = explain(factors_of(a), factors_of(b))
    return {"baseline": a.run.id, "run": b.run.id, **doc}


def format_factor(value: float, unit: str, precision: int = 3) -> str:
    """A factor's value in the units people read (J to MWh, g/kWh, s to h, mg to t per h)."""
    from wattprint.units import (
        format_duration_s,
        format_energy_kwh,
        format_intensity,
        format_mass_kg,
        format_number,
    )

    if unit == "kWh":
        return format_energy_kwh(value, precision)
    if unit == "gCO2e/kWh":
        return format_intensity(value, precision)
    if unit == "h":
        return format_duration_s(value * 3600.0, precision)
    if unit == "kgCO2e/h":
        return f"{format_mass_kg(value, precision)}/h"
    return format_number(value, precision) + (f" {unit}" if unit else "")


def explain_markdown(doc: Mapping[str, Any], precision: int = 3) -> str:
    """A Markdown table of an explanation (factor, contribution, share)."""
    from wattprint.units import format_mass_kg, format_number

    lines = [f"Difference {doc['run']} - {doc['baseline']}: "
             f"{format_mass_kg(doc['difference_kg'], precision)} CO2e, split by exact Shapley "
             "values (they sum to the difference).", "",
             "| factor | baseline | run | contribution (CO2e) | share |",
             "|---|---:|---:|---:|---:|"]
    for c in doc["contributions"]:
        share = "" if c["share"] is None else f"{format_number(100 * c['share'], precision)} %"
        a, b = (format_factor(v, c["unit"], precision) for v in c["values"])
        lines.append(f"| {c['label']} | {a} | {b} | "
                     f"{format_mass_kg(c['co2e_kg'], precision)} | {share} |")
    return "\n".join(lines) + "\n"


def explain_plot(doc: Mapping[str, Any], fmt: str = "svg") -> bytes:
    """The contributions as a horizontal bar plot (SVG or PNG bytes).

    Raises:
        WattprintError: matplotlib is not installed (the ``report`` extra).
    """
    from wattprint.decide.breakeven import figure_bytes
    from wattprint.report.plots import require_matplotlib

    require_matplotlib()
    from matplotlib.figure import Figure

    rows = doc["contributions"]
    fig = Figure(figsize=(7.0, max(1.8, 0.4 * len(rows) + 1.0)), layout="constrained")
    ax = fig.add_subplot()
    values = [c["co2e_kg"] for c in rows]
    ax.barh(range(len(rows)), values, height=0.6,
            color=["#d1495b" if v > 0 else "#2e933c" for v in values])
    ax.set_yticks(range(len(rows)), labels=[c["label"] for c in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_xlabel(f"contribution to the difference, kgCO2e (total "
                  f"{doc['difference_kg']:.4g} kg)", fontsize=9)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    ax.tick_params(labelsize=8)
    return figure_bytes(fig, fmt)


__all__ = ["FACTOR_LABELS", "Factors", "explain", "explain_markdown", "explain_plot",
           "explain_runs", "factors_of", "shapley_values"]
