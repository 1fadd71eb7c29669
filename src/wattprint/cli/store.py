"""Store commands: ``store check``, ``store recover`` and ``delete``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from wattprint.cli.app import (
    JsonOpt,
    ProjectOpt,
    app,
    err,
    fail,
    handle_error,
    out,
    print_json,
    settings_from,
)
from wattprint.errors import WattprintError

store_app = typer.Typer(help="Check a damaged store and recover what is readable.",
                        no_args_is_help=True,
                        epilog="Examples:  wattprint store check  ·  "
                               "wattprint store recover --to recovered.db")
app.add_typer(store_app, name="store")


@store_app.command("check")
def check_cmd(as_json: JsonOpt = False) -> None:
    """Say what is wrong with the store and how to repair it (changes nothing).

    Examples:
      wattprint store check
      wattprint store check --json
    """
    from wattprint.store.checks import check

    path = settings_from().db_path
    report = check(path)
    if as_json:
        print_json(report.to_dict())
    else:
        out.print(f"store {path}: {'ok' if report.ok else 'PROBLEMS FOUND'}")
        for problem in report.problems:
            out.print(f"problem: {problem}", soft_wrap=True)
        for note in report.notes:
            out.print(f"note: {note}", soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@store_app.command("recover")
def recover_cmd(
    to: Annotated[Path, typer.Option("--to", help="The new store file to write (must not exist).",
                                     dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Copy every readable row of the store into a new file; the old file is not changed.

    Examples:
      wattprint store recover --to recovered.db
    """
    from wattprint.store.checks import recover

    source = settings_from().db_path
    try:
        report = recover(source, to)
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json(report.to_dict())
        return
    for table, copied in report.copied.items():
        out.print(f"{table}: {copied} row(s) copied, {report.skipped.get(table, 0)} skipped")
    for problem in report.errors:
        out.print(f"unreadable: {problem}")
    out.print(f"recovered into {to}; to use it, move {source} aside and put {to} in its place",
              soft_wrap=True)


@app.command("delete")
def delete_cmd(
    run_ids: Annotated[list[str] | None, typer.Argument(
        metavar="RUN...", help="Run ids or unique prefixes.")] = None,
    project: ProjectOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete runs and everything stored with them (given by id, or a whole --project).

    Examples:
      wattprint delete 6b12f0
      wattprint delete --project scratch --yes
    """
    from wattprint.store import Store

    if not run_ids and project is None:
        fail("name the runs to delete, or a project with --project")
    if run_ids and project is not None:
        fail("give run ids or --project, not both")
    settings = settings_from()
    try:
        store = Store(settings.db_path)
        targets = (store.run_ids(project) if project is not None
                   else list(dict.fromkeys(store.resolve_id(ref) for ref in run_ids or [])))
    except WattprintError as exc:
        handle_error(exc)
    if not targets:
        err.print(f"project {project!r} has no runs; nothing deleted")
        return
    if not yes:
        if not sys.stdin.isatty():
            fail("deleting needs confirmation: add --yes to delete without asking")
        shown = ", ".join(targets[:5]) + (f" and {len(targets) - 5} more" if len(targets) > 5
                                          else "")
        if not typer.confirm(f"delete {len(targets)} run(s) ({shown})?"):
            err.print("nothing deleted")
            raise typer.Exit(1)
    try:
        for rid in targets:
            store.delete_run(rid)
    except WattprintError as exc:
        handle_error(exc)
    err.print(f"deleted {len(targets)} run(s)")
