"""End-to-end: `wattprint bench` as a subprocess on a fake powercap tree with known energy.

The benchmarked program is a tiny CPU workload that also advances the fake
package counter by a known amount per repetition, so every per-unit figure
is known by hand. With ``FIRST_CALL_J`` set, its first call per configuration
(the warm-up) advances the counter by that much instead, which must never show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wattprint.testing.powercap import PowercapTree

#: joules per measured repetition, by (batch, precision)
ENERGY_J = {("16", "fp32"): 8.0, ("16", "bf16"): 4.0, ("32", "fp32"): 12.0, ("32", "bf16"): 6.4}


def wattprint(*args: str, env: dict[str, str], timeout: float = 180
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture
def tree(tmp_path: Path) -> PowercapTree:
    t = PowercapTree(tmp_path / "sys")
    t.add_package(0, energy_uj=1_000_000)
    return t


@pytest.fixture
def env(home: Path, tree: PowercapTree) -> dict[str, str]:
    e = dict(os.environ)
    e["WATTPRINT_SYSFS_ROOT"] = str(tree.sysfs_root)
    e["WATTPRINT_SENSORS"] = "rapl"
    e["COLUMNS"] = "80"
    e.pop("CUDA_VISIBLE_DEVICES", None)
    return e


@pytest.fixture
def infer(tmp_path: Path, tree: PowercapTree) -> Path:
    """The workload: burns a little CPU, advances the counter, reports its samples."""
    script = tmp_path / "infer.py"
    counter = tree.zone_dir("intel-rapl:0") / "energy_uj"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        batch, precision = sys.argv[1], sys.argv[2]
        energy_j = {ENERGY_J!r}.get((batch, precision))
        if energy_j is None:
            print("unsupported precision", precision, file=sys.stderr)
            sys.exit(3)
        seen = os.path.join({str(tmp_path)!r}, "seen-" + batch + "-" + precision)
        warm_up = not os.path.exists(seen)
        open(seen, "a").close()
        sum(i * i for i in range(20_000))  # a small real workload
        time.sleep(0.05)
        path = {str(counter)!r}
        now = int(open(path).read())
        step = float(os.environ.get("FIRST_CALL_J", energy_j)) if warm_up else energy_j
        open(path, "w").write(str(now + round(step * 1_000_000)) + "\\n")
        time.sleep(0.05)
        print("WATTPRINT_UNITS", batch, "sample")
        print("WATTPRINT_METRIC accuracy", 0.9 if precision == "fp32" else 0.8)
    """))
    return script


def test_a_2x2_grid_gives_four_configurations_with_exact_energy_per_sample(
        env: dict[str, str], infer: Path, tmp_path: Path) -> None:
    env["FIRST_CALL_J"] = "1000"
    r = wattprint("bench", "--grid", "batch=16,32", "--grid", "precision=fp32,bf16",
                  "--warmup", "1", "--repeat", "2", "--interval", "0.05", "--json",
                  "--", sys.executable, str(infer), "{batch}", "{precision}", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "wattprint.bench/1" and doc["project"] == "bench"
    assert (doc["warmup"], doc["repeat"], doc["failed"]) == (1, 2, 0)
    configs = {c["label"]: c for c in doc["configs"]}
    assert len(configs) == 4
    # two measured repetitions of E joules for 2 x batch samples: E / batch per sample;
    # the warm-up's 1000 J never counts
    expected = {"batch=16 precision=fp32": 0.5, "batch=16 precision=bf16": 0.25,
                "batch=32 precision=fp32": 0.375, "batch=32 precision=bf16": 0.2}
    for label, per_sample_j in expected.items():
        c = configs[label]
        assert c["status"] == "finished" and c["basis"] == "measured" and c["unit"] == "sample"
        assert c["energy_j_per_unit"] == pytest.approx(per_sample_j, rel=1e-9)
        assert c["energy_j"] == pytest.approx(2 * per_sample_j * int(c["params"]["batch"]))
        assert len(c["repetitions"]) == 2 and c["latency_basis"] == "per repetition (wall time)"
        assert c["throughput_per_s"] > 0 and c["mean_power_w"] > 0
    # ranked by energy per sample, lowest first
    assert [c["label"] for c in doc["configs"]] == [
        "batch=32 precision=bf16", "batch=16 precision=bf16", "batch=32 precision=fp32",
        "batch=16 precision=fp32"]
    assert [c["rank"] for c in doc["configs"]] == [1, 2, 3, 4]
    assert doc["configs"][0]["pareto"] is True

    # the configurations are ordinary runs of the project: runs, show, leaderboard, compare
    runs = json.loads(wattprint("runs", "--project", "bench", "--json", env=env).stdout)["runs"]
    assert len(runs) == 4 and {r["status"] for r in runs} == {"finished"}
    first = configs["batch=32 precision=bf16"]["run_id"]
    shown = json.loads(wattprint("show", first, "--json", env=env).stdout)
    assert shown["energy_j"] == pytest.approx(12.8)
    assert shown["tags"]["batch"] == "32" and shown["tags"]["precision"] == "bf16"
    assert shown["units"] == {"sample": 64.0}
    assert [p["name"] for p in shown["phases"]] == ["repeat 1", "repeat 2"]
    board = wattprint("leaderboard", "--project", "bench", "--metric", "accuracy",
                      "--cost", "energy_j_per_sample", "--json", env=env)
    assert board.returncode == 0, board.stderr
    rows = json.loads(board.stdout)["runs"]
    assert len(rows) == 4
    # accuracy against energy per sample: fp32 at 0.375 J and bf16 at 0.2 J are the front
    front = {row["name"].split(" ", 1)[1] for row in rows if row["pareto"]}
    assert front == {"batch=32 precision=fp32", "batch=32 precision=bf16"}
    cmp = wattprint("compare", first, configs["batch=16 precision=fp32"]["run_id"], "--json",
                    env=env)
    assert cmp.returncode == 0, cmp.stderr


def test_a_failing_configuration_is_reported_and_the_others_kept(
        env: dict[str, str], infer: Path, tmp_path: Path) -> None:
    report = tmp_path / "bench.md"
    r = wattprint("bench", "-g", "batch=16", "-g", "precision=fp32,int4,bf16", "--repeat", "1",
                  "--interval", "0.05", "-o", str(report), "--",
                  sys.executable, str(infer), "{batch}", "{precision}", env=env)
    assert r.returncode == 1, r.stderr
    assert ("failed: batch=16 precision=int4: failed, exit code 3 (warm-up failed"
            not in r.stderr)  # no warm-up was asked: the measured repetition failed
    assert "failed: batch=16 precision=int4: failed, exit code 3 (exit code 3), run " in r.stderr
    assert "unsupported precision int4" in r.stderr  # the command's own output, on stderr
    text = report.read_text()
    assert "| 1 | batch=16 precision=bf16 | finished | 250 mJ/sample |" in text
    assert "| 2 | batch=16 precision=fp32 | finished | 500 mJ/sample |" in text
    assert "## Failed configurations" in text
    runs = json.loads(wattprint("runs", "--project", "bench", "--json", env=env).stdout)["runs"]
    assert sorted(r["status"] for r in runs) == ["failed", "finished", "finished"]


def test_the_table_fits_80_columns(env: dict[str, str], infer: Path) -> None:
    r = wattprint("bench", "-g", "batch=16,32", "-g", "precision=fp32", "--repeat", "1",
                  "--interval", "0.05", "-q", "--", sys.executable, str(infer), "{batch}",
                  "{precision}", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(len(line) <= 80 for line in lines), r.stdout
    assert any("375 mJ" in line and "batch=32" in line for line in lines), r.stdout
    assert any("500 mJ" in line and "batch=16" in line for line in lines), r.stdout
    assert "WATTPRINT_UNITS" not in r.stdout + r.stderr  # --quiet hides the command's output


@pytest.mark.parametrize(("args", "message"), [
    (["--grid", "batch16"], "--grid 'batch16' must be NAME=V1,V2,..."),
    (["--grid", "batch=16,,32"], "has an empty value"),
    (["--grid", "batch=16", "--grid", "batch=32"], "--grid batch is given twice"),
    (["--grid", "size=16"], "uses {batch}, which no --grid defines"),
    (["--grid", "batch=16", "--devices", "gpu0"], "neither a GPU index nor"),
])
def test_bad_grid_syntax_is_a_clear_error_and_exit_2(env: dict[str, str], args: list[str],
                                                      message: str) -> None:
    r = wattprint("bench", *args, "--", sys.executable, "-c", "pass", "{batch}", env=env)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    runs = wattprint("runs", "--json", env=env)
    assert json.loads(runs.stdout)["runs"] == []  # nothing ran
