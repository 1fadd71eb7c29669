"""What the training-framework callbacks share: one run per stage, one phase per epoch.

A Trainer calls its callbacks at the start and end of each stage (fit,
validate, test, predict) and of each epoch within it. :class:`StageMeter`
turns those calls into wattprint's vocabulary: a stage is one run (a
:class:`~wattprint.run.Tracker`), an epoch is a *phase* of that run (a window
in its timeline, kept in the store), and the samples or tokens a stage went
through are its *functional units*, so per-sample and per-1k-token figures
(SCI) come for free.

The energy of a window is the difference of the run's energy between its
start and its end, as the sampler had read it then: a window shorter than
the sampling interval may show little or none of its energy, which then
falls in the next window (nothing is lost from the run's total). The
carbon of a window is *operational* carbon: its energy × PUE × the mean
grid intensity the run's footprint applies so far. Embodied carbon is
charged over the run's duration once it has ended; the run's footprint
(``wattprint show RUN``) has both.

A training epoch (a window named ``train epoch N``) is also an epoch of the
run in the sense of :mod:`wattprint.run.epochs`: its start and end are
marked with :meth:`~wattprint.run.Tracker.epoch_start` and
:meth:`~wattprint.run.Tracker.epoch_end`, so a callback given ``epochs=N``
(and, if wanted, ``budget_kwh=...``) predicts the run from its first epochs
like ``wattprint run --epochs N``. A budget whose action is ``raise`` raises
:class:`~wattprint.errors.BudgetExceeded` from the epoch's end, which ends
the training and the run (status ``stopped``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattprint.units import J_PER_KWH

if TYPE_CHECKING:
    from wattprint.run import Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowCost:
    """The energy and operational carbon of one window (an epoch, an evaluation).

    Attributes:
        energy_j: energy read during the window, J.
        co2e_g: its operational carbon, g CO2e (``None`` when it could not be accounted).
    """

    energy_j: float
    co2e_g: float | None

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """``{prefix + "energy_j": ..., prefix + "co2e_g": ...}`` (carbon only when known)."""
        out = {f"{prefix}energy_j": self.energy_j}
        if self.co2e_g is not None:
            out[f"{prefix}co2e_g"] = self.co2e_g
        return out


def batch_size(batch: Any) -> int | None:
    """The number of samples in a batch: the first dimension of its first array.

    A tensor or array gives ``shape[0]``; a tuple or list, its first element's;
    a mapping (``{"input_ids": ..., "labels": ...}``), its first value's.
    ``None`` when no array is found.
    """
    shape = getattr(batch, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) > 0 else None
    if isinstance(batch, Mapping):
        items: Iterator[Any] = iter(batch.values())
    elif isinstance(batch, (list, tuple)):
        items = iter(batch)
    else:
        return None
    for item in items:
        size = batch_size(item)
        if size is not None:
            return size
    return None


def is_training_epoch(window: str) -> bool:
    """Whether a window is a training epoch (``train epoch 3``), an epoch of the run."""
    return window.startswith("train epoch ")


class StageMeter:
    """One run per stage, one phase per window, the energy and carbon of each window.

    Args:
        tracker_options: keyword arguments for :class:`~wattprint.run.Tracker`
            (``project``, ``region``, ``interval_s``, ``sensors``, ``home``...).
        quiet: print the run's one-line summary when it ends unless ``True``
            (default: ``WATTPRINT_QUIET``, else print).
    """

    def __init__(self, tracker_options: Mapping[str, Any], quiet: bool | None = None) -> None:
        self.tracker_options = dict(tracker_options)
        self.quiet = quiet
        self.tracker: Tracker | None = None
        self.stage: str | None = None
        self.runs: list[Tracker] = []
        self._windows: dict[str, tuple[AbstractContextManager[None], float]] = {}
        self._stage_phase: AbstractContextManager[None] | None = None

    @property
    def active(self) -> bool:
        """Whether a stage's run is being measured."""
        return self.tracker is not None

    def begin(self, stage: str, *, phase: str, name: str | None,
              tags: Mapping[str, str]) -> Tracker:
        """Start the run of a stage (``fit``, ``evaluate``...), as a phase named after it."""
        from wattprint.run import Tracker
        from wattprint.run.summary import quiet_from_env

        if self.tracker is not None:
            self.end()
        options = dict(self.tracker_options)
        options["tags"] = {**dict(options.get("tags") or {}), **dict(tags)}
        quiet = self.quiet if self.quiet is not None else quiet_from_env()
        tracker = Tracker(name=name, phase=phase, quiet=quiet, **options)
        tracker.start()
        self.tracker, self.stage = tracker, stage
        self.runs.append(tracker)
        self._stage_phase = tracker.phase(stage)
        self._stage_phase.__enter__()
        return tracker

    def open(self, window: str) -> None:
        """Open a window (a phase of the run) and note the energy and carbon so far."""
        if self.tracker is None or window in self._windows:
            return
        phase = self.tracker.phase(window)
        phase.__enter__()
        self._windows[window] = (phase, self.tracker.energy_j)
        if is_training_epoch(window):
            self.tracker.epoch_start()

    def close(self, window: str, *, epoch_end: bool = True) -> WindowCost | None:
        """Close a window; its energy and operational carbon (``None`` if it was not open)."""
        opened = self._windows.pop(window, None)
        if self.tracker is None or opened is None:
            return None
        phase, energy_j = opened
        phase.__exit__(None, None, None)
        window_j = self.tracker.energy_j - energy_j
        g_per_j = self.operational_g_per_j()
        if epoch_end and is_training_epoch(window):
            self.tracker.epoch_end()  # may raise BudgetExceeded: the window is closed already
        return WindowCost(window_j, None if g_per_j is None else window_j * g_per_j)

    def count(self, n: float | None, unit: str) -> None:
        """Count ``n`` functional units (samples, tokens) of the running stage."""
        if self.tracker is not None and n:
            self.tracker.add_units(n, unit)

    def operational_g_per_j(self) -> float | None:
        """Operational carbon per joule of device energy: PUE × the run's mean intensity.

        ``None`` when the run cannot be accounted (not stored, unknown region).
        """
        if self.tracker is None or self.tracker.id is None:
            return None
        try:
            fp = self.tracker.footprint()
        except Exception as exc:  # carbon is a nicety here: energy is still reported
            log.debug("operational carbon not accounted: %s", exc)
            return None
        mean = fp.intensity.get("mean_g_per_kwh")
        if not isinstance(mean, (int, float)) or not math.isfinite(mean):
            # no interval stored yet (a short first window): the region's annual figure
            try:
                from wattprint.accounting.intensity import annual_intensity

                mean = annual_intensity(str(fp.intensity.get("region") or "WORLD")).g_per_kwh
            except Exception as exc:
                log.debug("no intensity for the first window: %s", exc)
                return None
        return float(mean) * fp.pue / J_PER_KWH

    def end(self, error: str | None = None) -> Tracker | None:
        """Close the open windows and finish the stage's run; the run, or ``None``."""
        tracker = self.tracker
        if tracker is None:
            return None
        for window in list(self._windows)[::-1]:
            self.close(window, epoch_end=False)  # an epoch cut short is no epoch
        if self._stage_phase is not None:
            self._stage_phase.__exit__(None, None, None)
            self._stage_phase = None
        self.tracker, self.stage = None, None
        tracker.stop(error=error)
        return tracker


__all__ = ["StageMeter", "WindowCost", "batch_size", "is_training_epoch"]
