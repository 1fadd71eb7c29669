"""The CLI behaves: usage errors, --version, help pages, unknown runs, and what it imports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wattprint.cli import COMMANDS
from wattprint.cli.group import usage_piece
from wattprint.cli.plain import Option, UsageError, parse, table

SRC = Path(__file__).resolve().parents[1] / "src" / "wattprint"


def wattprint(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], text=True,
                          capture_output=True, timeout=120, env=env)


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], text=True,
                          capture_output=True, timeout=120)


def test_an_unknown_option_suggests_the_closest_and_exits_2() -> None:
    # before the command's name, options are wattprint's: a typo is an error, not a command
    r = wattprint("run", "--regoin", "DE", "--", "true")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "error: no such option: --regoin (did you mean --region?)"
    assert "Usage: wattprint run [OPTIONS] [--] CMD [ARGS]..." in r.stderr
    r = wattprint("runs", "--jsn")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "error: no such option: --jsn (did you mean --json?)"
    assert "Usage: wattprint runs [OPTIONS]" in r.stderr


def test_an_unknown_command_suggests_the_closest_and_exits_2() -> None:
    r = wattprint("regoins")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "error: no such command: regoins (did you mean regions?)"
    r = wattprint("zzzzzz")
    assert r.returncode == 2 and r.stderr.splitlines()[0] == "error: no such command: zzzzzz"


def test_version_prints_the_package_version() -> None:
    text = (SRC / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    assert match is not None
    r = wattprint("--version")
    assert r.returncode == 0 and r.stdout == f"wattprint {match.group(1)}\n"


def test_unknown_run_and_unknown_project_exit_2_naming_them(home: Path) -> None:
    env = dict(os.environ)
    r = wattprint("show", "zzzz", env=env)
    assert r.returncode == 2 and "no run 'zzzz'" in r.stderr
    assert wattprint("run", "-q", "--project", "real", "--", sys.executable, "-c", "pass",
                     env=env).returncode == 0
    for args in (("report", "--project", "typo"), ("runs", "--project", "typo"),
                 ("export", "--project", "typo"),
                 ("leaderboard", "--project", "typo", "--metric", "accuracy")):
        r = wattprint(*args, env=env)
        assert r.returncode == 2, (args, r.stderr)
        assert "no project 'typo'" in r.stderr and "Traceback" not in r.stderr
    assert wattprint("runs", "--project", "real", env=env).returncode == 0


HELP_PAGES = """
    import contextlib, io, json, sys
    from wattprint.cli import COMMANDS, main
    pages = {}
    for name in [None, *COMMANDS]:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                main(["--help"] if name is None else [name, "--help"])
            except SystemExit as exc:
                assert exc.code == 0, (name, exc.code)
        pages[name or ""] = buf.getvalue()
    sys.stderr.write(json.dumps(pages))
"""


def test_every_help_page_has_examples_and_a_clean_usage_line() -> None:
    r = python(HELP_PAGES)
    assert r.returncode == 0, r.stderr[-2000:]
    pages = json.loads(r.stderr)
    assert set(pages) == {"", *COMMANDS}
    for name, page in pages.items():
        assert "Example" in page, name
        usage = [line for line in page.splitlines() if "Usage:" in line]
        assert usage, name
        assert "{" not in usage[0] and "[[" not in usage[0], (name, usage[0])
    assert "Usage: wattprint show [OPTIONS] RUN" in pages["show"]
    assert "Usage: wattprint report [OPTIONS] [RUN]" in pages["report"]
    assert "Usage: wattprint import [OPTIONS] TOOL FILE" in pages["import"]


MODULES_AFTER = """
    import sys
    from wattprint.cli import main
    try:
        main({args!r})
    except SystemExit:
        pass
    sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)))
"""


def _modules_after(args: list[str]) -> set[str]:
    r = python(MODULES_AFTER.format(args=args))
    line = r.stderr.rsplit("\nMODULES ", 1)
    assert len(line) == 2, r.stderr[-2000:]
    return set(line[1].split())


def test_top_level_help_imports_no_command_and_no_heavy_library() -> None:
    loaded = _modules_after(["--help"])
    assert "wattprint.cli" in loaded
    for heavy in ("numpy", "wattprint.accounting", "typer", "rich", "click", "pydantic",
                  "wattprint.cli.core", "wattprint.cli.app"):
        assert heavy not in loaded, heavy


def test_run_imports_neither_typer_nor_rich_nor_numpy(home: Path) -> None:
    # ``--quiet`` skips the carbon summary, whose accounting loads numpy
    loaded = _modules_after(["run", "-q", "--", sys.executable, "-c", "pass"])
    assert "wattprint.run" in loaded and "wattprint.cli.measure" in loaded
    for heavy in ("numpy", "wattprint.accounting", "typer", "rich", "pydantic"):
        assert heavy not in loaded, heavy


REGISTERED = """
    import importlib, json, sys
    from wattprint.cli import COMMANDS
    from wattprint.cli.group import command_name
    found = {}
    for module in sorted({m for m, _ in COMMANDS.values()}):
        mod = importlib.import_module(f"wattprint.cli.{module}")
        found.update({name: module for name in getattr(mod, "PLAIN_COMMANDS", {})})
    from wattprint.cli.app import app
    for info in app.registered_commands:
        found[command_name(info)] = info.callback.__module__.rsplit(".", 1)[1]
    for group in app.registered_groups:
        found[group.name] = ""
    sys.stderr.write(json.dumps(found))
"""


def test_the_command_table_matches_the_modules() -> None:
    # in a subprocess: typer's own import warnings are no concern of this test
    r = python(REGISTERED)
    assert r.returncode == 0, r.stderr[-2000:]
    registered = json.loads(r.stderr)
    assert set(registered) == set(COMMANDS)
    for name, module in registered.items():
        if module:
            assert COMMANDS[name][0] == module, name


OPTIONS = (
    Option(("--project", "-p"), "project", "Project."),
    Option(("--interval",), "interval", "Seconds.", kind="float"),
    Option(("--tag",), "tag", "Tag.", kind="list"),
    Option(("--quiet", "-q"), "quiet", "Quiet.", kind="flag", default=False),
)


def test_plain_options_end_at_the_command_or_at_double_dash() -> None:
    values, rest = parse(OPTIONS, ["-p", "x", "--interval=0.5", "--tag", "a=1", "--tag", "b=2",
                                   "-q", "python", "train.py", "--project", "y"])
    assert values == {"project": "x", "interval": 0.5, "tag": ["a=1", "b=2"], "quiet": True}
    assert rest == ["python", "train.py", "--project", "y"]
    values, rest = parse(OPTIONS, ["--", "--project", "z"])
    assert values == {"project": None, "interval": None, "tag": [], "quiet": False}
    assert rest == ["--project", "z"]


@pytest.mark.parametrize(("args", "message"), [
    (["--projct", "x"], "no such option: --projct (did you mean --project?)"),
    (["--zzz"], "no such option: --zzz"),
    (["--interval", "fast"], "invalid value for --interval: 'fast' is not a number"),
    (["--interval"], "option --interval requires a value"),
    (["--quiet=yes"], "option --quiet does not take a value"),
])
def test_plain_option_errors(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(OPTIONS, args)
    assert str(info.value) == message


def test_usage_pieces_read_like_click() -> None:
    assert usage_piece("RUN", required=True, nargs=1) == "RUN"
    assert usage_piece("run_id", required=False, nargs=1) == "[RUN_ID]"
    assert usage_piece("FILE", required=True, nargs=-1) == "FILE..."
    assert usage_piece("[RUN]", required=False, nargs=1) == "[RUN]"
    assert usage_piece("RUN1 RUN2 [RUN3...]", required=True, nargs=-1) == "RUN1 RUN2 [RUN3...]"


def test_plain_table_aligns_columns_and_rules_the_total() -> None:
    text = table((("device", "left"), ("kWh", "right")), [["gpu0", "1.5"], ["cpu", "12.25"]],
                 ["total", "13.75"])
    assert text.splitlines() == [
        "device    kWh",
        "------  -----",
        "gpu0      1.5",
        "cpu     12.25",
        "------  -----",
        "total   13.75",
    ]
