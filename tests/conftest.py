from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
# The full reference data sits beside a developer's checkout, never in a fresh clone;
# every test that reads it gets it through the fixtures below, which fall back to
# the extracts checked in under tests/fixtures/reference.
SHARED_DATA = REPO.parent / "shared" / "data"
REFERENCE_EXTRACTS = FIXTURES / "reference"


def _reference_folders() -> list[object]:
    folders = [pytest.param(REFERENCE_EXTRACTS, id="extract")]
    if SHARED_DATA.is_dir():
        folders.append(pytest.param(SHARED_DATA, id="full"))
    return folders


@pytest.fixture(params=_reference_folders())
def reference_data(request: pytest.FixtureRequest) -> Path:
    """The reference tables: always the checked-in extracts, and also the full folder if present.

    Both have the same folder, file and column names, so a test reads either
    the same way; a test that counts rows compares it with
    ``tests/fixtures/reference`` to know which one it got.
    """
    folder: Path = request.param
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path | None:
    """The full reference folder beside the checkout, or None in a fresh clone."""
    return SHARED_DATA if SHARED_DATA.is_dir() else None


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


@pytest.fixture(autouse=True)
def _restore_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Frameworks under test (Lightning, Transformers, Keras) set process environment
    variables such as RANK or WORLD_SIZE in-process; a later test's children would
    then look like ranks of a distributed job. Each test starts from the same
    environment."""
    saved = dict(os.environ)
    # no test reaches the user's own store: a test that names no home gets a fresh one
    os.environ.setdefault("WATTPRINT_HOME", str(tmp_path_factory.mktemp("wattprint-home")))
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
