"""Energy and carbon of the sections of a run marked with ``run.phase(name)``.

A phase is a window of wall-clock time inside one run (``with
run.phase("eval"):``, or an epoch a framework callback logs as a phase);
phases may nest. Not to be confused with a run's life-cycle *stage* (data,
experimentation, training, inference), which labels a whole run and groups a
project report (``wattprint report --by stage``).

The energy of a phase is the energy of the intervals inside its span. An
interval that crosses a phase boundary is split in proportion to time: an
interval ``[a, b)`` of energy ``E`` overlapping the phase ``[s, e)`` by
``o = max(0, min(b, e) − max(a, s))`` seconds gives the phase ``E × o / (b − a)``.
That is the same assumption the store already makes inside an interval
(constant power between two readings).

Carbon follows the run's own accounting: each interval's share is charged at
the grid intensity the accounting applied to *that* interval, then scaled by
the PUE (infrastructure), so ``co2e_kg`` of a phase is its operational carbon
(dynamic + idle + infrastructure). Embodied carbon, charged per hour of the
whole run, is not divided among phases. Energy is counted under the run's
attribution rule (the tracked processes' share under process attribution),
before PUE, like the run's ``energy_j``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wattprint.accounting.footprint import DeviceUse, Floats
from wattprint.units import J_PER_KWH

if TYPE_CHECKING:  # numpy loads when arrays are first needed
    import numpy as np


def overlap_energy_j(starts_s: np.ndarray, ends_s: np.ndarray, energy_j: np.ndarray,
                     span_start_s: float, span_end_s: float) -> np.ndarray:
    """Each interval's energy that falls inside ``[span_start_s, span_end_s)``.

    Args:
        starts_s: interval starts, UTC epoch seconds.
        ends_s: interval ends, UTC epoch seconds.
        energy_j: energy of each interval, J.
        span_start_s: start of the span, UTC epoch seconds.
        span_end_s: end of the span, UTC epoch seconds.

    Returns:
        Per interval, the energy inside the span (split in proportion to time),
        J. A zero-length interval counts whole when its instant lies inside the span.
    """
    import numpy as np

    duration = ends_s - starts_s
    overlap = np.clip(np.minimum(ends_s, span_end_s) - np.maximum(starts_s, span_start_s),
                      0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(duration > 0, overlap / np.where(duration > 0, duration, 1.0),
                            ((starts_s >= span_start_s) & (starts_s < span_end_s)) * 1.0)
    return np.asarray(energy_j * fraction, dtype=np.float64)


def phase_footprints(phases: Sequence[Mapping[str, Any]], uses: Sequence[DeviceUse],
                     intensities: Mapping[str, Floats], pue: float,
                     run_end_s: float | None = None) -> list[dict[str, Any]]:
    """The energy and operational carbon of each phase of a run.

    Args:
        phases: phase windows as the store keeps them (``name, depth, t_start,
            t_end``; ``t_end`` ``None`` for a phase still open).
        uses: the run's devices and intervals as accounted (paused spans left out).
        intensities: device id -> the intensity the accounting applied to each interval.
        pue: the PUE of the accounting.
        run_end_s: where an open phase ends (the run's end), else the last interval's end.

    Returns:
        The phases in order, each a copy of its row with ``duration_s``,
        ``energy_j`` (under the run's attribution, before PUE), ``energy_kwh``
        and ``co2e_kg`` (operational: energy × intensity of each interval × PUE).
    """
    if not phases:
        return []
    import numpy as np

    last_end = max((float(np.max(u.ends_s)) for u in uses if len(u.ends_s)), default=None)
    out = []
    for phase in phases:
        start = float(phase["t_start"])
        end_value = phase.get("t_end")
        end = float(end_value) if end_value is not None else (
            run_end_s if run_end_s is not None else (last_end if last_end is not None
                                                     else start))
        energy_j = co2e_g = 0.0
        for use in uses:
            part = overlap_energy_j(np.asarray(use.starts_s, np.float64),
                                    np.asarray(use.ends_s, np.float64),
                                    np.asarray(use.energy_j, np.float64), start, end)
            ci = np.asarray(intensities.get(use.device_id, np.zeros_like(part)),
                            dtype=np.float64)
            energy_j += float(part.sum())
            co2e_g += float((part / J_PER_KWH * ci).sum())
        out.append({**phase, "duration_s": max(end - start, 0.0), "energy_j": energy_j,
                    "energy_kwh": energy_j / J_PER_KWH, "co2e_kg": co2e_g * pue / 1000.0})
    return out


__all__ = ["overlap_energy_j", "phase_footprints"]
