"""The ``audit`` commands: how much of an environment or image a workload uses.

``wattprint audit env [OPTIONS] -- CMD...`` traces CMD and audits the Python
environment it ran in; ``wattprint audit image ARCHIVE [OPTIONS] -- CMD...``
audits a ``docker save`` / OCI archive against CMD's trace. The audit modules
are imported inside the commands, so ``wattprint --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wattprint.cli.app import RegionOpt, app, err, fail, handle_error, settings_from
from wattprint.errors import WattprintError

audit_app = typer.Typer(
    name="audit", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Measure the bloat of an environment or image: what the workload never uses, and "
         "what it costs per deployment.",
    epilog="Examples:  wattprint audit env -- python train.py --epochs 1  ·  "
           "wattprint audit image pytorch.tar -- python infer.py  ·  "
           "wattprint audit env --json -o audit.json -- python infer.py")
app.add_typer(audit_app, name="audit")

_FORMATS = ("text", "md", "html", "json")
_SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md",
                   ".json": "json", ".txt": "text"}
_DATA = re.compile(r'<script type="application/json" id="wattprint-data">(.*?)</script>', re.S)
_CMD = {"allow_extra_args": True, "ignore_unknown_options": True}

AppendOpt = Annotated[bool, typer.Option(
    "--append", help="Merge this run's trace with the one stored in --state (or in the -o "
                     "FILE of an earlier json/html audit); with no command, report the stored "
                     "trace alone.")]
StateOpt = Annotated[Path | None, typer.Option(
    "--state", help="JSON file that keeps the merged trace between runs.", dir_okay=False)]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the JSON document.")]
FormatOpt = Annotated[str | None, typer.Option(
    "--format", help="text, md, html or json (default: from -o's suffix, else text).")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write the report to FILE instead of stdout.", dir_okay=False)]
RequirementsOpt = Annotated[Path | None, typer.Option(
    "--write-requirements", help="Write the pinned used and dependency packages to FILE.",
    dir_okay=False)]
BandwidthOpt = Annotated[float, typer.Option(
    "--bandwidth-mbps", help="Provisioning bandwidth, Mbit/s, for the transfer time.")]
NetworkOpt = Annotated[float | None, typer.Option(
    "--network-kwh-per-gb", help="Network energy intensity (default 0.001, Cloud Carbon "
                                 "Footprint; 0.06 is Aslan et al. 2018 for the internet).")]
KeepOpt = Annotated[float, typer.Option(
    "--keep-days", help="Days a provisioned copy stays on disk, for storage energy.")]


def _command(ctx: typer.Context) -> list[str]:
    cmd = list(ctx.args)
    return cmd[1:] if cmd and cmd[0] == "--" else cmd


def _format(fmt: str | None, as_json: bool, output: Path | None) -> str:
    chosen = (fmt or ("json" if as_json else None)
              or (_SUFFIX_FORMATS.get(output.suffix.lower()) if output else None) or "text")
    chosen = chosen.lower()
    if chosen not in _FORMATS:
        fail(f"--format must be one of {', '.join(_FORMATS)}, not {chosen!r}")
    return chosen


def _stored_trace(state: Path | None, output: Path | None, fmt: str) -> Any:
    """The trace kept by earlier runs (``None`` if there is none yet)."""
    from wattprint.audit.trace import Trace

    source = state if state is not None else output
    if source is None or (state is None and fmt not in ("json", "html")):
        fail("--append needs a place to keep the trace: give --state FILE, or -o FILE with "
             "--format json or html")
    if not source.exists():
        return None
    try:
        text = source.read_text(encoding="utf-8")
        match = _DATA.search(text) if fmt == "html" and state is None else None
        data = json.loads(match.group(1) if match else text)
        return Trace.from_dict(data["trace"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        fail(f"cannot read the stored trace in {source} ({exc}); remove the file or drop "
             "--append")
    except WattprintError as exc:
        handle_error(exc)


def _cost_factors(region: str | None, bandwidth_mbps: float, network_kwh_per_gb: float | None,
                  keep_days: float) -> Any:
    from wattprint.accounting.intensity import annual_intensity
    from wattprint.accounting.location import resolve_region
    from wattprint.audit.costs import NETWORK_KWH_PER_GB, CostFactors

    if bandwidth_mbps <= 0:
        fail(f"--bandwidth-mbps must be > 0, not {bandwidth_mbps:g}")
    if keep_days < 0 or (network_kwh_per_gb is not None and network_kwh_per_gb < 0):
        fail("--keep-days and --network-kwh-per-gb must be >= 0")
    try:
        resolved = resolve_region(region, config_region=settings_from().region)
        value = annual_intensity(resolved.code)
    except WattprintError as exc:
        handle_error(exc)
    p = value.provenance
    return CostFactors(
        intensity_g_per_kwh=value.g_per_kwh, region=resolved.label,
        intensity_source=f"{p.source}, {p.dataset}" + (f", {p.year}" if p.year else ""),
        bandwidth_mbps=bandwidth_mbps,
        network_kwh_per_gb=NETWORK_KWH_PER_GB if network_kwh_per_gb is None
        else network_kwh_per_gb,
        keep_h=keep_days * 24.0)


def _trace(cmd: list[str], append: bool, state: Path | None, output: Path | None, fmt: str
           ) -> tuple[Any, int]:
    """Run the command traced, merged with the stored trace when appending."""
    from wattprint.audit.trace import Trace, run_traced

    stored = _stored_trace(state, output, fmt) if append else None
    if not cmd and stored is None:
        fail("no command given: put the workload after --, e.g. "
             "wattprint audit env -- python train.py")
    code = 0
    trace = stored if stored is not None else Trace()
    if cmd:
        try:
            code, fresh = run_traced(cmd)
        except WattprintError as exc:
            handle_error(exc)
        trace = trace.merge(fresh)
    return trace, code


def _finish(doc: dict[str, Any], code: int, fmt: str, output: Path | None, state: Path | None,
            requirements: Path | None) -> None:
    from wattprint.audit.report import render

    if code != 0:
        doc["warnings"].insert(0, f"the command exited with {code}: the trace shows only what "
                                  "ran before it stopped")
    try:
        if state is not None:
            state.write_text(json.dumps({"schema": "wattprint.audit-trace/1",
                                         "trace": doc["trace"]}, indent=1) + "\n",
                             encoding="utf-8")
        if requirements is not None:
            header = ("# packages the traced workload used, and what they require "
                      "(wattprint audit)\n")
            requirements.write_text(header + "".join(f"{r}\n" for r in doc["requirements"]),
                                    encoding="utf-8")
        text = render(doc, fmt)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            err.print(f"wrote {output}", soft_wrap=True)
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror or exc}; choose another path")
    if code != 0:
        raise typer.Exit(code)


@audit_app.command("env", context_settings=_CMD)
def env_cmd(
    ctx: typer.Context,
    python: Annotated[str | None, typer.Option(
        "--python", help="The interpreter whose environment to audit (default: the one "
                         "running wattprint).")] = None,
    root: Annotated[Path | None, typer.Option(
        "--root", help="Audit only the distributions installed under DIR (e.g. a virtual "
                       "environment that also sees system packages).", file_okay=False)] = None,
    append: AppendOpt = False,
    state: StateOpt = None,
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    write_requirements: RequirementsOpt = None,
    region: RegionOpt = None,
    bandwidth_mbps: BandwidthOpt = 1000.0,
    network_kwh_per_gb: NetworkOpt = None,
    keep_days: KeepOpt = 30.0,
) -> None:
    """Trace a command and audit its Python environment: wattprint audit env -- CMD [ARGS]...

    The command's output goes to stderr; the report to stdout (or -o FILE).
    """
    import os

    from wattprint.audit.analysis import audit_environment
    from wattprint.audit.distributions import Environment, list_distributions

    chosen = _format(fmt, as_json, output)
    cmd = _command(ctx)
    if not cmd and not append:
        fail("no command given: put the workload after --, e.g. "
             "wattprint audit env -- python train.py")
    if root is not None and not root.is_dir():
        fail(f"--root {root}: no such directory; give the directory the environment is in")
    factors = _cost_factors(region, bandwidth_mbps, network_kwh_per_gb, keep_days)
    try:
        env = list_distributions(python or sys.executable)
    except WattprintError as exc:
        handle_error(exc)
    if root is not None:
        prefix = os.path.realpath(root).rstrip(os.sep) + os.sep
        env = Environment(env.python, tuple(
            d for d in env.distributions if os.path.realpath(d.root) + os.sep == prefix
            or os.path.realpath(d.root).startswith(prefix)))
    trace, code = _trace(cmd, append, state, output, chosen)
    doc = audit_environment(env, trace, costs=factors)
    _finish(doc, code, chosen, output, state, write_requirements)


@audit_app.command("image", context_settings=_CMD)
def image_cmd(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(
        metavar="ARCHIVE", help="A `docker save` archive or a tar of an OCI image layout.")],
    root: Annotated[Path | None, typer.Option(
        "--root", help="Host directory of an unpacked copy of the image that the command "
                       "runs against; without it, traced paths are taken as image paths (the "
                       "command ran inside the container).", file_okay=False)] = None,
    append: AppendOpt = False,
    state: StateOpt = None,
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    write_requirements: RequirementsOpt = None,
    region: RegionOpt = None,
    bandwidth_mbps: BandwidthOpt = 1000.0,
    network_kwh_per_gb: NetworkOpt = None,
    keep_days: KeepOpt = 30.0,
) -> None:
    """Audit an image archive against a traced command: wattprint audit image ARCHIVE -- CMD...

    Reads the archive directly (no Docker daemon): layers, whiteouts, dpkg/apk
    packages, Python packages, models and data.
    """
    from wattprint.audit.image import read_image
    from wattprint.audit.imageaudit import audit_image

    chosen = _format(fmt, as_json, output)
    cmd = _command(ctx)
    if not cmd and not append:
        fail("no command given: put the workload after --, e.g. "
             "wattprint audit image image.tar -- python infer.py")
    if root is not None and not root.is_dir():
        fail(f"--root {root}: no such directory; give the directory the image is unpacked in")
    factors = _cost_factors(region, bandwidth_mbps, network_kwh_per_gb, keep_days)
    try:
        image = read_image(archive)
    except WattprintError as exc:
        handle_error(exc)
    trace, code = _trace(cmd, append, state, output, chosen)
    doc = audit_image(image, trace, root=str(root) if root is not None else None, costs=factors)
    _finish(doc, code, chosen, output, state, write_requirements)
