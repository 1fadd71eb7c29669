"""Exports of stored runs: CSV, JSON, Parquet, and a codecarbon-compatible CSV.

An export is a flat view of what the store holds, for spreadsheets,
notebooks and dashboards. It is built in two pure steps:

1. :func:`collect_runs` reads the store once into :class:`RunExport` values
   (energy per device and per kind under each run's attribution rule, the
   last value of each metric, functional units, and the run's carbon from
   :mod:`wattprint.accounting`);
2. a renderer turns them into text or bytes: :func:`render_csv`,
   :func:`render_json`, :func:`render_parquet`, :func:`render_codecarbon_csv`.
   Nothing here writes a file; the ``wattprint export`` command does.

**Energy** columns are device energy, the stored fact: what the devices drew,
before any data-centre overhead. ``energy_kwh`` is the run's total under its
attribution rule (whole devices for ``machine``, the tracked processes' share
for ``process``), and ``energy_<kind>_kwh`` splits it by device kind (``cpu``,
``dram``, ``ram``, ``gpu``, ``psys``, ``node``), so the kinds add up to the
total. **Carbon** is derived when exporting (``co2e_kg`` = operational +
embodied, with ``pue`` the factor its infrastructure term used); a run that
cannot be accounted (say, an unknown region) has empty carbon cells, never 0.

**The codecarbon CSV** has exactly the 38 columns, in the order, of the
``emissions.csv`` that codecarbon 3.3.2 writes (:data:`CODECARBON_COLUMNS`),
with its units: energy in kWh, emissions in kg, power in W, duration in s.
codecarbon multiplies every power and energy by the PUE and writes the PUE
in its own column; this export does the same with the PUE of the run's
footprint, so ``emissions / energy_consumed`` is the grid intensity, as in
codecarbon. ``emissions`` is the operational carbon (codecarbon counts no
embodied carbon). Water is not tracked: ``water_consumed`` is 0 with
``wue`` 0, as codecarbon writes without a WUE. The host columns are filled
as codecarbon fills them, from the host facts the run recorded
(:func:`wattprint.hostinfo.collect`): ``os`` is ``platform.platform()``'s
``system-release-machine`` (the C library suffix is not recorded),
``python_version`` the Python version, ``cpu_count`` the logical CPUs
(codecarbon's ``psutil.cpu_count()``, not packages) and ``ram_total_size``
the memory in GiB (codecarbon divides bytes by 1024³ and calls it GB); a run
without host facts (imported, or too short to record them) leaves them
empty. Columns wattprint does not know (coordinates, utilisation) are left
empty.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from wattprint.errors import ExportError, WattprintError
from wattprint.extras import install_hint
from wattprint.report.runview import device_rows
from wattprint.store import RunRecord, Store
from wattprint.time import iso_utc as iso
from wattprint.units import J_PER_KWH

if TYPE_CHECKING:
    from wattprint.accounting.account import AccountingOptions

log = logging.getLogger(__name__)

__all__ = [
    "CODECARBON_COLUMNS",
    "EXPORT_SCHEMA",
    "KIND_ORDER",
    "CarbonFigures",
    "DeviceExport",
    "ExportError",
    "JobLink",
    "RunExport",
    "carbon_figures",
    "collect_runs",
    "device_table",
    "render_codecarbon_csv",
    "render_csv",
    "render_json",
    "render_parquet",
    "run_table",
]

#: Identifier and version of the JSON export document.
EXPORT_SCHEMA = "wattprint.export/1"

#: Device kinds in the order their energy columns appear; other kinds follow, sorted.
KIND_ORDER = ("cpu", "dram", "ram", "gpu", "psys", "node")

#: The columns of codecarbon 3.3.2's ``emissions.csv``, in its order (read from a
#: file written by codecarbon 3.3.2, ``tests/fixtures/peers/codecarbon/emissions.csv``).
CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code",
    "region", "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version",
    "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
    "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)

_RUN_HEAD = ("id", "project", "name", "phase", "status", "tool", "started_at", "ended_at",
             "duration_s", "attribution", "energy_kwh")
_RUN_TAIL = ("basis", "co2e_kg", "co2e_operational_kg", "co2e_embodied_kg", "pue",
             "peer_energy_kwh", "peer_co2e_kg", "region", "host")
_DEVICE_COLUMNS = ("run_id", "project", "name", "phase", "status", "tool", "started_at",
                   "ended_at", "duration_s", "device_id", "kind", "device_name", "source",
                   "measured", "model", "share_rule", "energy_kwh", "attributed_energy_kwh",
                   "mean_power_w")
#: the job columns, after ``host``, present when any exported run belongs to a job
_JOB_COLUMNS = ("job_id", "job_node", "job_rank")
_TEXT_COLUMNS = frozenset({"job_id", "job_node",
                           "id", "run_id", "project", "name", "phase", "status", "tool",
                           "started_at", "ended_at", "attribution", "basis", "region", "host",
                           "device_id", "kind", "device_name", "source", "model", "share_rule"})


@dataclass(frozen=True)
class CarbonFigures:
    """A run's carbon as exported.

    Attributes:
        total_kg: life-cycle total, kg CO2e (operational + embodied).
        operational_kg: dynamic + idle + infrastructure, kg CO2e.
        embodied_kg: manufacturing share charged to the run, kg CO2e.
        pue: the PUE the infrastructure term used.
    """

    total_kg: float
    operational_kg: float
    embodied_kg: float
    pue: float


@dataclass(frozen=True)
class DeviceExport:
    """One device of an exported run (energies in joules, power in watts)."""

    id: str
    kind: str
    name: str
    source: str
    measured: bool
    model: str | None
    share_rule: str
    energy_j: float
    attributed_energy_j: float
    mean_power_w: float


@dataclass(frozen=True)
class JobLink:
    """The distributed job a run belongs to (``job_id``, ``job_node``, ``job_rank`` columns)."""

    job_id: str
    node: str | None
    rank: int | None


@dataclass(frozen=True)
class RunExport:
    """What an export holds for one run.

    Attributes:
        run: the stored run row.
        devices: its devices with their energies.
        metrics: the last logged value of each metric.
        units: functional units counted.
        carbon: its carbon, or ``None`` when it could not be accounted.
        job: the job it belongs to, or ``None``.
    """

    run: RunRecord
    devices: tuple[DeviceExport, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    units: dict[str, float] = field(default_factory=dict)
    carbon: CarbonFigures | None = None
    job: JobLink | None = None

    def counted_j(self, device: DeviceExport) -> float:
        """A device's energy under the run's attribution rule (joules)."""
        return device.attributed_energy_j if self.run.attribution == "process" else device.energy_j

    @property
    def energy_j(self) -> float:
        """The run's total energy under its attribution rule (joules)."""
        return sum(self.counted_j(d) for d in self.devices)

    @property
    def energy_by_kind_j(self) -> dict[str, float]:
        """Energy per device kind under the attribution rule (joules), in column order."""
        out: dict[str, float] = {}
        for d in self.devices:
            out[d.kind] = out.get(d.kind, 0.0) + self.counted_j(d)
        return {k: out[k] for k in _kind_order(out)}

    @property
    def basis(self) -> str | None:
        """``measured``, ``estimated`` or ``mixed`` (``None`` without devices)."""
        flags = {d.measured for d in self.devices}
        if not flags:
            return None
        if flags == {True}:
            return "measured"
        return "estimated" if flags == {False} else "mixed"

    @property
    def peer(self) -> dict[str, Any]:
        """What an imported run's own tool reported (``peer_*`` info keys, prefix removed).

        The same object as ``wattprint show --json``'s ``peer``
        (:func:`~wattprint.report.importers.common.peer_figures`); empty for a
        run wattprint measured.
        """
        from wattprint.report.importers.common import peer_figures

        return peer_figures(self.run.info) or {}


def _kind_order(kinds: Iterable[str]) -> list[str]:
    present = set(kinds)
    return [k for k in KIND_ORDER if k in present] + sorted(present - set(KIND_ORDER))


def carbon_figures(store: Store, run: RunRecord,
                   options: AccountingOptions | None = None) -> CarbonFigures | None:
    """A stored run's carbon through :func:`wattprint.accounting.account.account_run`.

    Args:
        store: the run store.
        run: the run.
        options: accounting options (default: the run's region, annual intensity,
            default PUE, embodied carbon included).

    Returns:
        The figures, or ``None`` (with a warning logged) when the run cannot be
        accounted, e.g. its region is unknown.
    """
    from wattprint.accounting.account import account_run

    try:
        footprint = account_run(store, run.id, options).footprint
    except WattprintError as exc:
        log.warning("run %s: no carbon in the export: %s", run.id, exc)
        return None
    co2e = footprint.co2e_kg
    embodied = float(co2e.get("embodied", 0.0))
    total = float(co2e["total"])
    return CarbonFigures(total, total - embodied, embodied, float(footprint.pue))


def _last_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    last: dict[str, float] = {}
    for row in rows:  # logging order: later values replace earlier ones
        last[str(row["name"])] = float(row["value"])
    return last


def collect_runs(
    store: Store,
    project: str | None = None,
    *,
    carbon: Callable[[Store, RunRecord], CarbonFigures | None] | None = carbon_figures,
    progress: Callable[[int, int], None] | None = None,
    job: str | None = None,
) -> list[RunExport]:
    """Read the runs to export from the store, oldest first.

    Args:
        store: the run store.
        project: only this project's runs (default: every run).
        job: only the runs of this job (a resolved job id).
        carbon: how to get a run's carbon (default :func:`carbon_figures`);
            ``None`` leaves the carbon columns empty.
        progress: called with ``(done, total)`` after each run.

    Returns:
        One :class:`RunExport` per run, in order of start time.
    """
    links = {str(r[0]): JobLink(str(r[1]), r[2], r[3]) for r in store._read(
        "SELECT id, job_id, job_node, job_rank FROM runs WHERE job_id IS NOT NULL", ())}
    runs = [r for r in reversed(store.runs(project))
            if job is None or (r.id in links and links[r.id].job_id == job)]
    out: list[RunExport] = []
    for n, run in enumerate(runs, start=1):
        devices = tuple(
            DeviceExport(d["id"], d["kind"], d["name"], d["source"], bool(d["measured"]),
                         d["model"], d["share_rule"], float(d["energy_j"]),
                         float(d["attributed_energy_j"]), float(d["mean_power_w"]))
            for d in device_rows(store, run)
        )
        out.append(RunExport(
            run=run, devices=devices, metrics=_last_metrics(store.metrics(run.id)),
            units=store.units(run.id),
            carbon=carbon(store, run) if carbon is not None else None, job=links.get(run.id),
        ))
        if progress is not None:
            progress(n, len(runs))
    return out


# ---------------------------------------------------------------------------- tables


def _kwh(energy_j: float) -> float:
    return energy_j / J_PER_KWH


def _opt_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def run_table(runs: Sequence[RunExport]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per run: the columns of the CSV and Parquet exports, and the rows.

    Columns: ``id, project, name, phase, status, tool, started_at, ended_at``
    (ISO 8601 UTC), ``duration_s, attribution, energy_kwh``, then
    ``energy_<kind>_kwh`` for each device kind present in any run, then
    ``basis, co2e_kg, co2e_operational_kg, co2e_embodied_kg, pue,
    peer_energy_kwh, peer_co2e_kg, region, host``, then, when any run belongs to a
    distributed job, ``job_id, job_node, job_rank``, then ``metric:<name>`` (last
    value) and ``unit:<name>`` (count) for each name present, sorted. A value a
    run lacks is ``None``.

    Args:
        runs: the collected runs.

    Returns:
        ``(columns, rows)``.
    """
    kinds = _kind_order(k for r in runs for k in r.energy_by_kind_j)
    metrics = sorted({m for r in runs for m in r.metrics})
    units = sorted({u for r in runs for u in r.units})
    job_columns = _JOB_COLUMNS if any(r.job for r in runs) else ()
    columns = [*_RUN_HEAD, *(f"energy_{k}_kwh" for k in kinds), *_RUN_TAIL, *job_columns,
               *(f"metric:{m}" for m in metrics), *(f"unit:{u}" for u in units)]
    rows = []
    for r in runs:
        run = r.run
        by_kind = r.energy_by_kind_j
        row: dict[str, Any] = {
            "id": run.id, "project": run.project, "name": run.name, "phase": run.phase,
            "status": run.status, "tool": run.tool, "started_at": iso(run.started_at),
            "ended_at": iso(run.ended_at), "duration_s": run.duration_s,
            "attribution": run.attribution, "energy_kwh": _kwh(r.energy_j),
        }
        for k in kinds:
            row[f"energy_{k}_kwh"] = _kwh(by_kind[k]) if k in by_kind else None
        c = r.carbon
        row.update({
            "basis": r.basis,
            "co2e_kg": c.total_kg if c else None,
            "co2e_operational_kg": c.operational_kg if c else None,
            "co2e_embodied_kg": c.embodied_kg if c else None,
            "pue": c.pue if c else None,
            "peer_energy_kwh": _opt_float(run.info.get("peer_energy_kwh")),
            "peer_co2e_kg": _opt_float(run.info.get("peer_co2e_kg")),
            "region": run.region, "host": run.host,
        })
        if job_columns:
            row.update({"job_id": r.job.job_id if r.job else None,
                        "job_node": r.job.node if r.job else None,
                        "job_rank": r.job.rank if r.job else None})
        for m in metrics:
            row[f"metric:{m}"] = r.metrics.get(m)
        for u in units:
            row[f"unit:{u}"] = r.units.get(u)
        rows.append(row)
    return columns, rows


def device_table(runs: Sequence[RunExport]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per device of each run (``--by-device``): columns and rows.

    Columns: ``run_id, project, name, phase, status, tool, started_at,
    ended_at, duration_s, device_id, kind, device_name, source, measured,
    model, share_rule, energy_kwh`` (whole device), ``attributed_energy_kwh``
    (the tracked processes' share) and ``mean_power_w``. Carbon is per run
    only, so these rows have none.

    Args:
        runs: the collected runs.

    Returns:
        ``(columns, rows)``.
    """
    rows = []
    for r in runs:
        run = r.run
        for d in r.devices:
            rows.append({
                "run_id": run.id, "project": run.project, "name": run.name,
                "phase": run.phase, "status": run.status, "tool": run.tool,
                "started_at": iso(run.started_at), "ended_at": iso(run.ended_at),
                "duration_s": run.duration_s, "device_id": d.id, "kind": d.kind,
                "device_name": d.name, "source": d.source, "measured": d.measured,
                "model": d.model, "share_rule": d.share_rule, "energy_kwh": _kwh(d.energy_j),
                "attributed_energy_kwh": _kwh(d.attributed_energy_j),
                "mean_power_w": d.mean_power_w,
            })
    return list(_DEVICE_COLUMNS), rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def render_csv(runs: Sequence[RunExport], *, by_device: bool = False) -> str:
    """The CSV export (columns of :func:`run_table` or, by device, :func:`device_table`).

    Numbers are written in full precision (Python's shortest round-trip form),
    booleans as ``true``/``false``, missing values as empty cells.

    Args:
        runs: the collected runs.
        by_device: one row per device instead of one per run.

    Returns:
        The CSV text, header first.
    """
    columns, rows = device_table(runs) if by_device else run_table(runs)
    return _csv(columns, rows)


def _document(r: RunExport) -> dict[str, Any]:
    run = r.run
    c = r.carbon
    return {
        "id": run.id, "project": run.project, "name": run.name, "phase": run.phase,
        "status": run.status, "tool": run.tool, "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at), "duration_s": run.duration_s,
        "attribution": run.attribution, "energy_kwh": _kwh(r.energy_j),
        "energy_by_kind_kwh": {k: _kwh(v) for k, v in r.energy_by_kind_j.items()},
        "basis": r.basis,
        "co2e_kg": c.total_kg if c else None,
        "co2e_operational_kg": c.operational_kg if c else None,
        "co2e_embodied_kg": c.embodied_kg if c else None,
        "pue": c.pue if c else None,
        "region": run.region, "host": run.host, "command": run.command,
        "exit_code": run.exit_code, "metrics": dict(sorted(r.metrics.items())),
        "units": dict(sorted(r.units.items())), "peer": r.peer or None,
        **({"job": {"id": r.job.job_id, "node": r.job.node, "rank": r.job.rank}}
           if r.job else {}),
        "devices": [
            {"id": d.id, "kind": d.kind, "name": d.name, "source": d.source,
             "measured": d.measured, "model": d.model, "share_rule": d.share_rule,
             "energy_kwh": _kwh(d.energy_j), "attributed_energy_kwh": _kwh(d.attributed_energy_j),
             "mean_power_w": d.mean_power_w}
            for d in r.devices
        ],
    }


def render_json(runs: Sequence[RunExport]) -> str:
    """The JSON export: ``{"schema": "wattprint.export/1", "runs": [...]}``.

    Each run has the keys ``id, project, name, phase, status, tool,
    started_at, ended_at`` (ISO 8601 UTC), ``duration_s, attribution,
    energy_kwh, energy_by_kind_kwh`` (kind -> kWh), ``basis, co2e_kg,
    co2e_operational_kg, co2e_embodied_kg, pue, region, host, command,
    exit_code, metrics`` (name -> last value), ``units`` (unit -> count),
    ``peer`` (what an imported run's own tool reported, else ``null``) and
    ``devices`` (``id, kind, name, source, measured, model, share_rule,
    energy_kwh, attributed_energy_kwh, mean_power_w``). Keys are always
    present; unknown values are ``null``. A run of a distributed job also
    has ``job`` (``id, node, rank``).

    Args:
        runs: the collected runs.

    Returns:
        Indented JSON text ending with a newline.
    """
    doc = {"schema": EXPORT_SCHEMA, "runs": [_document(r) for r in runs]}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def render_parquet(runs: Sequence[RunExport], *, by_device: bool = False) -> bytes:
    """The Parquet export: the CSV's columns, typed (text, float64, bool).

    Args:
        runs: the collected runs.
        by_device: one row per device instead of one per run.

    Returns:
        The Parquet file's bytes.

    Raises:
        ExportError: pyarrow is not installed (``pip install 'wattprint[parquet]'``).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ExportError(
            "Parquet export needs pyarrow, which is not installed; install it with "
            f"{install_hint('parquet')}, or export --format csv or json"
        ) from exc
    columns, rows = device_table(runs) if by_device else run_table(runs)
    fields = []
    for c in columns:
        if c in _TEXT_COLUMNS:
            fields.append(pa.field(c, pa.string()))
        elif c == "measured":
            fields.append(pa.field(c, pa.bool_()))
        else:
            fields.append(pa.field(c, pa.float64()))
    table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows],
                                 schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


# ---------------------------------------------------------------------------- codecarbon


@lru_cache(maxsize=1)
def _countries() -> dict[str, tuple[str, str]]:
    """ISO alpha-2 -> (alpha-3, name), from the shipped country intensity table."""
    try:
        text = (resources.files("wattprint").joinpath("data").joinpath("intensity")
                .joinpath("countries_owid_ember.csv").read_text("utf-8"))
    except OSError:  # pragma: no cover - the table ships with the package
        log.debug("country table missing: codecarbon country columns left empty")
        return {}
    return {row["iso2"]: (row["iso3"], row["name"]) for row in csv.DictReader(io.StringIO(text))
            if row.get("iso2") and row.get("iso3")}


def _location(region: str | None) -> dict[str, str]:
    """The location columns of a codecarbon row for a wattprint region code."""
    out = {"country_name": "", "country_iso_code": "", "region": "", "cloud_provider": "",
           "cloud_region": "", "on_cloud": "N"}
    if not region:
        return out
    if ":" in region:  # aws:us-east-1, gcp:europe-west1, azure:westeurope
        provider, name = region.split(":", 1)
        out.update(cloud_provider=provider, cloud_region=name, on_cloud="Y")
        return out
    country = _countries().get(region[:2].upper()) if len(region) == 2 or region[2:3] == "-" \
        else None
    if country is not None:
        out.update(country_iso_code=country[0], country_name=country[1])
    if len(region) > 2:
        out["region"] = region
    return out


def _models(devices: Iterable[DeviceExport], *, counted: bool) -> str:
    """Device names as codecarbon writes them: ``"1 x NVIDIA A100"`` for GPUs, plain for CPUs."""
    counts: dict[str, int] = {}
    for d in devices:
        counts[d.name] = counts.get(d.name, 0) + 1
    return ", ".join(f"{n} x {name}" if counted else name for name, n in counts.items())


#: bytes in codecarbon's "GB" (it divides psutil's bytes by 1024**3)
_CODECARBON_GB = 1024 ** 3


def _host_columns(run: RunRecord) -> dict[str, Any]:
    """The ``os, python_version, cpu_count, ram_total_size`` cells codecarbon would write."""
    host = run.info.get("host")
    if not isinstance(host, dict):
        host = {}
    os_name = host.get("platform")  # platform.platform(), where it was recorded
    if not os_name and host.get("os"):
        # hostinfo records "<system> <release>" and the machine; codecarbon joins them with "-"
        os_name = "-".join([*str(host["os"]).split(" ", 1),
                            *([str(host["machine"])] if host.get("machine") else [])])
    logical = host.get("cpu_logical")
    memory_gb = host.get("memory_gb")
    return {
        "os": os_name or "",
        "python_version": host.get("python") or "",
        "cpu_count": logical if isinstance(logical, int) and logical > 0 else None,
        "ram_total_size": (memory_gb * 1e9 / _CODECARBON_GB
                           if isinstance(memory_gb, int | float) and memory_gb > 0 else None),
    }


def _codecarbon_row(r: RunExport) -> dict[str, Any]:
    run = r.run
    c = r.carbon
    pue = c.pue if c else 1.0
    duration = run.duration_s or 0.0
    by_kind = r.energy_by_kind_j

    def kwh(*kinds: str) -> float | None:
        if not any(k in by_kind for k in kinds):
            return None  # no such device: unknown, not zero
        return _kwh(sum(by_kind.get(k, 0.0) for k in kinds)) * pue

    def watts(*kinds: str) -> float | None:
        if duration <= 0 or not any(k in by_kind for k in kinds):
            return None
        return sum(by_kind.get(k, 0.0) for k in kinds) / duration * pue

    end = run.ended_at if run.ended_at is not None else run.started_at
    cpus = [d for d in r.devices if d.kind == "cpu"]
    gpus = [d for d in r.devices if d.kind == "gpu"]
    emissions = c.operational_kg if c else None
    row: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(end, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "project_name": run.project, "run_id": run.id, "experiment_id": run.name or "",
        "duration": duration, "emissions": emissions,
        "emissions_rate": emissions / duration if emissions is not None and duration > 0
        else None,
        "cpu_power": watts("cpu"), "gpu_power": watts("gpu"), "ram_power": watts("ram", "dram"),
        "cpu_energy": kwh("cpu"), "gpu_energy": kwh("gpu"), "ram_energy": kwh("ram", "dram"),
        "energy_consumed": _kwh(r.energy_j) * pue, "water_consumed": 0.0,
        "codecarbon_version": "", "cpu_model": _models(cpus, counted=False),
        "gpu_count": len(gpus), "gpu_model": _models(gpus, counted=True),
        "longitude": None, "latitude": None,
        "tracking_mode": run.attribution,
        "cpu_utilization_percent": None, "gpu_utilization_percent": None,
        "ram_utilization_percent": None, "ram_used_gb": None, "pue": pue, "wue": 0.0,
    }
    row.update(_location(run.region))
    row.update(_host_columns(run))
    return row


def render_codecarbon_csv(runs: Sequence[RunExport]) -> str:
    """A CSV with codecarbon 3.3.2's ``emissions.csv`` columns, one row per run.

    ``timestamp`` is the run's end (UTC, ``YYYY-MM-DDTHH:MM:SS`` as codecarbon
    writes it), ``run_id`` the wattprint run id, ``experiment_id`` the run
    name, ``tracking_mode`` the attribution rule (codecarbon's ``machine`` and
    ``process``). Energies (kWh) and powers (W, the mean over the run) are per
    kind, ``ram`` holding ``ram`` and ``dram``, and include the PUE written in
    the ``pue`` column; a kind the run has no device of is left empty (unknown,
    not zero); ``energy_consumed`` also counts ``psys``/``node`` devices.
    ``gpu_count`` counts GPUs; ``cpu_count`` is the logical CPUs and
    ``os``, ``python_version``, ``ram_total_size`` (GiB) come from the run's
    host facts, as codecarbon fills them (empty where none were recorded).
    ``emissions`` (kg) is the operational carbon. Locations come from the
    run's region: a country (``DE`` -> ``DEU``, Germany), a subnational
    region (``US-CA``: country ``USA``, region ``US-CA``) or a cloud region
    (``aws:us-east-1``: provider and region, ``on_cloud`` ``Y``).

    Args:
        runs: the collected runs.

    Returns:
        The CSV text, header first.
    """
    return _csv(CODECARBON_COLUMNS, (_codecarbon_row(r) for r in runs))
