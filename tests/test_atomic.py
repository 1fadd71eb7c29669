"""Atomic writes: a failed write leaves the old file exactly as it was.

A full disk is simulated twice: by an injected ENOSPC (everywhere), and by
a real 64 KiB tmpfs when the tests run as root (mounting needs it).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattprint.atomic import WriteError, write_atomic
from wattprint.errors import WattprintError

PEERS = Path(__file__).parent / "fixtures" / "peers"
OLD = '{"old": "intact"}\n'


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_new_file_is_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temporary left


def test_replacing_keeps_the_old_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640


def test_enospc_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.json"
    target.write_text(OLD)
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(WriteError) as info:
        write_atomic(target, "x" * 100_000)
    assert target.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write {target}: No space left on device")
    assert isinstance(info.value, WattprintError)
    assert isinstance(info.value.__cause__, OSError)


def test_a_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match=r"cannot write .*nodir/out\.json: No such file"):
        write_atomic(tmp_path / "nodir" / "out.json", "x")


def test_an_interrupt_while_writing_leaves_no_temporary(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.json"
    target.write_text(OLD)

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new")
    assert target.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


# ----------------------------------------------------------------- the CLI on a full disk


def _wattprint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.fixture
def cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["WATTPRINT_HOME"] = str(home)
    result = _wattprint("import", "codecarbon", str(PEERS / "codecarbon" / "emissions.csv"),
                        "--tz", "UTC", "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    return env


def test_export_with_injected_enospc_keeps_the_old_file(cli_env: dict[str, str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: the CLI's export, with the disk 'full' at the fsync."""
    import warnings

    with warnings.catch_warnings():  # this click warns about typer's import of it, once
        warnings.simplefilter("ignore", DeprecationWarning)
        from typer.testing import CliRunner

        import wattprint.cli.exchange  # noqa: F401 - importing a command module registers it
        from wattprint.cli.app import app

    target = tmp_path / "export.json"
    target.write_text(OLD)
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", _enospc)
    result = CliRunner().invoke(app, ["export", "-f", "json", "-o", str(target), "--quiet"])
    assert result.exit_code == 2
    assert target.read_text() == OLD
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0]
    monkeypatch.setattr(os, "fsync", real_fsync)  # the disk has room again; the home stays
    ok = CliRunner().invoke(app, ["export", "-f", "json", "-o", str(target), "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(target.read_text())["runs"]


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_export_on_a_full_tmpfs_keeps_the_old_file(cli_env: dict[str, str],
                                                   tiny_tmpfs: Path) -> None:
    """A real full file system: the old export survives and the error is one line."""
    target = tiny_tmpfs / "export.json"
    target.write_text(OLD)
    filler = tiny_tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the rest of the 64 KiB
        while True:
            os.write(fd, b"\0" * 512)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    csv = _wattprint("export", "-f", "csv", "-o", str(target), "--quiet", env=cli_env)
    assert csv.returncode == 2
    assert target.read_text() == OLD
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["export.json", "filler"]
    assert csv.stderr.count("\n") == 1 and "No space left on device" in csv.stderr
    assert "Traceback" not in csv.stderr
    report = _wattprint("report", "last", "-f", "json", "-o", str(target), "--quiet",
                        env=cli_env)
    assert report.returncode == 2 and target.read_text() == OLD
    assert "No space left on device" in report.stderr and "Traceback" not in report.stderr
    filler.unlink()
    again = _wattprint("export", "-f", "json", "-o", str(target), "--quiet", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(target.read_text())["runs"]
