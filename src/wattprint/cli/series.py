"""``wattprint series list|show|export``: the intensity series that results used, as kept.

See :mod:`wattprint.accounting.kept`: every plan, and every accounting with a
live API, keeps the intensities it used under ``$WATTPRINT_HOME/series/``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wattprint.cli.app import JsonOpt, app, handle_error, out, print_json, settings_from
from wattprint.errors import WattprintError

__all__ = ["series_app"]

series_app = typer.Typer(help="The intensity series that accountings and plans used, as kept.",
                         no_args_is_help=True,
                         epilog="Examples:  wattprint series list  ·  "
                                "wattprint series show 3fa2  ·  "
                                "wattprint series export 3fa2 -o grid.csv")
app.add_typer(series_app, name="series")


def _utc(t_s: float | None) -> str:
    if t_s is None:
        return ""
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%d %H:%M")


@series_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List the kept series, oldest first.

    Examples:
      wattprint series list --json
    """
    from wattprint.accounting.kept import list_kept

    found = [k.summary() for k in list_kept(settings_from().store_dir)]
    if as_json:
        print_json({"series": found})
        return
    table = Table(title=f"{len(found)} kept series", title_justify="left")
    for col in ("digest", "region", "method", "basis", "intervals", "from (UTC)", "to (UTC)",
                "used by", "source"):
        table.add_column(col)
    for k in found:
        table.add_row(k["digest"][:12], k["region"], k["method"], k["basis"],
                      str(k["intervals"]), _utc(k["from_s"]), _utc(k["to_s"]), k["used_by"],
                      k["source"])
    out.print(table)


@series_app.command()
def show(
    digest: Annotated[str, typer.Argument(help="Digest or a unique prefix (6+ characters).")],
    as_json: JsonOpt = False,
) -> None:
    """Show one kept series: provenance and values."""
    from dataclasses import asdict

    from wattprint.accounting.kept import load_kept

    try:
        kept = load_kept(settings_from().store_dir, digest)
    except WattprintError as exc:
        handle_error(exc)
    if as_json:
        print_json({**kept.summary(), "provenance": asdict(kept.provenance),
                    "start_s": kept.start_s.tolist(), "end_s": kept.end_s.tolist(),
                    "g_per_kwh": kept.g_per_kwh.tolist()})
        return
    p = kept.provenance
    out.print(f"series {kept.digest}")
    out.print(f"region {kept.region}, {kept.method}, {p.basis} basis; used by {kept.used_by}")
    out.print(f"source: {p.source}; {p.dataset}; licence {p.licence}")
    if p.fallback:
        out.print(f"note: {p.fallback}")
    table = Table(title_justify="left")
    for col in ("start (UTC)", "end (UTC)", "gCO2e/kWh"):
        table.add_column(col)
    for a, b, g in zip(kept.start_s, kept.end_s, kept.g_per_kwh, strict=True):
        table.add_row(_utc(float(a)), _utc(float(b)), f"{float(g):.1f}")
    out.print(table)


@series_app.command()
def export(
    digest: Annotated[str, typer.Argument(help="Digest or a unique prefix (6+ characters).")],
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write here instead of stdout.")] = None,
) -> None:
    """Export one kept series as CSV (start, end, g_per_kwh, region)."""
    from wattprint.accounting.kept import export_csv, load_kept

    try:
        text = export_csv(load_kept(settings_from().store_dir, digest))
    except WattprintError as exc:
        handle_error(exc)
    if output is None:
        out.print(text, end="", soft_wrap=True)
    else:
        output.write_text(text, encoding="utf-8")
