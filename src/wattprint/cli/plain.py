"""Options, help and output for commands that must start fast, without typer or rich.

``wattprint run -- CMD`` wraps every job, so the time it adds matters more
than in any other command: importing typer (which validates options through
pydantic) and rich would cost more than the whole measurement. ``run``
therefore declares its options in a small table of :class:`Option` and is
parsed here with the same rules and error messages as the typer commands:

* options end at the first argument that is not one, or at ``--``;
  everything after that belongs to the measured command;
* ``--name value`` and ``--name=value``; flags take no value; repeatable
  options collect a list;
* an unknown option is an error that suggests the closest names, exit 2.

Output goes to stderr as plain text, so a tracked command's stdout passes
through untouched.
"""

from __future__ import annotations

import difflib
import logging
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from wattprint.config import Settings, load_settings
from wattprint.errors import WattprintError


class UsageError(Exception):
    """A command line that cannot be parsed; the message is one lower-case line."""


@dataclass(frozen=True)
class Option:
    """One option of a plain command.

    Attributes:
        flags: its spellings, long first (``("--project", "-p")``).
        dest: the keyword it is passed as.
        help: one line for ``--help``.
        kind: ``str``, ``float``, ``int``, ``flag`` (no value) or ``list`` (repeatable).
        metavar: the value's name in ``--help`` (default: from ``kind``).
        default: the value when the option is not given.
    """

    flags: tuple[str, ...]
    dest: str
    help: str
    kind: str = "str"
    metavar: str | None = None
    default: Any = None


def parse(options: Sequence[Option], args: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Split ``args`` into option values and the arguments after them.

    Raises:
        UsageError: an unknown option (with the closest names), a missing or
            malformed value.
    """
    by_flag = {flag: opt for opt in options for flag in opt.flags}
    values: dict[str, Any] = {opt.dest: ([] if opt.kind == "list" else opt.default)
                              for opt in options}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return values, list(args[i + 1:])
        if not arg.startswith("-") or arg == "-":
            return values, list(args[i:])
        flag, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        opt = by_flag.get(flag)
        if opt is None:
            close = difflib.get_close_matches(flag, [f for f in by_flag if f.startswith("--")], n=1)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise UsageError(f"no such option: {flag}{hint}")
        if opt.kind == "flag":
            if eq:
                raise UsageError(f"option {flag} does not take a value")
            values[opt.dest] = True
            i += 1
            continue
        if eq:
            raw = inline
            i += 1
        elif i + 1 < len(args):
            raw = args[i + 1]
            i += 2
        else:
            raise UsageError(f"option {flag} requires a value")
        value = _convert(opt, flag, raw)
        if opt.kind == "list":
            values[opt.dest].append(value)
        else:
            values[opt.dest] = value
    return values, []


def _convert(opt: Option, flag: str, raw: str) -> Any:
    try:
        if opt.kind == "float":
            return float(raw)
        if opt.kind == "int":
            return int(raw)
    except ValueError:
        kind = "a number" if opt.kind == "float" else "an integer"
        raise UsageError(f"invalid value for {flag}: {raw!r} is not {kind}") from None
    return raw


def help_page(usage: str, doc: str, options: Sequence[Option]) -> str:
    """A ``--help`` page: usage line, the docstring, then the options."""
    rows = [(", ".join(opt.flags) + ("" if opt.kind == "flag" else
                                     f" {opt.metavar or _METAVARS[opt.kind]}"), opt.help)
            for opt in options]
    rows.append(("--help", "Show this message and exit."))
    width = max(len(left) for left, _ in rows) + 2
    lines = [f"Usage: {usage}", "", textwrap.indent(textwrap.dedent(doc).strip(), "  "), "",
             "Options:"]
    for left, right in rows:
        wrapped = textwrap.wrap(right, max(30, 78 - width - 2)) or [""]
        lines.append(f"  {left:<{width}}{wrapped[0]}")
        lines += [f"  {'':<{width}}{more}" for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


_METAVARS = {"str": "TEXT", "float": "NUMBER", "int": "INTEGER", "list": "TEXT"}


def table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]],
          total: Sequence[str] | None = None) -> str:
    """A plain-text table; columns are ``(heading, "left"|"right")``; ``total`` under a rule."""
    body = [list(r) for r in rows] + ([list(total)] if total is not None else [])
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, (h, _) in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if j == "right" else c.ljust(w)
                         for c, w, (_, j) in zip(cells, widths, columns, strict=True)).rstrip()

    out = [line([h for h, _ in columns]), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    if total is not None:
        out += [line(["-" * w for w in widths]), line(total)]
    return "\n".join(out)


def echo(text: str = "") -> None:
    """Print a line to stderr (the measured command owns stdout)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` and exit with ``code``."""
    echo(f"error: {message}")
    raise SystemExit(code)


def handle_error(exc: WattprintError) -> NoReturn:
    """Turn a wattprint error into its message and exit code 2."""
    fail(str(exc), 2)


def settings_from(**overrides: Any) -> Settings:
    """Load settings or exit with the configuration error."""
    try:
        return load_settings(overrides)
    except WattprintError as exc:
        handle_error(exc)


def setup_logging(verbose: bool = False) -> None:
    """Log wattprint's warnings (debug with ``verbose``) to stderr as plain lines."""
    root = logging.getLogger("wattprint")
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.propagate = False
