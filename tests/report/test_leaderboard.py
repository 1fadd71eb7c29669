"""Leaderboards: ranking by the last logged metric, exclusions, Pareto flags, renderings, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.errors import ConfigError
from wattprint.report.leaderboard import leaderboard, parse_costs
from wattprint.report.render_md import leaderboard_markdown
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc).timestamp()
CLI = "import wattprint.cli.reports; from wattprint.cli import main; main()"


def constant_intensity(tmp_path: Path, g_per_kwh: float = 300.0) -> Path:
    path = tmp_path / "flat.csv"
    path.write_text("timestamp,g_per_kwh\n" + "".join(
        f"2024-03-01T{h:02d}:00:00Z,{g_per_kwh}\n" for h in range(24)))
    return path


def add_run(store: Store, name: str, energy_kwh: float, *, duration_s: float = 600.0,
            metrics: dict[str, list[float]] | None = None, tags: dict[str, str] | None = None,
            running: bool = False, offset_s: float = 0.0) -> str:
    start = T0 + offset_s
    rid = store.create_run(project="sweep", phase="experimentation", attribution="machine",
                           interval_s=duration_s, started_at=start, name=name,
                           pid=1 if running else None)
    store.add_devices(rid, [DeviceRecord("rapl:package-0", "cpu", "package-0", "rapl", True,
                                         True, None, "cpu-time-share")])
    store.append_intervals(rid, [IntervalRecord("rapl:package-0", start, start + duration_s,
                                                energy_kwh * 3.6e6, energy_kwh * 3.6e6)])
    for metric, values in (metrics or {}).items():
        for step, value in enumerate(values):
            store.log_metric(rid, metric, value, step, start + step)
    if tags:
        store.set_tags(rid, tags)
    if not running:
        store.finish_run(rid, status="finished", ended_at=start + duration_s)
    return rid


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(home / "wattprint.db")
    yield s
    s.close()


@pytest.fixture
def sweep(store: Store) -> dict[str, str]:
    return {
        "A": add_run(store, "A", 2.0, metrics={"accuracy": [0.5, 0.90]}, tags={"cost": "8"},
                     offset_s=0),
        "B": add_run(store, "B", 1.0, metrics={"accuracy": [0.85]}, tags={"cost": "4"},
                     offset_s=600),
        "C": add_run(store, "C", 1.2, metrics={"accuracy": [0.80]}, tags={"cost": "5"},
                     offset_s=1200),
        "D": add_run(store, "D", 0.2, metrics={"accuracy": [0.95, 0.70]}, offset_s=1800,
                     duration_s=300.0),
        "E": add_run(store, "E", 2.0, metrics={"accuracy": [0.90]}, tags={"cost": "8"},
                     offset_s=2400),
        "F": add_run(store, "F", 0.1, metrics={"loss": [0.3]}, offset_s=3000),
        "G": add_run(store, "G", 0.1, metrics={"accuracy": [0.99]}, running=True,
                     offset_s=3600),
    }


def test_ranked_by_last_metric_with_front_and_exclusions(store: Store, sweep: dict[str, str],
                                                         tmp_path: Path) -> None:
    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), pue=1.0,
                             embodied=False)
    board = leaderboard(store, "sweep", "accuracy", maximize=True, costs=["energy", "co2e"],
                        opts=opts)
    ids = {v: k for k, v in sweep.items()}
    order = [ids[r["id"]] for r in board["runs"]]
    # A and E tie on accuracy 0.90 and energy (start time breaks the tie); D's last value is 0.70
    assert order == ["A", "E", "B", "C", "D"]
    assert [r["rank"] for r in board["runs"]] == [1, 1, 3, 4, 5]
    flags = {ids[r["id"]]: r["pareto"] for r in board["runs"]}
    # C (0.80, 1.2 kWh) is beaten by B (0.85, 1.0 kWh); A and E are exact duplicates
    assert flags == {"A": True, "E": True, "B": True, "C": False, "D": True}
    assert board["front"] == [sweep["A"], sweep["E"], sweep["B"], sweep["D"]]
    rows = {ids[r["id"]]: r for r in board["runs"]}
    assert rows["B"]["energy_kwh"] == pytest.approx(1.0)
    assert rows["B"]["co2e_kg"] == pytest.approx(1.0 * 300 / 1000)
    assert rows["D"]["duration_s"] == 300.0
    assert rows["D"]["metric"] == 0.70
    assert rows["A"]["embodied_kg"] == 0.0
    excluded = {ids[e["id"]]: e["reason"] for e in board["excluded"]}
    assert excluded == {"F": "no value of metric 'accuracy' logged", "G": "still running"}


def test_minimise_a_loss(store: Store, sweep: dict[str, str], tmp_path: Path) -> None:
    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), embodied=False)
    board = leaderboard(store, "sweep", "accuracy", maximize=False, costs=["energy"],
                        opts=opts)
    ids = {v: k for k, v in sweep.items()}
    # smaller is better now: D (0.70, 0.2 kWh) beats everyone
    assert [ids[r["id"]] for r in board["runs"]] == ["D", "C", "B", "A", "E"]
    assert {ids[r["id"]] for r in board["runs"] if r["pareto"]} == {"D"}


def test_custom_cost_from_tags_and_missing_values(store: Store, sweep: dict[str, str],
                                                  tmp_path: Path) -> None:
    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), embodied=False)
    board = leaderboard(store, "sweep", "accuracy", costs=parse_costs("cost"), opts=opts)
    ids = {v: k for k, v in sweep.items()}
    assert [ids[r["id"]] for r in board["runs"]] == ["A", "E", "B", "C"]
    assert {ids[r["id"]]: r["cost"] for r in board["runs"]} == {
        "A": 8.0, "E": 8.0, "B": 4.0, "C": 5.0}
    # C costs 5 for 0.80 while B costs 4 for 0.85
    assert {ids[r["id"]] for r in board["runs"] if r["pareto"]} == {"A", "E", "B"}
    assert {ids[e["id"]]: e["reason"] for e in board["excluded"]}["D"] == "no value for cost cost"
    assert board["costs"] == [{"name": "cost", "column": "cost", "unit": ""}]


def test_cost_names_are_checked() -> None:
    assert parse_costs("energy, co2e,energy,duration") == ["energy", "co2e", "duration"]
    with pytest.raises(ConfigError, match="at least one"):
        parse_costs(" , ")
    with pytest.raises(ConfigError, match="not a cost"):
        parse_costs("metric")


def test_markdown_marks_the_front(store: Store, sweep: dict[str, str], tmp_path: Path) -> None:
    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), embodied=False)
    board = leaderboard(store, "sweep", "accuracy", costs=["energy"], opts=opts)
    text = leaderboard_markdown(board)
    assert (f"| 4 | `{sweep['C']}` | C | 0.8 | 1.2 kWh | 360 g | 0:10:00 | 0 g "
            "| *dominated* |") in text
    assert f"| 3 | `{sweep['B']}` | B | 0.85 | 1 kWh | 300 g | 0:10:00 | 0 g | **front** |" in text
    assert f"| `{sweep['G']}` | G | still running |" in text


def test_html_greys_dominated_rows_and_plots_the_front(store: Store, sweep: dict[str, str],
                                                      tmp_path: Path) -> None:
    from wattprint.report.render_html import leaderboard_html

    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), embodied=False)
    board = leaderboard(store, "sweep", "accuracy", costs=["energy"], opts=opts)
    page = leaderboard_html(board)
    assert page.count('<tr class="dominated">') == 1
    assert page.count('<tr class="front">') == 4
    assert page.count("<svg") == 1
    assert 'id="wattprint-data"' in page


def test_cli_leaderboard_json(home: Path, store: Store, sweep: dict[str, str],
                              tmp_path: Path) -> None:
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-c", CLI, "leaderboard", "--project", "sweep", "--metric", "accuracy",
         "--maximize", "--cost", "energy,co2e,duration", "--intensity",
         str(constant_intensity(tmp_path)), "--pue", "1.5", "--json", "--quiet"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    board = json.loads(result.stdout)
    first = board["runs"][0]
    assert {"id", "metric", "energy_kwh", "co2e_kg", "duration_s", "pareto"} <= set(first)
    assert first["id"] == sweep["A"]
    # 2 kWh at the devices × PUE 1.5; carbon 3 kWh × 300 g plus embodied
    assert first["energy_kwh"] == pytest.approx(3.0)
    assert first["co2e_kg"] == pytest.approx(0.9 + first["embodied_kg"])
    assert first["embodied_kg"] > 0
    assert [r["pareto"] for r in board["runs"]].count(False) == 1
