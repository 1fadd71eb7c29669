"""Tests of wattprint.serve, and an independent reference of the request-sharing rule."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

Span = tuple[float, float]


def reference_shares(intervals: Iterable[tuple[float, float, float]],
                     spans: Sequence[Span]) -> tuple[list[float], float]:
    """Each request's energy and the idle energy, by brute force.

    For each interval ``[a, b)`` with energy ``E`` (same-span intervals of
    several devices are summed first), the busy time is found by cutting the
    interval at every request start and end and keeping the elementary
    pieces that some request covers (no interval merging, unlike the code
    under test); requests share ``E * busy / (b - a)`` in proportion to their
    overlap times.
    """
    grouped: dict[tuple[float, float], float] = defaultdict(float)
    for a, b, energy_j in intervals:
        grouped[(a, b)] += energy_j
    per_request = [0.0] * len(spans)
    idle_j = 0.0
    for (a, b), energy_j in grouped.items():
        cuts = sorted({a, b, *(t for s in spans for t in s if a < t < b)})
        busy_s = 0.0
        for left, right in itertools.pairwise(cuts):
            mid = (left + right) / 2
            if any(s <= mid < e for s, e in spans):
                busy_s += right - left
        overlaps = [max(0.0, min(e, b) - max(s, a)) for s, e in spans]
        total = sum(overlaps)
        charged = energy_j * busy_s / (b - a) if total > 0 else 0.0
        idle_j += energy_j - charged
        for i, overlap in enumerate(overlaps):
            if overlap > 0:
                per_request[i] += charged * overlap / total
    return per_request, idle_j
