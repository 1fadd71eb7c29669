"""Life-cycle footprint of measured (or estimated) energy: the one place for the formulas.

For every energy interval ``i`` of every device (energy ``E_i`` under the
run's attribution rule, duration ``Δt_i``, grid intensity ``I_i`` over the
interval from the chosen source):

* idle:      ``idle_i = min(P_idle × Δt_i × s_i, E_i)``, where ``P_idle`` is the
  device's idle power (measured before the run with ``--measure-idle``, else
  the hardware catalogue, each labelled) and ``s_i`` the attributed share
  (1 under machine attribution);
* dynamic:   ``dyn_i = E_i − idle_i``;
* infrastructure: ``(dyn_i + idle_i) × (PUE − 1)``;
* operational carbon of each term: its kWh × ``I_i``.

Embodied carbon (manufacturing), amortised per device-hour used::

    embodied_per_hour = embodied_kg / (lifetime_years × 8760 × utilization)

charged for the run's duration for every GPU (per card) and once for the
server node (chassis without GPUs) — the method of the BLOOM life-cycle study
(150 kg per GPU, 2,500 kg per node, 6 years, 85 % utilisation). Under process
attribution the embodied charge is scaled by the attributed share of the
energy of those devices.

SCI (Green Software Foundation): ``((E × I) + M) / R`` with ``E × I`` the
operational carbon (dynamic + idle + infrastructure), ``M`` embodied, ``R``
the functional units counted with ``run.add_units``.

The intensity's ``mean_g_per_kwh`` is energy-weighted (operational carbon /
energy), so it is the intensity the run actually "saw"; ``min``/``max`` are
over the intervals, and the mean is kept inside them (summing in floating
point could otherwise put it a hair outside, and a printed ``330 [329-329]``
reads as an error).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from wattprint.accounting.series import Provenance
from wattprint.units import H_PER_YEAR, J_PER_KWH

if TYPE_CHECKING:  # numpy loads only when arrays are accounted (not for a short run's summary)
    import numpy as np

#: Per-interval values: a numpy array, or a plain sequence for a short run accounted
#: with one intensity (the summary ``wattprint run`` prints, which must not wait for numpy).
Floats: TypeAlias = "np.ndarray | Sequence[float]"


@dataclass(frozen=True)
class Assumption:
    """A value used in a footprint and where it came from."""

    factor: str
    value: float
    unit: str
    source: str
    device: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"factor": self.factor, "value": self.value, "unit": self.unit,
                               "source": self.source}
        if self.device is not None:
            out["device"] = self.device
        return out


@dataclass(frozen=True)
class DeviceUse:
    """One device's energy intervals, ready to account.

    Attributes:
        device_id: device id.
        kind: device kind.
        name: device name.
        measured: measured or estimated energy.
        energy_source: what produced the energy figures (sensor/model text).
        starts_s, ends_s: interval bounds, UTC epoch seconds.
        energy_j: energy counted per interval (under the attribution rule).
        share: attributed / whole-device energy per interval (1 for machine).
        idle_w: idle power, or ``None`` when unknown (then no idle split).
        idle_source: where ``idle_w`` came from.
        embodied_kg: manufacturing carbon of the device, ``None`` if not charged.
        embodied_source: where ``embodied_kg`` came from.
        embodied_share: share of the device's embodied charge (process attribution).
        totals: the intervals already summed by the store, for one intensity over
            the whole run (then the per-interval fields are empty and the
            device's intensity sequence holds that one value per interval).
    """

    device_id: str
    kind: str
    name: str
    measured: bool
    energy_source: str
    starts_s: Floats
    ends_s: Floats
    energy_j: Floats
    share: Floats
    idle_w: float | None = None
    idle_source: str = ""
    embodied_kg: float | None = None
    embodied_source: str = ""
    embodied_share: float = 1.0
    totals: UseTotals | None = None


class UseTotals(NamedTuple):
    """One device's intervals summed where they are stored, under the run's attribution.

    Attributes:
        energy_j: energy counted, J.
        dynamic_j: ``Σ (E_i − idle_i)``, J.
        idle_j: ``Σ idle_i`` with ``idle_i = min(P_idle × Δt_i × s_i, E_i)``, J.
        time_s: ``Σ Δt_i``, s.
        intervals: number of intervals.
    """

    energy_j: float
    dynamic_j: float
    idle_j: float
    time_s: float
    intervals: int


@dataclass(frozen=True)
class EmbodiedParams:
    """Amortisation of manufacturing carbon.

    Attributes:
        lifetime_years: service life of the hardware.
        utilization: fraction of that life the hardware is busy (0-1].
        node_kg: embodied carbon of the server node without GPUs, or ``None``.
        nodes: number of nodes charged.
        node_share: share of the node charged (process attribution).
        source: where these came from.
    """

    lifetime_years: float
    utilization: float
    node_kg: float | None
    nodes: float = 1.0
    node_share: float = 1.0
    source: str = ""

    def per_hour_kg(self, embodied_kg: float) -> float:
        """Embodied carbon charged per device-hour."""
        return embodied_kg / (self.lifetime_years * H_PER_YEAR * self.utilization)


@dataclass(frozen=True)
class Footprint:
    """Energy and carbon of a run or an estimate, split by life-cycle term, with provenance.

    ``to_dict()`` gives the documented JSON shape (the same for ``show``,
    ``account`` and ``estimate``)::

        {"energy_kwh": {"dynamic", "idle", "infrastructure", "total"},
         "co2e_kg": {"dynamic", "idle", "infrastructure", "embodied", "total"},
         "intensity": {"source", "method", "region", "mean_g_per_kwh",
                       "min_g_per_kwh", "max_g_per_kwh"},
         "pue": float, "sci": [...], "provenance": [...]}

    With an interval (:func:`wattprint.accounting.uncertainty.with_interval`),
    also ``"co2e_kg_interval": [p5, p95]`` and ``"uncertainty"`` (the method
    and every input's range with its source).
    """

    energy_kwh: dict[str, float]
    co2e_kg: dict[str, float]
    intensity: dict[str, Any]
    pue: float
    sci: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    by_device: list[dict[str, Any]] = field(default_factory=list)
    co2e_kg_interval: list[float] | None = None
    uncertainty: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (with the interval when one was computed)."""
        out = {"energy_kwh": dict(self.energy_kwh), "co2e_kg": dict(self.co2e_kg),
               "intensity": dict(self.intensity), "pue": self.pue, "sci": list(self.sci),
               "by_device": list(self.by_device), "provenance": list(self.provenance)}
        if self.co2e_kg_interval is not None:
            out["co2e_kg_interval"] = list(self.co2e_kg_interval)
            out["uncertainty"] = dict(self.uncertainty or {})
        return out


def provenance_dict(p: Provenance) -> dict[str, Any]:
    """An intensity provenance as a JSON-ready dict."""
    return {"factor": "grid_intensity", "source": p.source, "dataset": p.dataset,
            "year": p.year, "method": p.method, "basis": p.basis, "licence": p.licence,
            "citation": p.citation, "region": p.region, "fallback": p.fallback,
            "filled_gaps": p.filled_gaps}


def embodied_note(co2e_kg: Mapping[str, float]) -> str | None:
    """A note when embodied carbon exceeds operational carbon (``None`` otherwise).

    Short runs on lightly used hardware can carry more manufacturing carbon
    than they burn; the reader should know the total is mostly amortisation.
    """
    operational = co2e_kg["dynamic"] + co2e_kg["idle"] + co2e_kg["infrastructure"]
    embodied = co2e_kg["embodied"]
    if embodied <= 0 or embodied <= operational:
        return None
    ratio = f"{embodied / operational:.1f}×" if operational > 0 else "all"
    return (f"embodied carbon is more than operational ({ratio}): the total is mostly "
            "the hardware's manufacturing, amortised; see embodied_share in the provenance")


def sci_rows(operational_kg: float, embodied_kg: float, energy_kwh: float,
             units: Mapping[str, float]) -> list[dict[str, Any]]:
    """SCI per functional unit: ((E × I) + M) / R for each counted unit."""
    rows = []
    for unit, count in sorted(units.items()):
        if count <= 0:
            continue
        rows.append({
            "unit": unit, "count": count,
            "co2e_g_per_unit": (operational_kg + embodied_kg) * 1000.0 / count,
            "energy_kwh_per_unit": energy_kwh / count,
        })
    return rows


class DeviceSums(NamedTuple):
    """One device's intervals summed (see the module docstring for the formulas).

    Attributes:
        energy_j: energy counted (under the attribution rule), J.
        dynamic_j: its dynamic part, J.
        idle_j: its idle part, J.
        dynamic_kg: operational carbon of the dynamic part (before PUE), kg.
        idle_kg: operational carbon of the idle part (before PUE), kg.
        intervals: number of intervals.
        min_g_per_kwh: lowest intensity applied (``inf`` without intervals).
        max_g_per_kwh: highest intensity applied (``-inf`` without intervals).
        time_weighted: sum of intensity × interval duration, g/kWh·s.
        time_s: sum of interval durations, s.
    """

    energy_j: float
    dynamic_j: float
    idle_j: float
    dynamic_kg: float
    idle_kg: float
    intervals: int
    min_g_per_kwh: float
    max_g_per_kwh: float
    time_weighted: float
    time_s: float


def device_sums(use: DeviceUse, intensity_g_per_kwh: Floats) -> DeviceSums:
    """Sum one device's idle, dynamic and operational carbon over its intervals.

    Plain sequences are summed in Python (``math.fsum``), so a short run's
    summary needs no numpy; arrays are summed by numpy. Both follow the same
    formulas: ``idle_i = min(P_idle × Δt_i × s_i, E_i)``, ``dyn_i = E_i − idle_i``,
    carbon = kWh × ``I_i``. A device summed by the store (``use.totals``) has one
    intensity ``I`` for all its intervals, so each sum is its total × ``I``.
    """
    if use.totals is not None:
        return _total_sums(use.totals, intensity_g_per_kwh)
    if isinstance(intensity_g_per_kwh, (list, tuple)) and isinstance(use.energy_j, (list, tuple)):
        return _plain_sums(use, intensity_g_per_kwh)
    import numpy as np

    ci = np.asarray(intensity_g_per_kwh, dtype=np.float64)
    starts, ends = np.asarray(use.starts_s, np.float64), np.asarray(use.ends_s, np.float64)
    energy = np.asarray(use.energy_j, dtype=np.float64)
    dt = ends - starts
    if use.idle_w is not None:
        idle_j = np.minimum(use.idle_w * dt * np.asarray(use.share, np.float64), energy)
    else:
        idle_j = np.zeros_like(energy)
    dyn_j = energy - idle_j
    empty = ci.size == 0
    return DeviceSums(
        energy_j=float(energy.sum()), dynamic_j=float(dyn_j.sum()), idle_j=float(idle_j.sum()),
        dynamic_kg=float((dyn_j / J_PER_KWH * ci).sum()) / 1000.0,
        idle_kg=float((idle_j / J_PER_KWH * ci).sum()) / 1000.0,
        intervals=int(ci.size),
        min_g_per_kwh=float("inf") if empty else float(ci.min()),
        max_g_per_kwh=float("-inf") if empty else float(ci.max()),
        time_weighted=0.0 if empty else float((ci * dt).sum()),
        time_s=0.0 if empty else float(dt.sum()))


def _total_sums(totals: UseTotals, ci: Floats) -> DeviceSums:
    if not totals.intervals or not len(ci):
        return DeviceSums(totals.energy_j, totals.dynamic_j, totals.idle_j, 0.0, 0.0, 0,
                          float("inf"), float("-inf"), 0.0, 0.0)
    c = float(ci[0])
    return DeviceSums(
        energy_j=totals.energy_j, dynamic_j=totals.dynamic_j, idle_j=totals.idle_j,
        dynamic_kg=totals.dynamic_j / J_PER_KWH * c / 1000.0,
        idle_kg=totals.idle_j / J_PER_KWH * c / 1000.0, intervals=totals.intervals,
        min_g_per_kwh=c, max_g_per_kwh=c, time_weighted=c * totals.time_s,
        time_s=totals.time_s)


def _plain_sums(use: DeviceUse, ci: Sequence[float]) -> DeviceSums:
    energy = [float(e) for e in use.energy_j]
    dt = [float(e) - float(s) for s, e in zip(use.starts_s, use.ends_s, strict=True)]
    if use.idle_w is not None:
        idle_w = use.idle_w
        idle_j = [min(idle_w * d * float(s), e) for d, s, e in zip(dt, use.share, energy,
                                                                    strict=True)]
    else:
        idle_j = [0.0] * len(energy)
    dyn_j = [e - i for e, i in zip(energy, idle_j, strict=True)]
    return DeviceSums(
        energy_j=math.fsum(energy), dynamic_j=math.fsum(dyn_j), idle_j=math.fsum(idle_j),
        dynamic_kg=math.fsum(d / J_PER_KWH * c for d, c in zip(dyn_j, ci, strict=True)) / 1000.0,
        idle_kg=math.fsum(i / J_PER_KWH * c for i, c in zip(idle_j, ci, strict=True)) / 1000.0,
        intervals=len(ci), min_g_per_kwh=min(ci, default=float("inf")),
        max_g_per_kwh=max(ci, default=float("-inf")),
        time_weighted=math.fsum(c * d for c, d in zip(ci, dt, strict=True)),
        time_s=math.fsum(dt))


def compute_footprint(
    uses: Sequence[DeviceUse],
    intensity_g_per_kwh: Mapping[str, Floats],
    intensity_provenance: Provenance,
    *,
    region: str,
    source_name: str,
    pue: float,
    pue_source: str,
    duration_s: float,
    embodied: EmbodiedParams | None,
    units: Mapping[str, float] | None = None,
    extra_idle_kwh: float = 0.0,
    extra_assumptions: Sequence[Assumption] = (),
) -> Footprint:
    """Account a set of devices' intervals (pure: numbers in, :class:`Footprint` out).

    Args:
        uses: the devices and their intervals.
        intensity_g_per_kwh: device id -> intensity of each of its intervals.
        intensity_provenance: where the intensities came from.
        region: region code accounted in.
        source_name: intensity source name (``annual``, ``hourly``, ``series``...).
        pue: power usage effectiveness (>= 1).
        pue_source: where the PUE came from.
        duration_s: wall-clock duration charged for embodied carbon.
        embodied: amortisation parameters, or ``None`` for no embodied term.
        units: functional units for SCI.
        extra_idle_kwh: idle energy given directly (estimates), at the mean intensity.
        extra_assumptions: more assumptions to list in the provenance.
    """
    dyn_kwh = idle_kwh = 0.0
    dyn_kg = idle_kg = 0.0
    lo, hi = float("inf"), float("-inf")
    time_weighted = 0.0
    time_total = 0.0
    assumptions: list[Assumption] = list(extra_assumptions)
    by_device: list[dict[str, Any]] = []
    for use in uses:
        sums = device_sums(use, intensity_g_per_kwh[use.device_id])
        if use.idle_w is not None:
            assumptions.append(Assumption("idle_power", use.idle_w, "W", use.idle_source,
                                          use.device_id))
        d_kwh, i_kwh = sums.dynamic_j / J_PER_KWH, sums.idle_j / J_PER_KWH
        d_kg, i_kg = sums.dynamic_kg, sums.idle_kg
        dyn_kwh += d_kwh
        idle_kwh += i_kwh
        dyn_kg += d_kg
        idle_kg += i_kg
        if sums.intervals:
            lo, hi = min(lo, sums.min_g_per_kwh), max(hi, sums.max_g_per_kwh)
            time_weighted += sums.time_weighted
            time_total += sums.time_s
        assumptions.append(Assumption(
            "energy", sums.energy_j, "J",
            ("measured" if use.measured else "estimated") + f" by {use.energy_source}",
            use.device_id))
        by_device.append({"id": use.device_id, "kind": use.kind, "name": use.name,
                          "measured": use.measured, "energy_kwh": d_kwh + i_kwh,
                          "dynamic_kwh": d_kwh, "idle_kwh": i_kwh,
                          "co2e_kg": (d_kg + i_kg) * pue})
    measured_kwh = dyn_kwh + idle_kwh
    mean_ci = ((dyn_kg + idle_kg) * 1000.0 / measured_kwh if measured_kwh > 0
               else (time_weighted / time_total if time_total > 0 else float("nan")))
    if lo <= hi:  # a weighted mean lies in its range; keep float rounding from leaving it
        mean_ci = min(max(mean_ci, lo), hi)
    if extra_idle_kwh:
        idle_kwh += extra_idle_kwh
        idle_kg += extra_idle_kwh * mean_ci / 1000.0
        assumptions.append(Assumption("idle_energy", extra_idle_kwh, "kWh", "given by the user"))
    it_kwh = dyn_kwh + idle_kwh
    infra_kwh = it_kwh * (pue - 1.0)
    infra_kg = (dyn_kg + idle_kg) * (pue - 1.0)
    assumptions.append(Assumption("pue", pue, "", pue_source))
    embodied_kg = 0.0
    if embodied is not None:
        hours = duration_s / 3600.0
        for use in uses:
            if use.embodied_kg is None:
                continue
            embodied_kg += embodied.per_hour_kg(use.embodied_kg) * hours * use.embodied_share
            assumptions.append(Assumption("embodied", use.embodied_kg, "kgCO2e",
                                          use.embodied_source, use.device_id))
        if embodied.node_kg is not None:
            embodied_kg += (embodied.per_hour_kg(embodied.node_kg) * hours * embodied.nodes
                            * embodied.node_share)
            assumptions.append(Assumption("embodied_node", embodied.node_kg, "kgCO2e per node",
                                          embodied.source))
        assumptions.append(Assumption("lifetime", embodied.lifetime_years, "years",
                                      embodied.source))
        assumptions.append(Assumption("utilization", embodied.utilization, "fraction",
                                      embodied.source))
    operational_kg = dyn_kg + idle_kg + infra_kg
    total_kwh = it_kwh + infra_kwh
    provenance = [provenance_dict(intensity_provenance)] + [a.as_dict() for a in assumptions]
    return Footprint(
        energy_kwh={"dynamic": dyn_kwh, "idle": idle_kwh, "infrastructure": infra_kwh,
                    "total": total_kwh},
        co2e_kg={"dynamic": dyn_kg, "idle": idle_kg, "infrastructure": infra_kg,
                 "embodied": embodied_kg, "total": operational_kg + embodied_kg},
        intensity={"source": source_name, "method": intensity_provenance.method,
                   "region": region, "mean_g_per_kwh": mean_ci,
                   "min_g_per_kwh": lo if lo != float("inf") else mean_ci,
                   "max_g_per_kwh": hi if hi != float("-inf") else mean_ci,
                   "provenance": intensity_provenance.source,
                   "fallback": intensity_provenance.fallback},
        pue=pue,
        sci=sci_rows(operational_kg, embodied_kg, total_kwh, units or {}),
        provenance=provenance,
        by_device=by_device,
    )
