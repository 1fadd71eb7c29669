"""From an image and a trace to the audit document of ``kind`` ``"image"`` (pure; no I/O).

An image holds three sorts of files, told apart here:

* **OS packages** -- files listed by the distribution's package database:
  dpkg (``/var/lib/dpkg/status`` with ``info/<pkg>.list`` file lists, or the
  ``status.d/`` of distroless images) or apk (``/lib/apk/db/installed``);
* **Python packages** -- files listed by a ``*.dist-info/RECORD`` anywhere in
  the image (each ``site-packages``), with the same ``packages[]`` rows as an
  environment audit;
* **models and data** -- files no package owns, by extension (weights,
  data sets), and **other** files (caches, build leftovers, configuration).

A package is used when one of its files was opened or mapped by the traced
workload; its required-by closure (``Depends``/``Requires-Dist``) is kept as
dependency, and dpkg ``Essential`` packages are always kept. Native
programs the workload runs without Python (``sh``, ``git``) are not traced,
so an OS package's *used* status is a lower bound: check before removing.

Traced paths are mapped into the image in one of two ways: with ``root``
(the workload ran against an unpacked copy of the image at that host
directory, so a traced ``/tmp/rootfs/usr/lib/x`` is the image's
``/usr/lib/x``), or as they are (the workload ran inside the container).
Symbolic links of the image (``/lib -> usr/lib``) are followed both in
traced paths and in package file lists.

``totals.unused_bytes`` counts the files of unused packages and the files no
package owns that were never opened; ``totals.bloat_share`` is their share of
the image. Files never opened inside used packages are file-level bloat
(``file_bloat_bytes``). Pulls transfer compressed layers, so what removing
the unused bytes saves per pull is scaled by the image's compression ratio
(``unused_pull_bytes``).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from wattprint.audit.analysis import (
    SCHEMA,
    SINGLE_RUN_WARNING,
    TOP_FILES,
    lean_set,
    package_rows,
    package_totals,
)
from wattprint.audit.closure import UNUSED, USED, classify, dependency_graph, required_by
from wattprint.audit.costs import CostFactors, cost_section
from wattprint.audit.distributions import Distribution, make_distribution, parse_record
from wattprint.audit.filekinds import file_kind
from wattprint.audit.image import Image
from wattprint.audit.trace import Trace
from wattprint.audit.usage import trace_usage

CATEGORIES = ("os", "python", "model", "data", "other")


@dataclass(frozen=True)
class OsPackage:
    """An OS package of the image.

    Attributes:
        name: package name.
        version: its version.
        manager: ``"dpkg"`` or ``"apk"``.
        files: the regular files it owns in the final file system (resolved paths).
        requires: names of the packages it depends on.
        essential: dpkg ``Essential: yes`` (the system cannot work without it).
        installed_size_bytes: the size its database states.
    """

    name: str
    version: str
    manager: str
    files: tuple[str, ...]
    requires: tuple[str, ...]
    essential: bool
    installed_size_bytes: int


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        last = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line.strip()
                continue
            key, sep, value = line.partition(":")
            if sep:
                last = key.strip()
                fields[last] = value.strip()
        if fields:
            yield fields


def _dpkg_depends(value: str) -> list[str]:
    names = []
    for alternative in re.split(r"[,|]", value):
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9+.-]*)", alternative)
        if match:
            names.append(match.group(1))
    return names


def _owned(image: Image, paths: Iterable[str]) -> tuple[str, ...]:
    found = []
    for path in paths:
        real = image.resolve(path)
        if real in image.files:
            found.append(real)
    return tuple(sorted(set(found)))


def os_packages(image: Image) -> list[OsPackage]:
    """The dpkg and apk packages installed in the image, with the files they own."""
    found: list[OsPackage] = []
    status_texts = [t for p, t in sorted(image.texts.items())
                    if p == "/var/lib/dpkg/status" or p.startswith("/var/lib/dpkg/status.d/")]
    for text in status_texts:
        for par in _paragraphs(text):
            name = par.get("Package", "")
            if not name or (par.get("Status") and not par["Status"].endswith(" installed")):
                continue
            arch = par.get("Architecture", "")
            listing = (image.texts.get(f"/var/lib/dpkg/info/{name}:{arch}.list")
                       or image.texts.get(f"/var/lib/dpkg/info/{name}.list") or "")
            depends = _dpkg_depends(par.get("Depends", "") + "," + par.get("Pre-Depends", ""))
            size_kib = par.get("Installed-Size", "0").strip()
            found.append(OsPackage(name, par.get("Version", ""), "dpkg",
                                   _owned(image, listing.splitlines()), tuple(depends),
                                   par.get("Essential", "").lower() == "yes",
                                   int(size_kib) * 1024 if size_kib.isdigit() else 0))
    apk = image.texts.get("/lib/apk/db/installed")
    if apk:
        found.extend(replace(p, files=_owned(image, p.files)) for p in _apk_records(apk))
    return found


def _apk_records(text: str) -> Iterator[OsPackage]:
    for block in re.split(r"\n[ \t]*\n", text):
        name = version = ""
        size = 0
        directory = ""
        paths: list[str] = []
        depends: list[str] = []
        for line in block.splitlines():
            key, _, value = line.partition(":")
            if key == "P":
                name = value
            elif key == "V":
                version = value
            elif key == "I" and value.isdigit():
                size = int(value)
            elif key == "F":
                directory = value
            elif key == "R":
                paths.append("/" + posixpath.join(directory, value))
            elif key == "D":
                depends += [re.split(r"[<>=~]", d)[0] for d in value.split()
                            if not d.startswith(("so:", "cmd:", "pc:", "!"))]
        if name:
            yield OsPackage(name, version, "apk", tuple(paths), tuple(depends), False, size)


def python_distributions(image: Image) -> list[Distribution]:
    """The Python distributions of the image, from every ``*.dist-info/RECORD``."""
    dists: list[Distribution] = []
    for path, text in sorted(image.texts.items()):
        if not path.endswith(".dist-info/RECORD"):
            continue
        info_dir = posixpath.dirname(path)
        root = posixpath.dirname(info_dir)
        meta = next(_paragraphs(image.texts.get(info_dir + "/METADATA", "")), {})
        dir_name, _, dir_version = posixpath.basename(info_dir)[:-len(".dist-info")].partition("-")
        requires = re.findall(r"^Requires-Dist:\s*(.+)$",
                              image.texts.get(info_dir + "/METADATA", ""), re.M)
        files = []
        for rel, size in parse_record(text):
            if size is None:
                entry = image.files.get(image.resolve(posixpath.join(root, rel)))
                size = entry[0] if entry else 0
            files.append((rel, size))
        dists.append(make_distribution(meta.get("Name", dir_name), meta.get("Version", dir_version),
                                       root, requires, files))
    return dists


def _path_mapper(image: Image, root: str | None) -> Any:
    real_root = os.path.realpath(root) if root else None

    def path_of(raw: str) -> str | None:
        if real_root is None:
            return image.resolve(posixpath.normpath(raw))
        real = os.path.realpath(raw)
        if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
            return None
        return image.resolve("/" + os.path.relpath(real, real_root).replace(os.sep, "/"))

    return path_of


def _os_rows(packages: list[OsPackage], used_paths: set[str]
             ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    graph = dependency_graph({p.name: list(p.requires) for p in packages})
    used = {p.name for p in packages if any(f in used_paths for f in p.files)}
    statuses = classify(graph, used, keep=[p.name for p in packages if p.essential])
    reverse = required_by(graph)
    rows = []
    for p in packages:
        rows.append({"name": p.name, "version": p.version, "manager": p.manager,
                     "size_bytes": 0, "installed_size_bytes": p.installed_size_bytes,
                     "status": statuses[p.name], "files": len(p.files),
                     "used_files": sum(1 for f in p.files if f in used_paths),
                     "essential": p.essential, "requires": sorted(graph[p.name]),
                     "required_by": sorted(reverse.get(p.name, ()))})
    return rows, statuses


def audit_image(image: Image, trace: Trace, *, root: str | None = None,
                costs: CostFactors | None = None, top_files: int = TOP_FILES) -> dict[str, Any]:
    """The audit document of an image.

    Args:
        image: the image read by :func:`~wattprint.audit.image.read_image`.
        trace: what the workload imported and opened.
        root: host directory of an unpacked copy the workload ran against, or
            ``None`` when it ran inside the container (paths taken as they are).
        costs: factors for the provisioning cost, or ``None`` to leave it out.
        top_files: how many unopened files of used packages to list.

    Returns:
        The ``wattprint.audit/1`` document of ``kind`` ``"image"``.
    """
    path_of = _path_mapper(image, root)
    dists = python_distributions(image)
    usage = trace_usage(dists, trace, root_of=image.resolve, path_of=path_of)
    opened = {p for p in (path_of(raw) for raw in trace.opened) if p is not None}
    opened |= {p for p in (path_of(f) for f in trace.modules.values() if f) if p is not None}
    used_paths = {p for p in opened | usage.files if p in image.files}
    rows, unopened = package_rows(dists, usage, platform=image.os or "linux",
                                  root_of=image.resolve)
    dist_status = {r["name"]: r["status"] for r in rows}
    packages = os_packages(image)
    os_rows, os_status = _os_rows(packages, used_paths)

    owner: dict[str, tuple[str, str]] = {}
    for p in packages:
        for f in p.files:
            owner[f] = ("os", os_status[p.name])
    for d in dists:
        for dist_file in d.files:
            real = image.resolve(dist_file.path)
            if real in image.files:
                owner[real] = ("python", dist_status[d.name])
    categories = {c: {"files": 0, "size_bytes": 0, "opened_files": 0, "opened_bytes": 0,
                      "unused_bytes": 0} for c in CATEGORIES}
    os_sizes: dict[str, int] = {}
    for p in packages:
        os_sizes[p.name] = sum(image.files[f][0] for f in p.files)
    unused_total = 0
    for path, (size, _layer) in image.files.items():
        category, status = owner.get(path, ("", ""))
        if not category:
            kind = file_kind(path, platform=image.os or "linux")
            category = kind if kind in ("model", "data") else "other"
            status = USED if path in used_paths else UNUSED
        cell = categories[category]
        cell["files"] += 1
        cell["size_bytes"] += size
        if path in used_paths:
            cell["opened_files"] += 1
            cell["opened_bytes"] += size
        if status == UNUSED:
            cell["unused_bytes"] += size
            unused_total += size
    for row in os_rows:
        row["size_bytes"] = os_sizes[row["name"]]
    os_rows.sort(key=lambda r: ({"unused": 0, "dependency": 1, "used": 2}[r["status"]],
                                -r["size_bytes"], r["name"]))

    layer_rows = []
    for layer in image.layers:
        visible = [p for p, (_s, n) in image.files.items() if n == layer.index]
        opened_here = sorted(p for p in visible if p in used_paths)
        layer_rows.append({
            "index": layer.index, "digest": layer.digest, "created_by": layer.created_by,
            "compressed_bytes": layer.compressed_bytes, "size_bytes": layer.size_bytes,
            "files": len(layer.files), "visible_files": len(visible),
            "deleted": len(layer.deleted) + len(layer.opaque),
            "shadowed_bytes": layer.shadowed_bytes,
            "opened_files": len(opened_here),
            "opened_bytes": sum(image.files[p][0] for p in opened_here),
            "opened": opened_here})

    size = image.size_bytes
    compressed = image.compressed_bytes
    ratio = compressed / size if size else 1.0
    python_totals = package_totals(rows)
    totals = {
        "size_bytes": size,
        "compressed_bytes": compressed,
        "opened_bytes": sum(image.files[p][0] for p in used_paths),
        "unused_bytes": unused_total,
        "bloat_share": unused_total / size if size else 0.0,
        "unused_pull_bytes": unused_total * ratio,
        "shadowed_bytes": sum(layer.shadowed_bytes for layer in image.layers),
        "file_bloat_bytes": python_totals["file_bloat_bytes"],
        "python": python_totals,
        "os": {"packages": len(os_rows),
               "unused_packages": sum(1 for r in os_rows if r["status"] == UNUSED),
               "unused_bytes": sum(r["size_bytes"] for r in os_rows if r["status"] == UNUSED)},
    }
    requirements, removable = lean_set(rows)
    warnings = [SINGLE_RUN_WARNING,
                "native programs the workload runs without Python (sh, git...) are not traced: "
                "an OS package marked unused may still be needed"]
    if not used_paths:
        warnings.insert(0, "no traced file is in the image: run the workload inside the "
                           "container, or against an unpacked copy given with --root")
    doc: dict[str, Any] = {
        "schema": SCHEMA, "kind": "image",
        "image": {"archive": image.archive, "format": image.format, "tags": image.tags,
                  "os": image.os, "architecture": image.architecture,
                  "layers": len(image.layers), "files": len(image.files),
                  "size_bytes": size, "compressed_bytes": compressed, "root": root},
        "layers": layer_rows,
        "categories": categories,
        "os_packages": os_rows,
        "packages": rows,
        "totals": totals,
        "file_bloat": unopened[:top_files],
        "requirements": requirements,
        "removable": removable,
        "removable_os": [r["name"] for r in os_rows if r["status"] == UNUSED],
        "warnings": warnings,
    }
    if costs is not None:
        doc["costs"] = cost_section(compressed, totals["unused_pull_bytes"], costs)
    doc["trace"] = trace.to_dict()
    return doc


__all__ = ["CATEGORIES", "OsPackage", "audit_image", "os_packages", "python_distributions"]
