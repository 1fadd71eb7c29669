"""Energy and carbon per request of an inference endpoint.

A server's devices do not say which request used which joule: a sensor gives
the energy of each *sampling interval* (say 1 s) for the whole device, and
many requests run during one interval, often at the same time. The meter
records when each request starts and ends, and shares every interval's energy
among the requests that overlap it.

**The sharing rule** (applied to each interval ``[a, b)`` with energy ``E``):

1. *busy time* ``B`` is the part of ``[a, b)`` during which at least one
   request was in flight (the union of the requests' spans, clipped to the
   interval); the interval's *request energy* is ``E * B / (b - a)``, the
   rest, ``E * (1 - B / (b - a))``, is *idle energy* (the server waiting
   between requests);
2. the request energy is shared between the overlapping requests **in
   proportion to their overlap time**: request ``r`` that overlaps the
   interval for ``o_r`` seconds gets ``E * B / (b - a) * o_r / sum(o)``.

So per-request energies plus idle energy add up to the measured energy of
every interval, exactly (up to float rounding), and a request that ran alone
for the whole interval gets all of it. Within an interval, power is taken as
constant: the sampling interval bounds the time resolution (a 5 ms request
in a 1 s interval gets a fair share of that second, not its own power
profile). ``E`` is whole-device energy under ``machine`` attribution (the
default) and the server process tree's share under ``process`` attribution.

A request's energy is known once the sampler has read the interval in which
the request ended, so it is **settled** up to one interval after the
request: :attr:`EnergyMeter.completed`, :meth:`EnergyMeter.totals` and the
``on_request`` callback see settled values. :meth:`MeteredRequest.estimate_energy_j`
(and the middleware's optional response header) gives a provisional value at
any moment: the energy settled so far plus, for the part not yet sampled, the
last interval's power divided by the requests now in flight.

**Carbon** is operational: energy (kWh) times the annual average carbon
intensity of the grid region (gCO2e/kWh, see
:mod:`wattprint.accounting.intensity`); life-cycle terms (PUE, embodied) are
added by the reports from the stored run.

**The stored run.** The meter owns one :class:`~wattprint.run.Tracker` of
phase ``inference`` for the serving process: its intervals go to the store
as usual, and requests are counted as the functional unit ``request``. At
stop, the run's info gets a ``serve`` document with the totals and the SCI
per 1,000 requests, ``(E * I) / R * 1000`` with ``E`` all the energy the
server used (idle included, as the SCI specification's boundary asks), ``I``
the intensity and ``R`` the number of requests (embodied carbon ``M`` is left
to the life-cycle report).

**Cost.** Starting and ending a request is a lock, a clock read and a dict
operation (about a microsecond; ``bench/bench_serve.py`` measures it). The
sharing runs on the sampler thread once per interval, outside the lock the
requests take, at about 2 µs per request of the interval.

Example::

    meter = EnergyMeter(project="chatbot")
    with meter.request() as req:
        answer = model(prompt)
    ...
    meter.stop()
    print(meter.totals().sci_g_per_1k_requests)
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from wattprint.accounting.intensity import annual_intensity
from wattprint.accounting.location import resolve_region
from wattprint.errors import WattprintError
from wattprint.run import Tracker
from wattprint.sensors.base import Sensor
from wattprint.serve.ledger import MeterTotals, RequestEnergy, RequestLedger, co2e_g_of
from wattprint.store import IntervalRecord

log = logging.getLogger(__name__)

__all__ = [
    "EnergyMeter",
    "MeterTotals",
    "MeteredRequest",
    "RequestEnergy",
    "RequestLedger",
    "co2e_g_of",
]

#: The functional unit requests are counted in.
REQUEST_UNIT = "request"


class MeteredRequest:
    """One request being metered; use it as a context manager.

    Obtained from :meth:`EnergyMeter.request`. Its energy accumulates on the
    sampler thread as intervals are read; :attr:`energy_j` is final once
    :attr:`settled` is true.

    Attributes:
        id: sequence number in the meter (0 for a request not metered, e.g.
            after the meter stopped).
        label: the caller's name for it.
        t_start: start, UTC epoch seconds (``None`` before ``__enter__``).
        t_end: end, UTC epoch seconds (``None`` while in flight).
        energy_j: the energy shared to it so far, joules.
        settled: whether :attr:`energy_j` is final.
    """

    __slots__ = ("_meter", "energy_j", "id", "label", "settled", "t_end", "t_start")

    def __init__(self, meter: EnergyMeter | None, label: str | None) -> None:
        self._meter = meter
        self.label = label
        self.id = 0
        self.t_start: float | None = None
        self.t_end: float | None = None
        self.energy_j = 0.0
        self.settled = False

    def __enter__(self) -> MeteredRequest:
        if self._meter is not None:
            try:
                self._meter._begin(self)
            except Exception as exc:  # metering never fails the request
                self._meter._fault(exc)
                self._meter = None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finish()

    def finish(self) -> None:
        """End the request now (what leaving the ``with`` block does); idempotent."""
        if self._meter is not None and self.t_end is None and self.t_start is not None:
            try:
                self._meter._end(self)
            except Exception as exc:  # metering never fails the request
                self._meter._fault(exc)
                self._meter = None

    def estimate_energy_j(self) -> float | None:
        """A provisional energy for this request, joules, available at any time.

        The energy settled so far plus, for the span after the last sampled
        interval, the last interval's power divided by the number of
        requests in flight. ``None`` when the meter has no sensor or the
        request is not metered.
        """
        if self._meter is None or self.t_start is None:
            return None
        try:
            return self._meter._estimate(self)
        except Exception as exc:  # metering never fails the request
            self._meter._fault(exc)
            return None


class EnergyMeter:
    """Per-request energy and carbon of a serving process.

    Args:
        project: project the inference run is filed under.
        name: name of the run (default: the script name).
        region: grid region for carbon (default: resolved as for every run,
            see :func:`wattprint.accounting.location.resolve_region`).
        interval_s: sampling interval, seconds (default the setting, 1 s).
            Shorter intervals resolve short requests better.
        attribution: ``machine`` (whole devices, default) or ``process``
            (this process tree's share of each device).
        sensors: sensor names (default: auto-detect).
        home: store directory (default ``$WATTPRINT_HOME``).
        tags: tags of the run.
        keep_last: how many settled requests :attr:`completed` keeps.
        on_request: called with each settled :class:`RequestEnergy`, on the
            sampler thread; keep it quick. Its exceptions are logged once.
        sensor_objects: already opened sensors (tests pass fakes here).

    Attributes:
        completed: the last ``keep_last`` settled requests, oldest first.
        region: region code of the intensity (set at start).
        intensity_g_per_kwh: the annual average intensity used, gCO2e/kWh
            (set at start).

    The meter starts on :meth:`start`, on entering ``with meter:``, or on its
    first request.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        name: str | None = None,
        region: str | None = None,
        interval_s: float | None = None,
        attribution: str | None = None,
        sensors: Sequence[str] | None = None,
        home: str | Path | None = None,
        tags: dict[str, str] | None = None,
        keep_last: int = 10_000,
        on_request: Callable[[RequestEnergy], None] | None = None,
        sensor_objects: Sequence[Sensor] | None = None,
    ) -> None:
        self._region_arg = region
        # A server is stopped by SIGTERM as a matter of course, and its framework
        # handles the signal (graceful shutdown, then lifespan shutdown stops the
        # meter): the run must not be marked failed for it, so the tracker leaves
        # signals alone and the meter registers its own exit handler (start()).
        self._tracker = Tracker(
            project=project, name=name, phase="inference",
            interval_s=interval_s, attribution=attribution, region=region, sensors=sensors,
            home=home, tags=tags, sensor_objects=sensor_objects,
            on_intervals=self._on_intervals, handle_signals=False,
        )
        self._use_attributed = self._tracker.settings.attribution == "process"
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._ledger = RequestLedger()
        self._ids = itertools.count(1)
        self._offset_s = 0.0
        self._measured = True
        self._state = "new"
        self._requests = 0
        self._last_end: float | None = None
        self._last_power_w = 0.0
        self._on_request = on_request
        self._callback_failed = False
        self._hook_failed = False
        self._faulted = False
        self.intensity_g_per_kwh = 0.0
        self.region = ""
        self.completed: deque[RequestEnergy] = deque(maxlen=keep_last)

    # -- lifecycle ----------------------------------------------------------
    @property
    def tracker(self) -> Tracker:
        """The inference run's tracker (its id, store and device energies)."""
        return self._tracker

    @property
    def running(self) -> bool:
        """Whether the meter is measuring."""
        return self._state == "running"

    def start(self) -> EnergyMeter:
        """Resolve the region's intensity, open the sensors and start sampling.

        Returns:
            ``self``.

        Raises:
            RegionError: the region is unknown.
            SensorError: a sensor asked for by name is unavailable.
        """
        with self._start_lock:
            if self._state != "new":
                return self
            resolved = resolve_region(self._region_arg,
                                      config_region=self._tracker.settings.region)
            self.region = resolved.code
            self.intensity_g_per_kwh = annual_intensity(resolved.code).g_per_kwh
            self._tracker.start()
            atexit.register(self._stop_at_exit)
            self._offset_s = self._tracker.wall_offset_s()
            self._measured = self._tracker.device_count() > 0
            self._state = "running"
        return self

    def stop(self) -> MeterTotals:
        """Stop sampling, settle every request and finalise the inference run.

        Requests still in flight are closed at the stop time. Idempotent;
        called at interpreter exit for a meter still running (a service
        stopped by its framework on SIGTERM ends its run as ``finished``).

        Returns:
            The final totals.
        """
        with self._start_lock:
            if self._state != "running":
                return self.totals()
            self._state = "stopping"
        atexit.unregister(self._stop_at_exit)
        self._tracker.stop()  # the final interval arrives through _on_intervals
        with self._lock:
            done = self._ledger.settle_all(self._now())
            self._state = "stopped"
        self._record(done)
        totals = self.totals()
        store, run_id = self._tracker.store, self._tracker.id
        if store is not None and run_id is not None:
            try:
                store.update_info(run_id, {"serve": totals.as_dict() | {
                    "share_rule": "interval energy x busy fraction, shared in proportion "
                                  "to overlap time",
                    "energy_basis": "attributed" if self._use_attributed else "device",
                }})
            except WattprintError as exc:
                log.warning("could not store the request totals of run %s: %s", run_id, exc)
        return totals

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception as exc:  # never let metering spoil the exit
            log.warning("wattprint meter did not stop cleanly at exit: %s", exc)

    def __enter__(self) -> EnergyMeter:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- requests -----------------------------------------------------------
    def request(self, label: str | None = None) -> MeteredRequest:
        """A new request to meter: ``with meter.request("predict"): ...``.

        Starts the meter on first use. If it cannot start (no store, bad
        region), the error is logged once and requests pass unmetered; call
        :meth:`start` first to get the error instead.
        """
        if self._state == "new":
            self.start_or_disable()
        if self._state != "running":
            return MeteredRequest(None, label)
        return MeteredRequest(self, label)

    def start_or_disable(self) -> bool:
        """Start the meter, or log why it cannot and leave requests unmetered.

        What servers call (the middleware at lifespan startup and on the first
        request): an unwritable store, an unknown region or a broken sensor
        must not stop the application from serving.

        Returns:
            Whether the meter is running.
        """
        try:
            self.start()
        except Exception as exc:
            if self._state != "failed":
                log.error("wattprint meter could not start; requests are not metered: %s", exc)
            self._state = "failed"
        return self._state == "running"

    def _fault(self, exc: BaseException) -> None:
        """Log the first error of the request path; later ones only at debug level."""
        if not self._faulted:
            self._faulted = True
            log.error("wattprint meter failed on a request; the request goes on, metering "
                      "may be incomplete: %s", exc)
        else:
            log.debug("wattprint meter failed on a request: %s", exc)

    def _now(self) -> float:
        return self._offset_s + time.monotonic()

    def _begin(self, req: MeteredRequest) -> None:
        with self._lock:
            if self._state != "running":
                req._meter = None
                return
            req.t_start = self._offset_s + time.monotonic()
            req.id = next(self._ids)
            self._ledger.begin(req)

    def _end(self, req: MeteredRequest) -> None:
        with self._lock:
            req.t_end = self._offset_s + time.monotonic()
            if self._measured:
                self._ledger.end(req)
                return
            # no sensor: nothing will ever be shared, so the request settles now
            if self._ledger.open.pop(req.id, None) is None:
                return
            req.settled = True
        self._record([req])

    def _estimate(self, req: MeteredRequest) -> float | None:
        if not self._measured:
            return None
        if req.settled:
            return req.energy_j
        with self._lock:
            start = req.t_start
            assert start is not None
            end = req.t_end if req.t_end is not None else self._now()
            sampled_to = self._last_end if self._last_end is not None else start
            unsampled_s = max(0.0, end - max(start, sampled_to))
            in_flight = max(1, len(self._ledger.open))
            return req.energy_j + self._last_power_w * unsampled_s / in_flight

    # -- the sampler side -----------------------------------------------------
    def _on_intervals(self, intervals: Sequence[IntervalRecord]) -> None:
        try:
            self._share(intervals)
        except Exception as exc:  # tracking never hurts the work
            if not self._hook_failed:
                self._hook_failed = True
                log.warning("wattprint could not share energy between requests: %s", exc)

    def _share(self, intervals: Sequence[IntervalRecord]) -> None:
        groups: dict[tuple[float, float], float] = {}
        for rec in intervals:
            if rec.paused:
                continue
            key = (rec.t_start, rec.t_end)
            groups[key] = groups.get(key, 0.0) + (
                rec.attributed_j if self._use_attributed else rec.energy_j)
        if not groups:
            return
        last_end = max(t1 for _, t1 in groups)
        power_w = 0.0
        # The snapshot is taken under the lock, after the sensors were read at
        # last_end; request threads set t_end under the same lock, so a request
        # that ends after the snapshot ends after every interval here, and one
        # that starts after it overlaps none. The sharing itself (O(n log n) in
        # the requests of the interval) runs outside the lock, so requests never
        # wait for it; only this thread writes energies.
        with self._lock:
            snapshot = self._ledger.tracked()
        for (t0, t1), energy_j in groups.items():
            self._ledger.share(t0, t1, energy_j, snapshot)
            if t1 == last_end and t1 > t0:
                power_w += energy_j / (t1 - t0)
        with self._lock:
            done = self._ledger.settle(last_end)
            self._last_end = last_end
            self._last_power_w = power_w
        self._record(done)

    def _record(self, done: Iterable[MeteredRequest]) -> None:
        n = 0
        for req in done:
            n += 1
            assert req.t_start is not None and req.t_end is not None
            energy_j = req.energy_j if self._measured else None
            co2e = None if energy_j is None else co2e_g_of(energy_j, self.intensity_g_per_kwh)
            record = RequestEnergy(req.id, req.label, req.t_start, req.t_end, energy_j, co2e)
            self.completed.append(record)
            if self._on_request is not None:
                try:
                    self._on_request(record)
                except Exception as exc:
                    if not self._callback_failed:
                        self._callback_failed = True
                        log.warning("the on_request callback of the energy meter failed: %s",
                                    exc)
        if n:
            with self._lock:
                self._requests += n
            self._tracker.add_units(n, REQUEST_UNIT)

    # -- results --------------------------------------------------------------
    def totals(self) -> MeterTotals:
        """Totals of the settled requests and the sampled energy so far."""
        with self._lock:
            n = self._requests
            ledger = self._ledger
            energy_j, request_j, idle_j = (ledger.energy_j, ledger.request_energy_j,
                                           ledger.idle_energy_j)
        co2e = co2e_g_of(energy_j, self.intensity_g_per_kwh)
        return MeterTotals(
            requests=n, energy_j=energy_j, request_energy_j=request_j, idle_energy_j=idle_j,
            co2e_g=co2e, intensity_g_per_kwh=self.intensity_g_per_kwh, region=self.region,
            mean_request_energy_j=request_j / n if n else None,
            sci_g_per_1k_requests=co2e / n * 1000.0 if n else None,
        )
