"""codecarbon's ``emissions.csv``: one row per tracked run.

`codecarbon <https://github.com/mlco2/codecarbon>`_ appends a row to
``emissions.csv`` each time a tracker stops. Any version with ``timestamp``,
``duration``, ``cpu_energy``, ``gpu_energy``, ``ram_energy`` and
``energy_consumed`` is read; 3.3.2 writes 38 columns::

    timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,
    cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,
    ...,country_name,country_iso_code,region,cloud_provider,cloud_region,...,
    codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,...,
    ram_total_size,tracking_mode,...,pue,wue
    2026-11-27T08:09:06,demo,392ad805-...,resnet-small,3.0056,6.69e-06,...

* ``timestamp`` is a naive local time of when the tracker **stopped**, so the
  run starts ``duration`` seconds (wall clock) earlier.
* Energies are kWh per component (``cpu_energy``, ``gpu_energy``,
  ``ram_energy``; ``energy_consumed`` their sum), ``emissions`` kg CO2e,
  powers (``*_power``) watts.
* codecarbon multiplies its energies by the PUE it was given and writes it in
  ``pue`` (absent before 2.x: 1); wattprint divides it back out.
* With no GPU, codecarbon writes ``gpu_energy`` 0 and ``gpu_count`` 0: that
  is not a measurement, so no GPU device is stored.
* ``tracking_mode`` ``machine`` (whole machine) or ``process`` becomes the
  run's attribution; the cloud region or country becomes its region when
  wattprint knows it.

The run's identity is ``run_id``, ``timestamp`` and ``duration`` together (a
codecarbon ``run_id`` is reused across the rows of one Python process).
"""

from __future__ import annotations

import math
from datetime import tzinfo
from pathlib import Path
from typing import Any

from wattprint.report.importers.common import (
    PeerEpoch,
    PeerLogError,
    PeerRun,
    _csv_rows,
    _device,
    _epoch,
    _is_number,
    _number,
    _region,
    epoch_intervals,
)
from wattprint.units import J_PER_KWH

__all__ = ["parse_codecarbon"]


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
        devices = []
        energy_j: dict[str, float | None] = {}
        for kind, energy_kwh in energies.items():
            if kind == "gpu" and gpu_count == 0 and energy_kwh == 0:
                continue  # no GPU: codecarbon writes 0, which is not a measurement
            power = row.get(f"{kind}_power", "")
            devices.append(_device("codecarbon", kind, kind, names[kind], model, {
                "peer_energy_kwh": energy_kwh,
                "peer_power_w": float(power) if _is_number(power) else None,
                "peer_count": row.get(f"{kind}_count") or None,
            }))
            energy_j[f"codecarbon:{kind}"] = energy_kwh / pue * J_PER_KWH
        # one row, one epoch: placed by the rule every importer follows
        intervals, _, _ = epoch_intervals([PeerEpoch(start, end, energy_j)], what=where)
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
            ratio = info["peer_co2e_kg"] * 1000.0 / info["peer_energy_kwh"]
            # a ratio of two logged figures can overflow (a denormal energy): then no figure
            info["peer_intensity_g_per_kwh"] = ratio if math.isfinite(ratio) else None
        region = _region(info["peer_cloud"] or "", row.get("country_iso_code", ""))
        attribution = mode if mode in ("machine", "process") else "machine"
        key = "|".join((row.get("run_id", ""), row["timestamp"], row["duration"]))
        out.append(PeerRun("codecarbon", key, row.get("project_name") or None,
                           row.get("experiment_id") or None, start, end, attribution, region,
                           tuple(devices), tuple(intervals), info=info))
    return out
