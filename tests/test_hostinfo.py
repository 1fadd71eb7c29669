from __future__ import annotations

import subprocess
from pathlib import Path

import numpy

from wattprint import hostinfo


def test_package_versions_match_the_installed_ones() -> None:
    versions = hostinfo.package_versions(("numpy", "definitely-not-installed-pkg"))
    assert versions == {"numpy": numpy.__version__}


def test_head_commit_is_read_from_the_repository_files(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "f.txt").write_text("x")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    expected = git("rev-parse", "HEAD")
    (tmp_path / "sub").mkdir()
    assert hostinfo.head_commit(tmp_path / "sub") == expected
    git("pack-refs", "--all")  # the branch now lives in packed-refs only
    assert hostinfo.head_commit(tmp_path) == expected
    assert hostinfo.git_commit(tmp_path, check_dirty=True) == {"commit": expected,
                                                               "dirty": False}


def test_not_a_repository(tmp_path: Path) -> None:
    assert hostinfo.head_commit(tmp_path) is None


def test_physical_cores_from_cpuinfo(tmp_path: Path) -> None:
    blocks = []
    for cpu, (package, core) in enumerate([(0, 0), (0, 0), (0, 1), (0, 1), (1, 0), (1, 0)]):
        blocks.append(f"processor\t: {cpu}\nphysical id\t: {package}\ncore id\t\t: {core}\n")
    (tmp_path / "cpuinfo").write_text("\n".join(blocks))
    assert hostinfo.physical_cores(tmp_path) == 3
