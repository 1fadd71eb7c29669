"""Atomic file writes: a file is either its old self or entirely new, never half-written.

Writing a file in place (``open(path, "w")``) truncates it first, so a full
disk, a killed process or a power cut in the middle leaves a truncated file
where a good one used to be. Every file wattprint writes (reports, exports,
plots, caches) goes through :func:`write_atomic` instead: the bytes go to a
temporary file in the same directory (so the rename never crosses a file
system), are flushed and ``fsync``-ed, and the temporary file is then renamed
over the target with :func:`os.replace`, which POSIX and Windows make atomic.
On any failure the temporary file is removed and the old file is untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from wattprint.errors import WriteError


def write_atomic(path: Path | str, data: str | bytes, *, encoding: str = "utf-8",
                 mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically.

    Args:
        path: the file to write; its directory must exist.
        data: text (encoded with ``encoding``) or bytes.
        encoding: encoding of text data.
        mode: permission bits of the new file (default: those of the file it
            replaces, else 0o666 less the umask, as ``open`` would).

    Raises:
        WriteError: the file could not be written (disk full, no permission,
            no such directory); the message names the file and the reason in
            one line, and the old file is unchanged.
    """
    target = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else _mode_for(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write {target}: {exc.strerror or exc} (nothing was "
                             "changed); free some space or choose another path") from exc
        raise
    _sync_dir(target.parent)


def _mode_for(target: Path) -> int:
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # reading the umask with os.umask() changes it for a moment in every thread;
    # Linux shows it in /proc instead
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _sync_dir(directory: Path) -> None:
    # the rename is durable only once the directory entry is on disk; best effort
    # (some file systems and platforms cannot open a directory)
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["WriteError", "write_atomic"]
