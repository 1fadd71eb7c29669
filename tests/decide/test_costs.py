"""Cost dimensions: logging costs, storing them as tags, the Pareto front and weighted utility."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.decide.costs import added_cost, cost_tags, run_costs
from wattprint.errors import ConfigError
from wattprint.report.leaderboard import leaderboard, parse_weights
from wattprint.run import Tracker
from wattprint.store import DeviceRecord, IntervalRecord, Store
from wattprint.testing.sensors import ScriptedSensor

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc).timestamp()


def test_costs_add_up_and_are_checked() -> None:
    key, total = added_cost({}, "usd", 12.5)
    assert (key, total) == ("cost.usd", "12.5")
    assert added_cost({"cost.usd": "12.5"}, "usd", 3) == ("cost.usd", "15.5")
    assert cost_tags(["usd=12.5", "annotation_hours=3"]) == {
        "cost.usd": "12.5", "cost.annotation_hours": "3.0"}
    assert run_costs({"cost.usd": "15.5", "team": "a", "cost.bad": "x"}) == {"usd": 15.5}
    for bad in (("energy", 1.0), ("", 1.0), ("two words", 1.0), ("usd", -1.0),
                ("usd", float("nan"))):
        with pytest.raises(ConfigError):
            added_cost({}, *bad)
    with pytest.raises(ConfigError, match="NAME=AMOUNT"):
        cost_tags(["usd"])


def test_run_log_cost_stores_the_total_as_a_tag(home: Path) -> None:
    sensor = ScriptedSensor.counter("cpu", [i * 2.0 for i in range(10_000)])
    with Tracker("costs", interval_s=0.01, sensor_objects=[sensor]) as run:
        run.log_cost("usd", 12.5)
        run.log_cost("usd", 3)
        run.log_cost("annotation_hours", 2)
    assert run.tags["cost.usd"] == "15.5"
    store = Store(home / "wattprint.db")
    try:
        assert run.id is not None
        assert run_costs(store.tags(run.id)) == {"usd": 15.5, "annotation_hours": 2.0}
    finally:
        store.close()
    with pytest.raises(ConfigError):
        run.log_cost("co2e", 1.0)


def test_run_cost_tag_option(home: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "wattprint", "run", "-q", "--project", "c",
                        "--cost-tag", "usd=12.5", "--cost-tag", "annotation_hours=3", "--",
                        sys.executable, "-c", "pass"], text=True, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    store = Store(home / "wattprint.db")
    try:
        (run,) = store.runs("c")
        assert run_costs(store.tags(run.id)) == {"usd": 12.5, "annotation_hours": 3.0}
    finally:
        store.close()
    r = subprocess.run([sys.executable, "-m", "wattprint", "run", "-q", "--cost-tag", "usd=-1",
                        "--", sys.executable, "-c", "pass"], text=True, capture_output=True,
                       timeout=120)
    assert r.returncode == 2 and "usd" in r.stderr


# -- the front over cost dimensions against a brute-force reference -------------------------

#: name, accuracy, energy kWh, duration s, usd, annotation hours (ties and dominated runs)
RUNS = [
    ("a", 0.90, 1.0, 600.0, 10.0, 5.0),
    ("b", 0.90, 1.0, 600.0, 10.0, 5.0),   # a duplicate of a
    ("c", 0.92, 2.0, 900.0, 12.0, 5.0),
    ("d", 0.88, 0.5, 300.0, 30.0, 1.0),
    ("e", 0.85, 3.0, 1200.0, 40.0, 8.0),  # dominated by a on everything
    ("f", 0.92, 2.0, 900.0, 11.0, 6.0),
    ("g", 0.95, 4.0, 1800.0, 9.0, 9.0),
    ("h", 0.80, 0.4, 200.0, 50.0, 0.5),
]


def add(store: Store, n: int, name: str, accuracy: float, kwh: float, duration_s: float,
        usd: float, hours: float) -> str:
    start = T0 + n * 7200
    rid = store.create_run(project="sweep", phase="training", attribution="machine",
                           interval_s=duration_s, started_at=start, name=name)
    store.add_devices(rid, [DeviceRecord("rapl:package-0", "cpu", "package-0", "rapl", True,
                                         True, None, "cpu-time-share")])
    store.append_intervals(rid, [IntervalRecord("rapl:package-0", start, start + duration_s,
                                                kwh * 3.6e6, kwh * 3.6e6)])
    store.log_metric(rid, "accuracy", accuracy, None, start)
    store.set_tags(rid, {"cost.usd": repr(usd), "cost.annotation_hours": repr(hours)})
    store.finish_run(rid, status="finished", ended_at=start + duration_s)
    return rid


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(home / "wattprint.db")
    for n, spec in enumerate(RUNS):
        add(s, n, *spec)
    yield s
    s.close()


def opts(tmp_path: Path) -> AccountingOptions:
    path = tmp_path / "flat.csv"
    path.write_text("timestamp,g_per_kwh\n" + "".join(
        f"2024-03-{d:02d}T{h:02d}:00:00Z,300\n" for d in (1, 2) for h in range(24)))
    return AccountingOptions(intensity_file=path, pue=1.0, embodied=False)


def brute_force_front(points: list[tuple[float, ...]]) -> list[bool]:
    """Every point against every other: dominated if another is <= everywhere and < somewhere."""
    return [not any(all(q <= p for q, p in zip(other, point, strict=True))
                    and any(q < p for q, p in zip(other, point, strict=True))
                    for other in points) for point in points]


COLUMNS = {"energy": 2, "duration": 3, "usd": 4, "annotation_hours": 5}


@pytest.mark.parametrize("costs", [
    ("usd",), ("energy", "usd"), ("co2e", "usd", "annotation_hours"), ("annotation_hours",),
    ("energy", "co2e", "duration", "usd", "annotation_hours")])
def test_front_over_any_subset_matches_brute_force(store: Store, tmp_path: Path,
                                                   costs: tuple[str, ...]) -> None:
    board = leaderboard(store, "sweep", "accuracy", costs=costs, opts=opts(tmp_path))
    by_name = {r["name"]: r for r in board["runs"]}
    assert set(by_name) == {r[0] for r in RUNS}
    points = []
    for spec in RUNS:
        # minimised: -accuracy, then each cost (co2e = kWh x 0.3 at a flat 300 g/kWh, PUE 1)
        values = [-spec[1]]
        for cost in costs:
            values.append(spec[2] * 0.3 if cost == "co2e" else spec[COLUMNS[cost]])
        points.append(tuple(values))
    expected = brute_force_front(points)
    assert [by_name[spec[0]]["pareto"] for spec in RUNS] == expected
    for spec in RUNS:
        if "usd" in costs:
            assert by_name[spec[0]]["usd"] == spec[4]


def test_every_subset_of_five_dimensions(store: Store, tmp_path: Path) -> None:
    names = ["energy", "co2e", "duration", "usd", "annotation_hours"]
    full = leaderboard(store, "sweep", "accuracy", costs=names, opts=opts(tmp_path))
    rows = {r["name"]: r for r in full["runs"]}
    column = {"energy": "energy_kwh", "co2e": "co2e_kg", "duration": "duration_s",
              "usd": "usd", "annotation_hours": "annotation_hours"}
    for k in range(1, len(names) + 1):
        for subset in itertools.combinations(names, k):
            board = leaderboard(store, "sweep", "accuracy", costs=subset, opts=opts(tmp_path))
            points = [tuple([-rows[s[0]]["metric"]] + [rows[s[0]][column[c]] for c in subset])
                      for s in RUNS]
            flags = {r["name"]: r["pareto"] for r in board["runs"]}
            assert [flags[s[0]] for s in RUNS] == brute_force_front(points), subset


def test_weighted_utility_by_hand(store: Store, tmp_path: Path) -> None:
    board = leaderboard(store, "sweep", "accuracy", costs=("co2e", "usd"), opts=opts(tmp_path),
                        weights=parse_weights("co2e=1,usd=0.2"))
    # co2e = 0.3 x kWh: min 0.12 (h), max 1.2 (g); usd: min 9 (g), max 50 (h)
    # utility = 1 − (1 · (co2e − 0.12)/1.08 + 0.2 · (usd − 9)/41) / 1.2
    def utility(kwh: float, usd: float) -> float:
        return 1.0 - ((0.3 * kwh - 0.12) / 1.08 + 0.2 * (usd - 9.0) / 41.0) / 1.2

    got = {r["name"]: r["utility"] for r in board["runs"]}
    for name, _, kwh, _, usd, _ in RUNS:
        assert got[name] == pytest.approx(utility(kwh, usd), rel=1e-12, abs=1e-15)
    names = {r["id"]: r["name"] for r in board["runs"]}
    order = [names[i] for i in board["utility_ranking"]]
    expected = sorted(RUNS, key=lambda s: -utility(s[2], s[4]))
    assert [got[n] for n in order] == sorted(got.values(), reverse=True)
    # d: 1 − (0.03/1.08 + 0.2 · 21/41)/1.2 = 0.8915 beats h: 1 − (0 + 0.2)/1.2 = 0.8333
    assert order[0] == expected[0][0] == "d"
    assert board["weights"] == {"co2e": 1.0, "usd": 0.2}
    with pytest.raises(ConfigError, match="add annotation_hours to --cost"):
        leaderboard(store, "sweep", "accuracy", costs=("co2e",), opts=opts(tmp_path),
                    weights={"annotation_hours": 1.0})
    for bad in ("co2e", "co2e=-1", "co2e=0", "co2e=x"):
        with pytest.raises(ConfigError):
            parse_weights(bad)


def test_cli_leaderboard_with_costs_and_weights(store: Store, tmp_path: Path) -> None:
    series = tmp_path / "s.csv"
    series.write_text("timestamp,g_per_kwh\n" + "".join(
        f"2024-03-{d:02d}T{h:02d}:00:00Z,300\n" for d in (1, 2) for h in range(24)))
    r = subprocess.run([sys.executable, "-m", "wattprint", "leaderboard", "-p", "sweep", "-m",
                        "accuracy", "--cost", "co2e,usd,annotation_hours", "--weights",
                        "co2e=1,usd=0.2", "--intensity", str(series), "--json"],
                       text=True, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [c["name"] for c in doc["costs"]] == ["co2e", "usd", "annotation_hours"]
    assert len(doc["utility_ranking"]) == len(RUNS)
    assert all("utility" in row for row in doc["runs"])
