"""Life-cycle totals over many runs: by project and by phase (or name, status, tool).

The sustainability view: for a project, the energy and carbon of each
life-cycle phase (data, experimentation, training, inference, or the user's
own words), each split into dynamic, idle, infrastructure and embodied, with
the run count. Returned as data; :mod:`wattprint.report` renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.store import RunRecord, Store

GROUPINGS: dict[str, Callable[[RunRecord], str]] = {
    "phase": lambda r: r.phase,
    "name": lambda r: r.name or "",
    "status": lambda r: r.status,
    "tool": lambda r: r.tool,
    "project": lambda r: r.project,
}

_ENERGY_KEYS = ("dynamic", "idle", "infrastructure", "total")
_CO2_KEYS = ("dynamic", "idle", "infrastructure", "embodied", "total")


def _empty() -> dict[str, Any]:
    return {"runs": 0, "duration_s": 0.0,
            "energy_kwh": dict.fromkeys(_ENERGY_KEYS, 0.0),
            "co2e_kg": dict.fromkeys(_CO2_KEYS, 0.0)}


def project_totals(store: Store, project: str | None, *, by: str = "phase",
                   opts: AccountingOptions | None = None) -> dict[str, Any]:
    """Totals of a project's runs grouped by ``by``.

    Returns:
        ``{"project", "by", "groups": {key: {"runs", "duration_s", "energy_kwh": {...},
        "co2e_kg": {...}}}, "total": {...}, "runs": [run ids]}``

    Raises:
        ValueError: an unknown grouping.
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; choose from {', '.join(GROUPINGS)}")
    key_of = GROUPINGS[by]
    groups: dict[str, dict[str, Any]] = {}
    total = _empty()
    ids = []
    for run in sorted(store.runs(project), key=lambda r: r.started_at):
        if run.status == "running":
            continue
        accounted = account_run(store, run.id, opts)
        fp = accounted.footprint
        ids.append(run.id)
        for bucket in (groups.setdefault(key_of(run), _empty()), total):
            bucket["runs"] += 1
            bucket["duration_s"] += run.duration_s or 0.0
            for k in _ENERGY_KEYS:
                bucket["energy_kwh"][k] += fp.energy_kwh[k]
            for k in _CO2_KEYS:
                bucket["co2e_kg"][k] += fp.co2e_kg[k]
    return {"project": project, "by": by, "groups": groups, "total": total, "runs": ids}
