"""Hardware break-even: when does replacing a device pay back the new one's embodied carbon?

New hardware that draws less power for the same work cuts operational carbon
every year it runs, but its manufacturing (embodied) carbon is emitted up
front. Ollivier et al. (Sustainable AI Processing at the Edge, 2022,
arXiv:2207.01209) weigh exactly this for edge CNN accelerators: replacing
PIM-enabled DDR3 with racetrack-memory PIM recovers its embodied energy in
about a year at high activity, while at low activity the saving is too small
to pay the replacement back. wattprint's model is the same comparison, for
any two devices:

* the **current** device is busy a share ``u`` of the time (``--utilization``)
  at its busy power and idles the rest at its idle power; its mean power is
  ``P_keep = u × P_busy + (1 − u) × P_idle``;
* the **candidate** does the same work ``s`` times faster (``--speedup``), so
  it is busy ``u / s`` of the time: ``P_replace = (u/s) × P'_busy + (1 − u/s) × P'_idle``
  (``u / s`` must not exceed 1: a slower candidate that cannot keep up is refused);
* operational carbon over a time ``t`` is ``P × PUE × ∫ I dt``, with ``I`` the
  grid intensity: the region's annual figure (constant), a user's constant
  value, or the shipped hourly series of the region, replayed year after year
  (the work is spread evenly over the hours, so only the series' cumulative
  sum matters);
* **keep**: ``K(t) = P_keep × PUE × ∫₀ᵗ I``. The current device's own
  embodied carbon is already spent (sunk) and counts in neither curve;
* **replace**: ``R(t) = M − C + P_replace × PUE × ∫₀ᵗ I``, ``M`` the
  candidate's embodied carbon and ``C`` an optional credit for reusing or
  selling the current device (``--resale-credit-kg``: the embodied carbon
  someone else does not emit because they use it);
* **break-even** is the time ``t*`` with ``R(t*) = K(t*)``. With a constant
  intensity it has the closed form ``t* = (M − C) / S``, ``S`` the annual
  saving ``(P_keep − P_replace) × 8760 h × PUE × I``. It is **never** when the
  candidate does not use less (``S ≤ 0``) and its net embodied carbon is
  positive; 0 when the credit covers the embodied carbon and the candidate
  uses no more. A break-even later than the candidate's lifetime
  (``--lifetime-years``, default the catalogue's 6 years after the BLOOM
  study) is reported as such: over its service life, keeping emits less.

Catalogue devices take their busy power from the TDP, their idle power and
embodied carbon from the catalogue (:mod:`wattprint.catalogue.gpus`), each
with its source or the assumption it is; explicit figures replace any of
them. All of it is pure: figures in, a JSON-ready document out.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from wattprint.errors import ConfigError
from wattprint.units import H_PER_YEAR

#: Schema identifier of the break-even JSON.
BREAKEVEN_SCHEMA = "wattprint.breakeven/1"

#: Points of each curve in the document (and the plot).
CURVE_POINTS = 121


@dataclass(frozen=True)
class Device:
    """One device of the comparison: its power when busy and idle, and its embodied carbon.

    Attributes:
        name: what it is (a catalogue name, or the user's label).
        busy_power_w: mean power while working, W.
        idle_power_w: power while idle, W.
        embodied_kg: manufacturing carbon, kgCO2e (``None``: not known).
        sources: field name -> where the value comes from.
    """

    name: str
    busy_power_w: float
    idle_power_w: float
    embodied_kg: float | None
    sources: Mapping[str, str] = field(default_factory=dict)

    def with_figures(self, *, busy_power_w: float | None = None, idle_power_w: float | None = None,
                     embodied_kg: float | None = None) -> Device:
        """A copy with the figures given replaced, each sourced as given by the user."""
        sources = dict(self.sources)
        changes: dict[str, Any] = {}
        for name, value in (("busy_power_w", busy_power_w), ("idle_power_w", idle_power_w),
                            ("embodied_kg", embodied_kg)):
            if value is not None:
                changes[name] = float(value)
                sources[name] = "given by the user"
        return replace(self, **changes, sources=sources)


def catalogue_device(name: str, catalogue: Any | None = None) -> Device:
    """A GPU card of the hardware catalogue as a :class:`Device`.

    Busy power is the card's TDP (maximum board power: the figure a card
    working flat out is designed for); idle power and embodied carbon are
    the catalogue's, with their sources (assumptions are labelled there).

    Args:
        name: any usual spelling of the card (``"V100-SXM2-32GB"``).
        catalogue: a :class:`wattprint.catalogue.lookup.Catalogue` (with the
            configuration's overrides); default the shipped one.

    Raises:
        HardwareError: the card is unknown (with the nearest names) or ambiguous.
    """
    if catalogue is None:
        from wattprint.accounting.hardware import default_catalogue

        catalogue = default_catalogue()
    spec = catalogue.gpu(name)
    sources = {
        "busy_power_w": f"TDP: {spec.sources.get('tdp_w', 'hardware catalogue')}",
        "idle_power_w": spec.sources.get("idle_w", "hardware catalogue"),
        "embodied_kg": spec.sources.get("embodied_kg", "hardware catalogue"),
    }
    return Device(spec.name, float(spec.tdp_w), float(spec.idle_w), float(spec.embodied_kg),
                  sources)


def explicit_device(label: str, busy_power_w: float, *, idle_power_w: float | None = None,
                    embodied_kg: float | None = None) -> Device:
    """A device from explicit figures (no idle power given: 0 W, labelled)."""
    sources = {"busy_power_w": "given by the user",
               "idle_power_w": ("given by the user" if idle_power_w is not None else
                                "not given: 0 W (the device draws nothing when not working)")}
    if embodied_kg is not None:
        sources["embodied_kg"] = "given by the user"
    return Device(label, float(busy_power_w), float(idle_power_w or 0.0),
                  None if embodied_kg is None else float(embodied_kg), sources)


@dataclass(frozen=True, eq=False)
class Grid:
    """The grid intensity the devices run on: constant, or an hourly series replayed yearly.

    Attributes:
        region: region code (``""`` for a user's value).
        mean_g_per_kwh: the time-weighted mean, gCO2e/kWh.
        source: where it comes from (dataset, year, basis).
        step_h: hours per step of ``g_per_kwh`` (``None``: constant).
        g_per_kwh: one cycle of the series (``None``: constant).
    """

    region: str
    mean_g_per_kwh: float
    source: str
    step_h: float | None = None
    g_per_kwh: np.ndarray | None = None

    @property
    def hourly(self) -> bool:
        """Whether the intensity varies hour by hour."""
        return self.g_per_kwh is not None

    def cumulative(self, hours: np.ndarray) -> np.ndarray:
        """``∫₀ᵗ I dt`` in gCO2e·h/kWh at each time ``t`` in hours (the series replayed)."""
        t = np.asarray(hours, dtype=np.float64)
        if self.g_per_kwh is None or self.step_h is None:
            out: np.ndarray = self.mean_g_per_kwh * t
            return out
        v, step = self.g_per_kwh, self.step_h
        cycle_h = v.size * step
        ends = np.cumsum(v) * step
        starts = ends - v * step
        k = np.floor(t / cycle_h)
        rest = t - k * cycle_h
        j = np.clip(np.floor(rest / step).astype(np.int64), 0, v.size - 1)
        result: np.ndarray = k * ends[-1] + starts[j] + v[j] * (rest - j * step)
        return result

    def hours_to_reach(self, target: float) -> float | None:
        """The time in hours at which ``∫₀ᵗ I dt`` reaches ``target`` (``None``: never)."""
        if target <= 0:
            return 0.0
        if self.g_per_kwh is None or self.step_h is None:
            return target / self.mean_g_per_kwh if self.mean_g_per_kwh > 0 else None
        v, step = self.g_per_kwh, self.step_h
        ends = np.cumsum(v) * step
        per_cycle = float(ends[-1])
        if per_cycle <= 0:
            return None
        k = math.floor(target / per_cycle)
        rest = target - k * per_cycle
        if rest <= 0:
            return k * v.size * step
        j = int(np.searchsorted(ends, rest, side="left"))
        j = min(j, v.size - 1)
        start = float(ends[j]) - float(v[j]) * step
        return k * v.size * step + j * step + (rest - start) / float(v[j])


def constant_grid(g_per_kwh: float, *, region: str = "", source: str = "given by the user"
                  ) -> Grid:
    """A constant intensity (a user's value, or a region's annual figure)."""
    return Grid(region, float(g_per_kwh), source)


def annual_grid(region: str) -> Grid:
    """The region's annual intensity from the shipped tables (newest year).

    Raises:
        RegionError: an unknown region (with suggestions).
    """
    from wattprint.accounting.intensity import annual_intensity

    value = annual_intensity(region)
    p = value.provenance
    year = f" {p.year}" if p.year else ""
    return Grid(p.region or region, float(value.g_per_kwh),
                f"{p.source}{year} annual average ({p.basis}); {p.dataset}")


def hourly_grid(region: str) -> Grid:
    """The region's shipped hourly series, replayed year after year.

    Missing steps take the series' mean.

    Raises:
        RegionError: the region has no shipped hourly series.
    """
    from wattprint.accounting.hourly import hourly_series

    series = hourly_series(region)
    values = np.array(series.g_per_kwh, dtype=np.float64)
    mean = float(np.nanmean(values))
    values = np.where(np.isnan(values), mean, values)
    p = series.provenance
    return Grid(series.region or region, float(values.mean()),
                f"{p.source} hourly series ({p.basis}), replayed yearly; {p.dataset}",
                series.step_s / 3600.0, values)


def _side(device: Device, busy_share: float, pue: float, grid: Grid) -> dict[str, Any]:
    mean_w = busy_share * device.busy_power_w + (1.0 - busy_share) * device.idle_power_w
    energy_kwh = mean_w * H_PER_YEAR / 1000.0 * pue
    co2e_kg = mean_w * pue / 1000.0 * float(grid.cumulative(np.array([H_PER_YEAR]))[0]) / 1000.0
    return {"name": device.name, "busy_power_w": device.busy_power_w,
            "idle_power_w": device.idle_power_w, "embodied_kg": device.embodied_kg,
            "busy_share": busy_share, "mean_power_w": mean_w,
            "energy_kwh_per_year": energy_kwh, "co2e_kg_per_year": co2e_kg,
            "sources": dict(device.sources)}


def _check(value: float, name: str, low: float, high: float, *, low_open: bool = True) -> float:
    from wattprint import validate

    return validate.in_range(value, name, low, high, low_open=low_open)


def breakeven(current: Device, candidate: Device, *, grid: Grid, speedup: float = 1.0,
              utilization: float = 1.0, pue: float = 1.0, lifetime_years: float = 6.0,
              resale_credit_kg: float = 0.0, pue_source: str = "given",
              lifetime_source: str = "given") -> dict[str, Any]:
    """Cumulative carbon of keeping the current device and of replacing it, and the break-even.

    Args:
        current: the device in service now.
        candidate: the replacement; its ``embodied_kg`` is required.
        grid: the grid intensity both run on.
        speedup: how many times faster the candidate does the same work (> 0).
        utilization: the current device's busy share of the time, (0, 1].
        pue: power usage effectiveness, 1 to 5.
        lifetime_years: the candidate's service life, years (the horizon of
            the verdict).
        resale_credit_kg: embodied carbon credited for reusing or selling the
            current device, kgCO2e (>= 0).
        pue_source: where the PUE came from.
        lifetime_source: where the lifetime came from.

    Returns:
        The document (schema ``wattprint.breakeven/1``): ``current`` and
        ``candidate`` (powers, busy share, mean power, energy and carbon per
        year, sources), the inputs, ``net_embodied_kg``,
        ``saving_kg_per_year``, ``breakeven_years`` (``None`` for never),
        ``within_lifetime``, ``verdict`` and ``curve`` (``years``,
        ``keep_kg``, ``replace_kg``).

    Raises:
        ConfigError: a figure out of range, no embodied carbon for the
            candidate, or a candidate too slow to do the work (``u / s > 1``).
    """
    from wattprint import validate

    speedup = _check(speedup, "--speedup", 0.0, 1000.0)
    utilization = validate.fraction(utilization, "--utilization")
    pue = float(validate.pue(pue, "--pue") or 1.0)
    lifetime_years = _check(lifetime_years, "--lifetime-years", 0.0, 100.0)
    resale_credit_kg = _check(resale_credit_kg, "--resale-credit-kg", 0.0, 1e9, low_open=False)
    for device, which in ((current, "current"), (candidate, "candidate")):
        validate.in_range(device.busy_power_w, f"{which} power", 0.0, validate.POWER_MAX_W,
                          unit="W", low_open=True)
        validate.in_range(device.idle_power_w, f"{which} idle power", 0.0, device.busy_power_w,
                          unit="W")
    if candidate.embodied_kg is None:
        raise ConfigError("the candidate's embodied carbon is not known: give "
                          "--candidate-embodied-kg (or a catalogue name with --candidate)")
    embodied_kg = _check(candidate.embodied_kg, "--candidate-embodied-kg", 0.0, 1e9,
                         low_open=False)
    candidate_share = utilization / speedup
    if candidate_share > 1.0:
        raise ConfigError(
            f"the candidate would have to be busy {candidate_share:.0%} of the time to do the "
            f"current work ({utilization:g} / speedup {speedup:g}); it cannot keep up: give a "
            "lower --utilization or a larger --speedup")
    keep = _side(current, utilization, pue, grid)
    repl = _side(candidate, candidate_share, pue, grid)
    delta_w = keep["mean_power_w"] - repl["mean_power_w"]
    net_kg = embodied_kg - resale_credit_kg
    # kgCO2e per (gCO2e·h/kWh) of cumulative intensity, for each side
    keep_rate = keep["mean_power_w"] * pue / 1e6
    repl_rate = repl["mean_power_w"] * pue / 1e6
    years: float | None
    if net_kg <= 0 and delta_w >= 0:
        years = 0.0
    elif delta_w <= 0:
        years = None
    else:
        hours = grid.hours_to_reach(net_kg / (delta_w * pue / 1e6))
        years = None if hours is None else hours / H_PER_YEAR
    horizon = lifetime_years
    if years is not None and lifetime_years < years <= 3 * lifetime_years:
        horizon = years * 1.2
    t_years = np.linspace(0.0, horizon, CURVE_POINTS)
    cum = grid.cumulative(t_years * H_PER_YEAR)
    keep_kg = keep_rate * cum
    replace_kg = net_kg + repl_rate * cum
    end = grid.cumulative(np.array([lifetime_years * H_PER_YEAR]))[0]
    within = years is not None and years <= lifetime_years
    doc: dict[str, Any] = {
        "schema": BREAKEVEN_SCHEMA,
        "current": keep,
        "candidate": repl,
        "speedup": speedup,
        "utilization": utilization,
        "pue": pue,
        "pue_source": pue_source,
        "lifetime_years": lifetime_years,
        "lifetime_source": lifetime_source,
        "resale_credit_kg": resale_credit_kg,
        "intensity": {"region": grid.region, "mean_g_per_kwh": grid.mean_g_per_kwh,
                      "hourly": grid.hourly, "source": grid.source},
        "net_embodied_kg": net_kg,
        "saving_kg_per_year": keep["co2e_kg_per_year"] - repl["co2e_kg_per_year"],
        "breakeven_years": years,
        "within_lifetime": within,
        "keep_kg_at_lifetime": float(keep_rate * end),
        "replace_kg_at_lifetime": float(net_kg + repl_rate * end),
        "verdict": _verdict(years, within, lifetime_years, delta_w, net_kg),
        "curve": [{"years": float(t), "keep_kg": float(k), "replace_kg": float(r)}
                  for t, k, r in zip(t_years, keep_kg, replace_kg, strict=True)],
    }
    return doc


def _verdict(years: float | None, within: bool, lifetime_years: float, delta_w: float,
             net_kg: float) -> str:
    if years is None:
        if delta_w <= 0 and net_kg <= 0:
            return ("never: the credit covers the candidate's embodied carbon at first, but the "
                    "candidate uses more power, so keeping is lower-carbon in the long run")
        return ("never: the candidate does not use less power for this work, so its embodied "
                "carbon is never paid back; keep the current device")
    if years == 0:
        return "at once: the credit covers the candidate's embodied carbon and it uses no more"
    if within:
        return (f"replace: it pays back its embodied carbon after {years:.3g} years, within its "
                f"{lifetime_years:g}-year lifetime")
    return (f"keep: replacing would pay back only after {years:.3g} years, beyond the "
            f"{lifetime_years:g}-year lifetime")


def breakeven_plot(doc: Mapping[str, Any], fmt: str = "svg") -> bytes:
    """Both cumulative curves, and the break-even, as an SVG or PNG image.

    Args:
        doc: a :func:`breakeven` document.
        fmt: ``svg`` or ``png``.

    Raises:
        WattprintError: matplotlib is not installed (the ``report`` extra).
    """
    from wattprint.report.plots import require_matplotlib

    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    t = [p["years"] for p in doc["curve"]]
    ax.plot(t, [p["keep_kg"] for p in doc["curve"]], color="#1b6ca8",
            label=f"keep {doc['current']['name']}")
    ax.plot(t, [p["replace_kg"] for p in doc["curve"]], color="#d1495b",
            label=f"replace with {doc['candidate']['name']}")
    years = doc["breakeven_years"]
    if years is not None and years <= t[-1]:
        ax.axvline(years, color="#555555", linewidth=0.8, linestyle="--")
        ax.annotate(f"break-even {years:.3g} y", (years, 0), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    ax.axvline(doc["lifetime_years"], color="#aaaaaa", linewidth=0.8, linestyle=":")
    ax.set_xlabel("years", fontsize=9)
    ax.set_ylabel("cumulative kgCO2e", fontsize=9)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    return figure_bytes(fig, fmt)


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """A matplotlib figure as SVG or PNG bytes (no date in the file: reproducible)."""
    if fmt not in ("svg", "png"):
        raise ConfigError(f"a plot is written as .svg or .png, not .{fmt}")
    buf = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()


__all__ = ["BREAKEVEN_SCHEMA", "Device", "Grid", "annual_grid", "breakeven", "breakeven_plot",
           "catalogue_device", "constant_grid", "explicit_device", "figure_bytes",
           "hourly_grid"]
