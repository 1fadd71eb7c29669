"""The request ledger: sharing each energy interval among the requests it overlaps.

A serving process handles requests concurrently, but a sensor reports the
energy of a whole interval. :class:`RequestLedger` keeps the requests in
flight and, for each interval, splits its energy among the requests in
proportion to how long each overlapped the interval; energy in spans with no
request in flight is the server's idle share. The result per request is a
:class:`RequestEnergy`, and the running sums are :class:`MeterTotals`. This
is pure bookkeeping (no clock, no thread, no sensor): the meter in
:mod:`wattprint.serve.meter` feeds it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattprint.units import J_PER_KWH

if TYPE_CHECKING:
    from wattprint.serve.meter import MeteredRequest

__all__ = ["MeterTotals", "RequestEnergy", "RequestLedger", "co2e_g_of"]


def co2e_g_of(energy_j: float, intensity_g_per_kwh: float) -> float:
    """Grams of CO2e of ``energy_j`` joules at ``intensity_g_per_kwh``."""
    return energy_j / J_PER_KWH * intensity_g_per_kwh


@dataclass(frozen=True)
class RequestEnergy:
    """The settled energy and carbon of one request.

    Attributes:
        request_id: sequence number of the request in its meter (from 1).
        label: what the caller named it (the middleware uses ``"GET /path"``).
        t_start: start, UTC epoch seconds.
        t_end: end, UTC epoch seconds.
        energy_j: the request's share of the measured energy, joules; ``None``
            when the meter had no sensor (never a silent zero).
        co2e_g: operational carbon of ``energy_j``, grams CO2e; ``None`` with it.
    """

    request_id: int
    label: str | None
    t_start: float
    t_end: float
    energy_j: float | None
    co2e_g: float | None

    @property
    def duration_s(self) -> float:
        """Wall time of the request, seconds."""
        return self.t_end - self.t_start


@dataclass(frozen=True)
class MeterTotals:
    """Everything a meter has settled so far.

    Attributes:
        requests: settled requests.
        energy_j: all energy the server used in the sampled intervals.
        request_energy_j: the part shared out to requests.
        idle_energy_j: the part during which no request was in flight.
        co2e_g: operational carbon of ``energy_j``.
        intensity_g_per_kwh: the intensity used.
        region: region code of that intensity.
        mean_request_energy_j: ``request_energy_j / requests`` (``None`` with
            no request).
        sci_g_per_1k_requests: SCI per 1,000 requests, operational part:
            ``co2e_g / requests * 1000`` (``None`` with no request).
    """

    requests: int
    energy_j: float
    request_energy_j: float
    idle_energy_j: float
    co2e_g: float
    intensity_g_per_kwh: float
    region: str
    mean_request_energy_j: float | None
    sci_g_per_1k_requests: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "requests": self.requests, "energy_j": self.energy_j,
            "request_energy_j": self.request_energy_j, "idle_energy_j": self.idle_energy_j,
            "co2e_g": self.co2e_g, "intensity_g_per_kwh": self.intensity_g_per_kwh,
            "region": self.region, "mean_request_energy_j": self.mean_request_energy_j,
            "sci_g_per_1k_requests": self.sci_g_per_1k_requests,
        }


def _busy_s(spans: Sequence[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` spans."""
    total = 0.0
    cur_start = cur_end = None
    for start, end in sorted(spans):
        if cur_end is None or cur_start is None or start > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        elif end > cur_end:
            cur_end = end
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


class RequestLedger:
    """The sharing rule of the module docstring, without threads or clocks.

    Requests are :class:`MeteredRequest` objects with ``t_start`` set and
    ``t_end`` set once they ended (``None`` = still in flight). The caller
    feeds intervals with :meth:`share` and takes finished requests out with
    :meth:`settle`. Not thread-safe by itself: :class:`EnergyMeter` takes its
    snapshots and settles under a lock, and shares from one thread only.
    """

    def __init__(self) -> None:
        self.open: dict[int, MeteredRequest] = {}
        self.pending: list[MeteredRequest] = []
        self.energy_j = 0.0
        self.request_energy_j = 0.0
        self.idle_energy_j = 0.0

    def begin(self, req: MeteredRequest) -> None:
        """Track a request that has started (``t_start`` set)."""
        self.open[req.id] = req

    def end(self, req: MeteredRequest) -> bool:
        """Move a request that has ended (``t_end`` set) to the pending list.

        Returns:
            ``False`` if the request was not tracked (already settled).
        """
        if self.open.pop(req.id, None) is None:
            return False
        self.pending.append(req)
        return True

    def tracked(self) -> list[tuple[MeteredRequest, float, float | None]]:
        """Snapshot ``(request, t_start, t_end)`` of every unsettled request."""
        out: list[tuple[MeteredRequest, float, float | None]] = []
        for req in itertools.chain(self.open.values(), self.pending):
            assert req.t_start is not None
            out.append((req, req.t_start, req.t_end))
        return out

    def share(self, t_start: float, t_end: float, energy_j: float,
              snapshot: Sequence[tuple[MeteredRequest, float, float | None]]) -> float:
        """Share one interval's energy among the requests of ``snapshot``.

        Args:
            t_start: interval start, the time base of the requests' times.
            t_end: interval end.
            energy_j: the interval's energy, joules.
            snapshot: from :meth:`tracked`; requests in flight (``t_end``
                ``None``) count up to the interval's end.

        Returns:
            The energy charged to requests; the rest is idle energy.
        """
        length = t_end - t_start
        self.energy_j += energy_j
        if length <= 0:
            self.idle_energy_j += energy_j
            return 0.0
        overlaps: list[tuple[MeteredRequest, float]] = []
        clipped: list[tuple[float, float]] = []
        for req, r_start, r_end in snapshot:
            start = max(r_start, t_start)
            end = t_end if r_end is None else min(r_end, t_end)
            if end > start:
                overlaps.append((req, end - start))
                clipped.append((start, end))
        if not overlaps:
            self.idle_energy_j += energy_j
            return 0.0
        busy_s = min(_busy_s(clipped), length)
        charged_j = energy_j * busy_s / length
        total_overlap_s = sum(o for _, o in overlaps)
        for req, overlap_s in overlaps:
            req.energy_j += charged_j * overlap_s / total_overlap_s
        self.request_energy_j += charged_j
        self.idle_energy_j += energy_j - charged_j
        return charged_j

    def settle(self, upto: float) -> list[MeteredRequest]:
        """Take out the requests that ended at or before ``upto`` (all sampled)."""
        done = [r for r in self.pending if r.t_end is not None and r.t_end <= upto]
        if done:
            self.pending = [r for r in self.pending if r.t_end is None or r.t_end > upto]
            for req in done:
                req.settled = True
        return done

    def settle_all(self, t_end: float) -> list[MeteredRequest]:
        """Take out every request; those still in flight are closed at ``t_end``."""
        for req in self.open.values():
            req.t_end = t_end
        done = [*self.pending, *self.open.values()]
        self.pending = []
        self.open = {}
        for req in done:
            req.settled = True
        return done
