"""The shipped tables read by the fast CSV reader give exactly ``csv.DictReader``'s rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from wattprint.catalogue.data import csv_rows

DATA = Path(__file__).resolve().parents[2] / "src" / "wattprint" / "data"
TABLES = sorted([*DATA.glob("intensity/*.csv"), *DATA.glob("hardware/*.csv")])


def test_rows_of_a_small_table() -> None:
    text = 'code,name,g\nDE,Germany,344.1\n\n"US-CA","California, US",220\n'
    assert csv_rows(text) == [
        {"code": "DE", "name": "Germany", "g": "344.1"},
        {"code": "US-CA", "name": "California, US", "g": "220"},
    ]


def test_ragged_rows_come_out_as_dictreader_gives_them() -> None:
    text = "a,b\n1\n2,3,4\n"
    assert csv_rows(text) == [{"a": "1", "b": None}, {"a": "2", "b": "3", None: ["4"]}]


def test_empty_text_has_no_rows() -> None:
    assert csv_rows("") == []
    assert csv_rows("a,b\n") == []


@pytest.mark.parametrize("path", TABLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_table_reads_as_dictreader_reads_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert csv_rows(text) == list(csv.DictReader(io.StringIO(text)))
