"""`whatif` and `plan` take --precision and --wide like the other commands; plan's times are ISO."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from tests.schedule.cli import wattprint

H = 3600.0
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def series(tmp_path: Path) -> Path:
    # 300, 100, 300, 100 g/kWh: a 1 h job with 1 h of slack gains 1 - 100/300 when it
    # starts at 0 or 2 and nothing at 1: mean 4/9 = 44.44 %, median and p90 66.67 %
    path = tmp_path / "ci.csv"
    path.write_text("timestamp,g_per_kwh\n" + "".join(
        f"{datetime.fromtimestamp(T0 + i * H, timezone.utc):%Y-%m-%dT%H:%M:%SZ},{v}\n"
        for i, v in enumerate([300, 100, 300, 100])))
    return path


def _row(text: str) -> list[str]:
    line = next(x for x in text.splitlines() if "flexible-start" in x)
    return line.split()


def test_whatif_precision_sets_the_figures(series: Path, env: dict[str, str]) -> None:
    args = ("whatif", "--duration", "1h", "--intensity", str(series), "--windows", "1h",
            "--strategies", "flexible-start")
    two = wattprint(*args, "--precision", "2", env=env)
    four = wattprint(*args, "--precision", "4", env=env)
    assert two.returncode == 0 and four.returncode == 0, two.stderr + four.stderr
    assert _row(two.stdout)[4:7] == ["44", "67", "67"]
    assert _row(four.stdout)[4:7] == ["44.44", "66.67", "66.67"]


def test_whatif_wide_keeps_long_lines_whole(series: Path, env: dict[str, str]) -> None:
    args = ("whatif", "--duration", "1h", "--intensity", str(series), "--windows", "1h",
            "--strategies", "flexible-start")
    narrow = wattprint(*args, env={**env, "COLUMNS": "30"})
    wide = wattprint(*args, "--wide", env={**env, "COLUMNS": "30"})
    data_line = "data ci: user series (average, unknown)"
    assert data_line not in narrow.stdout.splitlines()  # wrapped at 30 columns
    assert data_line in wide.stdout.splitlines()


def test_plan_precision_sets_grams_and_percentages(series: Path, env: dict[str, str]) -> None:
    # 1234 W for 1 h: 1.234 kWh × 300 g/kWh = 370.2 g now, × 100 = 123.4 g an hour later
    args = ("plan", "--duration", "1h", "--deadline", "2h", "--intensity", str(series),
            "--power-w", "1234", "--now", "2024-01-01T00:00Z")
    two = wattprint(*args, "--precision", "2", env=env)
    four = wattprint(*args, "--precision", "4", env=env)
    assert two.returncode == 0 and four.returncode == 0, two.stderr + four.stderr
    assert "start now: 370 g CO2e" in two.stdout
    assert "start now: 370.2 g CO2e" in four.stdout
    assert "67 % less, 120 g CO2e" in two.stdout
    assert "66.67 % less, 123.4 g CO2e" in four.stdout


def test_plan_deadline_in_the_past_is_said_in_iso_8601(series: Path, env: dict[str, str]) -> None:
    result = wattprint("plan", "--duration", "1h", "--deadline", "2023-12-31T00:00Z",
                       "--intensity", str(series), "--now", "2024-01-01T00:00Z", env=env)
    assert result.returncode == 2
    flat = " ".join(result.stderr.split())
    assert ("deadline 2023-12-31T00:00:00.000+00:00 is not after now "
            "(2024-01-01T00:00:00.000+00:00)") in flat
    assert "1703980800" not in flat  # the epoch seconds of that deadline
