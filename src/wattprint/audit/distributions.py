"""Installed Python distributions, their files and sizes, as the target interpreter sees them.

A *distribution* is what pip installs (``numpy``, ``six``). Each one has a
``*.dist-info`` directory whose ``RECORD`` file lists every file it installed,
with its SHA-256 and size in bytes (the wheel specification, PEP 376/PEP 627);
``METADATA`` gives its name, version and ``Requires-Dist`` lines. That is
what :mod:`importlib.metadata` reads, and what this module uses:

* **size on disk** of a distribution = the sum of the sizes its ``RECORD``
  gives; a listed file with no recorded size (``RECORD`` itself, files added
  after installation) is counted with its size on disk;
* **which distribution a file belongs to** = the ``RECORD`` that lists it;
* **which distribution a module belongs to** = the ``RECORD`` that lists its
  ``.py`` or extension file (``a/b/__init__.py`` is module ``a.b``).

The audit must see the environment of the interpreter the workload runs,
which is not always the one running wattprint (``--python .venv/bin/python``).
So :func:`list_distributions` runs :data:`HELPER` under that interpreter --
plain Python 3.8+, standard library only -- and reads its JSON. A
distribution installed twice on ``sys.path`` is counted once, as the copy
that ``import`` finds first. Distributions without ``RECORD`` (old ``egg-info``
installs) are listed with the files their metadata names, if any.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wattprint.errors import AuditError

#: run under the target interpreter; prints one JSON document on stdout
HELPER = r'''
import importlib.machinery, json, os, platform, re, sys
try:
    from importlib import metadata
except ImportError:
    sys.stderr.write("Python %d.%d has no importlib.metadata; Python 3.8 or newer is needed\n"
                     % sys.version_info[:2])
    sys.exit(3)
seen = set()
dists = []
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        continue
    seen.add(key)
    root = str(dist.locate_file(""))
    files = []
    for f in dist.files or []:
        size = f.size
        recorded = size is not None
        if size is None:
            try:
                size = os.path.getsize(os.path.join(root, str(f)))
            except OSError:
                size = 0
        files.append([str(f).replace(os.sep, "/"), int(size), recorded])
    dists.append({"name": name, "version": dist.version, "root": root,
                  "requires": list(dist.requires or []), "files": files,
                  "has_record": dist.read_text("RECORD") is not None})
json.dump({"python": {"executable": sys.executable, "prefix": sys.prefix,
                      "version": "%d.%d.%d" % sys.version_info[:3],
                      "platform": sys.platform, "machine": platform.machine(),
                      "ext_suffixes": list(importlib.machinery.EXTENSION_SUFFIXES)},
           "distributions": dists}, sys.stdout)
'''

_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalize_name(name: str) -> str:
    """A distribution name in its normal form (PEP 503): ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class DistFile:
    """One file a distribution installed.

    Attributes:
        rel: its path as ``RECORD`` writes it (``/``-separated, relative to the
            distribution's root, e.g. ``six.py`` or ``../../bin/tool``).
        path: its absolute, normalised path.
        size_bytes: its size, from ``RECORD`` or the disk.
    """

    rel: str
    path: str
    size_bytes: int


@dataclass(frozen=True)
class Distribution:
    """One installed distribution.

    Attributes:
        name: its name as ``METADATA`` writes it.
        version: its version.
        root: the directory its ``RECORD`` paths are relative to (site-packages).
        requires: its ``Requires-Dist`` lines, markers included.
        files: the files it installed.
        has_record: whether a ``RECORD`` file was found.
    """

    name: str
    version: str
    root: str
    requires: tuple[str, ...]
    files: tuple[DistFile, ...]
    has_record: bool = True

    @property
    def key(self) -> str:
        """The normalised name (PEP 503)."""
        return normalize_name(self.name)

    @property
    def size_bytes(self) -> int:
        """Bytes on disk: the sum of its files' sizes."""
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True)
class Environment:
    """The distributions one interpreter sees, and what it is.

    Attributes:
        python: ``executable``, ``version``, ``platform``, ``machine``,
            ``ext_suffixes`` (extension-module file endings) and ``prefix``.
        distributions: the installed distributions, one per name.
    """

    python: Mapping[str, Any]
    distributions: tuple[Distribution, ...]


def make_distribution(name: str, version: str, root: str, requires: Iterable[str],
                      files: Iterable[tuple[str, int]], has_record: bool = True) -> Distribution:
    """A distribution from ``RECORD``-style ``(relative path, size)`` pairs."""
    return Distribution(name, version, root, tuple(requires),
                        tuple(DistFile(rel, os.path.normpath(os.path.join(root, rel)), int(size))
                              for rel, size in files), has_record)


def parse_record(text: str) -> list[tuple[str, int | None]]:
    """The ``(path, size)`` rows of a ``RECORD`` file (size ``None`` where it is blank).

    Raises:
        AuditError: a row is not CSV with a path, hash and size.
    """
    rows: list[tuple[str, int | None]] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if len(row) != 3 or not row[0]:
            raise AuditError(f"RECORD row {n} is malformed ({row!r}): expected path,hash,size")
        try:
            rows.append((row[0], int(row[2]) if row[2].strip() else None))
        except ValueError as exc:
            raise AuditError(f"RECORD row {n} has a size that is not a number: {row[2]!r}"
                             ) from exc
    return rows


def requirement_name(requirement: str) -> str | None:
    """The normalised distribution name a ``Requires-Dist`` line asks for.

    ``None`` for a requirement that only an extra pulls in (``foo; extra ==
    "test"``): whether that extra was wanted is not recorded anywhere.
    """
    _, _, marker = requirement.partition(";")
    if re.search(r"\bextra\s*==", marker):
        return None
    match = _NAME.match(requirement)
    return normalize_name(match.group(1)) if match else None


def module_name(rel: str, ext_suffixes: Iterable[str] = (".so", ".pyd")) -> str | None:
    """The dotted module name a ``RECORD`` path installs, or ``None`` if it is no module.

    ``a/b/__init__.py`` -> ``a.b``; ``a/c.py`` -> ``a.c``;
    ``a/_d.cpython-311-x86_64-linux-gnu.so`` -> ``a._d``; ``a-1.0.dist-info/RECORD``
    and ``../../bin/x`` -> ``None``.
    """
    parts = rel.split("/")
    base = parts[-1]
    if base.endswith(".py"):
        stem = base[:-3]
    elif any(base.endswith(s) for s in ext_suffixes) or base.endswith((".so", ".pyd")):
        stem = base.split(".", 1)[0]
    else:
        return None
    names = parts[:-1] + ([] if stem == "__init__" else [stem])
    if not names or not all(_IDENT.match(p) for p in names):
        return None
    return ".".join(names)


def environment_from_json(data: Mapping[str, Any]) -> Environment:
    """An :class:`Environment` from the helper's JSON document."""
    dists = tuple(
        make_distribution(d["name"], d["version"], d["root"], d["requires"],
                          ((rel, size) for rel, size, _recorded in d["files"]), d["has_record"])
        for d in data["distributions"])
    return Environment(dict(data["python"]), dists)


def list_distributions(python: str, *, timeout_s: float = 300.0) -> Environment:
    """The distributions that interpreter ``python`` sees.

    Args:
        python: path or name of a Python 3.8+ interpreter.
        timeout_s: longest wait for it.

    Raises:
        AuditError: it cannot start, fails, or prints no valid listing; the
            message says how to fix it.
    """
    fix = "give --python the path of a working Python 3.8+ interpreter, e.g. .venv/bin/python"
    try:
        done = subprocess.run([python, "-c", HELPER], capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError as exc:
        raise AuditError(f"Python interpreter {python} not found; {fix}") from exc
    except subprocess.TimeoutExpired as exc:
        raise AuditError(f"Python interpreter {python} did not answer within {timeout_s:g} s; "
                         f"{fix}") from exc
    except OSError as exc:
        raise AuditError(f"Python interpreter {python} cannot start "
                         f"({exc.strerror or exc}); {fix}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise AuditError(f"Python interpreter {python} failed (exit {done.returncode}: {last}); "
                         f"{fix}")
    try:
        return environment_from_json(json.loads(done.stdout))
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"{python} did not print a distribution listing ({exc}); {fix}"
                         ) from exc


__all__ = ["HELPER", "DistFile", "Distribution", "Environment", "environment_from_json",
           "list_distributions", "make_distribution", "module_name", "normalize_name",
           "parse_record", "requirement_name"]
