"""Terminal tables: a title never wraps at the width of a narrow table."""

from __future__ import annotations

import io

from rich.console import Console

from wattprint.cli.tables import Column, print_table


def test_a_long_title_over_a_narrow_table_stays_on_one_line() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    title = "carbon, region world average (no region set)"
    print_table(console, title, [Column("term", "text"), Column("CO2e", "num")],
                [["dynamic", "2.18 mg"], ["embodied", "32.3 mg"]])
    lines = out.getvalue().splitlines()
    assert lines[0] == title
    assert lines[1].split() == ["term", "CO2e"]
