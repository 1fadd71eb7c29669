"""A run's epochs, the predictions made from them, and its budget.

A training loop marks its epochs with :meth:`~wattprint.run.Tracker.epoch_start`
and :meth:`~wattprint.run.Tracker.epoch_end` (carbontracker's names); the
framework callbacks do it for their training epochs, and ``wattprint run
--epochs N`` does it for each ``WATTPRINT_EPOCH`` line the command prints.
After ``predict_after`` epochs (default 1) and at each epoch end after, the
run predicts its total duration, energy and carbon
(:mod:`wattprint.decide.predict`), stores the prediction, tells it (one line
on stderr) and judges it against the run's budget.

An epoch end is placed in time when it is marked, and in energy at the
sampler's next reading (at most one sampling interval later): the sampler
thread alone reads the sensors, so marking an epoch never reads hardware
from the training loop. The energy of that short lag falls in the epoch
that ends, and is missing from the next; nothing is lost from the totals.
The prediction itself is made off the sampler thread, by a small worker.

With a budget whose action is ``raise``, :meth:`epoch_end` waits for that
reading and the prediction (at most a few sampling intervals) and raises
:class:`~wattprint.errors.BudgetExceeded` when the budget will be exceeded;
the run then ends with the status ``stopped``. Without such a budget it
returns at once.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from wattprint.errors import BudgetExceeded

if TYPE_CHECKING:
    from wattprint.accounting.location import ResolvedRegion
    from wattprint.config import Settings
    from wattprint.decide.predict import Budget, EpochMark, Prediction
    from wattprint.sampling import Sampler
    from wattprint.store import IntervalRecord, Store

log = logging.getLogger("wattprint.run")

#: how long ``epoch_end`` waits for its prediction when a budget may raise, beyond
#: two sampling intervals (the first prediction loads the intensity tables)
PREDICTION_WAIT_S = 30.0


def print_prediction(prediction: Prediction, file: IO[str] | None = None) -> None:
    """Tell a prediction on ``file`` (stderr): one line, with a bar on a terminal."""
    from wattprint.decide.predict import prediction_line

    out = file if file is not None else sys.stderr
    line = prediction_line(prediction)
    if not _is_terminal(out):
        out.write(line + "\n")
        out.flush()
        return
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    # one static bar per update, not a live display: the command's own output
    # shares the terminal and would tear a bar redrawn in place
    grid = Table.grid(padding=(0, 1))
    grid.add_row(ProgressBar(total=float(prediction.total_epochs),
                             completed=float(prediction.after_epochs), width=20),
                 line.removeprefix("wattprint: "))
    Console(file=out, soft_wrap=True).print(grid)


def _is_terminal(out: IO[str]) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


class _Epochs:
    """The run's epochs and predictions (mixed into :class:`wattprint.run.Tracker`)."""

    settings: Settings
    id: str | None
    status: str
    started_at: float | None
    quiet: bool
    region: ResolvedRegion | None
    _store: Store | None
    _sampler: Sampler | None

    if TYPE_CHECKING:
        @property
        def energy_j(self) -> float: ...

        def _warn_store(self, exc: BaseException) -> None: ...

    def _init_epochs(self, epochs: int | None, predict_after: int, budget: Budget | None,
                     on_prediction: Callable[[Prediction], None] | None) -> None:
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise ValueError(f"epochs must be a whole number >= 1, not {epochs!r}")
        if not isinstance(predict_after, int) or predict_after < 1:
            raise ValueError(f"predict_after must be a whole number >= 1, not {predict_after!r}")
        #: the number of epochs the run will have (``None``: unknown, no prediction)
        self.epochs_total = epochs
        self.predict_after = predict_after
        self.budget = budget
        #: called (from a worker thread) with each prediction; default: print it
        self.on_prediction = on_prediction
        #: called (from a worker thread) with the reason when a ``stop`` budget is exceeded
        self.budget_stopper: Callable[[str], None] | None = None
        #: why the budget is exceeded, once it is
        self.budget_reason: str | None = None
        self._epoch_lock = threading.Condition()
        self._first_start: EpochMark | None = None
        self._epoch_ends: list[EpochMark] = []
        self._pending_marks: list[tuple[str, float]] = []
        self._start_marked = False
        self._marks_made = 0
        self._marks_ended = 0
        self._marks_done = 0
        self._predictions: list[Prediction] = []
        self._epoch_queue: queue.Queue[tuple[str, EpochMark] | None] | None = None
        self._epoch_worker: threading.Thread | None = None
        self._carbon_failed = False

    # -- marking ---------------------------------------------------------------------
    @property
    def epochs_done(self) -> int:
        """Epochs ended so far (marked, whether or not their energy is read yet)."""
        return self._marks_ended

    def epoch_start(self) -> None:
        """Mark the start of an epoch (only the first one's start is used).

        Raises:
            BudgetExceeded: the budget (action ``raise``) is exceeded already.
        """
        self._raise_if_over()
        if self.status != "running":
            return
        with self._epoch_lock:
            if self._start_marked or self._marks_ended:
                return
            self._start_marked = True
            self._pending_marks.append(("start", self._now_wall()))
            self._marks_made += 1
        self._resolve_without_sensors()

    def epoch_end(self) -> None:
        """Mark the end of an epoch: after ``predict_after`` of them, predict the run.

        Raises:
            BudgetExceeded: the budget's action is ``raise`` and the prediction
                (or the energy measured) exceeds it.
        """
        self._raise_if_over()
        if self.status != "running":
            return
        with self._epoch_lock:
            self._pending_marks.append(("end", self._now_wall()))
            self._marks_made += 1
            self._marks_ended += 1
            mine = self._marks_made
        self._resolve_without_sensors()
        if self.budget is not None and self._raises():
            interval_s = self.settings.interval_s
            with self._epoch_lock:
                self._epoch_lock.wait_for(lambda: self._marks_done >= mine,
                                          timeout=2 * interval_s + PREDICTION_WAIT_S)
            self._raise_if_over()

    def prediction(self) -> dict[str, Any] | None:
        """The latest forecast of the run, or ``None`` before ``predict_after`` epochs.

        Returns:
            A mapping with ``energy_j``, ``energy_j_interval`` (low, high),
            ``energy_kwh``, ``duration_s``, ``duration_s_interval``, ``co2e_kg``,
            ``co2e_kg_interval`` (operational carbon; ``None`` when it could not
            be accounted), ``after_epochs``, ``total_epochs``, ``rule`` (how it
            was made), ``carbon`` (region, PUE, intensities) and ``budget``
            (why the budget is exceeded, or ``None``).
        """
        with self._epoch_lock:
            return self._predictions[-1].as_dict() if self._predictions else None

    def wait_for_prediction(self, timeout_s: float = 10.0) -> dict[str, Any] | None:
        """Wait until every epoch marked so far is placed and predicted; the latest forecast.

        An epoch's end is placed at the sampler's next reading, and its
        prediction made just after (module docstring); a notebook or a test
        that wants the forecast of the epoch just ended waits here (at most
        ``timeout_s``). Returns :meth:`prediction`.
        """
        with self._epoch_lock:
            wanted = self._marks_made
        self._resolve_without_sensors()
        with self._epoch_lock:
            self._epoch_lock.wait_for(lambda: self._marks_done >= wanted, timeout=timeout_s)
        return self.prediction()

    def predictions(self) -> list[dict[str, Any]]:
        """Every forecast made so far, oldest first (mappings as :meth:`prediction`)."""
        with self._epoch_lock:
            return [p.as_dict() for p in self._predictions]

    def _raises(self) -> bool:
        return self.budget is not None and (
            self.budget.action == "raise"
            or (self.budget.action == "stop" and self.budget_stopper is None))

    def _raise_if_over(self) -> None:
        if self.budget_reason is not None and self._raises():
            latest = self.prediction()
            raise BudgetExceeded(f"the run's budget will be exceeded: {self.budget_reason}",
                                 latest)

    def _now_wall(self) -> float:
        if self._sampler is not None:
            return self._sampler.to_wall(time.monotonic())
        return time.time()

    # -- placing marks in energy (sampler thread) -----------------------------------------
    def _epochs_tick(self, intervals: Sequence[IntervalRecord]) -> None:
        """Place the marks made before this reading (called from the sampler's sink)."""
        if not self._pending_marks or not intervals:
            return
        self._resolve(max(i.t_end for i in intervals))

    def _resolve(self, up_to_s: float | None) -> None:
        with self._epoch_lock:
            ready = [m for m in self._pending_marks if up_to_s is None or m[1] <= up_to_s]
            if not ready:
                return
            self._pending_marks = self._pending_marks[len(ready):]
        energy_j = self.energy_j
        start = self.started_at or 0.0
        from wattprint.decide.predict import EpochMark

        work = self._worker_queue()
        for kind, t_wall in ready:
            work.put((kind, EpochMark(t_wall - start, energy_j)))

    def _resolve_without_sensors(self) -> None:
        """Without a device to read, a mark is placed at once (at the energy so far)."""
        if self._sampler is None or not self._sampler.devices:
            self._resolve(None)

    def _settle_epochs(self, timeout_s: float = 10.0) -> None:
        """At the run's end: place every mark left, finish every prediction, end the worker."""
        self._resolve(None)
        worker, work = self._epoch_worker, self._epoch_queue
        if worker is not None and work is not None:
            work.put(None)
            worker.join(timeout_s)
        if self._marks_ended and self._store is not None and self.id is not None:
            try:
                self._store.update_info(self.id, {"epochs": {
                    "done": self._marks_ended, "total": self.epochs_total,
                    "predict_after": self.predict_after}})
            except Exception as exc:
                self._warn_store(exc)

    # -- predicting (worker thread) ----------------------------------------------------------
    def _worker_queue(self) -> queue.Queue[tuple[str, EpochMark] | None]:
        with self._epoch_lock:
            if self._epoch_queue is None:
                self._epoch_queue = queue.Queue()
                self._epoch_worker = threading.Thread(target=self._predict_loop,
                                                      name="wattprint-predict", daemon=True)
                self._epoch_worker.start()
            return self._epoch_queue

    def _predict_loop(self) -> None:
        work = self._epoch_queue
        assert work is not None
        while True:
            item = work.get()
            if item is None:
                return
            kind, mark = item
            try:
                self._on_mark(kind, mark)
            except Exception:  # a prediction must never stop the run
                log.warning("predicting the run failed", exc_info=True)
            finally:
                with self._epoch_lock:
                    self._marks_done += 1
                    self._epoch_lock.notify_all()

    def _on_mark(self, kind: str, mark: EpochMark) -> None:
        from wattprint.decide.predict import EpochMark, forecast_totals, predict

        if kind == "start":
            self._first_start = mark
            return
        self._epoch_ends.append(mark)
        k = len(self._epoch_ends)
        if self.epochs_total is None or k < self.predict_after:
            reason = self.budget.exceeded_now(mark.energy_j) if self.budget else None
            if reason is not None:
                self._over_budget(reason)
            return
        totals = forecast_totals(self._first_start or EpochMark(0.0, 0.0), self._epoch_ends,
                                 max(self.epochs_total, k))
        made = predict(totals, made_at=time.time(), carbon=self._carbon(totals))
        reason = self.budget.exceeded(made) if self.budget is not None else None
        made = dataclasses.replace(made, budget=reason)
        with self._epoch_lock:
            self._predictions.append(made)
        if self._store is not None and self.id is not None:
            try:
                self._store.add_prediction(self.id, made.as_dict())
            except Exception as exc:
                self._warn_store(exc)
        if self.on_prediction is not None:
            self.on_prediction(made)
        elif not self.quiet:
            print_prediction(made)
        if reason is not None:
            self._over_budget(reason)

    def _carbon(self, totals: Any) -> Any:
        """The carbon of predicted totals, or ``None`` (said once) when it cannot be had."""
        if self.started_at is None or self._carbon_failed:
            return None
        try:
            from wattprint.accounting.pue import resolve_pue
            from wattprint.decide.predict import forecast_carbon
            from wattprint.run.tracker import resolve_settings_region

            if self.region is None:
                self.region = resolve_settings_region(self.settings)
            code = self.region.code
            return forecast_carbon(totals, started_at_s=self.started_at, region=code,
                                   pue=resolve_pue(self.settings.pue, code).value)
        except Exception as exc:
            self._carbon_failed = True
            log.warning("the run's carbon is not predicted (energy and time are): %s", exc)
            return None

    def _over_budget(self, reason: str) -> None:
        if self.budget_reason is not None:
            return
        assert self.budget is not None
        self.budget_reason = reason
        latest = self.prediction()
        if self._store is not None and self.id is not None:
            try:
                self._store.update_info(self.id, {"budget": {
                    **dataclasses.asdict(self.budget), "exceeded": reason,
                    "prediction": latest}})
            except Exception as exc:
                self._warn_store(exc)
        if self.budget.action == "warn":
            if not self.quiet or self.on_prediction is not None:
                sys.stderr.write(f"wattprint: warning: the budget will be exceeded: {reason}\n")
            else:
                log.warning("the run's budget will be exceeded: %s", reason)
        elif self.budget.action == "stop" and self.budget_stopper is not None:
            self.budget_stopper(reason)

    def _budget_status(self) -> tuple[str, str] | None:
        """``("stopped", why)`` when the budget ended the run, else ``None``."""
        if self.budget_reason is None or self.budget is None or self.budget.action == "warn":
            return None
        return "stopped", f"stopped by the budget: {self.budget_reason}"


__all__ = ["PREDICTION_WAIT_S", "print_prediction"]
