"""A stored run's power profile on the steps of an intensity series.

The what-if engine and the planner replay a job's power over time against
intensity series. For a stored run that profile comes from its measured
intervals: the energy of each interval spread evenly over it, summed per
series step and divided by the step, with the time the run was paused (its
pause spans) left out, so the profile is the job as it ran, not as it waited.
"""

from __future__ import annotations

import numpy as np

from wattprint.errors import ConfigError
from wattprint.records import IntervalRecord, RunRecord

__all__ = ["run_profile_w"]



def _paused_before(spans: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Paused time before each ``t``: the sum over spans of ``clip(t - start, 0, length)``."""
    import numpy as np

    if spans.size == 0:
        return np.zeros_like(t)
    starts, ends = spans[:, 0], spans[:, 1]
    before = np.clip(t[:, None] - starts[None, :], 0.0, (ends - starts)[None, :])
    return np.asarray(before.sum(axis=1), dtype=np.float64)


def _merged(spans: list[tuple[float, float]]) -> np.ndarray:
    import numpy as np

    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.asarray(merged, dtype=np.float64).reshape(-1, 2)


def run_profile_w(
    run: RunRecord, intervals: list[IntervalRecord], step_s: float
) -> np.ndarray:
    """A stored run's measured power profile: mean watts per step, pauses cut out.

    Energy is summed over devices (whole-device energy, or the attributed
    share for a run with ``process`` attribution). Paused intervals are
    dropped and the time line closes over them, so the profile is the job's
    work in its order.

    Args:
        run: the run.
        intervals: its energy intervals (:meth:`Store.intervals`).
        step_s: the intensity series' step, seconds.

    Returns:
        Mean watts in each step.

    Raises:
        ConfigError: the run has no energy intervals outside its pauses.
    """
    import numpy as np

    from wattprint.schedule.whatif import profile_from_intervals

    kept = [i for i in intervals if not i.paused]
    if not kept:
        raise ConfigError(
            f"run {run.id} has no energy intervals outside pauses, so it has no power "
            "profile; give a run that measured energy, or --duration and --power-w"
        )
    spans = _merged([(i.t_start, i.t_end) for i in intervals if i.paused])
    starts = np.array([i.t_start for i in kept], dtype=np.float64)
    ends = np.array([i.t_end for i in kept], dtype=np.float64)
    attributed = run.attribution == "process"
    energy = np.array([i.attributed_j if attributed else i.energy_j for i in kept])
    starts = starts - _paused_before(spans, starts)
    ends = ends - _paused_before(spans, ends)
    return profile_from_intervals(starts, ends, energy, step_s)
