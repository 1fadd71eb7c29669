"""Signals at random moments: every tracked run is finalised, and the process ends as untracked.

Each trial starts a tracked training loop (tests/helpers/signal_loop.py:
``track(interval_s=0.01)``, metrics in a tight loop, phases changing) on a
fake powercap tree, so sampling, store writes, metric logging and phase
changes all run when the signal comes. The signal is sent after a seeded
random delay. A trial fails if the process is still alive 15 s after the
signal, if its run is not finalised with the signal's status within 10 s, if
the last interval stops short of the signal (more than one interval + 0.5 s
before it), or if the exit status differs from an untracked program's.

The store is read with plain SQL: the store's own readers would mark a run
left ``running`` by a dead process as ``interrupted`` and hide the fault.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from wattprint.run import Tracker
from wattprint.signals import SignalFinaliser, child_outcome
from wattprint.testing.powercap import PowercapTree
from wattprint.testing.sensors import ScriptedSensor

LOOP = Path(__file__).parent / "helpers" / "signal_loop.py"
INTERVAL_S = 0.01
# Bounds for a hang, not a speed target: loose enough for a machine under heavy load
# (the signal tests ran with a load average of 25 on 2 cores, where 2 s was too tight)
END_S = 15.0  # a process still alive this long after the signal is hung
FINAL_S = 10.0  # the run is finalised this soon after the signal
PARALLEL = 4

# What an untracked Python program does on each signal, and the stored outcome:
# (returncode of the Python process, status, error, exit code as a shell sees it)
EXPECTED = {
    signal.SIGTERM: (-15, "terminated", "terminated by SIGTERM", 143),
    signal.SIGINT: (-2, "interrupted", "interrupted by SIGINT", 130),
    signal.SIGUSR1: (-10, "terminated", "terminated by SIGUSR1", 138),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> PowercapTree:
    t = PowercapTree(tmp_path_factory.mktemp("powercap") / "sys")
    t.add_package(0, energy_uj=1_000_000)
    t.add_dram(0, energy_uj=0)
    return t


def _env(tree: PowercapTree, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("WATTPRINT_REGION", "WATTPRINT_PROJECT", "WATTPRINT_INTERVAL",
                "WATTPRINT_ATTRIBUTION", "CUDA_VISIBLE_DEVICES"):
        env.pop(var, None)
    env.update(WATTPRINT_SYSFS_ROOT=str(tree.sysfs_root), WATTPRINT_SENSORS="rapl",
               WATTPRINT_HOME=str(home), XDG_CONFIG_HOME=str(home / "xdg"))
    return env


@dataclass
class Ended:
    returncode: int | None
    output: str
    sent_at: float
    problems: list[str]


def _signal_at_random(cmd: list[str], env: dict[str, str], signum: int, delay_s: float) -> Ended:
    """Start ``cmd``, wait for its "ready <run id>" line, sleep, signal it, wait for its end."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    if not ready.startswith("ready "):
        proc.kill()
        rest, _ = proc.communicate()
        return Ended(proc.returncode, ready + rest, 0.0, [f"no ready line: {ready + rest!r}"])
    time.sleep(delay_s)
    sent_at = time.time()
    proc.send_signal(signum)
    try:
        rest, _ = proc.communicate(timeout=END_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        return Ended(None, ready + rest, sent_at, [f"hung: alive {END_S} s after the signal"])
    return Ended(proc.returncode, ready + rest, sent_at, [])


def _check_run(db: Path, where: str, args: tuple[str], signum: int, sent_at: float,
               label: str) -> list[str]:
    """Problems with the run selected by ``where``: status, reason, timing of its end."""
    _, status, error, exit_code = EXPECTED[signum]
    with sqlite3.connect(db) as conn:
        row = conn.execute(f"SELECT id, status, error, exit_code, ended_at FROM runs WHERE {where}",
                           args).fetchone()
        if row is None:
            return [f"{label}: no run stored"]
        rid, got_status, got_error, got_exit, ended_at = row
        last_end = conn.execute("SELECT MAX(t_end) FROM intervals WHERE run_id = ?",
                                (rid,)).fetchone()[0]
    problems = []
    if (got_status, got_error, got_exit) != (status, error, exit_code):
        problems.append(f"{label}: stored {(got_status, got_error, got_exit)}, "
                        f"expected {(status, error, exit_code)}")
    if ended_at is None or not sent_at - 0.05 <= ended_at <= sent_at + FINAL_S:
        problems.append(f"{label}: ended_at {ended_at} not within {FINAL_S} s after the signal")
    end = min(sent_at, ended_at or sent_at)
    if last_end is None or last_end < end - (INTERVAL_S + 0.5):
        problems.append(f"{label}: last interval ends at {last_end}, the signal at {sent_at}")
    elif ended_at is not None and last_end > ended_at + 1e-6:
        problems.append(f"{label}: an interval ends after the run ({last_end} > {ended_at})")
    return problems


def _tracked_trial(tree: PowercapTree, home: Path, signum: int, delay_s: float) -> list[str]:
    ended = _signal_at_random([sys.executable, str(LOOP), "loop"], _env(tree, home), signum,
                              delay_s)
    problems = list(ended.problems)
    name = signal.Signals(signum).name
    if ended.returncode is not None and ended.returncode != EXPECTED[signum][0]:
        problems.append(f"exit {ended.returncode}, expected {EXPECTED[signum][0]}: "
                        f"{ended.output[-500:]}")
    if not ended.problems or ended.returncode is None:
        problems += _check_run(home / "wattprint.db", "name = ?", ("inner",), signum,
                               ended.sent_at, "run")
    return [f"{name} after {delay_s:.3f} s: {p}" for p in problems]


def _wrapped_trial(tree: PowercapTree, home: Path, signum: int, delay_s: float) -> list[str]:
    cmd = [sys.executable, "-m", "wattprint", "run", "--name", "outer", "--interval",
           str(INTERVAL_S), "--quiet", "--", sys.executable, str(LOOP), "loop"]
    ended = _signal_at_random(cmd, _env(tree, home), signum, delay_s)
    problems = list(ended.problems)
    name = signal.Signals(signum).name
    shell_code = EXPECTED[signum][3]
    if ended.returncode is not None and ended.returncode != shell_code:
        problems.append(f"exit {ended.returncode}, expected {shell_code}: {ended.output[-500:]}")
    if not ended.problems or ended.returncode is None:
        db = home / "wattprint.db"
        problems += _check_run(db, "name = ?", ("outer",), signum, ended.sent_at, "wattprint run")
        problems += _check_run(db, "name = ?", ("inner",), signum, ended.sent_at, "tracked child")
    return [f"{name} after {delay_s:.3f} s: {p}" for p in problems]


def _run_trials(trial: Callable[[PowercapTree, Path, int, float], list[str]],
                tree: PowercapTree, tmp_path: Path, per_signal: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    plan = [(signum, rng.uniform(0.0, 0.4)) for signum in EXPECTED for _ in range(per_signal)]
    rng.shuffle(plan)
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = pool.map(lambda item: trial(tree, tmp_path / f"home{item[0]}", *item[1]),
                           enumerate(plan))
        return [p for problems in results for p in problems]


def test_signals_at_random_moments_finalise_every_tracked_run(tree: PowercapTree,
                                                               tmp_path: Path) -> None:
    problems = _run_trials(_tracked_trial, tree, tmp_path, per_signal=11, seed=20240610)
    assert problems == []


def test_signals_at_random_moments_finalise_wattprint_run_and_its_child(
        tree: PowercapTree, tmp_path: Path) -> None:
    problems = _run_trials(_wrapped_trial, tree, tmp_path, per_signal=6, seed=1017)
    assert problems == []


def _one(tree: PowercapTree, tmp_path: Path, mode: str, signum: int, *extra: str,
         delay_s: float = 0.2) -> tuple[Ended, tuple[str, str | None, int | None, float | None]]:
    home = tmp_path / "home"
    ended = _signal_at_random([sys.executable, str(LOOP), mode, *extra], _env(tree, home),
                              signum, delay_s)
    assert ended.problems == []
    with sqlite3.connect(home / "wattprint.db") as conn:
        row = conn.execute("SELECT status, error, exit_code, ended_at FROM runs").fetchone()
    return ended, row


def test_users_handler_installed_before_track_runs_after_finalising(
        tree: PowercapTree, tmp_path: Path) -> None:
    ended, (status, error, exit_code, ended_at) = _one(tree, tmp_path, "handler-before",
                                                       signal.SIGTERM)
    assert "user handler ran" in ended.output and ended.returncode == 7
    # the program's handler decided the exit, so no exit code is claimed for it
    assert (status, error, exit_code) == ("terminated", "terminated by SIGTERM", None)
    assert ended_at is not None and ended_at - ended.sent_at <= FINAL_S


def test_users_handler_installed_after_track_replaces_ours_and_still_ends_the_run(
        tree: PowercapTree, tmp_path: Path) -> None:
    ended, (status, error, exit_code, _) = _one(tree, tmp_path, "handler-after", signal.SIGTERM)
    assert "user handler ran" in ended.output and ended.returncode == 3
    # the run ended with the program (its SystemExit(3) left the with block)
    assert (status, exit_code) == ("failed", 3) and error is None


def test_users_handler_that_chains_to_the_one_it_replaced_gets_the_full_treatment(
        tree: PowercapTree, tmp_path: Path) -> None:
    ended, (status, error, exit_code, _) = _one(tree, tmp_path, "chain-after", signal.SIGTERM)
    # called at the signal, and again when wattprint raises it once the run is finalised
    assert ended.output.count("user handler ran") == 2 and ended.returncode == -signal.SIGTERM
    assert (status, error, exit_code) == ("terminated", "terminated by SIGTERM", 143)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_an_ignored_signal_stays_ignored(tree: PowercapTree, tmp_path: Path,
                                         signum: int) -> None:
    ended, (status, error, exit_code, _) = _one(tree, tmp_path, "ignore", signum, "0.6")
    assert ended.returncode == 0
    assert (status, error, exit_code) == ("finished", None, None)


def test_sigusr1_handled_by_the_program_is_only_passed_on(tree: PowercapTree,
                                                          tmp_path: Path) -> None:
    ended, (status, error, exit_code, ended_at) = _one(tree, tmp_path, "usr1-handler",
                                                       signal.SIGUSR1, "0.3")
    assert "checkpointed" in ended.output and ended.returncode == 0
    assert (status, error, exit_code) == ("finished", None, None)
    assert ended_at is not None and ended_at >= ended.sent_at + 0.3  # measured to the end


def test_handlers_are_installed_for_the_run_and_put_back_after(home: Path) -> None:
    sensor = ScriptedSensor.counter("cpu", [float(i) for i in range(10_000)])

    def mine(signum: int, frame: object) -> None:
        """A program's own SIGUSR2 handler."""

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                                               signal.SIGUSR1)}
    old_usr2 = signal.signal(signal.SIGUSR2, mine)
    try:
        with Tracker("p", interval_s=0.01, sensor_objects=[sensor]):
            during = {s: signal.getsignal(s) for s in before}
            assert signal.getsignal(signal.SIGUSR2) is mine  # a notice the program handles
        assert all(during[s] != before[s] for s in before)
        assert {s: signal.getsignal(s) for s in before} == before
    finally:
        signal.signal(signal.SIGUSR2, old_usr2)


def test_wattprint_run_counts_a_usr_signal_only_when_it_ended_the_command() -> None:
    # died of the forwarded SIGUSR1: terminated, 128 + 10 as a shell reports it
    assert child_outcome(-10, [signal.SIGUSR1]) == (138, "terminated", "terminated by SIGUSR1")
    # handled it (a checkpoint) and exited 0 on its own: the exit code decides
    assert child_outcome(0, [signal.SIGUSR2]) == (0, None, None)
    # a forwarded SIGTERM the command handled still ended the job
    assert child_outcome(5, [signal.SIGTERM]) == (5, "terminated", "terminated by SIGTERM")
    assert child_outcome(-2, [signal.SIGINT]) == (130, "interrupted", "interrupted by SIGINT")


def test_the_finaliser_runs_off_the_main_thread_before_the_programs_handler() -> None:
    calls: list[tuple[object, ...]] = []

    def programs(signum: int, frame: object) -> None:
        calls.append(("handler", signum, threading.current_thread() is threading.main_thread()))

    def finalise(signum: int, default_action: bool) -> None:
        calls.append(("finalise", signum, default_action,
                      threading.current_thread() is threading.main_thread()))

    old = signal.signal(signal.SIGHUP, programs)
    finaliser = SignalFinaliser(finalise, signals=[signal.SIGHUP])
    try:
        assert finaliser.install()
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 5.0
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # finalised in a worker thread (the program's handler decides, so not the
        # default action), then the program's handler ran in the main thread
        assert calls == [("finalise", signal.SIGHUP, False, False),
                         ("handler", signal.SIGHUP, True)]
        assert signal.getsignal(signal.SIGHUP) is programs  # put back at the second delivery
    finally:
        finaliser.close()
        signal.signal(signal.SIGHUP, old)
