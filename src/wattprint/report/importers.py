"""Import the logs of other energy trackers as runs, to compare tools on one workload.

Three peers are read, each in the format its own code writes:

* **codecarbon** ``emissions.csv`` (any version with ``timestamp``,
  ``duration``, ``cpu_energy``, ``gpu_energy``, ``ram_energy`` and
  ``energy_consumed``; 3.3.2 writes 38 columns): each row is a run.
  ``timestamp`` is when the tracker stopped, so the run starts ``duration``
  seconds earlier. codecarbon multiplies its energies by the PUE it was given
  and writes that PUE in the ``pue`` column (absent before 2.x: 1).
* **carbontracker** log directory: each run writes
  ``<prefix>_<pid>.<id>_<date>_carbontracker.log`` (the standard log: per
  epoch its duration and the mean power of each component's devices) and
  ``..._carbontracker_output.log`` (the predicted and the actual consumption,
  multiplied by carbontracker's fixed PUE, 1.58 in 2.4.7, which the standard
  log states). Energy is taken per epoch as mean power × duration, device by
  device, from the standard log; an epoch whose power is ``None`` (too short
  to sample) becomes a recorded gap, not 0 J. carbontracker fills such an
  epoch from a later one, so its own total can be higher.
* **eco2AI** ``emission.csv``: a row per run, or per epoch when its training
  mode was used (rows sharing an ``id``), with the total CPU + GPU + RAM
  energy times the PUE. The PUE is not written to the file: give it with
  ``peer_pue`` if you set one (default 1, eco2AI's default).

Every imported run is stored with ``tool`` = the peer's name and status
``imported``; each energy the peer reports is a device (``codecarbon:cpu``,
``codecarbon:gpu``, ``codecarbon:ram``, ``carbontracker:gpu:0``,
``eco2ai:total``...) with ``source`` the peer's name, ``measured`` false (no
peer's log says whether a number was read from a hardware counter or
estimated from a TDP) and a ``model`` text saying where the number came from.
The stored energy is **device energy**: the peer's figure divided by the PUE
the peer applied, since wattprint applies its own PUE when it accounts
carbon. Each device gets one interval per run (codecarbon, eco2AI rows) or
per epoch (carbontracker, eco2AI epochs). The peer's own figures go to the
run's info under ``peer_*`` keys: ``peer_energy_kwh`` and ``peer_co2e_kg``
(as the peer reported them, PUE included), ``peer_pue``, ``peer_country``,
``peer_region``, ``peer_intensity_g_per_kwh``, ``peer_version``,
``peer_file``, ``peer_run_id``, and for carbontracker
``peer_predicted_energy_kwh``, ``peer_predicted_co2e_kg`` and
``peer_early_stop``.

The peers write **naive local timestamps**; they are read in the time zone
given (``tz``), by default this machine's. Run ids are derived from the
peer's own identity of the run, so importing a file again skips the runs
already in the store. A file is parsed and checked completely before
anything is stored, and a failure while storing removes what this file had
added, so a file is imported whole or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from wattprint.errors import ConfigError, RegionError, RunNotFound, StoreError, WattprintError
from wattprint.store import DeviceRecord, IntervalRecord, Store
from wattprint.time import parse_time_zone
from wattprint.units import J_PER_KWH

log = logging.getLogger(__name__)

__all__ = [
    "PEERS",
    "ImportResult",
    "PeerGap",
    "PeerLogError",
    "PeerRun",
    "import_peer_log",
    "import_runs",
    "parse_carbontracker",
    "parse_codecarbon",
    "parse_eco2ai",
    "parse_peer_log",
    "parse_time_zone",
]

#: The peers whose logs can be imported.
PEERS = ("codecarbon", "carbontracker", "eco2ai")


class PeerLogError(WattprintError):
    """A peer's log cannot be read; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class PeerGap:
    """A span of an imported device with no energy figure (e.g. an epoch too short to sample)."""

    device_id: str
    t_start: float
    t_end: float
    reason: str


@dataclass(frozen=True)
class PeerRun:
    """One run read from a peer's log, ready to store.

    Attributes:
        tool: the peer (``codecarbon``, ``carbontracker``, ``eco2ai``).
        key: the peer's identity of the run (its run id, or the log's name).
        project: the peer's project name, if it records one.
        name: the run's name (codecarbon experiment id, eco2AI experiment
            description, carbontracker log prefix).
        started_at: start, UTC epoch seconds.
        ended_at: end, UTC epoch seconds.
        attribution: ``machine`` or ``process`` (codecarbon's tracking mode).
        region: wattprint region code, when the peer's location is known to
            wattprint.
        devices: one per energy the peer reports.
        intervals: device energy (PUE removed) over time.
        gaps: spans without a figure.
        metrics: ``(name, value, step, t)`` logged by the peer (eco2AI epochs).
        info: the peer's own figures (``peer_*`` keys).
    """

    tool: str
    key: str
    project: str | None
    name: str | None
    started_at: float
    ended_at: float
    attribution: str
    region: str | None
    devices: tuple[DeviceRecord, ...]
    intervals: tuple[IntervalRecord, ...]
    gaps: tuple[PeerGap, ...] = ()
    metrics: tuple[tuple[str, float, int | None, float], ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The stored run id: start time (hex seconds) then a hash of tool and key."""
        digest = hashlib.sha1(f"{self.tool}\0{self.key}".encode()).hexdigest()[:8]
        return f"{max(int(self.started_at), 0):08x}{digest}"

    @property
    def energy_j(self) -> float:
        """Total device energy over all intervals (joules)."""
        return sum(i.energy_j for i in self.intervals)


@dataclass(frozen=True)
class ImportResult:
    """What importing one file did.

    Attributes:
        path: the file or directory read.
        tool: the peer.
        imported: ids of the runs stored.
        skipped: ids of runs already in the store (imported before), left as they were.
    """

    path: Path
    tool: str
    imported: list[str]
    skipped: list[str]


# ---------------------------------------------------------------------------- helpers


def _epoch(text: str, fmt: str, tz: tzinfo | None, where: str) -> float:
    try:
        naive = datetime.strptime(text.strip(), fmt)
    except ValueError:
        raise PeerLogError(
            f"{where}: cannot read the time {text!r} (expected {fmt}); is this file from the "
            "right tool?"
        ) from None
    return (naive.astimezone() if tz is None else naive.replace(tzinfo=tz)).timestamp()


def _number(text: str | None, column: str, where: str, *, default: float | None = None,
            minimum: float | None = 0.0) -> float:
    if text is None or text.strip() == "":
        if default is not None:
            return default
        raise PeerLogError(f"{where}: column {column!r} is empty; it must be a number")
    try:
        value = float(text)
    except ValueError:
        raise PeerLogError(f"{where}: column {column!r} is {text!r}, not a number") from None
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise PeerLogError(
            f"{where}: column {column!r} is {text!r}; it must be a finite number"
            + (f" >= {minimum:g}" if minimum is not None else "")
        )
    return value


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PeerLogError(f"{path}: no such file; check the path") from None
    except UnicodeDecodeError as exc:
        raise PeerLogError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise PeerLogError(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def _csv_rows(path: Path, required: Sequence[str], tool: str, what: str
              ) -> list[tuple[int, dict[str, str]]]:
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        raise PeerLogError(
            f"{path}: not {what}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(header) or 'nothing'}); give the CSV file {tool} wrote"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if None in row:
                raise PeerLogError(
                    f"{path} line {reader.line_num}: more cells than the header has columns")
            rows.append((reader.line_num, {k: (v or "") for k, v in row.items()}))
    except csv.Error as exc:
        raise PeerLogError(f"{path} line {reader.line_num}: not valid CSV: {exc}") from None
    if not rows:
        raise PeerLogError(f"{path}: has a header but no rows; nothing to import")
    return rows


def _region(*candidates: str) -> str | None:
    """The first candidate wattprint knows as a region, canonical, else ``None``."""
    from wattprint.accounting.intensity import canonical_region

    for code in candidates:
        if code and code.strip():
            try:
                return canonical_region(code.strip())
            except RegionError:
                continue
    return None


def _device(tool: str, local_id: str, kind: str, name: str, model: str,
            extra: dict[str, Any] | None = None) -> DeviceRecord:
    return DeviceRecord(device_id=f"{tool}:{local_id}", kind=kind, name=name, source=tool,
                        measured=False, counter=False, model=model, share_rule=f"peer:{tool}",
                        extra=extra or {})


# ---------------------------------------------------------------------------- codecarbon

_CODECARBON_REQUIRED = ("timestamp", "duration", "cpu_energy", "gpu_energy", "ram_energy",
                        "energy_consumed")


def parse_codecarbon(path: Path, *, tz: tzinfo | None = None) -> list[PeerRun]:
    """Runs from a codecarbon ``emissions.csv`` (one per row).

    Args:
        path: the CSV file.
        tz: zone of its timestamps (``None``: this machine's).

    Returns:
        The runs, in file order.

    Raises:
        PeerLogError: the file is missing, not a codecarbon CSV, or a row is
            malformed (the message names the line and column).
    """
    path = Path(path)
    out: list[PeerRun] = []
    for line, row in _csv_rows(path, _CODECARBON_REQUIRED, "codecarbon",
                               "a codecarbon emissions.csv"):
        where = f"{path} line {line}"
        duration = _number(row.get("duration"), "duration", where)
        pue = _number(row.get("pue"), "pue", where, default=1.0)
        if pue < 1.0:
            raise PeerLogError(f"{where}: column 'pue' is {pue:g}; a PUE is >= 1")
        end = _epoch(row["timestamp"], "%Y-%m-%dT%H:%M:%S", tz, where)
        start = end - duration
        version = row.get("codecarbon_version", "")
        mode = row.get("tracking_mode", "") or "machine"
        model = (f"codecarbon {version or '(version not recorded)'} emissions.csv, "
                 f"{mode} mode: the energy codecarbon reported divided by its PUE {pue:g}; "
                 "the file does not say whether it read a hardware counter or estimated")
        gpu_count = _number(row.get("gpu_count"), "gpu_count", where, default=0.0)
        energies = {
            "cpu": _number(row.get("cpu_energy"), "cpu_energy", where),
            "gpu": _number(row.get("gpu_energy"), "gpu_energy", where),
            "ram": _number(row.get("ram_energy"), "ram_energy", where),
        }
        names = {
            "cpu": row.get("cpu_model") or "CPU",
            "gpu": row.get("gpu_model") or "GPU",
            "ram": f"RAM ({row['ram_total_size']} GB)" if row.get("ram_total_size") else "RAM",
        }
        devices, intervals = [], []
        for kind, energy_kwh in energies.items():
            if kind == "gpu" and gpu_count == 0 and energy_kwh == 0:
                continue  # no GPU: codecarbon writes 0, which is not a measurement
            power = row.get(f"{kind}_power", "")
            devices.append(_device("codecarbon", kind, kind, names[kind], model, {
                "peer_energy_kwh": energy_kwh,
                "peer_power_w": float(power) if _is_number(power) else None,
                "peer_count": row.get(f"{kind}_count") or None,
            }))
            energy_j = energy_kwh / pue * J_PER_KWH
            intervals.append(IntervalRecord(f"codecarbon:{kind}", start, end, energy_j, energy_j))
        info: dict[str, Any] = {
            "peer_tool": "codecarbon",
            "peer_version": version or None,
            "peer_file": path.name,
            "peer_line": line,
            "peer_run_id": row.get("run_id") or None,
            "peer_energy_kwh": _number(row.get("energy_consumed"), "energy_consumed", where),
            "peer_co2e_kg": (_number(row.get("emissions"), "emissions", where)
                             if row.get("emissions") else None),
            "peer_pue": pue,
            "peer_duration_s": duration,
            "peer_country": row.get("country_iso_code") or row.get("country_name") or None,
            "peer_region": row.get("region") or None,
            "peer_cloud": (f"{row.get('cloud_provider')}:{row.get('cloud_region')}"
                           if row.get("cloud_provider") and row.get("cloud_region") else None),
        }
        if info["peer_co2e_kg"] is not None and info["peer_energy_kwh"] > 0:
            info["peer_intensity_g_per_kwh"] = (info["peer_co2e_kg"] * 1000.0
                                                / info["peer_energy_kwh"])
        region = _region(info["peer_cloud"] or "", row.get("country_iso_code", ""))
        attribution = mode if mode in ("machine", "process") else "machine"
        key = "|".join((row.get("run_id", ""), row["timestamp"], row["duration"]))
        out.append(PeerRun("codecarbon", key, row.get("project_name") or None,
                           row.get("experiment_id") or None, start, end, attribution, region,
                           tuple(devices), tuple(intervals), info=info))
    return out


def _is_number(text: str | None) -> bool:
    try:
        return text is not None and math.isfinite(float(text))
    except ValueError:
        return False


# ---------------------------------------------------------------------------- carbontracker

_CT_STD = "_carbontracker.log"
_CT_OUT = "_carbontracker_output.log"
_CT_ERR = "_carbontracker_err.log"
_CT_NAME = re.compile(
    r"^(?:(?P<prefix>.*)_)?(?P<pid>\d+)\.(?P<lid>\d+)_(?P<date>\d{4}-\d{2}-\d{2}T\d{6}Z)"
    r"_carbontracker\.log$")
_CT_LINE = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) - (?P<msg>.*)$")
_CT_POWER = re.compile(r"^Average power usage \(W\) for (?P<comp>\S+): (?P<value>.*)$")
_CT_DURATION = re.compile(r"^Duration: (?P<h>\d+):(?P<m>\d{2}):(?P<s>\d+(?:\.\d+)?)$")
_CT_COMPONENT = re.compile(r"(?:^|\. )(?P<comp>[A-Za-z_]+) with device\(s\) (?P<devices>.*?)"
                           r"(?=\. [A-Za-z_]+ with device\(s\) |\.?$)")
_CT_CONSUMPTION = re.compile(
    r"(?P<what>Predicted|Actual) consumption(?: for (?P<epochs>\d+) epoch\(s\))?:\s*"
    r"Time:\s*(?P<time>\S+)\s*Energy:\s*(?P<energy>[0-9.eE+-]+) kWh\s*"
    r"CO2eq:\s*(?P<co2>[0-9.eE+-]+|nan) g")
_TS_FORMAT = "%Y-%m-%d %H:%M:%S"


def _carbontracker_files(path: Path) -> list[Path]:
    """The standard logs to read for ``path`` (a log directory or one of a run's logs)."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_CT_STD))
        if not found:
            raise PeerLogError(
                f"{path}: no carbontracker log in this directory (files named "
                f"*{_CT_STD}); give the log_dir carbontracker wrote to")
        return found
    if not path.exists():
        raise PeerLogError(f"{path}: no such file or directory; check the path")
    name = path.name
    if name.endswith(_CT_OUT):
        return [path.with_name(name[: -len(_CT_OUT)] + _CT_STD)]
    if name.endswith(_CT_ERR):
        return [path.with_name(name[: -len(_CT_ERR)] + _CT_STD)]
    if name.endswith(_CT_STD):
        return [path]
    raise PeerLogError(
        f"{path}: not a carbontracker log; give its log directory or a file named "
        f"*{_CT_STD} or *{_CT_OUT}")


def _power_values(text: str, where: str) -> list[float] | None:
    t = text.strip()
    if t in ("None", "nan", "[nan]"):
        return None
    parts = t.strip("[]").replace(",", " ").split()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise PeerLogError(f"{where}: cannot read the power {text!r}") from None
    if not values or any(not math.isfinite(v) for v in values):
        return None
    if any(v < 0 for v in values):
        raise PeerLogError(f"{where}: negative power {text!r}")
    return values


def _ct_kind(component: str, device_name: str) -> str:
    if re.fullmatch(r"dram:\d+", device_name.strip()):
        return "dram"  # carbontracker's RAPL CPU component lists packages and DRAM
    return component


def _parse_ct_output(path: Path, info: dict[str, Any]) -> None:
    if not path.exists():
        log.info("%s: no output log next to it; the peer's own totals are not imported", path)
        return
    text = _read_text(path)
    for m in _CT_CONSUMPTION.finditer(text):
        energy = float(m.group("energy"))
        co2_g = float(m.group("co2"))
        prefix = "peer_" if m.group("what") == "Actual" else "peer_predicted_"
        info[f"{prefix}energy_kwh"] = energy
        info[f"{prefix}co2e_kg"] = co2_g / 1000.0 if math.isfinite(co2_g) else None
        if m.group("epochs"):
            info[f"{prefix}epochs"] = int(m.group("epochs"))


def _parse_ct_std(std: Path, tz: tzinfo | None) -> PeerRun:
    text = _read_text(std)
    m_name = _CT_NAME.match(std.name)
    name = (m_name.group("prefix") if m_name and m_name.group("prefix")
            else std.name[: -len(_CT_STD)])
    info: dict[str, Any] = {"peer_tool": "carbontracker", "peer_file": std.name}
    components: dict[str, list[str]] = {}
    epochs: list[dict[str, Any]] = []
    early_stop = False
    pending: tuple[int, str, str] | None = None  # a power array continued on later lines
    lines = text.splitlines()
    for n, raw in enumerate(lines, start=1):
        where = f"{std} line {n}"
        if pending is not None:
            start_n, comp, acc = pending
            acc = f"{acc} {raw.strip()}"
            if "]" in raw:
                pending = None
                _add_power(epochs, comp, acc, f"{std} line {start_n}")
            else:
                pending = (start_n, comp, acc)
            continue
        m = _CT_LINE.match(raw)
        if m is None:
            continue
        ts, msg = m.group("ts"), m.group("msg").strip()
        if msg.startswith("carbontracker version "):
            info["peer_version"] = msg.split()[-1]
        elif "PUE coefficient of" in msg:
            pm = re.search(r"PUE coefficient of ([0-9.]+)", msg)
            if pm:
                info["peer_pue"] = float(pm.group(1))
        elif msg.startswith("The following components were found:"):
            body = msg[len("The following components were found:"):].strip()
            for cm in _CT_COMPONENT.finditer(body):
                components[cm.group("comp").lower()] = [
                    d.strip() for d in cm.group("devices").split(",") if d.strip()]
        elif re.fullmatch(r"Epoch \d+:", msg):
            epochs.append({"t_end": _epoch(ts, _TS_FORMAT, tz, where), "line": n, "power": {}})
        elif (dm := _CT_DURATION.match(msg)) is not None:
            if not epochs:
                raise PeerLogError(f"{where}: a duration before any 'Epoch N:' line")
            epochs[-1]["duration_s"] = (int(dm.group("h")) * 3600 + int(dm.group("m")) * 60
                                        + float(dm.group("s")))
        elif (pw := _CT_POWER.match(msg)) is not None:
            if not epochs:
                raise PeerLogError(f"{where}: a power line before any 'Epoch N:' line")
            value = pw.group("value")
            if value.lstrip().startswith("[") and "]" not in value:
                pending = (n, pw.group("comp").lower(), value)
            else:
                _add_power(epochs, pw.group("comp").lower(), value, where)
        elif msg.startswith("Training was interrupted"):
            early_stop = True
        elif (lm := re.search(r"fetched every .* at detected location: (.*): \[", msg)):
            info["peer_country"] = lm.group(1).strip()
        elif (im := re.match(r"Average carbon intensity during training was ([0-9.]+)", msg)):
            info["peer_intensity_g_per_kwh"] = float(im.group(1))
    if not components:
        raise PeerLogError(
            f"{std}: no 'The following components were found' line; not a carbontracker "
            "standard log, or carbontracker found no component to measure")
    if not epochs:
        raise PeerLogError(f"{std}: no epoch was measured (no 'Epoch N:' lines); nothing to "
                           "import")
    info["peer_early_stop"] = early_stop
    info["peer_measured_epochs"] = len(epochs)
    pue = float(info.get("peer_pue", 1.0))
    _parse_ct_output(std.with_name(std.name[: -len(_CT_STD)] + _CT_OUT), info)

    version = info.get("peer_version", "(version not recorded)")
    devices: list[DeviceRecord] = []
    for comp, names in components.items():
        for i, dev_name in enumerate(names):
            devices.append(_device(
                "carbontracker", f"{comp}:{i}", _ct_kind(comp, dev_name), dev_name,
                f"carbontracker {version} log: mean power of each epoch × its duration, as "
                f"logged (before its PUE {pue:g}); the log does not say whether the power "
                "was read from RAPL/NVML or estimated", {"peer_component": comp}))
    intervals: list[IntervalRecord] = []
    gaps: list[PeerGap] = []
    previous_end: float | None = None
    for k, epoch in enumerate(epochs, start=1):
        where = f"{std} line {epoch['line']}"
        if "duration_s" not in epoch:
            raise PeerLogError(f"{where}: epoch {k} has no 'Duration:' line")
        t_end = float(epoch["t_end"])
        t_start = t_end - float(epoch["duration_s"])
        if previous_end is not None:  # log times have 1 s resolution; keep epochs in order
            t_start = min(max(t_start, previous_end), t_end)
        previous_end = t_end
        for comp, names in components.items():
            if comp not in epoch["power"]:
                raise PeerLogError(f"{where}: epoch {k} has no power line for {comp}")
            values: list[float] | None = epoch["power"][comp]
            ids = [f"carbontracker:{comp}:{i}" for i in range(len(names))]
            if values is None:
                gaps.extend(PeerGap(d, t_start, t_end, "carbontracker logged no power for "
                                    "this epoch (too short to sample)") for d in ids)
                continue
            if len(values) != len(names):
                raise PeerLogError(
                    f"{where}: {len(values)} power value(s) for {comp} but {len(names)} "
                    f"device(s) ({', '.join(names)})")
            for dev_id, power_w in zip(ids, values, strict=True):
                energy_j = power_w * float(epoch["duration_s"])
                intervals.append(IntervalRecord(dev_id, t_start, t_end, energy_j, energy_j))
    started = min(i.t_start for i in intervals) if intervals else float(epochs[0]["t_end"])
    ended = max(float(e["t_end"]) for e in epochs)
    return PeerRun("carbontracker", std.name, None, name, started, ended, "machine", None,
                   tuple(devices), tuple(intervals), tuple(gaps), info=info)


def _add_power(epochs: list[dict[str, Any]], comp: str, value: str, where: str) -> None:
    epochs[-1]["power"][comp] = _power_values(value, where)


def parse_carbontracker(path: Path, *, tz: tzinfo | None = None) -> list[PeerRun]:
    """Runs from carbontracker logs: a log directory (every run in it) or one run's log.

    Args:
        path: the ``log_dir`` carbontracker wrote to, or a
            ``*_carbontracker.log`` / ``*_carbontracker_output.log`` file.
        tz: zone of its timestamps (``None``: this machine's).

    Returns:
        One run per standard log, in file-name order.

    Raises:
        PeerLogError: no log found, or a log is malformed (the message names
            the file and line).
    """
    return [_parse_ct_std(std, tz) for std in _carbontracker_files(Path(path))]


# ---------------------------------------------------------------------------- eco2AI

_ECO2AI_REQUIRED = ("id", "start_time", "duration(s)", "power_consumption(kWh)")
_ECO_PARAM = re.compile(r"([^,:]+):\s*([^,]+)")


def _eco_epoch(text: str, where: str) -> tuple[int | None, dict[str, float]]:
    """eco2AI's ``epoch`` cell: ``"epoch: 2, loss: 0.5, "`` -> (2, {"loss": 0.5})."""
    t = text.strip()
    if not t or t.upper() == "N/A":
        return None, {}
    epoch: int | None = None
    params: dict[str, float] = {}
    for key, value in _ECO_PARAM.findall(t):
        key, value = key.strip(), value.strip()
        if key == "epoch":
            try:
                epoch = int(value)
            except ValueError:
                raise PeerLogError(f"{where}: cannot read the epoch number in {text!r}") from None
        elif _is_number(value):
            params[key] = float(value)
    return epoch, params


def parse_eco2ai(path: Path, *, tz: tzinfo | None = None,
                 peer_pue: float = 1.0) -> list[PeerRun]:
    """Runs from an eco2AI ``emission.csv`` (rows sharing an ``id`` are one run's epochs).

    Args:
        path: the CSV file.
        tz: zone of its start times (``None``: this machine's).
        peer_pue: the PUE eco2AI was given (it multiplies its energy by it but
            does not write it down); default 1, eco2AI's default.

    Returns:
        The runs, in order of first appearance.

    Raises:
        PeerLogError: the file is missing, not an eco2AI CSV, or a row is
            malformed (the message names the line and column).
        ConfigError: ``peer_pue`` is below 1.
    """
    if not peer_pue >= 1.0:
        raise ConfigError(f"PUE {peer_pue} is below 1; a PUE is facility/IT energy, >= 1")
    path = Path(path)
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in _csv_rows(path, _ECO2AI_REQUIRED, "eco2AI", "an eco2AI emission.csv"):
        if not row["id"].strip():
            raise PeerLogError(f"{path} line {line}: column 'id' is empty")
        groups.setdefault(row["id"], []).append((line, row))
    out: list[PeerRun] = []
    for run_key, rows in groups.items():
        first = rows[0][1]
        model = ("eco2AI emission.csv: CPU + GPU + RAM energy as eco2AI reported it, divided "
                 f"by the PUE {peer_pue:g} given on import (eco2AI does not record it); "
                 "eco2AI estimates CPU power from TDP and utilisation")
        name = " + ".join(s for s in (first.get("CPU_name", "").strip(),
                                      first.get("GPU_name", "").strip()) if s) or "whole machine"
        device = _device("eco2ai", "total", "node", name, model,
                         {"peer_cpu": first.get("CPU_name") or None,
                          "peer_gpu": first.get("GPU_name") or None})
        intervals: list[IntervalRecord] = []
        metrics: list[tuple[str, float, int | None, float]] = []
        peer_kwh = 0.0
        peer_kg: float | None = 0.0
        for line, row in rows:
            where = f"{path} line {line}"
            start = _epoch(row["start_time"], _TS_FORMAT, tz, where)
            duration = _number(row["duration(s)"], "duration(s)", where)
            energy_kwh = _number(row["power_consumption(kWh)"], "power_consumption(kWh)", where)
            peer_kwh += energy_kwh
            co2 = row.get("CO2_emissions(kg)", "")
            if peer_kg is not None and _is_number(co2):
                peer_kg += _number(co2, "CO2_emissions(kg)", where)
            else:
                peer_kg = None
            energy_j = energy_kwh / peer_pue * J_PER_KWH
            intervals.append(IntervalRecord("eco2ai:total", start, start + duration,
                                            energy_j, energy_j))
            epoch, params = _eco_epoch(row.get("epoch", ""), where)
            metrics.extend((k, v, epoch, start + duration) for k, v in params.items())
        country = first.get("region/country", "").strip()
        info: dict[str, Any] = {
            "peer_tool": "eco2ai", "peer_file": path.name, "peer_line": rows[0][0],
            "peer_run_id": run_key, "peer_energy_kwh": peer_kwh, "peer_co2e_kg": peer_kg,
            "peer_pue": peer_pue, "peer_country": country or None, "peer_epochs": len(rows),
        }
        if peer_kg is not None and peer_kwh > 0:
            info["peer_intensity_g_per_kwh"] = peer_kg * 1000.0 / peer_kwh
        region = _region(country.split("/")[0]) if country else None
        out.append(PeerRun(
            "eco2ai", run_key, first.get("project_name") or None,
            first.get("experiment_description") or None,
            min(i.t_start for i in intervals), max(i.t_end for i in intervals), "machine",
            region, (device,), tuple(intervals), metrics=tuple(metrics), info=info))
    return out


# ---------------------------------------------------------------------------- storing


def parse_peer_log(tool: str, path: Path, *, tz: tzinfo | None = None,
                   peer_pue: float | None = None) -> list[PeerRun]:
    """Parse a peer's log by the peer's name.

    Args:
        tool: ``codecarbon``, ``carbontracker`` or ``eco2ai``.
        path: its file (or carbontracker's log directory).
        tz: zone of its timestamps (``None``: this machine's).
        peer_pue: the PUE eco2AI was given (eco2AI only; the others record theirs).

    Returns:
        The runs found.

    Raises:
        ConfigError: an unknown tool, or ``peer_pue`` given for a tool that records its own.
        PeerLogError: the log cannot be read.
    """
    key = tool.strip().lower()
    if key not in PEERS:
        raise ConfigError(f"unknown tool {tool!r}: choose one of {', '.join(PEERS)}")
    if peer_pue is not None and key != "eco2ai":
        raise ConfigError(f"{key} records the PUE it applied; --peer-pue is for eco2ai only")
    if key == "codecarbon":
        return parse_codecarbon(path, tz=tz)
    if key == "carbontracker":
        return parse_carbontracker(path, tz=tz)
    return parse_eco2ai(path, tz=tz, peer_pue=1.0 if peer_pue is None else peer_pue)


def _exists(store: Store, run_id: str) -> bool:
    try:
        return store.resolve_id(run_id) == run_id
    except RunNotFound:
        return False


def import_runs(
    store: Store,
    runs: Sequence[PeerRun],
    *,
    path: Path,
    project: str | None = None,
    default_project: str = "default",
    phase: str = "training",
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Store parsed peer runs, all or none.

    Args:
        store: the run store.
        runs: runs from one file (all the same tool).
        path: the file they came from (for the result).
        project: file every run under this project (default: the peer's project
            name, else ``default_project``).
        default_project: project for runs whose peer records none.
        phase: life-cycle phase of the runs.
        progress: called with ``(done, total)`` after each run.

    Returns:
        The ids imported and the ids skipped (already in the store).

    Raises:
        WattprintError: storing failed; what this call had stored is removed first.
    """
    tool = runs[0].tool if runs else "unknown"
    imported: list[str] = []
    skipped: list[str] = []
    try:
        for n, peer in enumerate(runs, start=1):
            rid = peer.run_id
            if _exists(store, rid):
                skipped.append(rid)
            else:
                _create(store, peer, rid, project or peer.project or default_project, phase)
                imported.append(rid)  # from here on, a failure deletes it
                _fill(store, peer, rid)
            if progress is not None:
                progress(n, len(runs))
    except BaseException as exc:
        for rid in imported:
            store.delete_run(rid)
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"importing {path} into {store.path} failed: {exc}; nothing from "
                             "this file was kept") from exc
        raise
    return ImportResult(Path(path), tool, imported, skipped)


def _create(store: Store, peer: PeerRun, rid: str, project: str, phase: str) -> None:
    duration = max(peer.ended_at - peer.started_at, 0.0)
    info = {k: v for k, v in peer.info.items() if v is not None}
    store.create_run(
        project=project, phase=phase, attribution=peer.attribution,
        interval_s=duration / max(len({(i.t_start, i.t_end) for i in peer.intervals}), 1),
        started_at=peer.started_at, name=peer.name, region=peer.region, tool=peer.tool,
        status="imported", info=info, run_id=rid,
    )


def _fill(store: Store, peer: PeerRun, rid: str) -> None:
    store.add_devices(rid, peer.devices)
    store.append_intervals(rid, peer.intervals)
    for gap in peer.gaps:
        store.add_gap(rid, gap.device_id, gap.t_start, gap.t_end, gap.reason)
    for name, value, step, t in peer.metrics:
        store.log_metric(rid, name, value, step, t)
    store.finish_run(rid, status="imported", ended_at=peer.ended_at)


def import_peer_log(
    store: Store,
    tool: str,
    path: Path,
    *,
    project: str | None = None,
    default_project: str = "default",
    phase: str = "training",
    tz: tzinfo | None = None,
    peer_pue: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Parse a peer's log and store its runs (the whole file or nothing).

    Args:
        store: the run store.
        tool: ``codecarbon``, ``carbontracker`` or ``eco2ai``.
        path: the peer's file (or carbontracker's log directory).
        project: file every run under this project (default: the peer's
            project name, else ``default_project``).
        default_project: project for runs whose peer records none.
        phase: life-cycle phase of the runs.
        tz: zone of the peer's naive timestamps (``None``: this machine's).
        peer_pue: the PUE eco2AI was given (eco2AI only).
        progress: called with ``(done, total)`` after each run stored.

    Returns:
        What was imported and skipped.

    Raises:
        ConfigError: an unknown tool or a bad ``peer_pue``.
        PeerLogError: the log cannot be read (nothing is stored).
        StoreError: the store cannot be written (nothing is left stored).
    """
    runs = parse_peer_log(tool, path, tz=tz, peer_pue=peer_pue)
    return import_runs(store, runs, path=Path(path), project=project,
                       default_project=default_project, phase=phase, progress=progress)
