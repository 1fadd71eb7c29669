"""Environment and image audit: what an ML environment holds that its workload never uses.

The MMLB study of machine-learning containers found them up to 80 % bloat --
packages and files the workload never touches, which slow provisioning and
cost transfer, storage and energy on every pull. This package measures that
bloat the way wattprint measures energy, from what the workload really did:

* :mod:`~wattprint.audit.trace` runs the workload with an import and
  file-open trace (an audit hook in ``sitecustomize``);
* :mod:`~wattprint.audit.distributions` lists the installed distributions of
  the target interpreter with their ``RECORD`` files and sizes;
* :mod:`~wattprint.audit.usage` maps traced modules and files to them, and
  :mod:`~wattprint.audit.closure` adds what the used ones require;
* :mod:`~wattprint.audit.image` reads a ``docker save`` or OCI archive
  (layers, whiteouts, dpkg/apk databases, site-packages) with no daemon;
* :mod:`~wattprint.audit.analysis` and :mod:`~wattprint.audit.imageaudit`
  build the audit document, :mod:`~wattprint.audit.costs` prices the bloat
  per provisioning, and :mod:`~wattprint.audit.report` renders it.

Submodules are imported where used, so ``import wattprint.audit`` is cheap.
"""

from __future__ import annotations

from wattprint.errors import AuditError

__all__ = ["AuditError"]
