"""How sure a footprint is: a range for every input that is not measured, and a p5-p95 interval.

A footprint multiplies facts of very different quality. A RAPL or NVML
counter is a measurement; a power model's CPU watts, a card's TDP, an annual
grid average, a PUE and a server's manufacturing carbon are estimates, some
good to a few per cent, some to a factor of two. This module gives each
input that is not measured a range with its source, and carries them through
the footprint's own formula::

    total = PUE × I × Σ_d (O_d × e_d) + PUE × I × O_other + M × m × L / L'

where ``O_d`` is device ``d``'s operational carbon before PUE (its energy ×
the intensity the accounting applied), ``e_d`` the factor on its energy
(exactly 1 for a measured device), ``I`` the factor on the grid intensity,
``PUE`` the PUE drawn from its range, ``M`` the embodied carbon, ``m`` the
factor on it, and ``L / L'`` the central lifetime over the lifetime drawn.

**Why Monte Carlo.** The total rises with every input but lifetime, so exact
interval arithmetic would give its absolute bounds (every input at its worst
at once) - a range no run is likely to see. The interval asked for is the
5th to 95th percentile, which needs the inputs' distributions combined: the
inputs are drawn independently, :data:`DRAWS` times, from a generator with a
fixed seed (:data:`SEED`), so the same footprint always gets the same
interval. numpy is imported when an interval is asked for, never on the
path of the run summary. The central value is the footprint's own total,
unchanged; where skewed inputs (a TDP is an upper bound of average draw, a
missing PUE is a lower bound) put it outside the percentiles, the interval
is widened to include it and says so.

**The ranges** (each listed with its source in the footprint's
``uncertainty``; "stated" marks wattprint's own stated range where no data
set gives one):

* *energy of a measured device*: none (the counter's error is below the
  other terms').
* *CPU power model*: between the model's floor (every vCPU idle: the idle
  part of its energy) and ceiling (every vCPU at its CCF max watts),
  triangular with its mode at the estimate (the utilisation is measured; the
  coefficients are averages of many servers).
* *RAM model* (W per GB): triangular 0.5-1.5 × (stated: published W/GB
  figures for DRAM differ by about a factor of two).
* *other estimated devices*: triangular 0.5-1.5 × (stated).
* *estimate from a catalogue TDP*: uniform 0.6-1.0 × (stated: a TDP is the
  ceiling of a card's sustained draw; training runs average below it).
* *power given by the user*: uniform 0.9-1.1 × (stated).
* *grid intensity*: an annual average of a region that has a shipped hourly
  series: the hourly spread of that series (each hour / the series' mean,
  drawn at random: the hours a short run happens to fall on); an annual
  average without a series: uniform 0.8-1.2 × (stated: annual figures of
  different data sets and years differ by this much); a shipped hourly
  series: uniform 0.95-1.05 ×; a user value or series, a kept series or a
  live API: uniform 0.9-1.1 × (stated).
* *PUE*: given by the user: none; a provider's published fleet average:
  uniform from 0.05 below to 0.1 above it (one data centre differs from the
  fleet; never below 1); none set (1.0, no overhead): uniform 1.0 to the
  typical data centre's (Uptime Institute's survey average, shipped in
  ``pue_defaults.csv``).
* *embodied carbon*: by instance type (CCF): triangular 0.7-1.3 ×; catalogue
  and BLOOM defaults: triangular 0.5-1.5 × (stated: server and card LCAs
  differ by about a factor of two).
* *lifetime*: a value from configuration: none; a default: uniform 4-7 years
  (CCF assumes 4, BLOOM 6, cloud providers depreciate servers over 5-6).

A run whose devices are all measured, without embodied carbon, therefore has
an interval from the intensity and the PUE alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from wattprint.accounting.footprint import Footprint

if TYPE_CHECKING:
    import numpy as np

#: Seed of the random generator: the same footprint always gets the same interval.
SEED = 20_240_601
#: Number of Monte Carlo draws (the 5th percentile moves by under 0.1 % between seeds).
DRAWS = 20_000
#: Percentiles of the interval.
PERCENTILES = (5.0, 95.0)

_CPU_MODEL = re.compile(r"([\d.]+)-([\d.]+) W/vCPU x ([\d.]+) vCPU")


@dataclass(frozen=True)
class Range:
    """The range of one input, as factors on its central value.

    Attributes:
        factor: what it applies to (``energy:<device>``, ``intensity``, ``pue``,
            ``embodied``, ``lifetime``).
        shape: ``uniform``, ``triangular`` (mode 1), ``empirical`` (drawn from
            ``samples``) or ``reciprocal`` (the factor is ``central / x`` with ``x``
            uniform: a lifetime drawn uniformly in years).
        low: lowest factor.
        high: highest factor.
        source: where the range comes from.
        samples: the factors an ``empirical`` range draws from.
    """

    factor: str
    shape: str
    low: float
    high: float
    source: str
    samples: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the samples)."""
        return {"factor": self.factor, "shape": self.shape, "low": self.low, "high": self.high,
                "source": self.source}

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` factors drawn from this range."""
        import numpy as np

        if self.shape == "empirical" and self.samples:
            return rng.choice(np.asarray(self.samples, dtype=np.float64), size=n)
        if self.low == self.high:
            return np.full(n, self.low)
        if self.shape == "reciprocal":  # a lifetime: the charge scales as central / drawn
            return 1.0 / rng.uniform(1.0 / self.high, 1.0 / self.low, n)
        if self.shape == "triangular":
            return rng.triangular(self.low, min(max(1.0, self.low), self.high), self.high, n)
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Interval:
    """A footprint's central value and its p5-p95 interval.

    Attributes:
        central_kg: the footprint's total, kgCO2e (unchanged by this module).
        low_kg: 5th percentile (or the central value, if lower), kgCO2e.
        high_kg: 95th percentile (or the central value, if higher), kgCO2e.
        ranges: the inputs' ranges used.
        widened: the percentiles missed the central value and were widened to it.
    """

    central_kg: float
    low_kg: float
    high_kg: float
    ranges: tuple[Range, ...]
    widened: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: method, seed, draws, the interval and every range."""
        return {"method": "monte carlo", "seed": SEED, "draws": DRAWS,
                "percentiles": list(PERCENTILES), "co2e_kg_interval": [self.low_kg, self.high_kg],
                "widened_to_central": self.widened,
                "ranges": [r.as_dict() for r in self.ranges]}


def _assumptions(fp: Footprint, factor: str) -> list[dict[str, Any]]:
    return [p for p in fp.provenance if p.get("factor") == factor]


def _energy_range(device: Mapping[str, Any], fp: Footprint) -> Range | None:
    if device.get("measured"):
        return None
    name = f"energy:{device['id']}"
    source = next((str(p["source"]) for p in _assumptions(fp, "energy")
                   if p.get("device") == device["id"]), "")
    energy_kwh = float(device.get("energy_kwh") or 0.0)
    cpu = _CPU_MODEL.search(source)
    if cpu and energy_kwh > 0 and float(device.get("idle_kwh") or 0.0) > 0:
        min_w, max_w = float(cpu.group(1)), float(cpu.group(2))
        floor = float(device["idle_kwh"]) / energy_kwh
        ceiling = floor * max_w / min_w if min_w > 0 else 1.5
        return Range(name, "triangular", min(floor, 1.0), max(ceiling, 1.0),
                     f"CPU power model: all idle ({min_w:g} W/vCPU) to all busy "
                     f"({max_w:g} W/vCPU), mode at the estimate")
    if "W/GB" in source:
        return Range(name, "triangular", 0.5, 1.5, "RAM power model: stated, published W/GB "
                                                   "figures differ by about 2x")
    if device["id"] == "estimate":
        power = _assumptions(fp, "gpu_power") + _assumptions(fp, "power")
        if power and str(power[0]["source"]).startswith("catalogue TDP"):
            return Range(name, "uniform", 0.6, 1.0, "catalogue TDP: stated, a TDP is the "
                                                    "ceiling of sustained draw")
        return Range(name, "uniform", 0.9, 1.1, "power given by the user: stated ±10 %")
    return Range(name, "triangular", 0.5, 1.5, "estimated energy: stated")


def _hourly_spread(region: str) -> tuple[float, ...]:
    """Each hour / the mean of the region's shipped hourly series (empty without one)."""
    import numpy as np

    from wattprint.accounting.hourly import hourly_series
    from wattprint.errors import WattprintError

    try:
        values = np.asarray(hourly_series(region).g_per_kwh, dtype=np.float64)
    except WattprintError:
        return ()
    values = values[np.isfinite(values)]
    if values.size == 0 or float(values.mean()) <= 0:
        return ()
    return tuple(float(v) for v in values / float(values.mean()))


def _intensity_range(fp: Footprint) -> Range:
    source = str(fp.intensity.get("source", ""))
    region = str(fp.intensity.get("region", ""))
    if source == "annual":
        spread = _hourly_spread(region)
        if spread:
            return Range("intensity", "empirical", min(spread), max(spread),
                         f"annual average; hourly spread of the shipped {region} series "
                         f"({len(spread):,} hours)", spread)
        return Range("intensity", "uniform", 0.8, 1.2,
                     "annual average without an hourly series: stated ±20 %")
    if source == "hourly":
        return Range("intensity", "uniform", 0.95, 1.05, "shipped hourly series: stated ±5 %")
    return Range("intensity", "uniform", 0.9, 1.1, f"{source or 'given'}: stated ±10 %")


def _pue_range(fp: Footprint) -> Range | None:
    pue = float(fp.pue)
    source = next((str(p["source"]) for p in _assumptions(fp, "pue")), "")
    if source.startswith("given by the user"):
        return None
    if source.startswith("no PUE set"):
        from wattprint.accounting.pue import provider_defaults

        typical = provider_defaults().get("unknown", (1.58, ""))[0]
        return Range("pue", "uniform", 1.0, typical / pue,
                     f"no PUE set: 1.0 to a typical data centre's {typical:g}")
    low = max(1.0, pue - 0.05)
    return Range("pue", "uniform", low / pue, (pue + 0.1) / pue,
                 f"{source.split(',')[0] or 'PUE'}: one site differs from the fleet average, "
                 "stated -0.05/+0.1")


def _embodied_ranges(fp: Footprint) -> list[Range]:
    if not fp.co2e_kg.get("embodied"):
        return []
    ccf = any("by instance type (CCF)" in str(p.get("source", ""))
              for p in _assumptions(fp, "embodied_share"))
    out = [Range("embodied", "triangular", 0.7, 1.3, "by instance type (CCF): stated ±30 %")
           if ccf else Range("embodied", "triangular", 0.5, 1.5,
                             "catalogue embodied values: stated, LCAs differ by about 2x")]
    life = _assumptions(fp, "lifetime")
    if life and not str(life[0]["source"]).startswith("override"):
        years = float(life[0]["value"])
        low, high = min(4.0, years), max(7.0, years)
        # the charge scales as central / drawn lifetime: factors years/high to years/low
        out.append(Range("lifetime", "reciprocal", years / high, years / low,
                         f"lifetime {low:g}-{high:g} years (CCF 4, BLOOM 6)"))
    return out


def input_ranges(fp: Footprint) -> list[Range]:
    """The range of every input of ``fp`` that is not measured, with its source."""
    ranges = [r for d in fp.by_device if (r := _energy_range(d, fp)) is not None]
    ranges.append(_intensity_range(fp))
    pue = _pue_range(fp)
    if pue is not None:
        ranges.append(pue)
    return ranges + _embodied_ranges(fp)


def footprint_interval(fp: Footprint, ranges: Sequence[Range] | None = None, *,
                       seed: int = SEED, draws: int = DRAWS) -> Interval:
    """The p5-p95 interval of ``fp``'s total by Monte Carlo over its inputs' ranges.

    Args:
        fp: the footprint (its central value is kept).
        ranges: the ranges to use (default :func:`input_ranges`).
        seed: the random generator's seed.
        draws: number of draws.

    Returns:
        The central value and the interval, with the ranges used.
    """
    import numpy as np

    ranges = tuple(input_ranges(fp) if ranges is None else ranges)
    by_factor = {r.factor: r for r in ranges}
    rng = np.random.default_rng(seed)

    def factor(name: str) -> np.ndarray:
        found = by_factor.get(name)
        return found.draw(rng, draws) if found is not None else np.ones(draws)

    pue = float(fp.pue)
    operational = float(fp.co2e_kg["dynamic"]) + float(fp.co2e_kg["idle"])
    devices = np.zeros(draws)
    counted = 0.0
    for device in fp.by_device:
        kg = float(device.get("co2e_kg") or 0.0) / pue if pue > 0 else 0.0
        counted += kg
        devices += kg * factor(f"energy:{device['id']}")
    other = max(operational - counted, 0.0)  # idle energy given directly (estimates)
    totals = pue * factor("pue") * factor("intensity") * (devices + other)
    totals += float(fp.co2e_kg.get("embodied") or 0.0) * factor("embodied") * factor("lifetime")
    low, high = (float(v) for v in np.percentile(totals, PERCENTILES))
    central = float(fp.co2e_kg["total"])
    widened = not low <= central <= high
    return Interval(central, min(low, central), max(high, central), ranges, widened)


def with_interval(fp: Footprint, **kwargs: Any) -> Footprint:
    """``fp`` with its interval (``co2e_kg_interval``) and the ranges (``uncertainty``)."""
    interval = footprint_interval(fp, **kwargs)
    return replace(fp, co2e_kg_interval=[interval.low_kg, interval.high_kg],
                   uncertainty=interval.as_dict())


__all__ = ["DRAWS", "PERCENTILES", "SEED", "Interval", "Range", "footprint_interval",
           "input_ranges", "with_interval"]
