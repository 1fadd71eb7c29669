"""carbontracker's log directory: a standard log and an output log per run.

`carbontracker <https://github.com/lfwa/carbontracker>`_ writes, for each
run, into its ``log_dir``::

    <prefix>_<pid>.<id>_<date>_carbontracker.log          the standard log
    <prefix>_<pid>.<id>_<date>_carbontracker_output.log   predicted and actual totals
    <prefix>_<pid>.<id>_<date>_carbontracker_err.log      errors

The **standard log** has one ``<naive local time> - <message>`` line per
event; per epoch it gives the duration and the mean power of each
component's devices::

    2026-11-27 08:09:15 - carbontracker version 2.4.7
    2026-11-27 08:09:15 - Only predicted and actual consumptions are multiplied by a PUE
                          coefficient of 1.58 (...)
    2026-11-27 08:09:15 - The following components were found: GPU with device(s)
                          Simulated GPU. CPU with device(s) Simulated CPU.
    2026-11-27 08:09:17 - Epoch 1:
    2026-11-27 08:09:17 - Duration: 0:00:01.50
    2026-11-27 08:09:17 - Average power usage (W) for gpu: 240.0
    2026-11-27 08:09:17 - Average power usage (W) for cpu: 32.5
    2026-11-27 08:09:20 - Training was interrupted before all 5 epochs were monitored.

A component with several devices logs a list (``[120.5, 98.0]``), which may
wrap over several lines; ``None`` means the epoch was too short to sample.
Energy is taken per epoch as mean power × duration, device by device; an
epoch whose power is ``None`` becomes a recorded gap, not 0 J
(carbontracker fills such an epoch from a later one, so its own total can be
higher). The ``Epoch N:`` line is written when the epoch ends, so an epoch
spans ``[logged time − duration, logged time]``; the logged times are
truncated to the second, so consecutive epochs can appear to overlap, which
:func:`~wattprint.report.importers.common.epoch_intervals` handles as for
every peer (kept as logged, each interval at the logged power).

The **output log** holds carbontracker's own totals, multiplied by its fixed
PUE (1.58 in 2.4.7, stated in the standard log)::

    Actual consumption for 2 epoch(s):
        Time:   0:00:05
        Energy: 0.000538237828 kWh
        CO2eq:  0.239515833265 g

They are kept as ``peer_energy_kwh``/``peer_co2e_kg``/``peer_duration_s`` (and
``peer_predicted_*`` for the prediction); the stored device energy comes from the standard log,
before the PUE. The run's identity is the standard log's file name.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import tzinfo
from pathlib import Path
from typing import Any

from wattprint import validate
from wattprint.errors import WattprintError
from wattprint.report.importers.common import (
    _TS_FORMAT,
    PeerEpoch,
    PeerLogError,
    PeerRun,
    _device,
    _epoch,
    _read_text,
    epoch_intervals,
)
from wattprint.store import DeviceRecord

log = logging.getLogger(__name__)

__all__ = ["parse_carbontracker"]


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
    try:
        _read_ct_output(path, info)
    except (ValueError, OverflowError) as exc:  # a number the patterns let through
        raise PeerLogError(f"{path}: cannot read a number ({exc}); is the log intact?") from None


def _read_ct_output(path: Path, info: dict[str, Any]) -> None:
    text = _read_text(path)
    for m in _CT_CONSUMPTION.finditer(text):
        energy = float(m.group("energy"))
        co2_g = float(m.group("co2"))
        prefix = "peer_" if m.group("what") == "Actual" else "peer_predicted_"
        info[f"{prefix}energy_kwh"] = energy
        info[f"{prefix}co2e_kg"] = co2_g / 1000.0 if math.isfinite(co2_g) else None
        info[f"{prefix}duration_s"] = _hms_s(m.group("time"))
        if m.group("epochs"):
            info[f"{prefix}epochs"] = int(m.group("epochs"))


def _hms_s(text: str) -> float | None:
    """Seconds of carbontracker's ``H:MM:SS`` (``str(timedelta)``, maybe with ``N day(s), ``)."""
    m = re.fullmatch(r"(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", text.strip())
    if m is None:
        return None
    days, h, mi, sec = m.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(sec)


#: what :func:`_ct_line` returns for the "Training was interrupted" line
_EARLY_STOP: tuple[int, str, str] = (-1, "early-stop", "")


def _ct_line(raw: str, n: int, where: str, std: Path, tz: tzinfo | None,
             pending: tuple[int, str, str] | None, info: dict[str, Any],
             components: dict[str, list[str]], epochs: list[dict[str, Any]]
             ) -> tuple[int, str, str] | None:
    """Read one line of a carbontracker standard log; returns the pending power array."""
    if pending is not None:
        start_n, comp, acc = pending
        acc = f"{acc} {raw.strip()}"
        if "]" in raw:
            pending = None
            _add_power(epochs, comp, acc, f"{std} line {start_n}")
        else:
            pending = (start_n, comp, acc)
        return pending
    m = _CT_LINE.match(raw)
    if m is None:
        return pending
    ts, msg = m.group("ts"), m.group("msg").strip()
    if msg.startswith("carbontracker version "):
        info["peer_version"] = msg.split()[-1]
    elif "PUE coefficient of" in msg:
        pm = re.search(r"PUE coefficient of ([0-9.]+)", msg)
        if pm:
            try:
                info["peer_pue"] = validate.pue(pm.group(1), "its PUE")
            except WattprintError as exc:
                raise PeerLogError(f"{where}: {exc}") from None
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
        return _EARLY_STOP
    elif (lm := re.search(r"fetched every .* at detected location: (.*): \[", msg)):
        info["peer_country"] = lm.group(1).strip()
    elif (im := re.match(r"Average carbon intensity during training was ([0-9.]+)", msg)):
        info["peer_intensity_g_per_kwh"] = float(im.group(1))
    return pending


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
        try:
            pending = _ct_line(raw, n, where, std, tz, pending, info, components, epochs)
        except (ValueError, OverflowError) as exc:  # a number the patterns let through
            raise PeerLogError(f"{where}: cannot read a number ({exc}); is the log intact?"
                               ) from None
        if pending is _EARLY_STOP:
            early_stop, pending = True, None
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
    placed: list[PeerEpoch] = []
    for k, epoch in enumerate(epochs, start=1):
        where = f"{std} line {epoch['line']}"
        if "duration_s" not in epoch:
            raise PeerLogError(f"{where}: epoch {k} has no 'Duration:' line")
        duration_s = float(epoch["duration_s"])
        t_end = float(epoch["t_end"])
        energy_j: dict[str, float | None] = {}
        for comp, names in components.items():
            if comp not in epoch["power"]:
                raise PeerLogError(f"{where}: epoch {k} has no power line for {comp}")
            values: list[float] | None = epoch["power"][comp]
            ids = [f"carbontracker:{comp}:{i}" for i in range(len(names))]
            if values is not None and len(values) != len(names):
                raise PeerLogError(
                    f"{where}: {len(values)} power value(s) for {comp} but {len(names)} "
                    f"device(s) ({', '.join(names)})")
            for i, dev_id in enumerate(ids):
                energy_j[dev_id] = None if values is None else values[i] * duration_s
        placed.append(PeerEpoch(t_end - duration_s, t_end, energy_j,
                                "carbontracker logged no power for this epoch (too short to "
                                "sample)"))
    intervals, gaps, overlap_s = epoch_intervals(placed, what=str(std))
    info["peer_overlap_s"] = overlap_s
    started = min((e.t_start for e in placed), default=float(epochs[0]["t_end"]))
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
