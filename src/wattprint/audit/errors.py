"""The error an environment or image audit raises on purpose.

:class:`AuditError` is a :class:`~wattprint.errors.WattprintError`, so the
CLI shows its message on one line and exits with code 2. Every message names
the problem and the fix ("... is not a tar archive: give the file written by
`docker save`").
"""

from __future__ import annotations

from wattprint.errors import WattprintError


class AuditError(WattprintError):
    """An audit cannot be made: bad archive, a Python that will not start, no trace..."""


__all__ = ["AuditError"]
