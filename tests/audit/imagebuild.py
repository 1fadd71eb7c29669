"""Build image archives (OCI layout and docker save) with known files, for the tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

# a layer: path -> bytes (regular file), or ("symlink", target), or None for a whiteout marker
Layer = dict[str, "bytes | tuple[str, str]"]


def layer_tar(files: Layer) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _config(layers: list[bytes], history: list[str]) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in layers]},
        "history": [{"created_by": h} for h in history],
    }).encode()


def oci_archive(path: Path, layers: list[Layer], *, gzip_layers: bool = True,
                tag: str = "example:1", corrupt_layer: int | None = None) -> list[bytes]:
    """Write an OCI image layout tar; return the layer blobs as stored."""
    tars = [layer_tar(files) for files in layers]
    blobs = [gzip.compress(t, mtime=0) if gzip_layers else t for t in tars]
    config = _config(tars, [f"RUN step {n}" for n in range(len(tars))])
    media = ("application/vnd.oci.image.layer.v1.tar+gzip" if gzip_layers
             else "application/vnd.oci.image.layer.v1.tar")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": media, "digest": _digest(b), "size": len(b)} for b in blobs],
    }).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _digest(manifest),
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    ).encode()
    stored = list(blobs)
    if corrupt_layer is not None:
        bad = bytearray(stored[corrupt_layer])
        bad[len(bad) // 2] ^= 0xFF
        stored[corrupt_layer] = bytes(bad)
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", index)
        for data in (config, manifest):
            _add(tar, "blobs/sha256/" + _digest(data).split(":")[1], data)
        for blob, data in zip(blobs, stored, strict=True):
            _add(tar, "blobs/sha256/" + _digest(blob).split(":")[1], data)
    return stored


def docker_archive(path: Path, layers: list[Layer], *, tag: str = "example:1") -> list[bytes]:
    """Write a classic `docker save` archive (uncompressed <id>/layer.tar); return the layers."""
    tars = [layer_tar(files) for files in layers]
    config = _config(tars, [f"RUN step {n}" for n in range(len(tars))])
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    names = [f"{hashlib.sha256(t).hexdigest()[:20]}/layer.tar" for t in tars]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).encode()
    with tarfile.open(path, "w") as tar:
        _add(tar, "manifest.json", manifest)
        _add(tar, config_name, config)
        for name, data in zip(names, tars, strict=True):
            _add(tar, name, data)
    return tars
