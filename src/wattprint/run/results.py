"""What a run answers: energy per device, totals, carbon, the one-line summary.

These are the read side of :class:`wattprint.run.Tracker` (mixed into it):
energy in joules and kWh as measured so far, the footprint as
``wattprint show`` accounts it, and the summary line of
:mod:`wattprint.run.summary`.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from wattprint.errors import StoreError
from wattprint.run.devices import DeviceEnergy, _device_energy

if TYPE_CHECKING:
    from wattprint.accounting.account import AccountedRun, AccountingOptions
    from wattprint.accounting.footprint import Footprint
    from wattprint.config import Settings
    from wattprint.run.summary import RunSummary
    from wattprint.sampling import Sampler
    from wattprint.store import IntervalRecord, Store

log = logging.getLogger("wattprint.run")


class _Results:
    """The run's results and answers (mixed into :class:`wattprint.run.Tracker`)."""

    settings: Settings
    id: str | None
    status: str
    started_at: float | None
    ended_at: float | None
    quiet: bool
    tags: dict[str, str]
    _store: Store | None
    _sampler: Sampler | None
    _units: dict[str, float]
    _metrics: list[dict[str, Any]]
    _memory: list[IntervalRecord]
    _accounted_cache: AccountedRun | None
    _summary_printed: bool

    if TYPE_CHECKING:
        def _warn_store(self, exc: BaseException) -> None: ...

        def _flush(self) -> None: ...

    # -- results ------------------------------------------------------------
    @property
    def store(self) -> Store | None:
        """The store this run is written to (``None`` if it could not be opened)."""
        return self._store

    @property
    def units(self) -> dict[str, float]:
        """Functional units counted so far."""
        return dict(self._units)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Metrics logged so far (``name``, ``value``, ``step``, ``t``), in order."""
        return [dict(m) for m in self._metrics]

    def by_device(self) -> list[DeviceEnergy]:
        """Energy per device so far (or in total, once stopped)."""
        if self._sampler is None:
            return []
        out = []
        for device_id, info in self._sampler.devices.items():
            if device_id not in self._sampler.ever_measured:
                continue  # measured by another process of the job
            energy_j, attributed_j, covered_s = self._sampler.totals[device_id]
            out.append(_device_energy(info, self._sampler.share_rules[device_id], energy_j,
                                      attributed_j, covered_s))
        return out

    @property
    def energy_j(self) -> float:
        """The run's total energy in joules under its attribution rule."""
        from wattprint.records import is_node_power

        attributed = self.settings.attribution == "process"
        # the BMC's node power contains the other devices: shown beside them, never added
        return sum(d.attributed_energy_j if attributed else d.energy_j for d in self.by_device()
                   if not is_node_power(d.kind, d.source))

    @property
    def duration_s(self) -> float | None:
        """Wall-clock duration (up to now while running)."""
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else time.time()
        return end - self.started_at

    def intervals(self) -> list[IntervalRecord]:
        """Every energy interval measured, in time order."""
        if self._store is not None and self.id is not None:
            try:
                return self._store.intervals(self.id)
            except Exception as exc:
                self._warn_store(exc)
        return sorted(self._memory, key=lambda i: (i.t_start, i.device_id))

    def wall_offset_s(self) -> float:
        """UTC epoch seconds minus monotonic seconds, as the sampler converts them."""
        return 0.0 if self._sampler is None else self._sampler.to_wall(0.0)

    def device_count(self) -> int:
        """Number of devices being read."""
        return 0 if self._sampler is None else len(self._sampler.devices)

    def log_cost(self, name: str, amount: float) -> None:
        """Add ``amount`` to the run's total of cost ``name`` (``run.log_cost("usd", 12.5)``).

        Costs are what the work cost besides energy and carbon (dollars,
        annotation hours...); ``wattprint leaderboard --cost usd`` ranks and
        builds the Pareto front with them. Each call adds to the total, which
        is stored as the run's tag ``cost.<name>`` (:mod:`wattprint.decide.costs`).

        Args:
            name: the cost's name, naming its unit (``usd``, ``annotation_hours``).
            amount: how much more of it was spent (finite, at least 0).

        Raises:
            ConfigError: a bad name (or one wattprint measures itself:
                ``energy``, ``co2e``, ``duration``, ``embodied``) or amount.
        """
        from wattprint.decide.costs import added_cost

        key, total = added_cost(self.tags, name, amount)
        self.tags[key] = total
        if self._store is not None and self.id is not None:
            try:
                self._store.set_tags(self.id, {key: total})
            except Exception as exc:
                self._warn_store(exc)

    # -- answers: energy in kWh, carbon, footprint, the one-line summary ------------------
    @property
    def energy_kwh(self) -> float:
        """The run's total energy in kWh (:attr:`energy_j`; device energy, before PUE)."""
        from wattprint.units import j_to_kwh

        return j_to_kwh(self.energy_j)

    def footprint(self, options: AccountingOptions | None = None) -> Footprint:
        """The run's footprint, as ``wattprint show RUN --json`` gives it (``footprint``).

        Args:
            options: how to account it; default: the run's region and the
                configured PUE and hardware overrides, as ``show`` does.

        Raises:
            StoreError: the run has not started, or was not stored.
            RegionError: an unknown region code.
            IntensityError: the intensity series cannot be used.
        """
        return self._accounted(options).footprint

    @property
    def co2e_kg(self) -> float:
        """The run's total carbon (kg CO2e: dynamic, idle, infrastructure and embodied).

        Raises:
            StoreError: the run has not started, or was not stored.
        """
        return float(self.footprint().co2e_kg["total"])

    def _accounted(self, options: AccountingOptions | None = None) -> AccountedRun:
        if self._store is None or self.id is None:
            raise StoreError("this run has not started or was not stored, so it has no "
                             "footprint; energy_j and by_device() hold what was measured")
        from wattprint.accounting.account import AccountingOptions, account_run

        ended = self.status not in ("new", "running")
        if options is None and ended and self._accounted_cache is not None:
            return self._accounted_cache
        if not ended:
            self._flush()  # a running run's footprint covers every interval taken so far
        accounted = account_run(self._store, self.id, options or AccountingOptions(
            pue=self.settings.pue, catalogue_overrides=self.settings.hardware))
        if options is None and ended:
            self._accounted_cache = accounted
        return accounted

    def summary(self) -> RunSummary:
        """What the one-line summary says (:mod:`wattprint.run.summary`); never raises.

        Carbon is accounted once the run has ended; a run whose carbon cannot
        be accounted is summarised without it.
        """
        from wattprint.run.summary import RunSummary

        co2e_kg = region = intensity = None
        if self.status not in ("new", "running") and self.id is not None:
            try:
                accounted = self._accounted()
                co2e_kg = float(accounted.footprint.co2e_kg["total"])
                region = accounted.region.code
                intensity = accounted.footprint.intensity.get("mean_g_per_kwh")
            except Exception as exc:  # a summary must never fail the program
                log.debug("the run's carbon could not be accounted: %s", exc)
        return RunSummary(self.id, self.status, self.energy_j, self.by_device(),
                          self.duration_s, co2e_kg, region, intensity)

    def __str__(self) -> str:
        from wattprint.run.summary import summary_line

        return summary_line(self.summary())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from wattprint.run.summary import summary_html

        return summary_html(self.summary())

    def _print_summary(self) -> None:
        """Print the one-line summary to stderr once, when the run has ended (unless quiet)."""
        if self.quiet or self._summary_printed or self.status in ("new", "running"):
            return
        self._summary_printed = True
        try:
            print(f"wattprint: {self}", file=sys.stderr, flush=True)
        except Exception:  # a closed stderr at exit must not fail the program
            log.debug("printing the run summary failed", exc_info=True)
