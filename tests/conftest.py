from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh WATTPRINT_HOME, and no user/project config leaking in."""
    h = tmp_path / "home"
    monkeypatch.setenv("WATTPRINT_HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    for var in ("WATTPRINT_REGION", "WATTPRINT_PROJECT", "WATTPRINT_INTERVAL",
                "WATTPRINT_ATTRIBUTION", "WATTPRINT_SENSORS", "WATTPRINT_PUE"):
        monkeypatch.delenv(var, raising=False)
    return h
