"""How long the ``wattprint`` CLI takes to start, beside codecarbon's CLI.

Each command is run as a fresh process, ``--runs`` times after ``--warmup``
discarded runs, the commands alternated round-robin so that a change in
machine load hits them all alike. For each we report the median and minimum
wall time and the median CPU time (user + system of the process and its
children, from ``getrusage``): on a shared machine the wall time moves with
the load while the CPU time barely does. ``wattprint run -- true`` is also
shown less ``true`` alone: the time ``run`` adds to a job, carbon summary
included (``-q`` leaves the summary out).

wattprint is started the way its console script starts it
(``from wattprint.cli import main; main()``), from the ``src/`` of this
checkout, with a temporary ``WATTPRINT_HOME``. ``PYTHONDONTWRITEBYTECODE``
is removed from the environment: with it set, an editable install compiles
every module again at each start, which is not what an installed package
does.

Usage::

    python bench/bench_cli_start.py --codecarbon /path/to/venv/bin/codecarbon
    python bench/bench_cli_start.py --runs 5 --no-write     # quick look, writes nothing

Without ``--codecarbon`` (or ``CODECARBON_CLI``), a ``codecarbon`` on PATH is
used if there is one, else its row is left out with a note.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## CLI start-up"
BEGIN = "<!-- cli-start:begin (written by bench/bench_cli_start.py) -->"
END = "<!-- cli-start:end -->"
INTRO = """\
How long a command takes from the shell's point of view: `wattprint --help`,
`wattprint --version`, and `wattprint run -- true` less `true` alone (what
wrapping a job in `wattprint run` adds, the energy table and carbon summary
included), beside `codecarbon --help`. Each command is a fresh process,
alternated round-robin; wall time is the median (minimum in brackets), CPU
is the median user + system time. `PYTHONDONTWRITEBYTECODE` is unset so
that compiled modules are reused as in an installed package. Targets:
`--help` at most 150 ms, `run -- true` at most 150 ms more than `true`.
Reproduce with `python bench/bench_cli_start.py`.
"""

MAIN = "import sys; from wattprint.cli import main; sys.argv[0] = 'wattprint'; main()"


@dataclass(frozen=True)
class Command:
    """One command line to time."""

    label: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Timing:
    """Median and minimum wall time and median CPU time of a command, in ms."""

    label: str
    wall_ms: float
    wall_min_ms: float
    cpu_ms: float


def wattprint(*args: str) -> tuple[str, ...]:
    """The argv that starts this checkout's CLI as its console script does."""
    return (sys.executable, "-c", MAIN, *args)


def commands(codecarbon: str | None) -> list[Command]:
    """What is timed (``true`` first: the baseline of ``run``)."""
    true = shutil.which("true") or "true"
    found = [
        Command("`true`", (true,)),
        Command("`python -c pass` (interpreter start)", (sys.executable, "-c", "pass")),
        Command("`wattprint --help`", wattprint("--help")),
        Command("`wattprint --version`", wattprint("--version")),
        Command("`wattprint run -- true`", wattprint("run", "--", true)),
        Command("`wattprint run -q -- true` (no summary)", wattprint("run", "-q", "--", true)),
    ]
    if codecarbon:
        found.append(Command("`codecarbon --help`", (codecarbon, "--help")))
    return found


def environment(home: Path) -> dict[str, str]:
    """The children's environment: this checkout's source, a fresh store, bytecode reused."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env["WATTPRINT_HOME"] = str(home)
    env["COLUMNS"] = "100"
    return env


def time_once(argv: tuple[str, ...], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(cmds: list[Command], runs: int, warmup: int, env: dict[str, str]) -> list[Timing]:
    """Time every command ``runs`` times, round-robin, after ``warmup`` rounds."""
    walls: dict[str, list[float]] = {c.label: [] for c in cmds}
    cpus: dict[str, list[float]] = {c.label: [] for c in cmds}
    for round_ in range(warmup + runs):
        order = cmds[round_ % len(cmds):] + cmds[:round_ % len(cmds)]
        for cmd in order:
            wall, cpu = time_once(cmd.argv, env)
            if round_ >= warmup:
                walls[cmd.label].append(wall)
                cpus[cmd.label].append(cpu)
    return [Timing(c.label, 1e3 * statistics.median(walls[c.label]),
                   1e3 * min(walls[c.label]), 1e3 * statistics.median(cpus[c.label]))
            for c in cmds]


def render(timings: list[Timing], runs: int, load: tuple[float, float],
           note: str | None) -> str:
    """The markdown results block."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Measured {date} ({runs} runs each) on {os.cpu_count()} CPUs of {cpu}, "
             f"{platform.system()} {platform.release()}, Python {platform.python_version()}. "
             f"Load average {load[0]:.2f} before, {load[1]:.2f} after.", "",
             "| command | wall, median (min) ms | CPU, median ms |", "|---|---:|---:|"]
    for t in timings:
        lines.append(f"| {t.label} | {t.wall_ms:.0f} ({t.wall_min_ms:.0f}) | {t.cpu_ms:.0f} |")
    by = {t.label: t for t in timings}
    base = by["`true`"]
    lines.append("")
    for label in ("`wattprint run -- true`", "`wattprint run -q -- true` (no summary)"):
        t = by[label]
        lines.append(f"- {label} adds {t.wall_ms - base.wall_ms:.0f} ms wall "
                     f"(min {t.wall_min_ms - base.wall_min_ms:.0f} ms), "
                     f"{t.cpu_ms - base.cpu_ms:.0f} ms CPU to `true`.")
    if note:
        lines.append(f"- {note}")
    return "\n".join(lines)


def splice(doc: str, block: str) -> str:
    """Put ``block`` between this section's markers; add the section if it is missing."""
    marked = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in doc and END in doc and doc.index(BEGIN) < doc.index(END):
        head, rest = doc.split(BEGIN, 1)
        return head + marked + rest.split(END, 1)[1]
    if not doc.strip():
        doc = "# Benchmarks\n"
    return doc.rstrip("\n") + f"\n\n{SECTION}\n\n{INTRO}\n{marked}\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the results and (unless ``--no-write``) record them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=2, help="discarded runs per command")
    parser.add_argument("--codecarbon", default=os.environ.get("CODECARBON_CLI"),
                        help="codecarbon's CLI (default: CODECARBON_CLI, else on PATH)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the results without writing docs/benchmarks.md")
    args = parser.parse_args(argv)
    codecarbon = args.codecarbon or shutil.which("codecarbon")
    note = None if codecarbon else "codecarbon's CLI was not found; its row is left out."
    with tempfile.TemporaryDirectory(prefix="wattprint-bench-") as home:
        env = environment(Path(home))
        load_before = os.getloadavg()[0]
        timings = measure(commands(codecarbon), args.runs, args.warmup, env)
        load_after = os.getloadavg()[0]
    block = render(timings, args.runs, (load_before, load_after), note)
    print(block)
    if not args.no_write:
        DOC.write_text(splice(DOC.read_text(encoding="utf-8") if DOC.exists() else "", block),
                       encoding="utf-8")
        print(f"\nwritten to {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
