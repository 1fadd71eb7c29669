"""Pareto-front membership: hand-made sets, and thousands of random runs against a naive check."""

from __future__ import annotations

import time

import numpy as np
import pytest

from wattprint.report.pareto import pareto_front


def naive_front(points: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """The definition, point by point: i is off the front if some j is no worse
    everywhere and strictly better somewhere."""
    signs = np.array([-1.0 if m else 1.0 for m in maximize])
    p = points * signs
    out = np.ones(len(p), dtype=bool)
    for i in range(len(p)):
        no_worse = np.all(p <= p[i], axis=1)
        better = np.any(p < p[i], axis=1)
        if np.any(no_worse & better):
            out[i] = False
    return out


def test_accuracy_against_energy_by_hand() -> None:
    # (accuracy: maximise, energy kWh: minimise)
    runs = [(0.90, 10.0),   # A: best accuracy -> front
            (0.85, 5.0),    # B: cheaper, a bit worse -> front
            (0.80, 6.0),    # C: worse and dearer than B -> dominated
            (0.70, 1.0),    # D: cheapest -> front
            (0.90, 12.0)]   # E: same accuracy as A, more energy -> dominated
    assert pareto_front(runs, [True, False]).tolist() == [True, True, False, True, False]


def test_maximise_and_minimise_swap_the_front() -> None:
    runs = [(0.9, 1.0), (0.5, 1.0), (0.1, 1.0)]
    assert pareto_front(runs, [True, False]).tolist() == [True, False, False]
    assert pareto_front(runs, [False, False]).tolist() == [False, False, True]


def test_exact_duplicates_both_stay_on_the_front() -> None:
    runs = [(0.9, 2.0), (0.9, 2.0), (0.8, 3.0)]
    assert pareto_front(runs, [True, False]).tolist() == [True, True, False]
    # a duplicate pair that is dominated stays dominated together
    runs = [(0.95, 1.0), (0.9, 2.0), (0.9, 2.0)]
    assert pareto_front(runs, [True, False]).tolist() == [True, False, False]


def test_ties_in_one_dimension() -> None:
    # same energy: only the better accuracy survives; same accuracy: only the cheaper
    assert pareto_front([(0.8, 5.0), (0.9, 5.0)], [True, False]).tolist() == [False, True]
    assert pareto_front([(0.9, 4.0), (0.9, 5.0)], [True, False]).tolist() == [True, False]


def test_one_dimension_keeps_every_best_value() -> None:
    assert pareto_front(np.array([3.0, 1.0, 1.0, 2.0]), [False]).tolist() == [
        False, True, True, False]
    assert pareto_front(np.array([[3.0], [1.0], [3.0]]), [True]).tolist() == [True, False, True]


def test_three_dimensions_by_hand() -> None:
    # (accuracy max, energy min, duration min)
    runs = [(0.9, 5.0, 100.0),   # front: best accuracy
            (0.9, 5.0, 90.0),    # dominates the first (same, but faster)
            (0.8, 1.0, 200.0),   # front: cheapest
            (0.7, 2.0, 50.0),    # front: fastest
            (0.7, 2.0, 60.0),    # dominated by the previous
            (0.8, 1.0, 200.0)]   # duplicate of a front run: stays
    assert pareto_front(runs, [True, False, False]).tolist() == [
        False, True, True, True, False, True]


def test_empty_and_single() -> None:
    assert pareto_front(np.zeros((0, 2)), [True, False]).tolist() == []
    assert pareto_front([(1.0, 1.0)], [True, False]).tolist() == [True]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        pareto_front([(1.0, float("nan"))], [True, False])
    with pytest.raises(ValueError, match="one direction per column"):
        pareto_front([(1.0, 2.0)], [True])


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_five_thousand_random_runs_match_the_naive_definition(dims: int) -> None:
    rng = np.random.default_rng(1234 + dims)
    n = 5000
    # integer grid values make ties and exact duplicates common
    points = rng.integers(0, 40, size=(n, dims)).astype(np.float64)
    points[:, 0] += rng.random(n).round(1)
    maximize = [True] + [False] * (dims - 1)
    started = time.perf_counter()
    fast = pareto_front(points, maximize)
    elapsed = time.perf_counter() - started
    expected = naive_front(points, maximize)
    assert fast.tolist() == expected.tolist()
    assert expected.sum() >= 1
    assert elapsed < 2.0


def test_anticorrelated_front_of_thousands() -> None:
    # every point on the front: the worst case for elimination
    x = np.linspace(0.0, 1.0, 3000)
    points = np.column_stack((x, x, -x))  # max x, min x ... a trade-off in each pair
    maximize = [True, False, True]
    assert pareto_front(points, maximize).tolist() == naive_front(points, maximize).tolist()
    trade = np.column_stack((x, x))
    assert pareto_front(trade, [True, False]).all()
