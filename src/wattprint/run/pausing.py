"""Pausing from inside a run's own loop: what a run needs of a pausing controller.

A training loop asks :meth:`wattprint.run.Tracker.should_pause` between steps
and, when the grid is too dirty, :meth:`wattprint.run.Tracker.wait_until_clean`.
The controller that answers is the scheduler's; the run only knows it through
the protocols here, so tracking loads nothing of the scheduler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wattprint.run.tracker import Tracker
    from wattprint.sampling import Sampler


class PauseControl(Protocol):
    """What a run needs of a pausing controller.

    :class:`wattprint.schedule.controller.PauseController` fits; the run
    never imports it, so tracking loads nothing of the scheduler.
    """

    def dirty_now(self) -> bool:
        """Whether the grid is too dirty to go on now and a pause is still allowed."""
        ...

    def wait_until_clean(self, *, max_wait_s: float | None = None) -> float:
        """Block, recorded as a pause, until the grid is clean or the deadline; seconds waited."""
        ...

    def stop(self) -> None:
        """Stop pausing for good (resumes the job if it is paused)."""
        ...


class CooperativePausing(Protocol):
    """Pausing options a run starts its controller from.

    :class:`wattprint.schedule.pausing.PauseOptions` fits.
    """

    def cooperative(self, run: Tracker, *, start_s: float | None) -> PauseControl | None:
        """A controller for ``run``'s own loop, or ``None`` when no pausing was asked for."""
        ...


class _Pausing:
    """The run's pausing methods (mixed into :class:`wattprint.run.Tracker`)."""

    _pause_controller: PauseControl | None
    _sampler: Sampler | None

    def should_pause(self) -> bool:
        """Whether the grid is too dirty to go on now (always ``False`` without pausing)."""
        return self._pause_controller is not None and self._pause_controller.dirty_now()

    def wait_until_clean(self, max_wait_s: float | None = None) -> float:
        """Block (recorded as a pause) until the grid is clean or the deadline; seconds waited."""
        if self._pause_controller is None:
            return 0.0
        return self._pause_controller.wait_until_clean(max_wait_s=max_wait_s)

    def set_paused(self, paused: bool) -> None:
        """Mark the following intervals as paused (excluded from energy totals)."""
        if self._sampler is not None:
            self._sampler.paused = paused


__all__ = ["CooperativePausing", "PauseControl"]
