"""The what-if and leaderboard plots explain themselves: asserted on the SVG's text.

matplotlib draws text as paths but writes each text as a comment beside it
(``<!-- 12 s job -->``), so the words a reader sees are in the SVG.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from wattprint.report.plots import front_svg, whatif_svg


def texts(svg: str) -> list[str]:
    return re.findall(r"<!-- (.*?) -->", svg)


def row(region: str, strategy: str, window_h: float, mean: float, p90: float,
        duration_h: float = 1.0) -> dict[str, Any]:
    return {"region": region, "strategy": strategy, "window_h": window_h,
            "duration_h": duration_h, "mean_reduction": mean, "median_reduction": mean,
            "p90_reduction": p90, "mean_pauses": 0.0}


def test_whatif_plot_says_mean_and_p90_titles_axes_and_keeps_every_strategy() -> None:
    rows = [row("US-CAL-CISO", s, w, 0.1, 0.3) for s in ("flexible-start", "pause-resume",
                                                         "threshold") for w in (6.0, 12.0)]
    rows += [row("US-TEX-ERCO", "flexible-start", 6.0, 0.05, 0.2),
             row("US-TEX-ERCO", "flexible-start", 12.0, 0.07, 0.25),
             row("US-TEX-ERCO", "region", 0.0, -0.5, 0.1)]
    svg = whatif_svg(rows, job_duration_s=12.0, baseline_region="US-CAL-CISO")
    assert svg is not None
    words = texts(svg)
    for entry in ("flexible-start", "pause-resume", "threshold", "region",
                  "bar: mean over start times", "tick: p90 (90th percentile)"):
        assert entry in words
    assert "carbon reduction (%)" in words
    assert "slack window: how long the job may wait (or where it runs)" in words
    assert "6:00:00 window" in words and "12:00:00 window" in words
    assert "here, not in US-CAL-CISO" in words  # the region strategy drawn, not dropped
    # a 12-second run is named by its true length, never "1 h job"
    title = ("US-CAL-CISO: a 12 s job (on 1:00:00 of intensity slots), reduction against "
             "starting at once")
    assert title in words
    assert not any("1 h job" in w for w in words)


def test_whatif_plot_of_a_described_job_names_its_length() -> None:
    svg = whatif_svg([row("DE", "flexible-start", 6.0, 0.1, 0.2, duration_h=2.0)])
    assert svg is not None
    assert "DE: a 2:00:00 job, reduction against starting at once" in texts(svg)


def test_leaderboard_plot_labels_points_with_run_names_in_human_units() -> None:
    runs = [
        {"id": "a1", "name": "bert-base", "metric": 0.91, "pareto": True, "energy_kwh": 7.282e-6},
        {"id": "b2", "name": "bert-large", "metric": 0.93, "pareto": True,
         "energy_kwh": 1.267e-5},
        {"id": "c3", "name": "distil", "metric": 0.88, "pareto": False, "energy_kwh": 1.5e-5},
    ]
    board = {"runs": runs, "costs": [{"name": "energy", "column": "energy_kwh", "unit": "kWh"}],
             "metric": "accuracy", "maximize": True}
    svg = front_svg(board)
    assert svg is not None
    words = texts(svg)
    assert {"bert-base", "bert-large", "distil"} <= set(words)
    # 7.3e-6 kWh to 1.5e-5 kWh is 26 J to 54 J: drawn in joules, no offset, no e-notation
    assert "energy (J)" in words
    assert not any(re.search(r"\de|e[−-]\d|×", w) for w in words), words
    assert "accuracy (higher is better)" in words
