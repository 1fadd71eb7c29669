"""Behaviour of the CLI start-up benchmark (bench/bench_cli_start.py): no timing assertions."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = _load("bench_cli_start")


def test_splice_replaces_only_its_own_results() -> None:
    doc = "# Benchmarks\n\n## Tracking overhead\n\nkeep me\n"
    once = bench.splice(doc, "T1")
    assert once.startswith(doc.rstrip("\n") + "\n\n## CLI start-up\n\n")
    assert once.endswith(f"{bench.BEGIN}\nT1\n{bench.END}\n")
    assert bench.splice(once, "T2") == once.replace("T1", "T2")


def test_render_subtracts_true_from_run() -> None:
    timings = [bench.Timing("`true`", 2.0, 1.0, 1.0),
               bench.Timing("`wattprint run -- true`", 102.0, 91.0, 81.0),
               bench.Timing("`wattprint run -q -- true` (no summary)", 52.0, 41.0, 31.0)]
    text = bench.render(timings, 3, (0.5, 0.7), None)
    assert "| `true` | 2 (1) | 1 |" in text
    assert "- `wattprint run -- true` adds 100 ms wall (min 90 ms), 80 ms CPU to `true`." in text
    assert "adds 50 ms wall (min 40 ms), 30 ms CPU" in text


def test_children_reuse_bytecode_and_use_this_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = bench.environment(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(BENCH.parent / "src")
    assert env["WATTPRINT_HOME"] == str(tmp_path)
