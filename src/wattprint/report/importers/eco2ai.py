"""eco2AI's ``emission.csv``: a row per run, or per epoch in training mode.

`eco2AI <https://github.com/sb-ai-lab/Eco2AI>`_ appends to ``emission.csv``::

    id,project_name,experiment_description,epoch,start_time,duration(s),
    power_consumption(kWh),CO2_emissions(kg),CPU_name,GPU_name,OS,region/country,cost
    c58cbf71-...,demo,resnet-small,,2026-11-27 08:09:21,3.1767,0.000139,4.63e-05,
        "AMD EPYC/1 device(s), TDP:500.0", 0 device(s),Linux,DE,0

* A plain tracker writes one row per run; its training mode writes one row
  per epoch, all sharing the run's ``id``, with the epoch and the logged
  parameters in the ``epoch`` cell: ``"epoch: 2, loss: 0.5, "``. Those
  parameters become the run's metrics, at that epoch's step.
* ``start_time`` is a naive local time, truncated to the second;
  ``duration(s)`` seconds. Rows of one run can therefore appear to overlap;
  they are placed by the rule every importer follows
  (:func:`~wattprint.report.importers.common.epoch_intervals`): each as
  logged, at the energy logged.
* ``power_consumption(kWh)`` is the total CPU + GPU + RAM energy times the
  PUE, which eco2AI does **not** write down: give it with ``peer_pue`` if you
  set one (default 1, eco2AI's default). The run is stored as one
  whole-machine device, ``eco2ai:total``.
* eco2AI estimates CPU power from the CPU's TDP and its utilisation, so the
  figure is an estimate, as the device's ``model`` text says.
"""

from __future__ import annotations

import math
import re
from datetime import tzinfo
from pathlib import Path
from typing import Any

from wattprint.errors import ConfigError
from wattprint.report.importers.common import (
    _TS_FORMAT,
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

__all__ = ["parse_eco2ai"]


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
        placed: list[PeerEpoch] = []
        duration_total_s = 0.0
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
            duration_total_s += duration
            placed.append(PeerEpoch(start, start + duration,
                                    {"eco2ai:total": energy_kwh / peer_pue * J_PER_KWH}))
            epoch, params = _eco_epoch(row.get("epoch", ""), where)
            metrics.extend((k, v, epoch, start + duration) for k, v in params.items())
        intervals, _, overlap_s = epoch_intervals(placed, what=f"{path} run {run_key}")
        country = first.get("region/country", "").strip()
        info: dict[str, Any] = {
            "peer_tool": "eco2ai", "peer_file": path.name, "peer_line": rows[0][0],
            "peer_run_id": run_key, "peer_energy_kwh": peer_kwh, "peer_co2e_kg": peer_kg,
            "peer_pue": peer_pue, "peer_country": country or None, "peer_epochs": len(rows),
            "peer_duration_s": duration_total_s, "peer_overlap_s": overlap_s,
        }
        if peer_kg is not None and peer_kwh > 0:
            g_per_kwh = peer_kg * 1000.0 / peer_kwh  # a tiny kWh makes it overflow
            info["peer_intensity_g_per_kwh"] = g_per_kwh if math.isfinite(g_per_kwh) else None
        region = _region(country.split("/")[0]) if country else None
        out.append(PeerRun(
            "eco2ai", run_key, first.get("project_name") or None,
            first.get("experiment_description") or None,
            min(e.t_start for e in placed), max(e.t_end for e in placed), "machine",
            region, (device,), tuple(intervals), metrics=tuple(metrics), info=info))
    return out
