"""The suite runs on a fresh clone alone: the reference data it needs is checked in.

The full reference data (``../shared/data`` beside a developer's checkout) is
optional: tests read the small extracts under ``tests/fixtures/reference``
through the ``reference_data`` fixture of ``conftest.py``, which adds the
full folder when it is there. These tests keep it that way.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
EXTRACTS = REPO / "tests" / "fixtures" / "reference"
CONFTEST = REPO / "tests" / "conftest.py"
# a string literal naming the folder, or a relative path into it
FOLDER_NAME = re.compile(r"""["']shared["']|\.\./shared\b""")


def python_files() -> list[Path]:
    return sorted([*(REPO / "src").rglob("*.py"), *(REPO / "tests").rglob("*.py")])


def test_only_the_conftest_names_the_reference_folder() -> None:
    naming = [
        path.relative_to(REPO).as_posix()
        for path in python_files()
        if path != Path(__file__).resolve() and FOLDER_NAME.search(path.read_text("utf-8"))
    ]
    assert naming == ["tests/conftest.py"]


def test_the_conftest_uses_the_reference_folder_only_where_it_exists() -> None:
    lines = CONFTEST.read_text("utf-8").splitlines()
    uses = [(k, line) for k, line in enumerate(lines) if "SHARED_DATA" in line]
    assert uses
    for k, line in uses:
        definition = line.startswith("SHARED_DATA = ")
        guarded = "SHARED_DATA.is_dir()" in line or "SHARED_DATA.is_dir()" in lines[k - 1]
        assert definition or guarded, f"conftest.py:{k + 1}: {line.strip()}"


def test_extracts_are_small_and_licensed() -> None:
    files = [p for p in EXTRACTS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 500_000
    readme = (EXTRACTS / "README.md").read_text("utf-8")
    folders = sorted(p for p in EXTRACTS.iterdir() if p.is_dir())
    assert len(folders) == 10
    for folder in folders:
        assert f"`{folder.name}`" in readme
        notes = (folder / "SOURCE.md").read_text("utf-8")
        assert "scripts/make_reference_extracts.py" in notes
        assert re.search(r"^Licence: \*\*.+\*\*", notes, re.MULTILINE), folder.name
        assert "## License / attribution" in notes  # the source's own notes, verbatim
        for table in folder.glob("*.csv"):
            with table.open(newline="", encoding="utf-8") as fh:
                assert sum(1 for _ in csv.reader(fh)) <= 600, table.name


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = REPO / "scripts" / "make_reference_extracts.py"
    spec = importlib.util.spec_from_file_location("make_reference_extracts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def test_extracts_are_what_the_script_makes(reference_data: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # from the full folder this regenerates the extracts; from the extracts
    # themselves it shows that every rule keeps exactly the rows it kept
    script = load_script(monkeypatch)
    written = script.build(reference_data, tmp_path)
    checked_in = sorted(p.relative_to(EXTRACTS) for p in EXTRACTS.rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path) for p in written) == checked_in
    for path in written:
        name = path.relative_to(tmp_path)
        assert path.read_bytes() == (EXTRACTS / name).read_bytes(), f"{name}: rerun the script"
