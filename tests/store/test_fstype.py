"""A store on a network filesystem gets one warning naming it and the alternatives."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from wattprint.store import fstype

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export/home /home nfs4 rw,vers=4.2 0 0
10.0.0.1@tcp:/scratch /scratch lustre rw 0 0
gpfs0 /gpfs gpfs rw 0 0
//nas/share /mnt/my\\040share cifs rw 0 0
tmpfs /home/alice/local tmpfs rw 0 0
"""


@pytest.mark.parametrize(("path", "expected"), [
    ("/home/alice/.local/share/wattprint/wattprint.db", "NFS"),
    ("/scratch/u/wattprint.db", "Lustre"),
    ("/gpfs/projects/x/wattprint.db", "GPFS (IBM Spectrum Scale)"),
    ("/mnt/my share/wattprint.db", "CIFS/SMB"),
    ("/home/alice/local/wattprint.db", None),  # a local mount inside the NFS home
    ("/var/tmp/wattprint.db", None),
    ("/homework/wattprint.db", None),  # a prefix of /home is not inside it
])
def test_network_filesystem_from_the_mount_table(tmp_path: Path, path: str,
                                                 expected: str | None) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert fstype.network_filesystem(Path(path), mounts) == expected


def test_one_warning_per_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    db = Path("/scratch/u/unique-for-this-test.db")
    with caplog.at_level(logging.WARNING, logger="wattprint.store.fstype"):
        assert fstype.warn_if_network(db, mounts) == "Lustre"
        assert fstype.warn_if_network(db, mounts) == "Lustre"
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "is on Lustre" in message and "node-local" in message and "PostgreSQL" in message
