"""From installed packages and a trace to the audit document (pure; no I/O).

The document is what every report renders and what ``--json`` prints; its
schema is ``wattprint.audit/1`` (docs/audit.md describes every field). Its
core, shared by environment and image audits:

* ``packages[]`` -- every Python distribution: ``name``, ``version``,
  ``size_bytes``, ``status`` (``used``, ``dependency`` or ``unused``, see
  :mod:`wattprint.audit.closure`), file counts, the bytes of its files that
  were never opened by kind (file-level bloat of used packages), what it
  requires and what requires it, and the evidence of its use; the unused
  ones first, largest first;
* ``totals`` -- ``size_bytes``, ``unused_bytes``, ``bloat_share`` (unused
  bytes over all bytes) and the same by count, plus the file-level bloat;
* ``file_bloat[]`` -- the largest files never opened inside used packages;
* ``requirements[]`` -- ``name==version`` of every used or dependency package
  (what ``--write-requirements`` writes), ``removable[]`` the unused names;
* ``trace`` -- the merged trace itself, so later runs can ``--append`` to it;
* ``warnings[]`` -- above all, that one run may not exercise every path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wattprint.audit.closure import (
    STATUS_ORDER,
    UNUSED,
    USED,
    classify,
    dependency_graph,
    required_by,
)
from wattprint.audit.costs import CostFactors, cost_section
from wattprint.audit.distributions import Distribution, Environment, requirement_name
from wattprint.audit.filekinds import file_kind
from wattprint.audit.trace import Trace
from wattprint.audit.usage import Usage, trace_usage

SCHEMA = "wattprint.audit/1"

#: the limit every audit states
SINGLE_RUN_WARNING = (
    "one run shows only the code paths it took: imports behind a flag, an error handler or "
    "another input were not seen, so a package marked unused may still be needed; trace "
    "several representative commands and merge them with --append before removing anything")

#: how many unopened files of used packages the document lists
TOP_FILES = 50


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def _order(row: Mapping[str, Any]) -> tuple[int, int, str]:
    return STATUS_ORDER.index(row["status"]), -int(row["size_bytes"]), str(row["name"]).lower()


def package_rows(dists: Sequence[Distribution], usage: Usage, *, platform: str = "linux",
                 ext_suffixes: Sequence[str] | None = None,
                 root_of: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``packages[]`` rows and the unopened files of used packages.

    Args:
        dists: the installed distributions.
        usage: what the trace used (:func:`~wattprint.audit.usage.trace_usage`).
        platform: ``sys.platform`` of the target, for file kinds.
        ext_suffixes: extension-module endings of the target Python, if known.
        root_of: the root mapping used for ``usage`` (identity when ``None``).

    Returns:
        ``(packages, unopened_files)``; packages in report order, files largest first.
    """
    graph = dependency_graph({d.key: [n for r in d.requires
                                      if (n := requirement_name(r)) is not None]
                              for d in dists})
    statuses = classify(graph, usage.used)
    reverse = required_by(graph)
    names = {d.key: d.name for d in dists}
    rows: list[dict[str, Any]] = []
    unopened_files: list[dict[str, Any]] = []
    for dist in dists:
        status = statuses[dist.key]
        root = root_of(dist.root) if root_of is not None else dist.root
        by_kind: dict[str, int] = {}
        used_files = 0
        for f in dist.files:
            path = os.path.normpath(os.path.join(root, f.rel))
            if path in usage.files:
                used_files += 1
                continue
            kind = file_kind(f.rel, platform=platform, ext_suffixes=ext_suffixes)
            if status != USED or kind == "metadata":
                continue
            by_kind[kind] = by_kind.get(kind, 0) + f.size_bytes
            unopened_files.append({"package": dist.name, "path": f.path,
                                   "size_bytes": f.size_bytes, "kind": kind})
        rows.append({
            "name": dist.name,
            "version": dist.version,
            "size_bytes": dist.size_bytes,
            "status": status,
            "files": len(dist.files),
            "used_files": used_files,
            "unopened_bytes": sum(by_kind.values()),
            "unopened_by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
            "requires": sorted(names[k] for k in graph[dist.key]),
            "required_by": sorted(names[k] for k in reverse.get(dist.key, ())),
            "has_record": dist.has_record,
            "evidence": list(usage.evidence.get(dist.key, [])),
        })
    rows.sort(key=_order)
    unopened_files.sort(key=lambda f: (-f["size_bytes"], f["path"]))
    return rows, unopened_files


def package_totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``totals`` of ``packages[]``: bytes and counts by status, bloat shares."""
    rows = list(rows)
    size = sum(r["size_bytes"] for r in rows)
    by_status = {s: [r for r in rows if r["status"] == s] for s in STATUS_ORDER}
    bytes_of = {s: sum(r["size_bytes"] for r in by_status[s]) for s in STATUS_ORDER}
    kinds: dict[str, int] = {}
    for r in rows:
        for kind, n in r["unopened_by_kind"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    return {
        "size_bytes": size,
        "used_bytes": bytes_of["used"],
        "dependency_bytes": bytes_of["dependency"],
        "unused_bytes": bytes_of[UNUSED],
        "bloat_share": _share(bytes_of[UNUSED], size),
        "packages": len(rows),
        "used_packages": len(by_status["used"]),
        "dependency_packages": len(by_status["dependency"]),
        "unused_packages": len(by_status[UNUSED]),
        "bloat_share_count": _share(len(by_status[UNUSED]), len(rows)),
        "file_bloat_bytes": sum(kinds.values()),
        "file_bloat_by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
    }


def lean_set(rows: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """``(requirements, removable)``: pinned used and dependency packages; unused names."""
    rows = list(rows)
    keep = sorted((r for r in rows if r["status"] != UNUSED), key=lambda r: r["name"].lower())
    return ([f"{r['name']}=={r['version']}" for r in keep],
            [r["name"] for r in rows if r["status"] == UNUSED])


def audit_environment(env: Environment, trace: Trace, *, costs: CostFactors | None = None,
                      top_files: int = TOP_FILES) -> dict[str, Any]:
    """The audit document of a Python environment.

    Args:
        env: the distributions the target interpreter sees.
        trace: what the workload imported and opened (merged runs).
        costs: factors for the provisioning cost, or ``None`` to leave it out.
        top_files: how many unopened files of used packages to list.

    Returns:
        The ``wattprint.audit/1`` document of ``kind`` ``"env"``.
    """
    real_roots: dict[str, str] = {}

    def root_of(root: str) -> str:
        if root not in real_roots:
            real_roots[root] = os.path.realpath(root)
        return real_roots[root]

    def path_of(path: str) -> str:
        return os.path.realpath(path)

    suffixes = [str(s) for s in env.python.get("ext_suffixes", [".so"])]
    usage = trace_usage(env.distributions, trace, root_of=root_of, path_of=path_of,
                        ext_suffixes=suffixes)
    rows, unopened = package_rows(env.distributions, usage,
                                  platform=str(env.python.get("platform", "linux")),
                                  ext_suffixes=suffixes, root_of=root_of)
    totals = package_totals(rows)
    requirements, removable = lean_set(rows)
    warnings = [SINGLE_RUN_WARNING]
    if trace.processes == 0:
        warnings.insert(0, "no Python process was traced: the command did not run Python, or "
                           "ran it with -S, -I or -E; every package shows as unused")
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": "env",
        "python": dict(env.python),
        "packages": rows,
        "totals": totals,
        "file_bloat": unopened[:top_files],
        "requirements": requirements,
        "removable": removable,
        "warnings": warnings,
    }
    if costs is not None:
        doc["costs"] = cost_section(totals["size_bytes"], totals["unused_bytes"], costs)
    doc["trace"] = trace.to_dict()
    return doc


__all__ = ["SCHEMA", "SINGLE_RUN_WARNING", "TOP_FILES", "audit_environment", "lean_set",
           "package_rows", "package_totals"]
