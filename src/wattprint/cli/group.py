"""The top level of ``wattprint``: find the command, import it, run it.

Listing the commands (``wattprint --help``) and ``--version`` read only the
static table in :data:`wattprint.cli.COMMANDS` and import neither typer nor
click; the module that defines a command, and with it typer, rich and
whatever the command needs (numpy, the accounting package, ...), is
imported only when that command runs or shows its own help. This keeps
``wattprint --help`` and ``wattprint run -- CMD`` quick.

This module also gives every error the CLI's one-line form
(``error: no such option: --regoin (did you mean --region?)``, exit 2),
prints ``interrupted`` (exit 130) when Ctrl-C stops a command, and gives
every command a usage line without typer's ``{RUN}`` braces.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer.models import CommandInfo, TyperInfo

#: exit code of a usage error (unknown option or command, bad value, missing argument)
USAGE_ERROR = 2
#: exit code when the user pressed Ctrl-C (128 + SIGINT, as a shell reports it)
INTERRUPTED = 130

PROG = "wattprint"


def help_text(commands: Mapping[str, tuple[str, str]], summary: str, epilog: str) -> str:
    """The top-level help page, from the command table alone."""
    width = max(len(name) for name in commands) + 2
    lines = [f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]...", "", f"  {summary}", "",
             "Options:",
             f"  {'--version':<{width}} Show the version and exit.",
             f"  {'--help':<{width}} Show this message and exit.", "",
             "Commands:"]
    lines += [f"  {name:<{width}} {help_}" for name, (_, help_) in commands.items()]
    return "\n".join(lines) + "\n\n" + epilog


def dispatch(commands: Mapping[str, tuple[str, str]], args: Sequence[str], *,
             help_page: str, version: str) -> int:
    """Run the command named by ``args[0]`` with the rest; return the exit code."""
    if not args or args[0] in ("--help", "-h"):
        sys.stdout.write(help_page)
        return 0
    first, rest = args[0], list(args[1:])
    if first == "--version":
        sys.stdout.write(f"{PROG} {version}\n")
        return 0
    if first == "help":  # ``wattprint help run`` is ``wattprint run --help``
        if not rest:
            sys.stdout.write(help_page)
            return 0
        first, rest = rest[0], ["--help"]
    if first.startswith("-"):
        return _usage_error(no_such("option", first, ["--help", "--version"]),
                            f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]...", PROG)
    if first not in commands:
        return _usage_error(no_such("command", first, list(commands)),
                            f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]...", PROG)
    module = importlib.import_module(f"wattprint.cli.{commands[first][0]}")
    plain = getattr(module, "PLAIN_COMMANDS", {}).get(first)
    if plain is not None:  # a command that parses its own arguments (no typer)
        try:
            return int(plain(rest, f"{PROG} {first}"))
        except KeyboardInterrupt:
            _echo_err("interrupted")
            return INTERRUPTED
    command = load_command(first, commands[first][0])
    return invoke(command, rest, f"{PROG} {first}")


def load_command(name: str, module: str) -> Any:
    """Import ``wattprint.cli.<module>`` and build the click command called ``name``.

    Raises:
        LookupError: the module registers no command or group of that name
            (the table in :mod:`wattprint.cli` is out of step with the module).
    """
    importlib.import_module(f"wattprint.cli.{module}")
    import typer.main

    from wattprint.cli.app import app

    for info in app.registered_commands:
        if command_name(info) == name:
            _clean_usage(info)
            return typer.main.get_command_from_info(
                info, pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode)
    for group in app.registered_groups:
        if group.name == name:
            _clean_group_usage(group)
            return typer.main.get_group_from_info(
                group, pretty_exceptions_short=app.pretty_exceptions_short,
                suggest_commands=app.suggest_commands, rich_markup_mode=app.rich_markup_mode)
    raise LookupError(f"wattprint.cli.{module} registers no command {name!r}")


def command_name(info: CommandInfo) -> str | None:
    """The name a typer command is called by (typer's rule: the function name, dashed)."""
    if info.name:
        return info.name
    return info.callback.__name__.replace("_", "-") if info.callback else None


def invoke(command: Any, args: list[str], prog_name: str) -> int:
    """Parse ``args`` for ``command`` and run it; errors become ``error: ...`` lines."""
    import typer

    errors = click_errors()
    try:
        try:
            with command.make_context(prog_name, args) as ctx:
                command.invoke(ctx)
        except (EOFError, KeyboardInterrupt):
            raise typer.Abort() from None
    except typer.Exit as exc:
        return int(exc.exit_code)
    except errors.UsageError as exc:
        usage = exc.ctx.get_usage() if exc.ctx is not None else None
        path = exc.ctx.command_path if exc.ctx is not None else prog_name
        return _usage_error(error_message(exc), usage, path)
    except errors.ClickException as exc:
        _echo_err(f"error: {error_message(exc)}")
        return int(exc.exit_code)
    except typer.Abort:
        _echo_err("interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        # the reader went away (``wattprint runs | head``): stop quietly, as click does
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
        return 1
    return 0


@cache
def click_errors() -> ModuleType:
    """The exceptions of the click that typer builds commands with.

    typer 0.26 and later ship their own copy of click; earlier ones use click.
    """
    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - typer versions that depend on click
        return importlib.import_module("click.exceptions")


def _clean_usage(info: CommandInfo) -> None:
    from typer.core import TyperCommand

    if info.cls is None or info.cls is TyperCommand:
        info.cls = _command_class()


def _clean_group_usage(group: TyperInfo) -> None:
    sub = group.typer_instance
    if sub is None:
        return
    for info in sub.registered_commands:
        _clean_usage(info)
    for nested in sub.registered_groups:
        _clean_group_usage(nested)


@cache
def _command_class() -> Any:
    """A typer command class whose usage line reads ``RUN``, ``[RUN]``, ``FILE...``."""
    from typer.core import TyperArgument, TyperCommand

    class Command(TyperCommand):
        def collect_usage_pieces(self, ctx: Any) -> list[str]:
            pieces = [self.options_metavar] if self.options_metavar else []
            for param in self.get_params(ctx):
                if isinstance(param, TyperArgument):
                    pieces.append(usage_piece(param.metavar or param.name or "ARG",
                                              required=param.required, nargs=param.nargs))
                else:
                    pieces.extend(param.get_usage_pieces(ctx))
            return pieces

    return Command


def usage_piece(metavar: str, *, required: bool, nargs: int) -> str:
    """How an argument reads in a usage line, click's way.

    A plain name is upper-cased, bracketed when optional and followed by
    ``...`` when it takes several values; a metavar that already spells out
    its shape (``CMD [ARGS]...``, ``RUN1 RUN2 [RUN...]``) is kept as written.
    """
    if any(c in metavar for c in " .[]"):
        return metavar
    piece = metavar.upper()
    if nargs != 1:
        piece += "..."
    return piece if required else f"[{piece}]"


def no_such(kind: str, name: str, candidates: Sequence[str]) -> str:
    """``no such option: --regoin (did you mean --region?)``; without a close name, no hint."""
    import difflib

    return f"no such {kind}: {name}{_did_you_mean(difflib.get_close_matches(name, candidates))}"


def error_message(exc: Any) -> str:
    """The one-line message of a click error, in the CLI's lower-case style."""
    if isinstance(exc, click_errors().NoSuchOption):
        return f"no such option: {exc.option_name}{_did_you_mean(exc.possibilities or [])}"
    message = str(exc.format_message())
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    return message


def _did_you_mean(close: Sequence[str]) -> str:
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _usage_error(message: str, usage: str | None, command_path: str) -> int:
    _echo_err(f"error: {message}")
    if usage:
        _echo_err(usage)
    _echo_err(f"Try '{command_path} --help' for help.")
    return USAGE_ERROR


def _echo_err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
