"""Ending a run on a signal without doing anything unsafe inside a signal handler.

Jobs end by signals: SLURM preemption and ``scancel`` send SIGTERM (and, with
``--signal``, SIGUSR1 or SIGUSR2 some time before), Kubernetes evicts with
SIGTERM, a closed terminal sends SIGHUP and Ctrl-C sends SIGINT. A tracked
run must then be finalised (its last intervals written, its status set) and
the process must end exactly as it would have untracked.

Python runs a signal handler in the main thread, between two bytecodes of
whatever the main thread was doing: perhaps in the middle of a store
transaction, holding the store's lock, or inside the logging module. A
handler that writes to the store or joins the sampler thread there can
deadlock (the sampler waits for the lock the interrupted code holds) or fail
(a transaction inside a transaction). So :class:`SignalFinaliser` splits the
work in two:

1. **The handler only records.** It stores the signal number in an
   attribute and writes one byte to a pipe; no lock, no other I/O.
2. **A watcher thread finalises.** Woken by the byte, it runs the
   finalisation (stop the sampler, write the last intervals, set the status)
   in a worker thread with a time budget (:data:`FINALISE_BUDGET_S`), while
   the main thread carries on and so releases whatever it held. Then it
   raises the same signal again.
3. **The re-raised signal does what the program would have done.** The
   handler sees it is the second delivery, puts every previous handler back
   and dispatches: the default action (``SIG_DFL``: the process dies of the
   signal, exit ``128 + N`` as a shell sees it), ``KeyboardInterrupt`` for
   SIGINT, or the user's own handler, called with the signal and frame.

Signals that were ignored (``SIG_IGN``, e.g. SIGHUP under ``nohup``) stay
ignored: no handler is installed for them. SIGUSR1 and SIGUSR2 are treated
like SIGTERM only when their action is the default (which terminates); when
the program has its own handler for them (a checkpoint on SLURM's warning),
that handler alone runs and the run goes on. A second signal while the first
is being finalised is dropped: the first is acted on within the budget.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

__all__ = ["FINALISE_BUDGET_S", "FINAL_SIGNALS", "SignalFinaliser", "child_outcome",
           "signal_name", "signal_outcome"]

#: The longest a signal waits for the run's finalisation before it is acted on.
FINALISE_BUDGET_S = 1.5

#: Signals whose default action ends the process and that a job receives when it is ended.
FINAL_SIGNALS: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                                  signal.SIGUSR1, signal.SIGUSR2)

#: Signals a program commonly handles itself to do something and go on.
_NOTICE_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)

_CLOSE = b"\0"  # a signal number is never 0


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; ``signal 99`` for a number with no name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def signal_outcome(signum: int) -> tuple[str, str]:
    """The final status of a run ended by ``signum``, and why.

    Returns:
        ``("interrupted", "interrupted by SIGINT")`` for SIGINT (Ctrl-C), else
        ``("terminated", "terminated by SIGTERM")`` with the signal's name.
    """
    if signum == signal.SIGINT:
        return "interrupted", f"interrupted by {signal_name(signum)}"
    return "terminated", f"terminated by {signal_name(signum)}"


def child_outcome(code: int, received: Sequence[int]) -> tuple[int, str | None, str | None]:
    """Exit code, final status and reason of a child that returned ``code`` (Popen style).

    Args:
        code: the child's return code (``-N`` when a signal killed it).
        received: the signals passed on to it, in order.

    Returns:
        The exit code as a shell reports it (``128 + N`` for a death by
        signal N), and the status and reason: ``interrupted`` for SIGINT
        (Ctrl-C), ``terminated`` for any other signal that ended the child or
        a SIGTERM, SIGINT or SIGHUP passed on before it exited; ``None`` for
        both otherwise (the exit code decides). SIGUSR1/SIGUSR2 count only
        when they ended the child: a job that handles them (a checkpoint on
        SLURM's ``--signal`` warning) and exits on its own is judged by its
        exit code.
    """
    exit_code = 128 - code if code < 0 else code
    ending = [s for s in received if s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    signum = -code if code < 0 else (ending[-1] if ending else None)
    if signum is None:
        return exit_code, None, None
    status, reason = signal_outcome(signum)
    return exit_code, status, reason


def _is_finaliser(handler: object) -> bool:
    return isinstance(getattr(handler, "__self__", None), SignalFinaliser)


class SignalFinaliser:
    """Finalises something once when the process is told to end, then lets the signal act.

    Args:
        finalise: called once, from a worker thread, with the signal number
            and whether the signal's own action will end the process
            (``False``: a handler of the program decides). It must not need
            the main thread.
        signals: the signals to handle (default :data:`FINAL_SIGNALS`).
        budget_s: how long the signal waits for ``finalise``.
    """

    def __init__(self, finalise: Callable[[int, bool], None], *,
                 signals: Sequence[int] = FINAL_SIGNALS,
                 budget_s: float = FINALISE_BUDGET_S) -> None:
        self._finalise = finalise
        self._signals = tuple(signals)
        self.budget_s = budget_s
        self._previous: dict[int, Any] = {}
        self._owner_pid = os.getpid()
        self._read_fd = -1
        self._write_fd = -1
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._closed = False
        #: the signal being acted on (set by the handler, never cleared)
        self.received: int | None = None
        #: set by the watcher just before it raises the signal again
        self._redeliver: int | None = None

    # -- setting up and tearing down (main thread, never in a handler) ---------
    def install(self) -> bool:
        """Install the handlers and start the watcher; ``False`` if there was nothing to do.

        Only the main thread can install signal handlers; elsewhere this does nothing.
        """
        if threading.current_thread() is not threading.main_thread() or self._thread is not None:
            return False
        wanted: dict[int, Any] = {}
        for signum in self._signals:
            try:
                previous = signal.getsignal(signum)
            except (ValueError, OSError):
                continue
            if previous == signal.SIG_IGN:
                continue  # stays ignored
            if signum in _NOTICE_SIGNALS and callable(previous) and not _is_finaliser(previous):
                continue  # the program acts on this notice itself
            wanted[signum] = previous
        if not wanted:
            return False
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._thread = threading.Thread(target=self._watch, name="wattprint-signals", daemon=True)
        self._thread.start()
        for signum, previous in wanted.items():
            self._previous[signum] = previous  # known before the handler can run
            try:
                signal.signal(signum, self._handle)
            except (ValueError, OSError):
                del self._previous[signum]
        return True

    def settle(self) -> None:
        """Wait for a received signal's finalisation (bounded); no-op without one.

        Called before finalising the ordinary way, so that a run ending just
        as a signal arrives is finalised once, with the signal's status, and
        the signal is acted on (in the main thread, at the next bytecode).
        """
        if self.received is not None and self._thread is not None:
            self._done.wait(self.budget_s + 0.5)

    def close(self) -> None:
        """Put the previous handlers back (main thread only) and end the watcher; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.restore()
        if self._thread is not None:
            self._wake(_CLOSE)
            if self._thread is not threading.current_thread():
                self._thread.join(self.budget_s + 1.0)
            if not self._thread.is_alive():
                for fd in (self._read_fd, self._write_fd):
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def restore(self) -> None:
        """Put back every previous handler that is still ours (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in list(self._previous.items()):
            try:
                if signal.getsignal(signum) == self._handle:
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass

    # -- the handler: records and wakes, nothing else ------------------------------
    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._owner_pid or self._closed or self._redeliver == signum:
            # a forked copy, a finished run, or the re-raised signal: act as untracked
            self._redeliver = None
            self._pass_on(signum, frame)
            return
        if self.received is not None:
            return  # already being finalised; that signal is acted on within the budget
        self.received = signum
        self._wake(bytes((signum,)))

    def _wake(self, byte: bytes) -> None:
        # a full pipe is awake already; a closed one has nobody to wake
        with contextlib.suppress(OSError):
            os.write(self._write_fd, byte)

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        """Do what the signal would have done without us (in the main thread)."""
        previous = self._previous.get(signum, signal.SIG_DFL)
        self.restore()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    # -- the watcher thread --------------------------------------------------------
    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._read_fd, 64)
            except OSError:
                return
            if not data:
                return
            signum = self.received
            if signum is None:  # a wake to close (a signal recorded as we close is still acted on)
                if self._closed or 0 in data:
                    return
                continue
            default = not self._is_handled(signum)
            worker = threading.Thread(target=self._run_finalise, args=(signum, default),
                                      name="wattprint-finalise", daemon=True)
            worker.start()
            worker.join(self.budget_s)
            self._redeliver = signum
            try:
                os.kill(os.getpid(), signum)
            finally:
                self._done.set()
            return

    def _is_handled(self, signum: int) -> bool:
        """Whether the program's own handler (not a default action) decides what happens."""
        previous = self._previous.get(signum)
        if previous is signal.default_int_handler:
            return False
        return callable(previous) and not _is_finaliser(previous)

    def _run_finalise(self, signum: int, default: bool) -> None:
        try:
            self._finalise(signum, default)
        except Exception:  # never let finalising stop the signal from acting
            import logging

            logging.getLogger(__name__).warning("finalising on %s failed", signal_name(signum),
                                                exc_info=True)
