"""Reading a container image from a ``docker save`` or OCI layout archive, with no daemon.

An image is a stack of **layers**, each a tar archive of the files it adds
or changes, plus a JSON **config** (platform, the command that made each
layer) and a **manifest** listing the layers in order. Two archive formats
carry them, both plain tar files:

* ``docker save`` (classic): ``manifest.json`` = ``[{"Config": "<id>.json",
  "RepoTags": [...], "Layers": ["<id>/layer.tar", ...]}]``; Docker 25 and
  later write the layers as ``blobs/sha256/<digest>`` and add an OCI index;
* OCI image layout: ``oci-layout``, ``index.json`` (descriptors of manifests,
  or of further indexes for multi-platform images), and every JSON document
  and layer as a content-addressed ``blobs/<alg>/<hex>``. Layers are ``tar``,
  ``tar+gzip`` (or ``tar+zstd``, which Python cannot read).

Files are merged bottom-up into the image's final file system. A later
layer deletes a lower file with a **whiteout** entry ``.wh.<name>`` next to
it, and hides a whole lower directory with an **opaque whiteout**
``.wh..wh..opq`` inside it. A deleted or overwritten file still costs its
bytes in the lower layer: every pull transfers it (``shadowed_bytes``).

Each layer blob is hashed while it is read and checked against its digest
(the blob's name for OCI blobs, the config's ``rootfs.diff_ids`` for classic
uncompressed layers), so a truncated or altered layer is reported as
corrupted rather than silently mis-counted. Only tar, gzip, json and hashlib
from the standard library are used.
"""

from __future__ import annotations

import hashlib
import json
import platform as _platform
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from wattprint.errors import AuditError

_FIX = ("give the file written by `docker save IMAGE -o FILE`, or a tar of an OCI image "
        "layout (`skopeo copy docker://IMAGE oci-archive:FILE`)")
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x"}

#: final-file-system paths whose contents the audit reads (package databases, RECORDs)
_WANTED = re.compile(
    r"^/(var/lib/dpkg/status|var/lib/dpkg/status\.d/[^/]+|var/lib/dpkg/info/[^/]+\.list"
    r"|lib/apk/db/installed|.+\.dist-info/(RECORD|METADATA))$")
_MAX_TEXT_BYTES = 64_000_000


@dataclass
class Layer:
    """One layer of an image.

    Attributes:
        index: position from the bottom, 0-based.
        digest: the blob's digest (``sha256:...``) or the classic layer path.
        created_by: the build step that made it, from the config history.
        compressed_bytes: bytes of the blob in the archive (what a pull transfers).
        size_bytes: bytes of the regular files it holds (uncompressed).
        files: path -> size of its regular files.
        deleted: paths it deletes from lower layers (whiteouts).
        opaque: directories whose lower contents it hides.
        shadowed_bytes: bytes of its files that later layers delete or overwrite.
    """

    index: int
    digest: str
    created_by: str = ""
    compressed_bytes: int = 0
    size_bytes: int = 0
    files: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    shadowed_bytes: int = 0


@dataclass
class Image:
    """An image read from an archive.

    Attributes:
        archive: the archive's path.
        format: ``"oci"`` or ``"docker"``.
        tags: its names (``RepoTags`` or OCI ref annotations).
        os: the config's ``os``.
        architecture: the config's ``architecture``.
        layers: bottom to top.
        files: the final file system: path -> (size, index of the layer it comes from).
        symlinks: the final file system's symbolic links: path -> target.
        texts: contents of the package databases and ``RECORD``/``METADATA`` files.
    """

    archive: str
    format: str
    tags: list[str]
    os: str
    architecture: str
    layers: list[Layer]
    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        """Bytes of the final file system's regular files."""
        return sum(size for size, _ in self.files.values())

    @property
    def compressed_bytes(self) -> int:
        """Bytes of all layer blobs: what pulling the image transfers."""
        return sum(layer.compressed_bytes for layer in self.layers)

    def resolve(self, path: str) -> str:
        """``path`` with every symbolic link of the image followed (like ``realpath``)."""
        parts = [p for p in path.split("/") if p]
        done = "/"
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                done = posixpath.dirname(done.rstrip("/")) or "/"
                continue
            if part == ".":
                continue
            candidate = posixpath.join(done, part)
            target = self.symlinks.get(candidate)
            if target is not None and hops < 40:
                hops += 1
                parts = [p for p in target.split("/") if p] + parts
                done = "/" if target.startswith("/") else done
                continue
            done = candidate
        return done


def _norm(name: str) -> str:
    return posixpath.normpath("/" + name.lstrip("/"))


class _HashingReader:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.head = b""

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if len(self.head) < 4:
            self.head += data[:4]
        self.sha256.update(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class _Archive:
    """The outer tar archive, its members by normalised name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by read_image)
        except FileNotFoundError as exc:
            raise AuditError(f"{path}: no such file; {_FIX}") from exc
        except IsADirectoryError as exc:
            raise AuditError(f"{path} is a directory, not an image archive; {_FIX}") from exc
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise AuditError(f"{path} is not a tar archive ({_why(exc)}); {_FIX}") from exc
        try:
            self.members = {_norm(m.name).lstrip("/"): m for m in self.tar.getmembers()}
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise AuditError(f"{path} is a truncated or corrupted tar archive ({_why(exc)}); "
                             f"{_FIX}") from exc

    def has(self, name: str) -> bool:
        return name in self.members

    def open(self, name: str) -> IO[bytes]:
        member = self.members.get(name)
        handle = self.tar.extractfile(member) if member is not None else None
        if handle is None:
            raise AuditError(f"{self.path} lacks {name}, which its manifest names: the archive "
                             f"is incomplete; {_FIX}")
        return handle

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.open(name).read())
        except (ValueError, tarfile.TarError, OSError, EOFError) as exc:
            raise AuditError(f"{name} in {self.path} is not valid JSON ({_why(exc)}); the "
                             f"archive is corrupted; {_FIX}") from exc

    def size(self, name: str) -> int:
        return int(self.members[name].size) if name in self.members else 0


def _why(exc: BaseException) -> str:
    """An exception as one short line (tarfile's messages span several)."""
    lines = [line.strip(" -:") for line in str(exc).splitlines() if line.strip(" -:")]
    return "; ".join(lines[:1] + lines[1:3]) or type(exc).__name__


def _blob(digest: str) -> str:
    alg, _, hexa = digest.partition(":")
    return f"blobs/{alg}/{hexa}"


def _pick_manifest(archive: _Archive, descriptors: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest for this machine's platform (else the first), following nested indexes."""
    if not descriptors:
        raise AuditError(f"{archive.path}: index.json lists no manifest; {_FIX}")
    arch = _ARCH.get(_platform.machine(), _platform.machine())

    def fits(d: dict[str, Any]) -> bool:
        p = d.get("platform") or {}
        return bool(p.get("architecture") == arch and p.get("os", "linux") == "linux")

    chosen = next((d for d in descriptors if fits(d)), descriptors[0])
    if chosen.get("mediaType") in _INDEX_TYPES:
        nested = archive.json(_blob(chosen["digest"]))
        return _pick_manifest(archive, list(nested.get("manifests", [])))
    return chosen


def _layout(archive: _Archive) -> tuple[str, list[str], dict[str, Any], list[tuple[str, str, str]]]:
    """``(format, tags, config, [(member, digest, media type)])`` of the archive."""
    if archive.has("index.json"):
        index = archive.json("index.json")
        descriptor = _pick_manifest(archive, list(index.get("manifests", [])))
        manifest = archive.json(_blob(descriptor["digest"]))
        config = archive.json(_blob(manifest["config"]["digest"]))
        notes = descriptor.get("annotations") or {}
        tags = [t for t in (notes.get("io.containerd.image.name"),
                            notes.get("org.opencontainers.image.ref.name")) if t]
        layers = [(_blob(d["digest"]), d["digest"], str(d.get("mediaType", "")))
                  for d in manifest.get("layers", [])]
        return "oci", tags, config, layers
    if archive.has("manifest.json"):
        manifest = archive.json("manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise AuditError(f"{archive.path}: manifest.json lists no image; {_FIX}")
        entry = manifest[0]
        config = archive.json(_norm(entry["Config"]).lstrip("/"))
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        layers = []
        for n, name in enumerate(entry.get("Layers", [])):
            member = _norm(name).lstrip("/")
            match = re.match(r"^blobs/(\w+)/([0-9a-f]+)$", member)
            digest = (f"{match.group(1)}:{match.group(2)}" if match
                      else (diff_ids[n] if n < len(diff_ids) else member))
            layers.append((member, digest, ""))
        return "docker", list(entry.get("RepoTags") or []), config, layers
    raise AuditError(f"{archive.path} is a tar archive but not an image: it has neither "
                     f"manifest.json (docker save) nor index.json (OCI layout); {_FIX}")


def _read_layer(archive: _Archive, layer: Layer, member: str, media_type: str,
                keep: Callable[[str], bool], texts: dict[str, str],
                symlinks: dict[str, str | None]) -> None:
    where = f"layer {layer.index + 1} ({layer.digest}) of {archive.path}"
    if "zstd" in media_type:
        raise AuditError(f"{where} is compressed with zstd, which Python's tarfile cannot "
                         "read; export the image with gzip layers (docker save) instead")
    reader = _HashingReader(archive.open(member))
    layer.compressed_bytes = archive.size(member)
    try:
        with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
            for info in tar:
                path = _norm(info.name)
                head, base = posixpath.split(path)
                if base == ".wh..wh..opq":
                    layer.opaque.append(head)
                elif base.startswith(".wh."):
                    layer.deleted.append(posixpath.join(head, base[4:]))
                elif info.isreg():
                    layer.files[path] = int(info.size)
                    layer.size_bytes += int(info.size)
                    if keep(path) and info.size <= _MAX_TEXT_BYTES:
                        handle = tar.extractfile(info)
                        if handle is not None:
                            texts[path] = handle.read().decode("utf-8", "replace")
                elif info.issym():
                    symlinks[path] = info.linkname
                elif info.islnk():
                    layer.files[path] = 0  # a hard link shares the bytes of its target
        reader.drain()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise AuditError(f"{where} is corrupted ({_why(exc)}); export the image again") from exc
    algorithm, _, expected = layer.digest.partition(":")
    got = reader.sha256.hexdigest()
    if algorithm == "sha256" and expected and got != expected:
        compressed = reader.head[:2] == b"\x1f\x8b"
        if not (archive_is_classic(member) and compressed):
            raise AuditError(f"{where} is corrupted: its SHA-256 is {got[:12]}..., not "
                             f"{expected[:12]}... as the image says; export the image again")


def archive_is_classic(member: str) -> bool:
    """Whether a layer member is a classic ``<id>/layer.tar`` (its digest is of the tar)."""
    return member.endswith("/layer.tar")


def _apply(files: dict[str, tuple[int, int]], layers: list[Layer], layer: Layer) -> None:
    def hide(prefix: str, inside_only: bool) -> None:
        under = prefix.rstrip("/") + "/"
        for path in [p for p in files if p.startswith(under) or (not inside_only and p == prefix)]:
            size, owner = files.pop(path)
            layers[owner].shadowed_bytes += size

    for directory in layer.opaque:
        hide(directory, inside_only=True)
    for path in layer.deleted:
        hide(path, inside_only=False)
    for path, size in layer.files.items():
        old = files.get(path)
        if old is not None:
            layers[old[1]].shadowed_bytes += old[0]
        files[path] = (size, layer.index)


def read_image(path: Path) -> Image:
    """Read an image archive: layers, final file system, package databases.

    Args:
        path: a ``docker save`` archive or a tar of an OCI image layout
            (optionally gzip-compressed).

    Returns:
        The image.

    Raises:
        AuditError: not a tar archive, not an image, a missing or corrupted
            layer, or a layer compression Python cannot read.
    """
    archive = _Archive(path)
    with archive.tar:
        fmt, tags, config, blobs = _layout(archive)
        history = [h for h in config.get("history", []) if not h.get("empty_layer")]
        layers: list[Layer] = []
        files: dict[str, tuple[int, int]] = {}
        symlinks: dict[str, str] = {}
        texts: dict[str, str] = {}
        for n, (member, digest, media_type) in enumerate(blobs):
            created = str(history[n].get("created_by", "")) if n < len(history) else ""
            layer = Layer(n, digest, created)
            layer_texts: dict[str, str] = {}
            layer_links: dict[str, str | None] = {}
            _read_layer(archive, layer, member, media_type, lambda p: bool(_WANTED.match(p)),
                        layer_texts, layer_links)
            for deleted in layer.deleted + layer.opaque:
                for store in (texts, symlinks):
                    for key in [k for k in store if k == deleted or
                                k.startswith(deleted.rstrip("/") + "/")]:
                        del store[key]
            _apply(files, [*layers, layer], layer)
            layers.append(layer)
            texts.update(layer_texts)
            for link, target in layer_links.items():
                if target is not None:
                    symlinks[link] = target
                    files.pop(link, None)
            for regular in layer.files:
                symlinks.pop(regular, None)
    return Image(str(path), fmt, tags, str(config.get("os", "")),
                 str(config.get("architecture", "")), layers, files, symlinks, texts)


__all__ = ["Image", "Layer", "archive_is_classic", "read_image"]
