"""A run in one line for people: what it used, what that emitted, how long it took.

``print(run)``, ``repr(run)``, the line :func:`wattprint.track` prints to
stderr when a run ends, and the HTML a notebook shows (``_repr_html_``) all
come from here::

    run 6b12a3f09c1d… 2.4 kJ (0.667 Wh, measured: 2 GPUs; estimated: CPU) · 310 mg CO2e DE · 41 s

Energy is the run's total under its attribution rule, in the largest unit
that keeps it at 1 or more (:func:`wattprint.units.format_energy_j`); below
one watt-hour (and from 0.01 Wh) it is also given in Wh, the unit of
electricity bills. The
devices are grouped as *measured* (hardware counters) and *estimated* (power
models), so an estimate is never read as a measurement. Carbon is the
footprint's total (dynamic, idle, infrastructure and embodied) in the region
it was accounted for; it is shown once the run has ended (accounting a
running run on every ``repr`` would cost more than the line is worth).

Everything here is pure: a :class:`RunSummary` in, text out.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wattprint.units import (
    DEFAULT_PRECISION,
    J_PER_WH,
    format_duration_s,
    format_energy_j,
    format_intensity,
    format_mass_kg,
    format_number,
)

if TYPE_CHECKING:
    from wattprint.run.devices import DeviceEnergy

#: Characters of the run id shown: its 8 hex digits of start time and 4 of its random
#: part, so runs started in the same second still differ (``wattprint show PREFIX``).
ID_CHARS = 12

#: Environment variable that silences the line :func:`wattprint.track` prints at exit.
QUIET_ENV = "WATTPRINT_QUIET"

_KIND_ORDER = ("gpu", "cpu", "dram", "ram", "psys", "node")
_KIND_LABELS = {"gpu": ("GPU", "GPUs"), "cpu": ("CPU", "CPUs"), "dram": ("DRAM", "DRAM"),
                "ram": ("RAM", "RAM"), "psys": ("psys", "psys"), "node": ("node", "nodes")}
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class RunSummary:
    """What the one-line summary says about a run.

    Attributes:
        run_id: the stored run's id (``None`` before it starts or when it was not stored).
        status: ``new``, ``running``, ``finished``, ``failed``, ``terminated``...
        energy_j: total energy under the run's attribution rule, J.
        devices: the devices read, with their energy.
        duration_s: wall-clock duration (``None`` before it starts).
        co2e_kg: total footprint, kg CO2e (``None`` when not accounted).
        region: the region the carbon was accounted for.
        intensity_g_per_kwh: the mean grid intensity applied, gCO2e/kWh.
    """

    run_id: str | None
    status: str
    energy_j: float
    devices: Sequence[DeviceEnergy]
    duration_s: float | None
    co2e_kg: float | None = None
    region: str | None = None
    intensity_g_per_kwh: float | None = None


def quiet_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``WATTPRINT_QUIET`` asks for silence (``1``, ``true``, ``yes`` or ``on``)."""
    env = os.environ if environ is None else environ
    return env.get(QUIET_ENV, "").strip().lower() in _TRUE


def device_groups(devices: Sequence[DeviceEnergy]) -> str:
    """``"measured: 2 GPUs; estimated: CPU"``: the devices counted by kind, measured first."""
    groups = []
    for measured, word in ((True, "measured"), (False, "estimated")):
        counts: dict[str, int] = {}
        for d in devices:
            if d.measured == measured:
                counts[d.kind] = counts.get(d.kind, 0) + 1
        if not counts:
            continue
        kinds = sorted(counts, key=lambda k: (_KIND_ORDER.index(k) if k in _KIND_ORDER
                                              else len(_KIND_ORDER), k))
        parts = []
        for kind in kinds:
            one, many = _KIND_LABELS.get(kind, (kind, kind))
            parts.append(one if counts[kind] == 1 else f"{counts[kind]} {many}")
        groups.append(f"{word}: {', '.join(parts)}")
    return "; ".join(groups) if groups else "no energy sensor"


def _energy_text(summary: RunSummary, precision: int) -> str:
    shown = format_energy_j(summary.energy_j, precision)
    details = [device_groups(summary.devices)]
    if 0.01 * J_PER_WH <= summary.energy_j < J_PER_WH:
        details.insert(0, f"{format_number(summary.energy_j / J_PER_WH, precision)} Wh")
    return f"{shown} ({', '.join(details)})"


def _head(summary: RunSummary) -> str:
    if summary.status == "new":
        return "run not started"
    name = f"run {summary.run_id[:ID_CHARS]}…" if summary.run_id else "run (not stored)"
    return name if summary.status == "finished" else f"{name} ({summary.status})"


def summary_line(summary: RunSummary, precision: int = DEFAULT_PRECISION) -> str:
    """The run in one line: id, energy (devices), carbon and region, duration.

    Args:
        summary: what to say.
        precision: significant figures of each number.

    Returns:
        e.g. ``"run 6b12a3f09c1d… 2.4 kJ (0.667 Wh, measured: 2 GPUs; estimated: CPU) ·
        310 mg CO2e DE · 41 s"``; a part that is not known yet is left out.
    """
    head = _head(summary)
    if summary.status == "new":
        return head
    parts = [f"{head} {_energy_text(summary, precision)}"]
    if summary.co2e_kg is not None:
        where = f" {summary.region}" if summary.region else ""
        parts.append(f"{format_mass_kg(summary.co2e_kg, precision)} CO2e{where}")
    if summary.duration_s is not None:
        parts.append(format_duration_s(summary.duration_s, precision))
    return " · ".join(parts)


def summary_html(summary: RunSummary, precision: int = DEFAULT_PRECISION) -> str:
    """The same facts as :func:`summary_line` as a small HTML table, for notebooks."""
    head = html.escape(_head(summary))
    if summary.status == "new":
        return f'<div class="wattprint-run"><strong>{head}</strong></div>'
    rows = [("energy", _energy_text(summary, precision))]
    if summary.co2e_kg is not None:
        carbon = f"{format_mass_kg(summary.co2e_kg, precision)} CO2e"
        where = [w for w in (summary.region, None if summary.intensity_g_per_kwh is None
                             else format_intensity(summary.intensity_g_per_kwh, precision))
                 if w]
        rows.append(("carbon", carbon + (f" ({', '.join(where)})" if where else "")))
    if summary.duration_s is not None:
        rows.append(("duration", format_duration_s(summary.duration_s, precision)))
    body = "".join(f"<tr><th style=\"text-align:left\">{html.escape(k)}</th>"
                   f"<td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<div class="wattprint-run"><strong>{head}</strong><table>{body}</table></div>'


__all__ = ["ID_CHARS", "QUIET_ENV", "RunSummary", "device_groups", "quiet_from_env",
           "summary_html", "summary_line"]
