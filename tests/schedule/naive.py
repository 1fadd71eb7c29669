"""Plain-loop reference implementations of the what-if strategies.

Written to be obviously right, not fast: one start time at a time, Python
loops, brute force where the fast engine uses an algorithm. The tests compare
``wattprint.schedule.whatif`` with these on random series.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

J_PER_KWH = 3_600_000.0


def _grams(power_w: float, step_s: float, ci: float) -> float:
    return power_w * step_s / J_PER_KWH * ci


def cost(ci: Sequence[float], p: Sequence[float], step_s: float, slots: Sequence[int]) -> float:
    """Grams for running step j of profile p in slot slots[j]."""
    total = 0.0
    for j, s in enumerate(slots):
        total += _grams(p[j], step_s, ci[s])
    return total


def pauses(slots: Sequence[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(slots) if b != a + 1)


def baseline(ci: Sequence[float], p: Sequence[float], step_s: float, t: int) -> float:
    return cost(ci, p, step_s, [t + j for j in range(len(p))])


def flexible(ci: Sequence[float], p: Sequence[float], step_s: float, t: int, w: int) -> float:
    best = float("inf")
    for u in range(t, t + w + 1):
        best = min(best, baseline(ci, p, step_s, u))
    return best


def pause_resume(
    ci: Sequence[float], p: Sequence[float], step_s: float, t: int, w: int
) -> tuple[float, int]:
    """Constant power: the D cheapest slots, ties to the earlier slot.

    Any other profile: brute force over every order-keeping choice of slots.
    """
    d = len(p)
    window = list(range(t, t + d + w))
    if all(x == p[0] for x in p):
        ranked = sorted(window, key=lambda s: (ci[s], s))
        slots = sorted(ranked[:d])
        return cost(ci, p, step_s, slots), pauses(slots)
    best = float("inf")
    best_slots: tuple[int, ...] = ()
    for slots in itertools.combinations(window, d):
        c = cost(ci, p, step_s, slots)
        if c < best:
            best, best_slots = c, slots
    return best, pauses(best_slots)


def threshold(
    ci: Sequence[float], p: Sequence[float], step_s: float, t: int, w: int, thr: float
) -> tuple[float, int]:
    """Walk the slots: run when clean, pause when dirty, run all when the deadline forces it."""
    d = len(p)
    deadline = t + d + w
    slots: list[int] = []
    s = t
    while len(slots) < d:
        remaining = d - len(slots)
        if deadline - s == remaining or ci[s] <= thr:
            slots.append(s)
        s += 1
    assert slots[-1] < deadline
    return cost(ci, p, step_s, slots), pauses(slots)


def all_starts(
    ci: Sequence[float], p: Sequence[float], step_s: float, w: int, thr: float
) -> dict[str, list[float]]:
    """Every strategy for every start t with t + D + W <= N."""
    n_starts = len(ci) - len(p) - w + 1
    out: dict[str, list[float]] = {
        "baseline": [],
        "flexible": [],
        "pause": [],
        "pause_n": [],
        "threshold": [],
        "threshold_n": [],
    }
    for t in range(n_starts):
        out["baseline"].append(baseline(ci, p, step_s, t))
        out["flexible"].append(flexible(ci, p, step_s, t, w))
        c, n = pause_resume(ci, p, step_s, t, w)
        out["pause"].append(c)
        out["pause_n"].append(n)
        c, n = threshold(ci, p, step_s, t, w, thr)
        out["threshold"].append(c)
        out["threshold_n"].append(n)
    return out
