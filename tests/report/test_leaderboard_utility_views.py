"""The Markdown and HTML leaderboards show the weighted utility and its ranking with --weights."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.report.leaderboard import leaderboard
from wattprint.report.render_md import leaderboard_markdown
from wattprint.store import Store

from .test_leaderboard import CLI, add_run, constant_intensity


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(home / "wattprint.db")
    yield s
    s.close()


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    # accuracy and energy (kWh); energy spans 0.2 .. 2.0 kWh
    return {
        "A": add_run(store, "A", 2.0, metrics={"accuracy": [0.90]}, offset_s=0),
        "B": add_run(store, "B", 1.0, metrics={"accuracy": [0.85]}, offset_s=600),
        "C": add_run(store, "C", 1.2, metrics={"accuracy": [0.80]}, offset_s=1200),
        "D": add_run(store, "D", 0.2, metrics={"accuracy": [0.70]}, offset_s=1800),
    }


# weights energy=1 only: utility = 1 − (kWh − 0.2) / 1.8
#   A: 1 − 1.8/1.8 = 0; B: 1 − 0.8/1.8 = 0.5556; C: 1 − 1.0/1.8 = 0.4444; D: 1
# highest first: D, B, C, A


def test_markdown_has_the_utility_column_and_ranking(store: Store, runs: dict[str, str],
                                                     tmp_path: Path) -> None:
    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), embodied=False)
    board = leaderboard(store, "sweep", "accuracy", costs=["energy"], opts=opts,
                        weights={"energy": 1.0})
    text = leaderboard_markdown(board)
    header = ("| rank | run | name | accuracy | energy | CO2e | duration | embodied CO2e "
              "| Pareto | utility |")
    assert header in text
    assert f"| 1 | `{runs['A']}` | A | 0.9 | 2 kWh | 600 g | 0:10:00 | 0 g | **front** | 0 |" \
        in text
    assert (f"| 2 | `{runs['B']}` | B | 0.85 | 1 kWh | 300 g | 0:10:00 | 0 g | **front** "
            "| 0.556 |") in text
    assert (f"| 3 | `{runs['C']}` | C | 0.8 | 1.2 kWh | 360 g | 0:10:00 | 0 g | *dominated* "
            "| 0.444 |") in text
    assert f"| 4 | `{runs['D']}` | D | 0.7 | 200 Wh | 60 g | 0:10:00 | 0 g | **front** | 1 |" \
        in text
    ranking = ", ".join(f"`{runs[k]}`" for k in "DBCA")
    assert "By utility (energy=1; " in text
    assert f"highest first: {ranking}." in text


def test_markdown_without_weights_has_no_utility(store: Store, runs: dict[str, str],
                                                 tmp_path: Path) -> None:
    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), embodied=False)
    board = leaderboard(store, "sweep", "accuracy", costs=["energy"], opts=opts)
    text = leaderboard_markdown(board)
    assert "utility" not in text.lower()


def test_html_has_the_utility_column_and_ranking(store: Store, runs: dict[str, str],
                                                 tmp_path: Path) -> None:
    from wattprint.report.render_html import leaderboard_html

    opts = AccountingOptions(intensity_file=constant_intensity(tmp_path), embodied=False)
    board = leaderboard(store, "sweep", "accuracy", costs=["energy"], opts=opts,
                        weights={"energy": 1.0})
    page = leaderboard_html(board)
    assert "<th>utility</th>" in page or ">utility</th>" in page
    assert ">0.556</td>" in page
    assert ">0.444</td>" in page
    assert page.count('<tr class="dominated">') == 1
    ranking = ", ".join(runs[k] for k in "DBCA")
    assert f"highest first: {ranking}." in page


def test_cli_markdown_with_weights(home: Path, store: Store, runs: dict[str, str],
                                   tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CLI, "leaderboard", "--project", "sweep", "--metric", "accuracy",
         "--cost", "energy", "--weights", "energy=1", "--intensity",
         str(constant_intensity(tmp_path)), "--no-embodied", "--format", "md", "--quiet"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "| Pareto | utility |" in result.stdout
    assert "| 0.556 |" in result.stdout
    assert "highest first: " + ", ".join(f"`{runs[k]}`" for k in "DBCA") in result.stdout
