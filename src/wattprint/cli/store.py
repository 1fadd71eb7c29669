"""Store commands: ``store check``, ``store recover``, ``store copy``, ``delete`` and ``merge``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from wattprint.store.copy import CopyReport

store_app = typer.Typer(help="Check a damaged store, recover what is readable, copy runs "
                             "between stores.",
                        no_args_is_help=True,
                        epilog="Examples:  wattprint store check  ·  "
                               "wattprint store recover --to recovered.db  ·  "
                               "wattprint store copy --from sqlite:///data/wattprint.db "
                               "--to postgresql://wattprint@db/wattprint")
app.add_typer(store_app, name="store")


@store_app.command("check")
def check_cmd(as_json: JsonOpt = False) -> None:
    """Say what is wrong with the store and how to repair it (changes nothing).

    Examples:
      wattprint store check
      wattprint store check --json
    """
    from wattprint.store.checks import check

    settings = settings_from()
    if isinstance(settings.store_target, str):
        _check_server(settings.store_target, as_json)
        return
    path = settings.db_path
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
        store = Store(settings.store_target)
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


def _check_server(url: str, as_json: bool) -> None:
    """``store check`` of a PostgreSQL store: reachable, schema, runs readable."""
    from wattprint.store import Store

    try:
        store = Store(url, read_only=True)
        ids = store.run_ids()
        store.runs()
        version = store.schema_version()
    except WattprintError as exc:
        handle_error(exc)
    problems = [why for _, why in store.skipped]
    notes = [f"{len(ids)} run(s), schema version {version}"]
    if as_json:
        print_json({"path": store.where, "ok": not problems, "problems": problems,
                    "notes": notes})
    else:
        out.print(f"store {store.where}: {'ok' if not problems else 'PROBLEMS FOUND'}",
                  soft_wrap=True)
        for problem in problems:
            out.print(f"problem: {problem}", soft_wrap=True)
        for note in notes:
            out.print(f"note: {note}", soft_wrap=True)
    store.close()
    if problems:
        raise typer.Exit(1)


def _target(text: str) -> str | Path:
    """A store named on the command line: a URL, or a SQLite file path."""
    from wattprint.config import is_postgres_url

    return text if is_postgres_url(text) or text.startswith("sqlite:") else Path(text)


def _print_copy(report: CopyReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    rows = ", ".join(f"{n} {table}" for table, n in report.rows.items() if n)
    out.print(f"{len(report.copied)} run(s) copied, {len(report.replaced)} replaced (ended "
              f"since the last copy), {len(report.present)} already in {report.destination}",
              soft_wrap=True)
    if rows:
        out.print(f"rows: {rows}", soft_wrap=True)


@store_app.command("copy")
def copy_cmd(
    source: Annotated[str, typer.Option("--from", help=(
        "The store to read: sqlite:///path/wattprint.db, a file path, or postgresql://...; "
        "default the configured store."))] = "",
    to: Annotated[str, typer.Option("--to", help=(
        "The store to write: postgresql://user@host/db, sqlite:///path, or a file path."))] = "",
    run_ids: Annotated[list[str] | None, typer.Argument(
        metavar="[RUN...]", help="Runs to copy (ids or prefixes); default every run.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy runs from one store into another; copying again adds nothing.

    A run already in the destination is kept as it is, unless it is stored
    there as running and has ended since: then it is brought up to date.
    Passwords in URLs are never printed.

    Examples:
      wattprint store copy --from sqlite:///data/wattprint.db --to postgresql://wattprint@db/wattprint
      wattprint store copy --to sqlite:///backup/wattprint.db
      wattprint store copy --from node1.db --to postgresql:///wattprint?service=wattprint 6b12f0
    """
    from wattprint.store import Store
    from wattprint.store.copy import copy_runs

    if not to:
        fail("name the store to copy into with --to (a postgresql:// URL or a SQLite file)")
    settings = settings_from()
    src_target = _target(source) if source else settings.store_target
    try:
        src = Store(src_target, read_only=True)
        dest = Store(_target(to))
        if src.path.resolve() == dest.path.resolve():
            fail("--from and --to name the same store; nothing to copy")
        ids = [src.resolve_id(r) for r in run_ids] if run_ids else None
        report = copy_runs(src, dest, ids)
    except WattprintError as exc:
        handle_error(exc)
    _print_copy(report, as_json)


@app.command("merge")
def merge_cmd(
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE...", help="Node-local SQLite stores (wattprint.db of each node).",
        dir_okay=False)],
    to: Annotated[str, typer.Option("--to", help=(
        "The store to merge into (postgresql://... or a SQLite file); default the configured "
        "store."))] = "",
    as_json: JsonOpt = False,
) -> None:
    """Fold node-local SQLite stores into one store; each run keeps its id and job links.

    The node files are only read. Merging the same files again adds nothing.

    Examples:
      wattprint merge node1/wattprint.db node2/wattprint.db
      wattprint merge node*.db --to postgresql://wattprint@db/wattprint
      wattprint merge node1.db node2.db --to merged.db --json
    """
    from wattprint.store import Store
    from wattprint.store.copy import merge

    target = _target(to) if to else settings_from().store_target
    try:
        dest = Store(target)
        report = merge(files, dest)
    except WattprintError as exc:
        handle_error(exc)
    _print_copy(report, as_json)
