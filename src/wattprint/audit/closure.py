"""Used, dependency or unused: the required-by closure of what a workload touched.

A package the trace shows in use is **used**. A package that a used package
requires -- directly or through other packages, following ``Requires-Dist``
(Python) or ``Depends``/``Pre-Depends`` (dpkg) -- but that the trace never
touched is a **dependency**: the workload may need it on a path this run did
not take, or at import time of something lazily loaded, so it is kept. Every
other package is **unused**: nothing the workload used asks for it, so
removing it cannot break an installation (the MMLB study's definition of
package-level bloat).

Only installed packages are nodes; a requirement on a package that is not
installed is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

USED = "used"
DEPENDENCY = "dependency"
UNUSED = "unused"

#: report order: what can go first
STATUS_ORDER = (UNUSED, DEPENDENCY, USED)


def dependency_graph(requires: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Each package's installed requirements.

    Args:
        requires: package key -> keys it requires (installed or not).

    Returns:
        package key -> the required keys that are installed (never itself).
    """
    installed = set(requires)
    return {key: {r for r in reqs if r in installed and r != key}
            for key, reqs in requires.items()}


def required_by(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """The reverse graph: package key -> the packages that require it."""
    reverse: dict[str, set[str]] = {key: set() for key in graph}
    for key, reqs in graph.items():
        for r in reqs:
            reverse.setdefault(r, set()).add(key)
    return reverse


def closure(graph: Mapping[str, Iterable[str]], start: Iterable[str]) -> set[str]:
    """Every package reachable from ``start`` through requirements (``start`` included)."""
    seen: set[str] = set()
    stack = [k for k in start if k in graph]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        stack.extend(r for r in graph.get(key, ()) if r not in seen)
    return seen


def classify(graph: Mapping[str, Iterable[str]], used: Iterable[str],
             keep: Iterable[str] = ()) -> dict[str, str]:
    """The status of every package: ``used``, ``dependency`` or ``unused``.

    Args:
        graph: package key -> installed requirements (:func:`dependency_graph`).
        used: keys of the packages the trace shows in use.
        keep: keys the system needs whatever the workload does (dpkg's
            ``Essential: yes`` packages); they and their requirements count as
            dependencies unless used.

    Returns:
        package key -> status.
    """
    direct = {k for k in used if k in graph}
    kept = closure(graph, direct | set(keep))
    return {key: USED if key in direct else DEPENDENCY if key in kept else UNUSED
            for key in graph}


__all__ = ["DEPENDENCY", "STATUS_ORDER", "UNUSED", "USED", "classify", "closure",
           "dependency_graph", "required_by"]
