"""The IPython magics, run through a real InteractiveShell."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("IPython")

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from wattprint.integrations import jupyter
from wattprint.store import Store


@pytest.fixture
def shell(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    monkeypatch.setenv("WATTPRINT_INTERVAL", "0.02")
    sh = InteractiveShell.instance()
    jupyter.load_ipython_extension(sh)
    yield sh
    jupyter.unload_ipython_extension(sh)
    sh.user_ns.pop("total", None)


def _samplers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wattprint-sampler" and t.is_alive()]


BUSY = "total = 0\nfor i in range(300_000):\n    total += i\n"


def test_each_cell_is_one_run_and_shows_its_summary(shell: InteractiveShell,
                                                    home: Path) -> None:
    for _ in range(3):  # the same cell re-executed
        with capture_output() as captured:
            shell.run_cell(f"%%wattprint --project nb --region FR --name cell\n{BUSY}")
        assert not _samplers()
        [html] = [o.data["text/html"] for o in captured.outputs if "text/html" in o.data]
        assert "wattprint-summary" in html and "g CO2e" in html and "FR" in html
    assert shell.user_ns["total"] == sum(range(300_000))
    runs = Store(home / "wattprint.db").runs("nb")
    assert len(runs) == 3
    assert {(r.name, r.status, r.region) for r in runs} == {("cell", "finished", "FR")}
    assert sum(r.id in html for r in runs) == 1  # the last summary names its own run
    store = Store(home / "wattprint.db")
    assert all(sum(i.energy_j for i in store.intervals(r.id)) > 0 for r in runs)


def test_a_failing_cell_ends_its_run_and_leaks_nothing(shell: InteractiveShell,
                                                       home: Path) -> None:
    with capture_output():
        result = shell.run_cell("%%wattprint --project bad --quiet\n1 / 0\n")
    assert result.success  # the magic ran; the cell's error was shown, not raised
    assert not _samplers()
    [run] = Store(home / "wattprint.db").runs("bad")
    assert run.status == "failed" and run.error == "ZeroDivisionError: division by zero"


def test_line_magic_start_status_stop(shell: InteractiveShell, home: Path) -> None:
    with capture_output() as captured:
        shell.run_cell("%wattprint start --project span --region DE")
        shell.run_cell(BUSY)
        shell.run_cell("%wattprint status")
        # starting again ends the first run instead of leaking it
        shell.run_cell("%wattprint start --project span --region DE")
        shell.run_cell("%wattprint stop")
        shell.run_cell("%wattprint stop")
    assert not _samplers()
    text = captured.stdout
    assert text.count("wattprint: measuring run") == 2
    assert "J so far" in text
    assert "no run in progress" in text
    assert "ended the run" in captured.stderr
    runs = Store(home / "wattprint.db").runs("span")
    assert len(runs) == 2 and {r.status for r in runs} == {"finished"}
    assert any("text/html" in o.data for o in captured.outputs)


def test_bad_arguments_say_how_to_use_the_magic(shell: InteractiveShell) -> None:
    with capture_output() as captured:
        shell.run_cell("%wattprint launch")
        shell.run_cell("%%wattprint --bogus 1\nx = 1\n")
    assert "unknown %wattprint command 'launch'" in captured.stderr
    assert "unknown argument(s) --bogus 1" in captured.stderr
    assert "x" not in shell.user_ns


def test_load_ext_by_module_name(shell: InteractiveShell, home: Path) -> None:
    with capture_output():
        shell.run_cell("%load_ext wattprint.integrations.jupyter")
        shell.run_cell(f"%%wattprint --project byname --quiet\n{BUSY}")
    assert len(Store(home / "wattprint.db").runs("byname")) == 1


def test_docs_example_runs(shell: InteractiveShell, home: Path) -> None:
    from integrations.docsnippets import blocks

    cells = blocks("Jupyter and IPython", "ipython")
    assert len(cells) == 3
    with capture_output() as captured:
        for cell in cells:
            if cell.startswith("%%"):
                assert shell.run_cell(cell).success
            else:  # a block of several cells, one line each
                for line in cell.splitlines():
                    assert shell.run_cell(line).success
    assert "error" not in captured.stderr.lower()
    assert len(Store(home / "wattprint.db").runs("notebook")) == 2


def test_load_ext_wattprint_registers_the_magics(home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``%load_ext wattprint`` (the package itself) gives the same magics."""
    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "wattprint")
    try:
        assert "wattprint" in sh.magics_manager.magics["cell"]
        assert "wattprint" in sh.magics_manager.magics["line"]
    finally:
        sh.run_line_magic("unload_ext", "wattprint")
