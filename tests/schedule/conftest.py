"""Fixtures of the scheduling CLI tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """The environment the schedule commands run in: no region set, wide tables."""
    e = dict(os.environ)
    e.pop("WATTPRINT_REGION", None)
    e["COLUMNS"] = "200"
    return e
