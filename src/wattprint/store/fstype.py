"""Is the store on a network filesystem? SQLite's locking is not safe there.

SQLite's WAL mode needs shared memory between the processes that write one
file, and its locks rely on POSIX advisory locks; on NFS, Lustre,
GPFS/Spectrum Scale, CIFS/SMB and similar filesystems these are missing,
slow or silently broken across machines, which can corrupt the store when
jobs on several nodes write it at once. The filesystem type of the store's
mount point is read from ``/proc/self/mounts`` (the longest mount point that
contains the path), and a store there gets one warning naming the
filesystem and the alternatives.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["NETWORK_FILESYSTEMS", "filesystem_type", "network_filesystem", "warn_if_network"]

#: mount types of network and cluster filesystems, with the name users know them by
NETWORK_FILESYSTEMS = {
    "nfs": "NFS", "nfs4": "NFS", "lustre": "Lustre", "gpfs": "GPFS (IBM Spectrum Scale)",
    "cifs": "CIFS/SMB", "smb3": "CIFS/SMB", "smbfs": "CIFS/SMB", "ceph": "CephFS",
    "fuse.ceph-fuse": "CephFS", "glusterfs": "GlusterFS", "fuse.glusterfs": "GlusterFS",
    "beegfs": "BeeGFS", "fuse.sshfs": "SSHFS", "afs": "AFS", "9p": "9P", "orangefs": "OrangeFS",
    "pvfs2": "OrangeFS", "panfs": "PanFS", "wekafs": "WekaFS", "fuse.s3fs": "s3fs",
}

_warned: set[str] = set()


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def filesystem_type(path: Path, mounts: Path = Path("/proc/self/mounts")) -> str | None:
    """The mount type of the filesystem holding ``path`` (``None`` if unknown).

    Args:
        path: a file or directory (need not exist; its nearest existing parent counts).
        mounts: the mount table, in ``/proc/mounts`` format.
    """
    target = Path(os.path.realpath(path))
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    best, best_type = -1, None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = str(target) == point or str(target).startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, best_type = len(point), fields[2]
    return best_type


def network_filesystem(path: Path, mounts: Path = Path("/proc/self/mounts")) -> str | None:
    """The name of the network filesystem holding ``path``, or ``None`` if it is local."""
    kind = filesystem_type(path, mounts)
    if kind is None:
        return None
    return NETWORK_FILESYSTEMS.get(kind) or NETWORK_FILESYSTEMS.get(kind.split(".")[0])


def warn_if_network(path: Path, mounts: Path = Path("/proc/self/mounts")) -> str | None:
    """Warn once per process when the store at ``path`` is on a network filesystem.

    Returns:
        The filesystem's name, or ``None`` if it is local.
    """
    name = network_filesystem(path, mounts)
    if name is not None and str(path) not in _warned:
        _warned.add(str(path))
        log.warning("the run store %s is on %s, where SQLite's locking is unreliable and "
                    "concurrent jobs can corrupt it; set WATTPRINT_HOME to a node-local "
                    "directory (e.g. /tmp or $TMPDIR), or use a server store (PostgreSQL "
                    "support is planned)", path, name)
    return name
