"""Finalising a run on a signal or at interpreter exit.

**Signals** (SIGTERM, SIGINT, SIGHUP, SIGUSR1/SIGUSR2; see
:mod:`wattprint.signals` and docs/lifecycle.md). A run can be finalised by
three threads: the main thread (:meth:`Tracker.stop`, leaving the ``with``
block, or at exit), or the signal finaliser's worker thread. The main thread
writes to the store too (metrics, phases, units), under the store's lock,
and a signal handler runs in the main thread between any two of its
bytecodes, perhaps inside such a write. So the handler never finalises: it
records the signal and writes one byte to a pipe, nothing else. The
finaliser thread then does the same :meth:`Tracker._finish` as
:meth:`Tracker.stop` (stop and join the sampler, write the last intervals,
set the status ``terminated`` or ``interrupted`` with the signal's name)
while the main thread keeps running. That is why it cannot deadlock: the
only thread that can hold the store's lock while the finaliser waits for it
is one that is still running, so it lets go, and no thread ever waits for
the main thread. A write the main thread had open when the signal struck
either commits or is rolled back (the store rolls back on any exception,
``KeyboardInterrupt`` included). After at most
:data:`~wattprint.signals.FINALISE_BUDGET_S` the signal is raised again and
acts as it would have untracked: the process dies of it, ``KeyboardInterrupt``
is raised, or the program's own handler (installed before :func:`track`)
runs. ``_finish`` runs once, whoever comes first; :meth:`Tracker.stop`
called while a signal is being finalised waits for that (bounded) and the run
keeps the signal's status.
"""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING

from wattprint.signals import SignalFinaliser, signal_outcome

if TYPE_CHECKING:
    from wattprint.store import Store


class _SignalHandling:
    """Signal and exit hooks of a run (mixed into :class:`wattprint.run.Tracker`)."""

    _handle_signals: bool
    _atexit_registered: bool
    _signals: SignalFinaliser | None
    _owner_pid: int
    _stopped: bool
    _store: Store | None
    id: str | None

    if TYPE_CHECKING:
        def _finish(self, *, exit_code: int | None, error: str | None,
                    status: str | None) -> None: ...

        def stop(self, *, exit_code: int | None = None, error: str | None = None,
                 status: str | None = None) -> object: ...

        def _warn_store(self, exc: BaseException) -> None: ...

    def _install_handlers(self) -> None:
        if not self._handle_signals:
            return
        if not self._atexit_registered:
            atexit.register(self._atexit)
            self._atexit_registered = True
        finaliser = SignalFinaliser(self._on_signal)
        if finaliser.install():
            self._signals = finaliser

    def _on_signal(self, signum: int, default_action: bool) -> None:
        """Finalise on a signal; runs in the signal finaliser's worker thread, never a handler.

        With the signal's default action the process ends as a shell reports
        it (``128 + N``); when the program's own handler decides, the exit code
        is not known yet and is left empty.
        """
        final, reason = signal_outcome(signum)
        self._finish(exit_code=128 + signum if default_action else None, error=reason,
                     status=final)

    def _atexit(self) -> None:
        if os.getpid() != self._owner_pid:
            return  # a forked child inherited this hook: the run belongs to the parent
        # start() without stop(): the program ended, so the run did; record it as
        # finished at exit (an uncaught exception is not visible from here)
        if (self._signals is None or self._signals.received is None) and not self._stopped \
                and self._store is not None and self.id is not None:
            try:
                self._store.update_info(self.id, {"stopped": "at interpreter exit"})
            except Exception as exc:
                self._warn_store(exc)
        self.stop()

