"""Behaviour of the overhead benchmark (bench/bench_overhead.py): no timing assertions."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from wattprint.testing.powercap import PowercapTree

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = _load("bench_overhead")


def _trial(**values: Any) -> dict[str, Any]:
    base = {"cpu_s": 0.0, "wall_s": 1.0, "import_start_s": 0.0, "work_bg_cpu_s": 0.0,
            "work_main_cpu_s": 0.0, "work_wall_s": 1.0, "sensors": []}
    return {**base, **values}


def test_splice_keeps_other_sections_and_prose_and_replaces_only_the_results() -> None:
    doc = ("# Benchmarks\n\n## What-if engine\n\nkeep me\n\n"
           "## Tracking overhead\n\nhand-written findings\n\n## Later\n\nlater text\n")
    once = bench.splice(doc, "TABLE 1")
    assert once == ("# Benchmarks\n\n## What-if engine\n\nkeep me\n\n"
                    "## Tracking overhead\n\nhand-written findings\n\n"
                    f"{bench.BEGIN}\nTABLE 1\n{bench.END}\n\n## Later\n\nlater text\n")
    twice = bench.splice(once, "TABLE 2")
    assert twice == once.replace("TABLE 1", "TABLE 2")


def test_splice_appends_the_section_with_its_method_text_when_missing() -> None:
    out = bench.splice("# Benchmarks\n\n## Other\n\ntext\n", "T")
    assert out.startswith("# Benchmarks\n\n## Other\n\ntext\n\n## Tracking overhead\n\n")
    assert out.endswith(f"{bench.BEGIN}\nT\n{bench.END}\n")
    assert bench.INTRO in out
    assert bench.splice("", "T").startswith("# Benchmarks\n\n## Tracking overhead\n")


def test_summarise_pairs_each_trial_with_its_rounds_baseline() -> None:
    config = bench.Config("wp-1", "wattprint, 1 s", "wattprint", 1.0, "python")
    trials = [_trial(cpu_s=10.2, work_main_cpu_s=10.1, wall_s=10.4, work_wall_s=10.0,
                     import_start_s=0.040, work_bg_cpu_s=0.01,
                     sensors=["model:cpu (estimated)"]),
              _trial(cpu_s=10.5, work_main_cpu_s=10.3, wall_s=10.0, work_wall_s=8.0,
                     import_start_s=0.060, work_bg_cpu_s=0.04),
              _trial(cpu_s=10.1, work_main_cpu_s=9.95, wall_s=10.2, work_wall_s=5.0,
                     import_start_s=0.050, work_bg_cpu_s=0.01)]
    baseline = [_trial(cpu_s=10.0, work_main_cpu_s=10.0, wall_s=10.0),
                _trial(cpu_s=10.0, work_main_cpu_s=10.0, wall_s=10.0),
                _trial(cpu_s=10.2, work_main_cpu_s=10.19, wall_s=10.0)]
    row = bench.summarise(config, trials, baseline)
    # tracker CPU per round: 0.1 - 0, 0.2 - 0, 0.15 - 0.01 -> 0.1, 0.2, 0.14
    assert row.tracker_cpu_s.median == pytest.approx(0.14)
    # sampling per 10 s of wall: 0.01 x 10/10, 0.04 x 10/8, 0.01 x 10/5 -> 0.01, 0.05, 0.02
    assert row.sampling_cpu_s_per_10s.median == pytest.approx(0.02)
    # whole-process extra CPU per round: 0.2, 0.5, -0.1 -> median 0.2
    assert row.extra_cpu_s.median == pytest.approx(0.2)
    assert (row.extra_cpu_s.low, row.extra_cpu_s.high) == pytest.approx((-0.1, 0.5))
    # wall ratios 1.04, 1.0, 1.02
    assert row.wall_ratio.median == pytest.approx(1.02)
    assert row.import_start_ms.median == pytest.approx(50.0)
    assert row.sensors == "model:cpu (estimated)"
    untracked = bench.summarise(bench.Config("untracked", "untracked", "untracked", 0.0, "p"),
                                baseline, None)
    assert untracked.extra_cpu_s is None and untracked.tracker_cpu_s is None
    assert untracked.sensors == "none"


def test_targets_compare_with_codecarbon_column_by_column() -> None:
    def stat(value: float) -> Any:
        return bench.Stat(value, value, value)

    wp = bench.Row("wp-1", "wattprint, 1 s", "s", stat(30.0), stat(0.08), stat(0.02),
                   stat(0.3), stat(1.2))
    cc = bench.Row("cc-1", "codecarbon, 1 s", "s", stat(900.0), stat(1.5), stat(0.01),
                   stat(1.6), stat(1.1))
    idle = bench.IdleRow("100 Hz", "s", stat(0.5), stat(100.0))
    verdicts = [v for _, _, v in bench.targets({"wp-1": wp, "cc-1": cc}, idle)]
    # 30 <= 50 ms; tracker CPU 0.08 > 0.05 s; sampling 0.02 <= 0.05 s; below codecarbon:
    # import yes, tracker CPU yes, sampling no, whole-process CPU yes, wall ratio no;
    # 0.5 % < 1 %
    assert verdicts == ["met", "**not met**", "met", "met", "met", "**not met**", "met",
                        "**not met**", "met"]
    alone = [v for _, _, v in bench.targets({"wp-1": wp}, None)]
    assert alone[3:] == ["not measured"] * 5


def test_trial_child_tracks_with_the_sensors_it_was_pointed_at(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.add_package(0, energy_uj=5_000_000)
    tree.add_dram(0, energy_uj=1_000_000)
    out = tmp_path / "trial.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTPRINT_")}
    env.update({"WATTPRINT_HOME": str(tmp_path / "home"), "WATTPRINT_SENSORS": "rapl",
                "WATTPRINT_SYSFS_ROOT": str(tree.sysfs_root),
                "XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    proc = subprocess.run(
        [sys.executable, str(BENCH / "_overhead_trial.py"), "--config", "idle-wattprint",
         "--interval", "0.01", "--sleep-s", "0.3", "--out", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["config"] == "idle-wattprint"
    assert sorted(result["sensors"]) == ["rapl:dram-0 (measured)", "rapl:package-0 (measured)"]
    # the counters never moved: exactly 0 J, over many 10 ms ticks in 0.3 s
    assert result["energy_j"] == 0.0
    assert result["ticks"] >= 5
    assert result["import_start_s"] > 0.0
    assert result["work_cpu_s"] >= 0.0 and result["cpu_s"] >= result["work_cpu_s"]


def test_untracked_trial_does_the_same_work_per_unit(tmp_path: Path) -> None:
    trial = _load("_overhead_trial")
    one = trial.work(1)
    assert trial.work(3) == pytest.approx(3 * one)
    result = trial.run_trial("untracked", 1.0, 2, 0.0)
    assert result["import_start_s"] < result["wall_s"]
    assert result["sensors"] == []
    assert result["checksum"] == pytest.approx(2 * one)
