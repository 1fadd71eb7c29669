"""``wattprint run --epochs``: epoch ends read from the command's output, and budget stops.

The command marks the end of each epoch by printing (or logging) a line
holding the word ``WATTPRINT_EPOCH`` on stdout or stderr. :class:`EpochWatcher`
reads both streams from pipes, writes every byte on to wattprint's own
stdout and stderr as soon as it is read (the output passes through
unchanged: nothing is held back waiting for a line's end), and calls back
at each marker line. A Python command is started with ``PYTHONUNBUFFERED=1``
so that its lines reach the pipe when printed; other programs flush their
output after the marker.

:class:`BudgetStop` ends the command when its budget will be exceeded: a
SIGTERM to its process group (to the command alone when it shares
wattprint's group, on an interactive terminal), then SIGKILL if it is still
running after the grace period.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import IO, TYPE_CHECKING

from wattprint.cli.plain import echo

if TYPE_CHECKING:
    from wattprint.schedule.controller import PauseController

#: the marker of an epoch's end, as a word anywhere in a line (so a logger's prefix is fine)
EPOCH_MARKER = re.compile(rb"\bWATTPRINT_EPOCH\b")

#: the longest partial line kept while waiting for its end (a longer one is scanned in part)
MAX_LINE_BYTES = 1 << 16

#: how long, once the command has exited, to wait for its pipes to close (a process it
#: left behind may hold them open)
DRAIN_WAIT_S = 5.0


class EpochWatcher:
    """Passes the command's stdout and stderr through, calling ``on_epoch`` at each marker.

    Args:
        child: the command, started with ``stdout`` and ``stderr`` as pipes.
        on_epoch: called (from a reader thread) at each marker line.
        stdout_fd: where the command's stdout goes (default 1).
        stderr_fd: where its stderr goes (default 2).
    """

    def __init__(self, child: subprocess.Popen[bytes], on_epoch: Callable[[], None],
                 stdout_fd: int = 1, stderr_fd: int = 2) -> None:
        self.on_epoch = on_epoch
        self.markers = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._pump, args=(pipe, fd), name=f"wattprint-pipe-{fd}",
                             daemon=True)
            for pipe, fd in ((child.stdout, stdout_fd), (child.stderr, stderr_fd))
            if pipe is not None
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, pipe: IO[bytes], out_fd: int) -> None:
        source = pipe.fileno()
        partial = b""
        writable = True
        while True:
            try:
                data = os.read(source, 1 << 16)
            except OSError:
                break
            if not data:
                break
            if writable:
                writable = _write_all(out_fd, data)
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            if len(partial) > MAX_LINE_BYTES:
                partial = partial[-64:]
            for line in lines:
                if EPOCH_MARKER.search(line):
                    self._marked()
        if partial and EPOCH_MARKER.search(partial):
            self._marked()
        with suppress(OSError):
            pipe.close()

    def _marked(self) -> None:
        with self._lock:  # one epoch at a time, whichever stream it came on
            self.markers += 1
            try:
                self.on_epoch()
            except Exception as exc:  # a failed prediction never stops the pass-through
                echo(f"wattprint: epoch {self.markers} not recorded: {exc}")

    def close(self, timeout_s: float = DRAIN_WAIT_S) -> None:
        """Wait for both streams to end (at most ``timeout_s`` in all)."""
        for thread in self._threads:
            thread.join(timeout_s)


def _write_all(fd: int, data: bytes) -> bool:
    """Write every byte; ``False`` once the destination is gone (then only drain)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return False
        view = view[n:]
    return True


class BudgetStop:
    """Ends the command when its budget will be exceeded (a budget's ``stop`` action).

    Args:
        child: the command.
        own_group: the command leads its own process group (wattprint is not interactive).
        grace_s: seconds between SIGTERM and SIGKILL.
        controller: a pausing controller, stopped first (a paused job acts on
            SIGTERM only once continued).
    """

    def __init__(self, child: subprocess.Popen[bytes], own_group: bool, grace_s: float,
                 controller: PauseController | None = None) -> None:
        self.child = child
        self.own_group = own_group
        self.grace_s = grace_s
        self.controller = controller
        #: why the command was stopped (``None`` until it is)
        self.reason: str | None = None
        self.killed = False

    def __call__(self, reason: str) -> None:
        """Stop the command: SIGTERM now, SIGKILL after the grace period."""
        if self.reason is not None or self.child.poll() is not None:
            return
        self.reason = reason
        echo(f"wattprint: stopping the command: the budget will be exceeded: {reason}")
        if self.controller is not None:
            with suppress(Exception):
                self.controller.stop("budget exceeded")
        self._send(signal.SIGTERM)
        timer = threading.Timer(self.grace_s, self._kill)
        timer.daemon = True
        timer.start()

    def _kill(self) -> None:
        if self.child.poll() is None:
            self.killed = True
            echo(f"wattprint: the command did not end within {self.grace_s:g} s of SIGTERM; "
                 "sending SIGKILL")
            self._send(signal.SIGKILL)

    def _send(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            if self.own_group:
                os.killpg(self.child.pid, signum)
            else:
                self.child.send_signal(signum)


__all__ = ["EPOCH_MARKER", "BudgetStop", "EpochWatcher"]
