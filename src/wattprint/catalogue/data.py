"""The shipped hardware tables, read once from ``wattprint/data/hardware``.

The files are written by ``scripts/build_hardware_data.py`` from the reference
data sets, one table per upstream licence (``LICENSE.md`` beside them lists
each): CCF coefficients (Apache-2.0), Green Algorithms TDPs (CC BY 4.0),
codecarbon TDPs (MIT), LLMCarbon die carbon (Apache-2.0), wattprint's own card
list, and ``constants.json``, whose every entry carries its ``value``,
``unit``, ``source``, ``licence`` and ``method`` (how the build script
obtained it).
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_text(name: str) -> str:
    """Text of a shipped hardware table (``wattprint/data/hardware/<name>``).

    Args:
        name: file name, e.g. ``"constants.json"``.

    Returns:
        The file's text.
    """
    local = _DATA_DIR / "hardware" / name
    if local.is_file():  # the usual install: plain files (importlib.resources costs ~10 ms)
        return local.read_text(encoding="utf-8")
    from importlib import resources

    package = resources.files("wattprint")
    return (package / "data" / "hardware" / name).read_text(encoding="utf-8")


def csv_rows(text: str) -> list[dict[str, str]]:
    """The rows of CSV text with a header line, as dicts of text (``csv.DictReader``'s rows).

    Built from ``csv.reader`` and the header directly, which takes half the
    time of ``csv.DictReader`` on the shipped tables (they are read at every
    CLI start that prints a footprint); a ragged file is left to
    ``csv.DictReader``, so short or long rows come out as it gives them.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    width = len(header)
    body = [row for row in reader if row]
    if any(len(row) != width for row in body):
        return list(csv.DictReader(io.StringIO(text)))
    return [dict(zip(header, row, strict=True)) for row in body]


def rows(name: str) -> list[dict[str, str]]:
    """The rows of a shipped CSV table, as dicts of text."""
    return csv_rows(data_text(name))


@functools.lru_cache(maxsize=1)
def hardware_constants() -> Mapping[str, Mapping[str, Any]]:
    """The single constants of ``constants.json``: key -> value, unit, source...

    Returns:
        Each constant's ``value``, ``unit``, ``source``, ``licence`` and
        ``method`` (how the build script obtained it).
    """
    data: dict[str, dict[str, Any]] = json.loads(data_text("constants.json"))
    return data


def constant(key: str) -> float:
    """The value of one shipped constant, e.g. ``constant("ram_power_w_per_gb")``."""
    return float(hardware_constants()[key]["value"])
