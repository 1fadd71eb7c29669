"""Which installed files and packages a trace shows in use.

A traced path and a ``RECORD`` path name the same file in different ways
(symbolic links, ``..``, a virtual environment's ``lib64`` link), so both are
normalised first: for a local environment with :func:`os.path.realpath`; for
an image by the caller's mapping from traced paths to paths in the image.

A distribution is used when any of its files was opened or mapped, is the
file of an imported module, or provides a module whose import was seen
(an ``import`` event with no file, from a process that died before exit).
Python reads a module's cached ``__pycache__/*.pyc`` instead of its ``.py``
(and the other way round when no cache is written), so either one in use
marks both as used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wattprint.audit.distributions import DistFile, Distribution, module_name
from wattprint.audit.trace import Trace


@dataclass
class Usage:
    """What a trace used of a set of distributions.

    Attributes:
        used: keys of the distributions used directly.
        files: normalised paths of the distribution files used.
        evidence: key -> up to five imported modules or opened files that show it.
    """

    used: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    evidence: dict[str, list[str]] = field(default_factory=dict)

    def note(self, key: str, what: str) -> None:
        """Mark ``key`` used, keeping a few examples of why."""
        self.used.add(key)
        shown = self.evidence.setdefault(key, [])
        if len(shown) < 5 and what not in shown:
            shown.append(what)


def _pyc_source(path: str) -> str | None:
    head, base = os.path.split(path)
    if os.path.basename(head) != "__pycache__" or not base.endswith(".pyc"):
        return None
    return os.path.join(os.path.dirname(head), base.split(".", 1)[0] + ".py")


def normalised_files(dists: Iterable[Distribution], root_of: Callable[[str], str]
                     ) -> dict[str, tuple[str, DistFile]]:
    """Normalised path -> (distribution key, file), with each root mapped by ``root_of``."""
    index: dict[str, tuple[str, DistFile]] = {}
    for dist in dists:
        root = root_of(dist.root)
        for f in dist.files:
            index[os.path.normpath(os.path.join(root, f.rel))] = (dist.key, f)
    return index


def trace_usage(dists: Iterable[Distribution], trace: Trace, *,
                root_of: Callable[[str], str], path_of: Callable[[str], str | None],
                ext_suffixes: Iterable[str] = (".so", ".pyd")) -> Usage:
    """The distributions and files a trace used.

    Args:
        dists: the installed distributions.
        trace: what the workload imported and opened.
        root_of: maps a distribution root to its normalised form.
        path_of: maps a traced path to its normalised form (``None`` to drop it,
            e.g. a host path outside an unpacked image root).
        ext_suffixes: extension-module endings, to name modules from paths.

    Returns:
        The used distribution keys and normalised file paths.
    """
    dists = list(dists)
    index = normalised_files(dists, root_of)
    modules: dict[str, str] = {}
    for dist in dists:
        for f in dist.files:
            name = module_name(f.rel, tuple(ext_suffixes))
            if name is not None:
                modules.setdefault(name, dist.key)
    sources: dict[str, list[str]] = {}
    for path in index:
        src = _pyc_source(path)
        if src is not None:
            sources.setdefault(src, []).append(path)
    usage = Usage()

    def mark(path: str, why: str) -> bool:
        hit = index.get(path)
        if hit is None:
            return False
        usage.files.add(path)
        usage.note(hit[0], why)
        src = _pyc_source(path)
        if src is not None and src in index:
            usage.files.add(src)
        usage.files.update(sources.get(path, ()))
        return True

    for name, file in trace.modules.items():
        module_path = path_of(file) if file else None
        if module_path is not None and mark(module_path, name):
            continue
        key = modules.get(name)
        if key is not None:
            usage.note(key, name)
    for raw in sorted(trace.opened):  # after the modules, so evidence names modules first
        opened = path_of(raw)
        if opened is not None:
            mark(opened, opened)
    return usage


__all__ = ["Usage", "normalised_files", "trace_usage"]
