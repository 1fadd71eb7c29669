"""Life-cycle totals over many runs: by project and by stage (or name, status, tool).

The sustainability view: for a project, the energy and carbon of each
life-cycle *stage* (data, experimentation, training, inference, or the user's
own words: the label a whole run carries, ``wattprint run --phase`` /
``track(phase=...)``), each split into dynamic, idle, infrastructure and
embodied, with the run count. Returned as data; :mod:`wattprint.report`
renders it.

A stage is not a *phase*: a phase is a section inside one run
(``run.phase("eval")``), shown with its own energy by ``wattprint show`` and
the run appendix (:mod:`wattprint.accounting.phases`). The grouping was once
called ``phase``; that name still works, as an alias of ``stage``
(:data:`GROUPING_ALIASES`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.store import RunRecord, Store

GROUPINGS: dict[str, Callable[[RunRecord], str]] = {
    "stage": lambda r: r.phase,
    "phase": lambda r: r.phase,
    "name": lambda r: r.name or "",
    "status": lambda r: r.status,
    "tool": lambda r: r.tool,
    "project": lambda r: r.project,
}

#: Old grouping names -> the name they stand for now.
GROUPING_ALIASES = {"phase": "stage"}


def resolve_grouping(by: str) -> tuple[str, str | None]:
    """The grouping ``by`` stands for, and a note when it is an old alias.

    Args:
        by: a grouping name or alias (``stage``, ``phase``, ``name``...).

    Returns:
        ``(grouping, note)``: ``note`` is ``None`` unless ``by`` is an alias.
    """
    if by in GROUPING_ALIASES:
        new = GROUPING_ALIASES[by]
        return new, (f"--by {by} is now --by {new} (a run's life-cycle stage); phases are "
                     "the run.phase() sections inside a run, shown by `wattprint show`")
    return by, None


_ENERGY_KEYS = ("dynamic", "idle", "infrastructure", "total")
_CO2_KEYS = ("dynamic", "idle", "infrastructure", "embodied", "total")


def _empty() -> dict[str, Any]:
    return {"runs": 0, "duration_s": 0.0,
            "energy_kwh": dict.fromkeys(_ENERGY_KEYS, 0.0),
            "co2e_kg": dict.fromkeys(_CO2_KEYS, 0.0)}


def project_totals(store: Store, project: str | None, *, by: str = "stage",
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
    by, _note = resolve_grouping(by)
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
