"""A tracked training loop to send signals to; used by tests/test_signals.py.

argv: mode [seconds]
  loop            track(interval_s=0.01) and log metrics in a tight loop, changing
                  phases, until a signal ends it
  handler-before  as loop, with a SIGTERM handler installed before track() that
                  prints "user handler ran" and exits 7
  handler-after   as loop, with that handler (exit 3) installed after track() started
  chain-after     a handler installed after track() that prints and then calls the
                  handler it replaced
  ignore          SIGTERM and SIGHUP ignored before track(); loops SECONDS, exits 0
  usr1-handler    its own SIGUSR1 handler (a checkpoint notice); loops until it ran,
                  then SECONDS more, prints "checkpointed" and exits 0

Prints "ready <run id>" once tracking has started. Sensors come from the
environment (the tests point WATTPRINT_SYSFS_ROOT at a fake powercap tree).
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

import wattprint

mode = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
notice: list[int] = []


def user_handler(code: int) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        print("user handler ran", flush=True)
        sys.exit(code)

    signal.signal(signal.SIGTERM, handler)


if mode == "handler-before":
    user_handler(7)
elif mode == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
elif mode == "usr1-handler":
    signal.signal(signal.SIGUSR1, lambda signum, frame: notice.append(signum))

with wattprint.track(project="signals", name="inner", interval_s=0.01) as run:
    if mode == "handler-after":
        user_handler(3)
    elif mode == "chain-after":
        replaced = signal.getsignal(signal.SIGTERM)

        def chained(signum: int, frame: FrameType | None) -> None:
            print("user handler ran", flush=True)
            if callable(replaced):
                replaced(signum, frame)

        signal.signal(signal.SIGTERM, chained)
    print("ready", run.id, flush=True)
    step = 0
    started = time.monotonic()
    notice_at: float | None = None
    while True:
        with run.phase("train" if step % 2 else "eval"):
            for _ in range(5):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                step += 1
        time.sleep(0.0005)  # leave the CPU to the other trials now and then
        if mode == "ignore" and time.monotonic() - started > seconds:
            break
        if mode == "usr1-handler" and notice:
            notice_at = notice_at or time.monotonic()
            if time.monotonic() - notice_at > seconds:
                print("checkpointed", flush=True)
                break
