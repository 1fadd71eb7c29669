"""Image archives built here, layer by layer with known files, read back exactly."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from wattprint.audit.image import read_image
from wattprint.audit.imageaudit import audit_image
from wattprint.audit.trace import Trace
from wattprint.errors import AuditError

from .clirun import wattprint
from .imagebuild import docker_archive, layer_tar, oci_archive

DPKG_STATUS = (b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
               b"Version: 2.36-9\nInstalled-Size: 12\n\n"
               b"Package: curl\nStatus: install ok installed\nArchitecture: amd64\n"
               b"Version: 7.88\nInstalled-Size: 3\nDepends: libc6 (>= 2.34), libcurl4 | x\n\n"
               b"Package: tzdata\nStatus: install ok installed\nArchitecture: all\n"
               b"Version: 2024a\nInstalled-Size: 2\n")
RECORD = (b"six.py,sha256=abc,200\n"
          b"six-1.0.dist-info/METADATA,sha256=def,40\n"
          b"six-1.0.dist-info/RECORD,,\n")
METADATA = b"Metadata-Version: 2.1\nName: six\nVersion: 1.0\n".ljust(40, b"\n")

BASE = {
    "usr/bin/python3": b"p" * 1000,
    "lib": ("symlink", "usr/lib"),
    "usr/lib/libc.so.6": b"c" * 500,
    "usr/bin/curl": b"u" * 300,
    "usr/share/zoneinfo/UTC": b"z" * 120,
    "var/lib/dpkg/status": DPKG_STATUS,
    "var/lib/dpkg/info/libc6:amd64.list": b"/.\n/lib\n/lib/libc.so.6\n",
    "var/lib/dpkg/info/curl:amd64.list": b"/usr/bin/curl\n",
    "var/lib/dpkg/info/tzdata.list": b"/usr/share/zoneinfo/UTC\n",
}
SITE = "usr/lib/python3/site-packages"
APP = {
    f"{SITE}/six.py": b"s" * 200,
    f"{SITE}/six-1.0.dist-info/METADATA": METADATA,
    f"{SITE}/six-1.0.dist-info/RECORD": RECORD,
    "models/weights.safetensors": b"w" * 4000,
    "tmp/cache.bin": b"q" * 50,
    "srv/old.txt": b"o" * 30,
}
TOP = {
    "tmp/.wh.cache.bin": b"",
    "srv/.wh..wh..opq": b"",
    "srv/new.txt": b"n" * 7,
    "data/train.csv": b"d" * 70,
}
LAYERS = [BASE, APP, TOP]


def regular_bytes(layer: dict) -> int:
    return sum(len(v) for k, v in layer.items()
               if isinstance(v, bytes) and not k.rsplit("/", 1)[-1].startswith(".wh."))


OPENED = {"/usr/bin/python3", "/lib/libc.so.6", f"/{SITE}/six.py",
          "/models/weights.safetensors"}


def check_layers(path: Path, blobs: list[bytes]) -> None:
    image = read_image(path)
    assert [layer.size_bytes for layer in image.layers] == [regular_bytes(x) for x in LAYERS]
    assert [layer.compressed_bytes for layer in image.layers] == [len(b) for b in blobs]
    assert image.layers[1].shadowed_bytes == 50 + 30      # cache.bin deleted, srv/ made opaque
    assert image.layers[2].deleted == ["/tmp/cache.bin"]
    assert image.layers[2].opaque == ["/srv"]
    assert "/tmp/cache.bin" not in image.files and "/srv/old.txt" not in image.files
    assert image.files["/srv/new.txt"] == (7, 2)
    assert image.resolve("/lib/libc.so.6") == "/usr/lib/libc.so.6"
    visible = sum(regular_bytes(x) for x in LAYERS) - 80
    assert image.size_bytes == visible

    doc = audit_image(image, Trace([["python3", "infer.py"]], {}, set(OPENED), 1))
    marks = [layer["opened"] for layer in doc["layers"]]
    assert marks == [["/usr/bin/python3", "/usr/lib/libc.so.6"],
                     ["/models/weights.safetensors", f"/{SITE}/six.py"], []]
    assert [layer["opened_bytes"] for layer in doc["layers"]] == [1500, 4200, 0]
    os_status = {p["name"]: p["status"] for p in doc["os_packages"]}
    assert os_status == {"libc6": "used", "curl": "unused", "tzdata": "unused"}
    assert {p["name"]: p["size_bytes"] for p in doc["os_packages"]} == {
        "libc6": 500, "curl": 300, "tzdata": 120}
    record_size = 200 + 40 + len(RECORD)
    assert doc["packages"] == [{
        "name": "six", "version": "1.0", "size_bytes": record_size, "status": "used",
        "files": 3, "used_files": 1, "unopened_bytes": 0, "unopened_by_kind": {},
        "requires": [], "required_by": [], "has_record": True, "evidence": [f"/{SITE}/six.py"]}]
    cats = doc["categories"]
    assert cats["model"] == {"files": 1, "size_bytes": 4000, "opened_files": 1,
                             "opened_bytes": 4000, "unused_bytes": 0}
    assert cats["data"]["unused_bytes"] == 70 + 7      # train.csv and srv/new.txt
    # unused: curl 300 + tzdata 120 + data 77 + unowned unopened "other" files (the dpkg
    # database); python3 (1,000) was opened
    other_unused = len(DPKG_STATUS) + 23 + 14 + 24     # status + the three .list files
    assert cats["other"]["unused_bytes"] == other_unused
    assert doc["totals"]["unused_bytes"] == 300 + 120 + 77 + other_unused
    assert doc["totals"]["size_bytes"] == visible
    assert doc["totals"]["bloat_share"] == pytest.approx((497 + other_unused) / visible)
    assert doc["removable_os"] == ["curl", "tzdata"]


def test_oci_archive(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    blobs = oci_archive(path, LAYERS)
    check_layers(path, blobs)
    image = read_image(path)
    assert image.format == "oci" and image.tags == ["example:1"]
    assert image.layers[0].created_by == "RUN step 0"


def test_oci_archive_with_uncompressed_layers(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    check_layers(path, oci_archive(path, LAYERS, gzip_layers=False))


def test_docker_save_archive(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    blobs = docker_archive(path, LAYERS)
    check_layers(path, blobs)
    assert read_image(path).format == "docker"


def test_bad_archives(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an archive\n" * 100)
    with pytest.raises(AuditError, match="is not a tar archive"):
        read_image(text)
    with pytest.raises(AuditError, match="no such file"):
        read_image(tmp_path / "missing.tar")
    plain = tmp_path / "plain.tar"
    plain.write_bytes(layer_tar({"etc/hosts": b"x"}))
    with pytest.raises(AuditError, match="not an image"):
        read_image(plain)
    for gz in (True, False):
        bad = tmp_path / f"bad-{gz}.tar"
        oci_archive(bad, LAYERS, gzip_layers=gz, corrupt_layer=1)
        with pytest.raises(AuditError, match=r"layer 2 \(sha256:[0-9a-f]+\) of .* is corrupted"):
            read_image(bad)


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    bad = tmp_path / "bad.tar"
    oci_archive(bad, LAYERS, corrupt_layer=0)
    for archive, words, fix in ((text, "is not a tar archive", "docker save"),
                                (bad, "layer 1 (sha256:", "export the image again")):
        r = wattprint("audit", "image", str(archive), "--", "true", tmp_path=tmp_path)
        assert r.returncode == 2
        assert words in r.stderr and fix in r.stderr
        assert "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_cli_traces_a_workload_against_an_unpacked_root(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar.gz"
    plain = tmp_path / "image.tar"
    oci_archive(plain, LAYERS)
    archive.write_bytes(gzip.compress(plain.read_bytes()))  # a compressed archive reads too
    root = tmp_path / "rootfs"
    for layer in (BASE, APP):
        for name, content in layer.items():
            if isinstance(content, bytes):
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(content)
    workload = (f"open({str(root / 'models/weights.safetensors')!r}, 'rb').read(); "
                f"open({str(root / 'usr/bin/curl')!r}, 'rb').read()")
    r = wattprint("audit", "image", str(archive), "--root", str(root), "--json",
                  "--region", "DE", "--", sys.executable, "-c", workload, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["layers"][0]["opened"] == ["/usr/bin/curl"]
    assert doc["layers"][1]["opened"] == ["/models/weights.safetensors"]
    status = {p["name"]: p["status"] for p in doc["os_packages"]}
    assert status == {"curl": "used", "libc6": "dependency", "tzdata": "unused"}
    saved = doc["costs"]["saved_per_provisioning"]["size_bytes"]
    totals = doc["totals"]
    assert saved == pytest.approx(totals["unused_bytes"] * totals["compressed_bytes"]
                                  / totals["size_bytes"])
