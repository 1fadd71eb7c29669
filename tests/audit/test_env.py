"""End-to-end: `wattprint audit env` on a virtual environment built here from the package index.

The environment holds one package the workload uses (six) and two it never
touches (iniconfig, toml). Expected sizes are summed here from each package's
own RECORD file, independently of wattprint.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from .clirun import wattprint

USED, UNUSED = ("six", "1.17.0"), (("iniconfig", "2.0.0"), ("toml", "0.10.2"))


@pytest.fixture(scope="module")
def env_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=False).create(root)   # no pip/setuptools: only what we install
    python = root / "bin" / "python"
    wanted = [f"{n}=={v}" for n, v in (USED, *UNUSED)]
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--quiet", "--disable-pip-version-check", "--no-input", *wanted],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"cannot install {', '.join(wanted)} from the package index: {last}")
    return python


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def record_size(python: Path, name: str, version: str) -> int:
    """Sum of the sizes RECORD lists; a row with no size (RECORD itself) counted from disk."""
    site = site_packages(python)
    total = 0
    with open(site / f"{name}-{version}.dist-info" / "RECORD", newline="") as handle:
        for path, _hash, size in csv.reader(handle):
            total += int(size) if size else os.path.getsize(site / path)
    return total


def audit(python: Path, tmp_path: Path, *cmd: str, extra: tuple[str, ...] = ()
          ) -> dict:
    r = wattprint("audit", "env", "--python", str(python), "--json", "--region", "FR", *extra,
                  "--", *cmd, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_finds_exactly_the_two_unused_with_their_record_sizes(env_python: Path,
                                                              tmp_path: Path) -> None:
    req = tmp_path / "used.txt"
    doc = audit(env_python, tmp_path, str(env_python), "-c", "import six",
                extra=("--write-requirements", str(req)))
    by_name = {p["name"]: p for p in doc["packages"]}
    assert set(by_name) == {"six", "iniconfig", "toml"}
    unused = {p["name"] for p in doc["packages"] if p["status"] == "unused"}
    assert unused == {"iniconfig", "toml"}
    assert by_name["six"]["status"] == "used"
    for name, version in (USED, *UNUSED):
        assert by_name[name]["size_bytes"] == record_size(env_python, name, version)
        assert by_name[name]["version"] == version
    unused_bytes = sum(record_size(env_python, n, v) for n, v in UNUSED)
    total = unused_bytes + record_size(env_python, *USED)
    assert doc["totals"]["size_bytes"] == total
    assert doc["totals"]["unused_bytes"] == unused_bytes
    assert doc["totals"]["bloat_share"] == pytest.approx(unused_bytes / total)
    assert doc["totals"]["unused_packages"] == 2
    assert doc["totals"]["bloat_share_count"] == pytest.approx(2 / 3)
    # largest unused first
    sizes = [p["size_bytes"] for p in doc["packages"] if p["status"] == "unused"]
    assert sizes == sorted(sizes, reverse=True)
    assert doc["packages"][0]["status"] == "unused"
    assert sorted(doc["removable"]) == ["iniconfig", "toml"]
    assert req.read_text().splitlines()[1:] == ["six==1.17.0"]
    assert any("one run shows only" in w for w in doc["warnings"])
    assert doc["costs"]["saved_per_provisioning"]["size_bytes"] == unused_bytes


def test_lazy_import_in_a_subprocess_is_traced(env_python: Path, tmp_path: Path) -> None:
    script = tmp_path / "workload.py"
    script.write_text(textwrap.dedent("""
        import subprocess, sys
        child = "def load():\\n    import toml\\n    return toml\\nload()"
        subprocess.run([sys.executable, "-c", child], check=True)
    """))
    doc = audit(env_python, tmp_path, str(env_python), str(script))
    status = {p["name"]: p["status"] for p in doc["packages"]}
    assert status == {"toml": "used", "six": "unused", "iniconfig": "unused"}
    assert doc["trace"]["processes"] == 2
    assert "toml" in doc["trace"]["modules"]


def test_append_merges_the_traces_of_several_commands(env_python: Path, tmp_path: Path) -> None:
    state = tmp_path / "trace.json"
    py = str(env_python)
    audit(env_python, tmp_path, py, "-c", "import six", extra=("--append", "--state", str(state)))
    doc = audit(env_python, tmp_path, py, "-c", "import iniconfig",
                extra=("--append", "--state", str(state)))
    status = {p["name"]: p["status"] for p in doc["packages"]}
    assert status == {"six": "used", "iniconfig": "used", "toml": "unused"}
    assert [c[-1] for c in doc["trace"]["commands"]] == ["import six", "import iniconfig"]
    # no command: the stored trace alone
    alone = audit(env_python, tmp_path, extra=("--append", "--state", str(state)))
    assert {p["name"]: p["status"] for p in alone["packages"]} == status


def test_html_and_markdown_reports(env_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.html"
    r = wattprint("audit", "env", "--python", str(env_python), "-o", str(out), "--",
                  str(env_python), "-c", "import six", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert ("<svg" in html) or ('class="bar-row"' in html)
    assert 'id="wattprint-data"' in html and "iniconfig" in html
    md = wattprint("audit", "env", "--python", str(env_python), "--format", "md", "--",
                   str(env_python), "-c", "import six", tmp_path=tmp_path)
    assert md.returncode == 0, md.stderr
    assert "| toml | 0.10.2 | unused |" in md.stdout


def test_a_python_that_cannot_start(tmp_path: Path) -> None:
    not_python = tmp_path / "python"
    not_python.write_text("#!/bin/sh\nexit 7\n")
    not_python.chmod(0o755)
    for python, words in ((tmp_path / "missing" / "python", "not found"),
                          (not_python, "failed (exit 7")):
        r = wattprint("audit", "env", "--python", str(python), "--", "true", tmp_path=tmp_path)
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        assert words in r.stderr and "--python" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_no_command_given(tmp_path: Path) -> None:
    for sub in (("env",), ("image", str(tmp_path / "x.tar"))):
        r = wattprint("audit", *sub, tmp_path=tmp_path)
        assert r.returncode == 2
        assert "no command given" in r.stderr and "Traceback" not in r.stderr
