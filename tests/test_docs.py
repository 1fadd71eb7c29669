"""Every code block in README.md and docs/*.md runs as written.

Each fenced block in ``bash``, ``sh``, ``console`` or ``python`` is one test,
named by its file and line:

* **bash / sh / console** blocks run under ``bash -e`` in a sandbox: a
  temporary ``WATTPRINT_HOME`` with a seeded store (two finished runs of the
  project ``resnet``, ids ``6b12...`` and ``9f3a...``), a fake powercap tree
  (``WATTPRINT_SYSFS_ROOT``), ``wattprint`` and ``python`` on ``PATH`` (this
  interpreter), and the files the examples name (``train.py``, ``infer.py``,
  ``hourly.csv``, ``mine.csv``, ``forecast.csv``, ``emissions.csv``).
  ``console`` blocks run their ``$ `` lines.
* **python** blocks run in this process, in the sandbox, in one namespace per
  Markdown file (in file order), so a block may use what an earlier block of
  the same file defined.

A Markdown comment on the line before a block says how to treat it:

* ``<!-- docs-test: skip (needs an NVIDIA GPU) -->``: not run; reported as
  skipped with its file, line and reason in the pytest summary (``-ra``).
  For blocks that need hardware, a server, the network, root, or minutes.
* ``<!-- docs-test: fixture=NAME[,NAME] -->``: run after the named preludes
  (:data:`PRELUDES`) define what the block takes from the reader's own code
  (``starts_s``, ``model``, ``prompts``...).
* ``<!-- docs-test: file=NAME -->`` on a block of any language: the block is
  written to ``NAME`` in the sandbox before the file's blocks run (a CSV the
  next example reads).
"""

from __future__ import annotations

import calendar
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN_LANGS = ("bash", "sh", "console", "python")
FIXTURES = REPO / "tests" / "fixtures"

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<what>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: Path
    line: int
    lang: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, with the docs-test marker just before each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = _MARKER.match(before)
        body = textwrap.dedent("\n".join(lines[i + 1:j])) + "\n"
        out.append(Block(page, i + 1, m.group("lang"), body,
                         marker.group("what") if marker else None))
        i = j + 1
    return out


ALL_BLOCKS = [b for page in PAGES for b in read_blocks(page)]
RUNNABLE = [b for b in ALL_BLOCKS if b.lang in RUN_LANGS]


# ---------------------------------------------------------------------------- the sandbox

T_SEED = 1_714_557_600.0  # 2024-05-01T10:00:00Z


def _seed_store(home: Path) -> None:
    from wattprint.store import DeviceRecord, IntervalRecord, Store

    store = Store(home / "wattprint.db")
    for n, (rid, name, accuracy, gpu_w) in enumerate([
            ("6b12a8f0c3d4e5f6", "fp32", 0.91, 300.0), ("9f3a41b2c6d7e8f9", "bf16", 0.90, 220.0)]):
        t0 = T_SEED + n * 7200
        store.create_run(project="resnet", phase="training", attribution="machine",
                         interval_s=600, started_at=t0, name=name, region="DE", run_id=rid)
        store.add_devices(rid, [
            DeviceRecord("rapl:package-0", "cpu", "Xeon Gold 6248", "rapl", True, True, None,
                         "whole-device"),
            DeviceRecord("nvml:GPU-0", "gpu", "NVIDIA A100-SXM4-80GB", "nvml", True, True,
                         None, "whole-device")])
        store.append_intervals(rid, [
            rec for k in range(6)
            for rec in (IntervalRecord("rapl:package-0", t0 + 600 * k, t0 + 600 * (k + 1),
                                       60.0 * 600, 60.0 * 600),
                        IntervalRecord("nvml:GPU-0", t0 + 600 * k, t0 + 600 * (k + 1),
                                       gpu_w * 600, gpu_w * 600))])
        store.log_metric(rid, "accuracy", accuracy, 1, t0 + 3600)
        store.add_units(rid, "samples", 50_000)
        store.finish_run(rid, status="finished", ended_at=t0 + 3600, exit_code=0)


def _hourly_csv(path: Path, first_s: float, hours: int, *, region: str | None = None) -> None:
    rows = ["timestamp,g_per_kwh" + (",region" if region else "")]
    for h in range(hours):
        t = first_s + 3600 * h
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        value = 300 + 120 * ((h % 24) - 12) ** 2 / 144 - 40 * ((h // 24) % 7 == 5)
        rows.append(f"{stamp},{value:.1f}" + (f",{region}" if region else ""))
    path.write_text("\n".join(rows) + "\n")


_WORKLOAD = "import sys\nsum(i * i for i in range(200_000))  # a small real workload\n"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The folder the examples run in, and the environment they see."""
    from wattprint.testing.powercap import PowercapTree

    root = tmp_path_factory.mktemp("docs")
    home = root / "home"
    home.mkdir()
    _seed_store(home)
    tree = PowercapTree(root / "sysfs")
    tree.add_package(0, energy_uj=1_000_000)
    tree.add_dram(0, energy_uj=250_000)
    work = root / "work"
    work.mkdir()
    for script in ("train.py", "infer.py"):
        (work / script).write_text(_WORKLOAD)
    now_h = time.time() // 3600 * 3600
    _hourly_csv(work / "hourly.csv", now_h - 60 * 86400, 61 * 24)
    _hourly_csv(work / "mine.csv", now_h - 60 * 86400, 61 * 24, region="X")
    _hourly_csv(work / "forecast.csv", calendar.timegm((2025, 6, 1, 0, 0, 0)), 48)
    shutil.copy(FIXTURES / "peers" / "codecarbon" / "emissions.csv", work / "emissions.csv")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name, code in (("wattprint", f'exec "{sys.executable}" -m wattprint "$@"\n'),
                       ("python", f'exec "{sys.executable}" "$@"\n'),
                       ("python3", f'exec "{sys.executable}" "$@"\n')):
        (bin_dir / name).write_text("#!/bin/sh\n" + code)
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WATTPRINT_") and k not in ("COLUMNS", "XDG_CONFIG_HOME")}
    env.update(WATTPRINT_HOME=str(home), WATTPRINT_SYSFS_ROOT=str(tree.sysfs_root),
               XDG_CONFIG_HOME=str(root / "xdg"), PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO / "src"),
                                                      env.get("PYTHONPATH")) if p),
               WATTPRINT_QUIET="1", COLUMNS="100")
    for block in ALL_BLOCKS:
        m = re.match(r"file=(\S+)", block.marker or "")
        if m:
            (work / m.group(1)).write_text(block.text)
    return {"root": root, "work": work, "home": home, "env": env,
            "namespaces": {}}


# ---------------------------------------------------------------------------- preludes

#: what a block marked ``fixture=NAME`` takes from the reader's own code
PRELUDES: dict[str, str] = {
    "intervals": """
import numpy as np
starts_s = np.array([1709251200.0, 1709252100.0])   # 2024-03-01T00:00Z, 00:15Z
ends_s = starts_s + 900.0
energy_j = np.array([3.6e6, 1.8e6])
""",
    "forecast": """
import time
from wattprint.accounting.series import IntensitySeries
_now_h = time.time() // 3600 * 3600
forecast = IntensitySeries.regular(_now_h, 3600, [300 + 10 * ((h % 24) - 12) for h in range(48)],
                                   region="DE")
deadline = _now_h + 24 * 3600
""",
    "model": """
class _Model:
    def generate(self, prompt):
        return sum(i * i for i in range(20_000))
model = _Model()
prompts = ["a", "b", "c"]
""",
    "checkpoint": """
def save_checkpoint():
    pass
""",
    "hardware-settings": """
settings = {"utilization": 0.6, "gpu": {"A100-SXM4-80GB": {"embodied_kg": 180, "idle_w": 60}}}
""",
    "fastapi-app": """
from fastapi import FastAPI
from wattprint.serve.middleware import EnergyMiddleware
app = FastAPI()
""",
    "store": """
import os
path = os.path.join(os.environ["WATTPRINT_HOME"], "wattprint.db")
""",
    "tmp_path": """
import tempfile, pathlib
tmp_path = pathlib.Path(tempfile.mkdtemp())
""",
    "appendix": """
from wattprint.accounting.account import AccountingOptions as _Opts
from wattprint.report.appendix import run_appendix as _run_appendix
from wattprint.report.render_html import appendix_html as _appendix_html
from wattprint.store import Store as _Store
import os as _os
_store = _Store(_os.path.join(_os.environ["WATTPRINT_HOME"], "wattprint.db"))
with open("appendix.html", "w", encoding="utf-8") as _f:
    _f.write(_appendix_html(_run_appendix(_store, "6b12", _Opts(region="DE"))))
""",
}


def _marker_fixtures(block: Block) -> list[str]:
    m = re.match(r"fixture=(\S+)", block.marker or "")
    return m.group(1).split(",") if m else []


def _skip_reason(block: Block) -> str | None:
    m = re.match(r"skip\s*(?:\((?P<why>.*)\))?", block.marker or "")
    if m is None:
        return None
    return m.group("why") or "marked skip"


# ---------------------------------------------------------------------------- the tests


def test_every_block_is_found_and_every_marker_is_known() -> None:
    assert len(RUNNABLE) >= 40
    for block in ALL_BLOCKS:
        if block.marker is None:
            continue
        assert re.match(r"(skip \(.+\)|fixture=[\w.,-]+|file=\S+)$", block.marker), (
            f"{block.where}: unknown docs-test marker {block.marker!r}")
        for name in _marker_fixtures(block):
            assert name in PRELUDES, f"{block.where}: no prelude named {name!r}"


def _run_shell(block: Block, sandbox: dict[str, Any]) -> None:
    script = block.text
    if block.lang == "console":
        script = "\n".join(line[2:] for line in script.splitlines() if line.startswith("$ "))
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=sandbox["work"],
                          env=sandbox["env"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{block.where}: exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}"
        f"\n--- stderr\n{done.stderr[-3000:]}")


def _run_python(block: Block, sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sandbox["env"].items():
        if key.startswith("WATTPRINT_") or key in ("XDG_CONFIG_HOME", "COLUMNS"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(sandbox["work"])
    namespace = sandbox["namespaces"].setdefault(block.page, {"__name__": "__docs__"})
    done: set[int] = namespace.setdefault("__docs_blocks_run__", set())
    # the earlier blocks of the page first, when this one is selected alone (-k)
    earlier = [b for b in RUNNABLE if b.page == block.page and b.lang == "python"
               and b.line < block.line and b.line not in done and _skip_reason(b) is None]
    for b in [*earlier, block]:
        for name in _marker_fixtures(b):
            exec(compile(PRELUDES[name], f"<prelude {name}>", "exec"), namespace)
        exec(compile(b.text, b.where, "exec"), namespace)
        done.add(b.line)


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_block_runs_as_written(block: Block, sandbox: dict[str, Any],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    reason = _skip_reason(block)
    if reason is not None:
        pytest.skip(f"{block.where}: {reason}")
    if block.lang == "python":
        _run_python(block, sandbox, monkeypatch)
    else:
        _run_shell(block, sandbox)
