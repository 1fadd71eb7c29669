"""Account a stored run: energy in, :class:`Footprint` out (a job not yet run: :mod:`.estimate`).

Energy is the stored fact; carbon is derived here, when asked, so the same
stored run can be re-accounted under another region, intensity series,
method or PUE without changing what was stored (``wattprint account``).

Choices, each recorded in the footprint's provenance:

* **region**: the explicit argument, else the region recorded with the run,
  else ``WATTPRINT_REGION`` / cloud hints, else the world average (labelled).
* **intensity source**: a user series (``--intensity FILE``), else the
  shipped hourly series (``hourly=True``; typical-year replay outside 2022),
  else, for a run that paused on the grid's intensity, the series it paused
  on (kept with the run, :mod:`wattprint.accounting.kept`; the annual value
  for intervals outside it), else the shipped annual tables (newest year;
  ``method="marginal"`` uses the country's operating margin).
* **idle power**: measured before the run (``--measure-idle``), else the
  catalogue (GPU cards; CPU packages from the CPU model's TDP × the CCF
  idle/max ratio), else none (all energy counted as dynamic).
* **embodied**: GPU cards from the catalogue, plus one server node
  (BLOOM's GPU node when the run used GPUs, else CCF's rack server), charged
  by the run's share of it (Cloud Carbon Footprint's rule): its vCPUs of the
  host's (a container's cgroup CPU limit of the host's logical CPUs, or a
  VM's vCPUs of ``[hardware] host_vcpus``), else its memory of
  ``host_memory_gb``, else the whole server; the share and its basis are
  in the provenance (``embodied_share``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattprint import validate
from wattprint.accounting import hardware
from wattprint.accounting.footprint import (
    Assumption,
    DeviceUse,
    EmbodiedParams,
    Floats,
    Footprint,
    UseTotals,
    compute_footprint,
)
from wattprint.accounting.intensity import (
    AnnualIntensity,
    IntensitySource,
    single_value,
)
from wattprint.accounting.location import ResolvedRegion, resolve_region
from wattprint.accounting.phases import phase_footprints
from wattprint.accounting.pue import resolve_pue
from wattprint.accounting.series import IntensityValue, IntensityValues, Provenance
from wattprint.catalogue.data import hardware_constants
from wattprint.catalogue.instances import InstanceEmbodied, instance_embodied
from wattprint.errors import HardwareError, IntensityError
from wattprint.records import DeviceRecord, IntervalRecord, RunRecord
from wattprint.store import Store
from wattprint.units import H_PER_YEAR

if TYPE_CHECKING:  # numpy loads only when a run is accounted as arrays (not a short run's summary)
    import numpy as np

logger = logging.getLogger(__name__)


#: what a run's energy is counted on: its components, or the node's wall power (BMC)
BASES = ("components", "node")


def _on_basis(devices: Sequence[DeviceRecord], basis: str, run_id: str) -> list[DeviceRecord]:
    """The devices counted under ``basis``: the node power holds the others, never added to them.

    Raises:
        ConfigError: ``basis == "node"`` for a run no BMC measured.
    """
    from wattprint.records import is_node_power

    node = [d for d in devices if is_node_power(d.kind, d.source)]
    if basis == "node":
        if not node:
            from wattprint.errors import ConfigError

            raise ConfigError(f"run {run_id[:12]} has no node power from a BMC; account it on "
                              "its components (the default), or measure with node_power = "
                              "\"ipmi\" or \"redfish\" (docs/distributed.md)")
        return node
    return [d for d in devices if d not in node]


@dataclass(frozen=True)
class AccountingOptions:
    """How to turn a run's energy into carbon.

    Attributes:
        region: region code, or ``None`` for the run's / the environment's.
        intensity_file: a user CSV/Parquet series of gCO2e/kWh.
        method: ``average`` or ``marginal``.
        hourly: use the shipped hourly series for the region.
        pue: PUE, or ``None`` for the documented default.
        embodied: include embodied (manufacturing) carbon.
        catalogue_overrides: overrides of hardware catalogue values.
        source: an intensity source object (overrides the above; e.g. a live client).
        year: data year of the annual tables (``None``: the newest each has).
        basis: ``components`` (CPU, DRAM, GPU... as measured or modelled; the
            default) or ``node`` (the node's wall power from its BMC, which
            contains them; only for a run measured by a BMC). Never both.
        instance_type: the cloud instance type the run was on (``m5.large``):
            embodied carbon by Cloud Carbon Footprint's figure for it; ``None``
            for the type recorded with the run, else ``[hardware] instance_type``.
    """

    region: str | None = None
    intensity_file: Path | None = None
    method: str = "average"
    hourly: bool = False
    pue: float | None = None
    embodied: bool = True
    catalogue_overrides: Mapping[str, Any] = field(default_factory=dict)
    source: IntensitySource | None = None
    year: int | None = None
    basis: str = "components"
    instance_type: str | None = None

    def __post_init__(self) -> None:
        """Refuse a PUE outside 1-5 or a year outside the data (see docs/limits.md).

        Raises:
            ConfigError: a value is out of range; the message names it.
        """
        validate.pue(self.pue, "pue")
        validate.year(self.year, "year")
        if self.basis not in BASES:
            from wattprint.errors import ConfigError

            raise ConfigError(f"basis {self.basis!r}: use {' or '.join(BASES)}")


@dataclass(frozen=True)
class AccountedRun:
    """A run and its footprint under some options.

    Attributes:
        run: the stored run.
        region: the region it was accounted in, and how that was chosen.
        footprint: the result.
        uses: each device's intervals as accounted (paused spans left out).
        intensities: device id -> the intensity applied to each of its intervals.
        embodied: the amortisation parameters, or ``None`` without embodied carbon.
        embodied_hours: the hours embodied carbon was charged for.
        phases: the run's ``run.phase()`` windows with their energy and carbon
            (:func:`wattprint.accounting.phases.phase_footprints`).
    """

    run: RunRecord
    region: ResolvedRegion
    footprint: Footprint
    uses: list[DeviceUse] = field(default_factory=list)
    intensities: dict[str, Floats] = field(default_factory=dict)
    embodied: EmbodiedParams | None = None
    embodied_hours: float = 0.0
    phases: list[dict[str, Any]] = field(default_factory=list)


def _catalogue(opts: AccountingOptions) -> hardware.Catalogue:
    cat = hardware.default_catalogue()
    return cat.with_overrides(opts.catalogue_overrides) if opts.catalogue_overrides else cat


def _region(opts: AccountingOptions, run: RunRecord | None) -> ResolvedRegion:
    """Explicit option, else the run's recorded region, else the run's environment hints."""
    if opts.region:
        return resolve_region(opts.region, {})
    if run is not None and run.region:
        resolved = resolve_region(run.region, {})
        how = run.info.get("region_how") or "recorded with the run"
        return ResolvedRegion(resolved.code, how, False, resolved.label, resolved.detail)
    hints = run.info.get("region_hints") if run is not None else None
    return resolve_region(None, hints if isinstance(hints, dict) else dict(os.environ))


def _source(opts: AccountingOptions) -> tuple[IntensitySource, str]:
    if opts.source is not None:
        return opts.source, opts.source.name
    if opts.intensity_file is not None:
        from wattprint.accounting.hourly import SeriesIntensity
        from wattprint.accounting.seriesfile import load_series

        series = load_series(opts.intensity_file, method=opts.method)
        return SeriesIntensity(series), f"series {opts.intensity_file.name}"
    if opts.hourly:
        from wattprint.accounting.hourly import HourlyIntensity

        return HourlyIntensity(replay_year=True,
                               fallback=AnnualIntensity(method=opts.method,
                                                        year=opts.year)), "hourly"
    return AnnualIntensity(method=opts.method, year=opts.year), "annual"


def _paused_on(store: Store, run: RunRecord, opts: AccountingOptions
               ) -> tuple[IntensitySource, str] | None:
    """The series a paused run paused on, when no source, region or year was asked for."""
    pausing = run.info.get("pausing")
    kept_ref = pausing.get("series") if isinstance(pausing, dict) else None
    path = getattr(store, "path", None)
    if (not isinstance(kept_ref, dict) or path is None or opts.source is not None
            or opts.intensity_file is not None or opts.hourly or opts.region
            or opts.year is not None):
        return None
    from wattprint.accounting.kept import load_kept
    from wattprint.accounting.series import IntensitySeries

    try:
        kept = load_kept(Path(path).parent, str(kept_ref.get("digest", "")))
    except IntensityError as exc:
        logger.warning("run %s: the series it paused on is not kept here (%s); accounting it "
                       "with the default source", run.id, exc)
        return None
    if kept.method != opts.method:
        return None
    # region "": the run is accounted with the series it paused on, whatever its label
    series = IntensitySeries("", kept.start_s, float(kept.end_s[0] - kept.start_s[0]),
                             kept.g_per_kwh, kept.method, kept.provenance)
    name = f"series the run paused on ({kept.digest[:12]})"
    return _CoveredOrAnnual(series, bool(kept_ref.get("replay_year")),
                            AnnualIntensity(method=opts.method)), name


class _CoveredOrAnnual:
    """A series where it covers an interval (or by replay), the annual tables elsewhere."""

    name = "series"

    def __init__(self, series: Any, replay_year: bool, fallback: AnnualIntensity) -> None:
        from wattprint.accounting.hourly import SeriesIntensity

        self.series = SeriesIntensity(series, replay_year=replay_year)
        self.method = series.method
        self.replay_year = replay_year
        self.fallback = fallback

    def intensities(self, region: str, starts_s: np.ndarray, ends_s: np.ndarray
                    ) -> IntensityValues:
        import numpy as np

        starts, ends = np.asarray(starts_s, np.float64), np.asarray(ends_s, np.float64)
        series = self.series.series
        inside = ((starts >= float(series.start_s[0])) & (ends <= series.end_s)
                  if not self.replay_year else np.ones(starts.shape, dtype=bool))
        if inside.all():
            return self.series.intensities(region, starts, ends)
        values = np.array(self.fallback.intensities(region, starts, ends).g_per_kwh,
                          dtype=np.float64)
        provenance = series.provenance
        if inside.any():
            values[inside] = self.series.intensities(region, starts[inside],
                                                     ends[inside]).g_per_kwh
        provenance = provenance.with_fallback(
            f"{int((~inside).sum())} of {starts.size} intervals lie outside the series the "
            f"run paused on; the annual value of {region} is used for them")
        return IntensityValues(values, provenance)

    def intensity(self, region: str, start_s: float, end_s: float) -> IntensityValue:
        import numpy as np

        return single_value(self.intensities(region, np.array([start_s]), np.array([end_s])))


def _idle_for(device: DeviceRecord, measured: Mapping[str, tuple[float, str]],
              cat: hardware.Catalogue, host: Mapping[str, Any]) -> tuple[float | None, str]:
    if device.device_id in measured:
        power_w, method = measured[device.device_id]
        return power_w, method
    if "idle_w" in device.extra:  # a power model's draw at 0 % utilisation
        try:
            return (float(device.extra["idle_w"]),
                    f"power model at 0 % utilisation: {device.model or device.source}")
        except ValueError:
            pass
    try:
        if device.kind == "gpu":
            spec = cat.find_gpu(device.name)
            if spec is None:
                return None, "not in the hardware catalogue: no idle split"
            return spec.idle_w, f"catalogue: {spec.name}: {spec.sources.get('idle_w', '')}"
        if device.kind == "cpu" and device.measured and host.get("cpu_model"):
            cpu = cat.cpu(str(host["cpu_model"]))
            frac = float(hardware_constants()["cpu_idle_fraction_of_max"]["value"])
            return (cpu.tdp_w * frac,
                    f"catalogue: {cpu.name} TDP {cpu.tdp_w:g} W × CCF idle/max ratio {frac:.3f}")
    except HardwareError:
        return None, "not in the hardware catalogue: no idle split"
    return None, "no idle value for this kind of device"


def _embodied_for(device: DeviceRecord, cat: hardware.Catalogue) -> tuple[float | None, str]:
    if device.kind != "gpu":
        return None, ""
    try:
        spec = cat.find_gpu(device.name)
    except HardwareError:
        spec = None
    if spec is not None:
        return spec.embodied_kg, f"catalogue: {spec.name}: {spec.sources.get('embodied_kg', '')}"
    a = cat.assumptions
    return a.gpu_embodied_kg, (f"{device.name} not in the catalogue; default GPU card: "
                               f"{a.sources.get('gpu_embodied_kg', '')}")


@dataclass(frozen=True)
class IntervalArrays:
    """One device's stored intervals as arrays (UTC epoch seconds, joules)."""

    starts_s: np.ndarray
    ends_s: np.ndarray
    energy_j: np.ndarray
    attributed_j: np.ndarray


def interval_arrays(intervals: Sequence[IntervalRecord]) -> dict[str, IntervalArrays]:
    """Group intervals by device into arrays, in one pass, keeping their order."""
    rows: dict[str, list[IntervalRecord]] = {}
    for record in intervals:
        rows.setdefault(record.device_id, []).append(record)
    import numpy as np

    out = {}
    for device_id, recs in rows.items():
        table = np.array([(r.t_start, r.t_end, r.energy_j, r.attributed_j) for r in recs],
                         dtype=np.float64).reshape(-1, 4)
        out[device_id] = IntervalArrays(table[:, 0], table[:, 1], table[:, 2], table[:, 3])
    return out


def no_intervals() -> IntervalArrays:
    """The arrays of a device with no stored interval."""
    import numpy as np

    return IntervalArrays(*(np.zeros(0) for _ in range(4)))


#: Runs with at most this many intervals, accounted with one annual intensity, are summed
#: in plain Python: the summary ``wattprint run`` prints then needs no numpy (whose import
#: costs more than such a run's whole accounting). Above it, numpy is the faster.
PLAIN_MAX_INTERVALS = 20_000


def _plain_uses(intervals: Sequence[IntervalRecord], process: bool
                ) -> dict[str, tuple[list[float], list[float], list[float], list[float]]]:
    """Device id -> (starts, ends, counted energy, share) as lists, in stored order."""
    out: dict[str, tuple[list[float], list[float], list[float], list[float]]] = {}
    for r in intervals:
        starts, ends, counted, share = out.setdefault(r.device_id, ([], [], [], []))
        starts.append(r.t_start)
        ends.append(r.t_end)
        counted.append(r.attributed_j if process else r.energy_j)
        share.append((r.attributed_j / r.energy_j if r.energy_j > 0 else 1.0) if process
                     else 1.0)
    return out


def _summed_uses(store: Store, run: RunRecord, devices: Sequence[DeviceRecord],
                 source: IntensitySource, region: str,
                 idle: Mapping[str, tuple[float | None, str]], cat: hardware.Catalogue
                 ) -> tuple[list[DeviceUse], dict[str, Floats], Provenance]:
    """Each device's use from the store's per-device sums, at the run's one intensity."""
    process = run.attribution == "process"
    value = source.intensity(region, run.started_at, run.ended_at or run.started_at)
    totals = store.interval_sums(
        run.id, {d: w for d, (w, _) in idle.items() if w is not None}, attributed=process)
    uses: list[DeviceUse] = []
    intensities: dict[str, Floats] = {}
    for device in devices:
        idle_w, idle_src = idle[device.device_id]
        emb_kg, emb_src = _embodied_for(device, cat)
        t = totals.get(device.device_id)
        if t is None:
            summed = UseTotals(0.0, 0.0, 0.0, 0.0, 0)
            emb_share = 1.0
        else:
            counted_j = t.attributed_j if process else t.energy_j
            summed = UseTotals(counted_j, t.dynamic_j, t.idle_j, t.time_s, t.intervals)
            emb_share = t.attributed_j / t.energy_j if process and t.energy_j > 0 else 1.0
        # one value per interval, as the interval-by-interval accounting gives (reports list them)
        intensities[device.device_id] = [value.g_per_kwh] * summed.intervals
        uses.append(DeviceUse(device.device_id, device.kind, device.name, device.measured,
                              device.model or device.source, [], [], [], [], idle_w, idle_src,
                              emb_kg, emb_src, emb_share, totals=summed))
    return uses, intensities, value.provenance


def account_run(store: Store, ref: str, opts: AccountingOptions | None = None, *,
                sums: bool = True) -> AccountedRun:
    """The footprint of a stored run (nothing stored is changed).

    With one intensity for the whole run (the annual tables: no hourly or
    user series, no live source, not a run that paused on a series) and no
    ``run.phase()`` windows, every term is a per-device sum, so the store
    sums the intervals (:meth:`~wattprint.store.Store.interval_sums`, one
    aggregate query) and none is read into Python, whatever the run's size.
    Otherwise, or with ``sums=False``, the intervals are read and accounted
    one by one; both give the same footprint.

    Raises:
        RunNotFound: no such run.
        RegionError: an unknown region code (with suggestions).
        IntensityError: the intensity series cannot be used.
    """
    opts = opts or AccountingOptions()
    run = store.run(ref)
    region = _region(opts, run)
    source, source_name = _paused_on(store, run, opts) or _source(opts)
    cat = _catalogue(opts)
    all_devices = store.devices(run.id)
    devices = _on_basis(all_devices, opts.basis, run.id)
    measured_idle = store.idle(run.id)
    host = run.info.get("host", {})
    process = run.attribution == "process"
    uses: list[DeviceUse] = []
    intensities: dict[str, Floats] = {}
    provenance: Provenance | None = None
    stored_phases = store.phases(run.id)
    constant = type(source) is AnnualIntensity
    if sums and constant and not stored_phases:
        uses, intensities, provenance = _summed_uses(
            store, run, devices, source, region.code,
            {d.device_id: _idle_for(d, measured_idle, cat, host) for d in devices}, cat)
        devices = []  # accounted from the store's sums
    kept = [i for i in store.intervals(run.id) if not i.paused] if devices else []
    plain = constant and len(kept) <= PLAIN_MAX_INTERVALS
    lists = _plain_uses(kept, process) if plain else {}
    by_device = {} if plain or not devices else interval_arrays(kept)
    for device in devices:
        idle_w, idle_src = _idle_for(device, measured_idle, cat, host)
        emb_kg, emb_src = _embodied_for(device, cat)
        if plain:
            starts_l, ends_l, counted_l, share_l = lists.get(device.device_id, ([], [], [], []))
            value = source.intensity(region.code, run.started_at, run.ended_at or run.started_at)
            provenance = value.provenance
            intensities[device.device_id] = [value.g_per_kwh] * len(starts_l)
            whole_j = sum(r.energy_j for r in kept if r.device_id == device.device_id)
            emb_share = sum(counted_l) / whole_j if process and whole_j > 0 else 1.0
            uses.append(DeviceUse(device.device_id, device.kind, device.name, device.measured,
                                  device.model or device.source, starts_l, ends_l, counted_l,
                                  share_l, idle_w, idle_src, emb_kg, emb_src, emb_share))
            continue
        import numpy as np  # a long run, or an intensity that varies in time

        arrays = by_device.get(device.device_id) or no_intervals()
        starts, ends = arrays.starts_s, arrays.ends_s
        whole, attributed = arrays.energy_j, arrays.attributed_j
        counted = attributed if process else whole
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(whole > 0, attributed / whole, 1.0) if process else np.ones_like(whole)
        emb_share = float(attributed.sum() / whole.sum()) if process and whole.sum() > 0 else 1.0
        values = source.intensities(region.code, starts, ends)
        provenance = values.provenance
        intensities[device.device_id] = values.g_per_kwh
        uses.append(DeviceUse(device.device_id, device.kind, device.name, device.measured,
                              device.model or device.source, starts, ends, counted, share,
                              idle_w, idle_src, emb_kg, emb_src, emb_share))
    if provenance is None:  # no devices: still say what intensity would have applied
        provenance = source.intensity(region.code, run.started_at,
                                      run.ended_at or run.started_at + 1).provenance
    pue = resolve_pue(opts.pue, region.code)
    embodied = None
    extra_assumptions = [Assumption("region", 0.0, "", f"{region.label} ({region.how})")]
    if opts.basis == "node":
        extra_assumptions.append(Assumption(
            "basis", 0.0, "", "node power measured by the BMC (it contains CPU, memory, GPUs, "
                              "fans, disks, NICs and the power supplies' loss)"))
    if opts.embodied:
        a = cat.assumptions
        servers = cat.servers()
        has_gpu = any(d.kind == "gpu" for d in all_devices)
        server = servers[0] if has_gpu else servers[-1]
        cpu_rows = [u for u in uses if u.kind in ("cpu", "psys", "node")]
        node_share = (_energy_share(store, run.id, [u.device_id for u in cpu_rows])
                      if process and cpu_rows else 1.0)
        instance = _instance(opts, host, a, extra_assumptions)
        if instance is not None:  # CCF's figure for the instance's whole host, GPUs included
            embodied = hardware.instance_embodied_params(
                instance, _run_vcpus(all_devices, host), node_share, extra_assumptions)
            uses = [replace(u, embodied_kg=None) for u in uses]
        else:
            host_part = _host_share(all_devices, host, a)
            node_share *= host_part.share
            extra_assumptions.append(Assumption("embodied_share", host_part.share,
                                                "fraction of the server", host_part.basis))
            embodied = EmbodiedParams(a.lifetime_years, a.utilization, server.embodied_kg,
                                      node_share=node_share,
                                      source=f"{server.name}: {server.source}; lifetime and "
                                             f"utilization: {a.sources.get('lifetime_years', '')}")
    duration = run.duration_s if run.duration_s is not None else 0.0
    duration -= _paused_s(store, run.id)
    footprint = compute_footprint(
        uses, intensities, provenance, region=region.code, source_name=source_name,
        pue=pue.value, pue_source=pue.source, duration_s=max(duration, 0.0), embodied=embodied,
        units=store.units(run.id), extra_assumptions=extra_assumptions,
    )
    phases = phase_footprints(stored_phases, uses, intensities, pue.value, run.ended_at)
    return AccountedRun(run, region, footprint, uses, intensities, embodied,
                        max(duration, 0.0) / 3600.0, phases)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _instance(opts: AccountingOptions, host: Mapping[str, Any], a: hardware.Assumptions,
              notes: list[Assumption]) -> InstanceEmbodied | None:
    """The run's cloud instance in CCF's tables: the option, the run's record, the config."""
    name = opts.instance_type or host.get("instance_type") or a.instance_type
    if not name:
        return None
    try:
        return instance_embodied(str(name))
    except HardwareError as exc:
        notes.append(Assumption("instance_type", 0.0, "", str(exc)))
        return None


def _run_vcpus(devices: Sequence[DeviceRecord], host: Mapping[str, Any]) -> float | None:
    """The vCPUs the run could use: the CPU power model's count, else the logical CPUs."""
    modelled = [_float_or_none(d.extra.get("vcpus")) for d in devices
                if d.kind == "cpu" and not d.measured and d.extra.get("vcpus")]
    return modelled[0] if modelled else _float_or_none(host.get("cpu_logical"))


def _host_share(devices: Sequence[DeviceRecord], host: Mapping[str, Any],
                a: hardware.Assumptions) -> hardware.HostShare:
    """The share of the server a run is charged: its vCPUs of the host's.

    The run's vCPUs are those the CPU power model counted (a cgroup quota or
    CPU mask), else the logical CPUs it saw. The host's are the configured
    ``host_vcpus``; without it, a container whose cgroup limited its CPUs
    still sees the host's logical CPUs, so those are the host's.
    """
    logical = _float_or_none(host.get("cpu_logical"))
    modelled = any(d.kind == "cpu" and not d.measured and d.extra.get("vcpus") for d in devices)
    vcpus = _run_vcpus(devices, host)
    if a.host_vcpus is not None or a.host_memory_gb is not None:
        source = a.sources.get("host_vcpus") or a.sources.get("host_memory_gb") or ""
        return hardware.host_share(vcpus=vcpus, host_vcpus=a.host_vcpus,
                                   memory_gb=_float_or_none(host.get("memory_gb")),
                                   host_memory_gb=a.host_memory_gb, host_source=source)
    if modelled and logical and vcpus is not None and vcpus < logical:
        return hardware.host_share(vcpus=vcpus, host_vcpus=logical,
                                   host_source="the host's logical CPUs, as the container "
                                               "saw them; its CPU limit from the cgroup")
    return hardware.host_share(vcpus=vcpus, host_vcpus=None)


def _energy_share(store: Store, run_id: str, device_ids: list[str]) -> float:
    totals = store.device_totals(run_id)
    whole = sum(totals[d][0] for d in device_ids if d in totals)
    attributed = sum(totals[d][1] for d in device_ids if d in totals)
    return attributed / whole if whole > 0 else 1.0


def _paused_s(store: Store, run_id: str) -> float:
    return float(sum((p["t_end"] - p["t_start"]) for p in store.pauses(run_id)
                     if p["t_end"] is not None))



__all__ = ["BASES", "H_PER_YEAR", "AccountedRun", "AccountingOptions", "IntensityError",
           "account_run"]
