"""Bounded per-process series: the top N process groups, ``kernel`` and ``other``.

Prometheus keeps every label set it has ever seen for hours, so a label that
changes with each short-lived process (its pid) makes a new series per
process: on a busy machine hundreds per metric every few minutes. The node
agent therefore exports energy per *process group*, never per process:

* a group is the processes sharing a name (the kernel's ``comm``) and a
  container id -- a stable label set; with ``pid_label`` the pid joins the
  key, for machines that run few long processes and want them apart;
* at most ``top`` groups hold a series of their own. A group gets a free
  slot at the end of a listing in which it was charged the most energy of
  the groups without one; its counter starts at zero then (what it was
  charged before stays in ``other``). A slot is freed when its group has
  been charged nothing for ``idle_s`` seconds; its energy then moves to
  ``other``, so the sum stays whole (``increase(other)`` over a window
  holding that moment includes it);
* kernel threads are one series, ``kernel``;
* everything else is ``other``.

So every scrape shows at most ``top + 2`` label sets, and the groups' series,
``kernel`` and ``other`` add up to all the energy charged to processes since
the agent started, exactly (:meth:`ProcessSeries.charged`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["GroupKey", "JobSeries", "ProcessSeries"]


class GroupKey(NamedTuple):
    """What one exported process series stands for."""

    name: str  # the kernel's comm
    container_id: str  # "" outside containers
    pid: int | None  # only when pids are labels


@dataclass
class _Bucket:
    energy_j: float = 0.0
    co2e_g: float = 0.0
    last_charged: float = 0.0

    def add(self, energy_j: float, co2e_g: float) -> None:
        self.energy_j += energy_j
        self.co2e_g += co2e_g


class ProcessSeries:
    """Energy charged to processes, kept in at most ``top + 2`` series.

    Args:
        top: most process groups with a series of their own.
        idle_s: a group charged nothing for this long loses its series.
    """

    def __init__(self, top: int, idle_s: float) -> None:
        if top < 0:
            raise ValueError(f"top must be 0 or more, not {top}")
        self.top = top
        self.idle_s = idle_s
        self._slots: dict[GroupKey, _Bucket] = {}
        self._window: dict[GroupKey, float] = {}
        self.kernel = _Bucket()
        self.other = _Bucket()
        self.charged_j = 0.0
        self.charged_g = 0.0

    def charge(self, key: GroupKey | None, energy_j: float, co2e_g: float, now: float) -> None:
        """Add energy charged to one process (``key`` ``None``: a kernel thread)."""
        self.charged_j += energy_j
        self.charged_g += co2e_g
        if key is None:
            self.kernel.add(energy_j, co2e_g)
            return
        slot = self._slots.get(key)
        if slot is not None:
            slot.add(energy_j, co2e_g)
            if energy_j > 0:
                slot.last_charged = now
            return
        self.other.add(energy_j, co2e_g)
        if energy_j > 0:
            self._window[key] = self._window.get(key, 0.0) + energy_j

    def end_listing(self, now: float) -> None:
        """Free the slots of idle groups, then give free slots to this listing's largest."""
        for key in [k for k, s in self._slots.items() if now - s.last_charged > self.idle_s]:
            gone = self._slots.pop(key)
            self.other.add(gone.energy_j, gone.co2e_g)
        ranked = sorted(self._window.items(), key=lambda kv: (-kv[1], kv[0].name,
                                                             kv[0].container_id,
                                                             kv[0].pid or 0))
        for key, _ in ranked[:max(0, self.top - len(self._slots))]:
            self._slots[key] = _Bucket(last_charged=now)
        self._window = {}

    def charged(self) -> tuple[float, float]:
        """All energy (J) and carbon (g) charged to processes since the start."""
        return self.charged_j, self.charged_g

    def snapshot(self) -> list[dict[str, Any]]:
        """The series, groups most energy first, then ``kernel`` and ``other``.

        Each has ``series`` (``process``, ``kernel`` or ``other``), ``name``,
        ``container_id``, ``pid`` (``None`` unless pids are labels),
        ``energy_j`` and ``co2e_g``.
        """
        groups = sorted(self._slots.items(), key=lambda kv: (-kv[1].energy_j, kv[0].name,
                                                            kv[0].container_id,
                                                            kv[0].pid or 0))
        out = [{"series": "process", "name": k.name, "container_id": k.container_id,
                "pid": k.pid, "energy_j": b.energy_j, "co2e_g": b.co2e_g} for k, b in groups]
        for series, bucket in (("kernel", self.kernel), ("other", self.other)):
            out.append({"series": series, "name": series, "container_id": "", "pid": None,
                        "energy_j": bucket.energy_j, "co2e_g": bucket.co2e_g})
        return out


class JobSeries(ProcessSeries):
    """Energy charged to the processes of distributed jobs, in at most ``top + 1`` series.

    The same bounds as the process series, keyed by job id: at most ``top``
    jobs hold a series of their own (a job gets a free slot at the end of a
    listing in which it was charged the most of the jobs without one; a job
    charged nothing for ``idle_s`` gives its slot back and its energy moves to
    ``other``), and ``other`` holds the rest. Processes of no job are not
    counted here (they are in the process series).
    """

    def charge_job(self, job_id: str, energy_j: float, co2e_g: float, now: float) -> None:
        """Add energy charged to one process of a job."""
        self.charge(GroupKey(job_id, "", None), energy_j, co2e_g, now)

    def snapshot(self) -> list[dict[str, Any]]:
        """The series, jobs most energy first, then ``other``.

        Each has ``series`` (``job`` or ``other``), ``job_id`` (``""`` for
        ``other``), ``energy_j`` and ``co2e_g``.
        """
        out = []
        for doc in super().snapshot():
            if doc["series"] == "kernel":
                continue
            out.append({"series": "job" if doc["series"] == "process" else "other",
                        "job_id": doc["name"] if doc["series"] == "process" else "",
                        "energy_j": doc["energy_j"], "co2e_g": doc["co2e_g"]})
        return out
