"""Pareto fronts: which runs buy their task metric with the least energy, carbon or time.

A run *dominates* another when it is at least as good in every dimension
(the task metric, and each cost: energy, carbon, duration...) and strictly
better in at least one. The **Pareto front** is the set of runs no other run
dominates: every run on it is a defensible trade-off (more accuracy costs more
energy), every run off it is beaten outright by some run on it.

Conventions, as the leaderboard documents them:

* each dimension is minimised or maximised (``maximize[i]``); internally the
  maximised columns are negated so that everything is minimised;
* **exact duplicates both stay on the front**: neither is strictly better in
  any dimension, so neither dominates the other (two identical runs are two
  equally good trade-offs, not one);
* **ties** in some dimensions are fine: a run with the same metric and less
  energy dominates; a run with the same metric and the same energy does not;
* values must be finite (runs missing a value are excluded before this
  point, and listed as excluded by the leaderboard).

Algorithms (all vectorised with numpy, exact, no tolerance):

* one dimension: the front is every point equal to the best value;
* two dimensions: sort by the first dimension then the second, O(n log n).
  A point is dominated when a point with a strictly smaller first value has
  a second value at most its own (a running minimum over earlier groups), or
  a point with the same first value has a strictly smaller second value;
* three or more: repeated elimination. Surviving points, in batches and in
  order of their normalised sum (points that dominate many come first),
  remove every point they dominate; removal is sound because domination is
  transitive. The work is O(n × front size) comparisons in vector operations
  of bounded memory -- well under a second for thousands of runs even when
  every run is on the front.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_minimised(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    points = np.asarray(values, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2:
        raise ValueError("values must be a 2-D array: one row per run, one column per dimension")
    if len(maximize) != points.shape[1]:
        raise ValueError(
            f"maximize has {len(maximize)} entries for {points.shape[1]} dimensions; "
            "give one direction per column"
        )
    if not np.all(np.isfinite(points)):
        raise ValueError("Pareto dimensions must be finite; exclude runs with missing values first")
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    return points * signs


def _front_1d(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x == x.min()
    return out


def _front_2d(points: np.ndarray) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    order = np.lexsort((y, x))  # by x, then y
    xs, ys = x[order], y[order]
    # start index of each run of equal x in sorted order
    new_group = np.empty(xs.size, dtype=bool)
    new_group[0] = True
    new_group[1:] = xs[1:] != xs[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(xs.size), 0))
    running_min = np.minimum.accumulate(ys)
    # best y among points with a strictly smaller x: running minimum just before the group
    before = np.where(group_start > 0, running_min[np.maximum(group_start - 1, 0)], np.inf)
    best_in_group = ys[group_start]  # sorted by y within the group
    dominated_sorted = (before <= ys) | (best_in_group < ys)
    on_front = np.empty(xs.size, dtype=bool)
    on_front[order] = ~dominated_sorted
    return on_front


def _front_nd(points: np.ndarray, budget: int = 4_000_000) -> np.ndarray:
    n, d = points.shape
    # Points with small normalised sums tend to dominate many others: use them as pivots first.
    span = np.ptp(points, axis=0)
    scaled = (points - points.min(axis=0)) / np.where(span > 0, span, 1.0)
    alive = np.argsort(scaled.sum(axis=1), kind="stable")
    i = 0
    while i < alive.size:
        rest = points[alive]
        # a batch of pivots at once, within a bounded number of comparisons
        size = max(1, min(256, budget // max(1, rest.shape[0] * d)))
        pivots = rest[i:i + size]
        no_better = np.ones((pivots.shape[0], rest.shape[0]), dtype=bool)
        worse = np.zeros_like(no_better)
        for k in range(d):  # 2-D comparisons, one dimension at a time
            column, pivot = rest[:, k][None, :], pivots[:, k][:, None]
            no_better &= column >= pivot
            worse |= column > pivot
        dominated = np.any(no_better & worse, axis=0)
        # pivots dominated by another pivot of the batch go too; the others stay, in order
        survivors = int(np.count_nonzero(~dominated[:i + size]))
        alive = alive[~dominated]
        i = survivors
    on_front = np.zeros(n, dtype=bool)
    on_front[alive] = True
    return on_front


def pareto_front(values: np.ndarray | Sequence[Sequence[float]],
                 maximize: Sequence[bool]) -> np.ndarray:
    """Which points are on the Pareto front.

    Args:
        values: array of shape ``(n_points, n_dimensions)`` (or ``(n,)`` for
            one dimension); every value finite.
        maximize: for each dimension, ``True`` if larger is better.

    Returns:
        A boolean array of length ``n_points``: ``True`` for points no other
        point dominates. Exact duplicates are both ``True`` when undominated.

    Raises:
        ValueError: a shape mismatch or a non-finite value (a programming
            error: the leaderboard excludes incomplete runs first).
    """
    points = _as_minimised(np.asarray(values, dtype=np.float64), maximize)
    n, d = points.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if d == 1:
        return _front_1d(points[:, 0])
    if d == 2:
        return _front_2d(points)
    return _front_nd(points)


def weighted_utility(values: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool],
                     weights: Sequence[float]) -> np.ndarray:
    """A weighted utility in [0, 1] per point (higher is better), from normalised dimensions.

    Each dimension is min-max normalised over the points and oriented so that
    0 is the best value and 1 the worst: ``(x − min) / (max − min)`` for a
    minimised dimension, ``(max − x) / (max − min)`` for a maximised one; a
    dimension where every point has the same value normalises to 0 (it
    separates nothing). The utility is ``1 − Σ w_d n_d / Σ w_d``. Min-max
    normalisation makes weights unit-free (``co2e=1,usd=0.2``: a run's carbon
    counts five times its dollars, each measured across the runs' own range),
    but it depends on the set of runs: adding a run can move the others'
    utilities. A point on the Pareto front is not always best by utility; with
    a positive weight on every dimension, the best by utility is on the front.

    Args:
        values: ``(n_points, n_dimensions)``, every value finite.
        maximize: per dimension, ``True`` if larger is better.
        weights: per dimension, a finite weight >= 0 (0 leaves it out); at
            least one positive.

    Returns:
        The utility of each point.

    Raises:
        ValueError: shapes that do not match, non-finite values, or weights
            that are negative or all zero.
    """
    points = _as_minimised(np.asarray(values, dtype=np.float64), maximize)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (points.shape[1],):
        raise ValueError(f"{w.size} weights for {points.shape[1]} dimensions")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError("weights must be finite, at least 0, and not all 0")
    if points.shape[0] == 0:
        return np.zeros(0)
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    normalised = np.where(span > 0, (points - low) / np.where(span > 0, span, 1.0), 0.0)
    utility: np.ndarray = 1.0 - (normalised @ w) / w.sum()
    return utility


__all__ = ["pareto_front", "weighted_utility"]
