"""End-to-end: the `wattprint` CLI as a subprocess against a fake powercap tree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wattprint.testing.powercap import PACKAGE_MAX_ENERGY_RANGE_UJ, PowercapTree


def wattprint(*args: str, env: dict[str, str], input: str | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, input=input)


@pytest.fixture
def tree(tmp_path: Path) -> PowercapTree:
    t = PowercapTree(tmp_path / "sys")
    t.add_package(0, energy_uj=1_000_000)
    t.add_dram(0, energy_uj=0)
    return t


@pytest.fixture
def env(home: Path, tree: PowercapTree) -> dict[str, str]:
    e = dict(os.environ)
    e["WATTPRINT_SYSFS_ROOT"] = str(tree.sysfs_root)
    e["WATTPRINT_SENSORS"] = "rapl"
    e.pop("CUDA_VISIBLE_DEVICES", None)
    return e


def workload(tmp_path: Path, tree: PowercapTree, package_uj: int, dram_uj: int,
             code: int = 0) -> Path:
    """A child that 'burns' energy by advancing the fake counters, prints, and exits."""
    script = tmp_path / "work.py"
    pkg = tree.zone_dir("intel-rapl:0") / "energy_uj"
    dram = tree.zone_dir("intel-rapl:0:0") / "energy_uj"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        time.sleep(0.3)
        open({str(pkg)!r}, "w").write("{package_uj}\\n")
        open({str(dram)!r}, "w").write("{dram_uj}\\n")
        time.sleep(0.3)
        print("hello from the workload")
        print("to stderr", file=sys.stderr)
        sys.exit({code})
    """))
    return script


def test_run_passes_output_and_exit_code_and_stores_exact_energy(
        tmp_path: Path, tree: PowercapTree, env: dict[str, str]) -> None:
    script = workload(tmp_path, tree, package_uj=31_000_000, dram_uj=5_000_000, code=3)
    result = wattprint("run", "--project", "cli", "--interval", "0.1", "--", sys.executable,
                       str(script), env=env)
    assert result.returncode == 3
    assert result.stdout == "hello from the workload\n"  # untouched: the table goes to stderr
    assert "to stderr" in result.stderr and "rapl" in result.stderr
    shown = wattprint("show", "last", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    # package 1 J -> 31 J and dram 0 -> 5 J: 35 J in total
    assert doc["energy_j"] == pytest.approx(35.0)
    assert doc["status"] == "failed" and doc["exit_code"] == 3
    assert doc["project"] == "cli" and doc["attribution"] == "machine"
    by_id = {d["id"]: d for d in doc["devices"]}
    assert by_id["rapl:package-0"]["energy_j"] == pytest.approx(30.0)
    assert by_id["rapl:dram-0"]["energy_j"] == pytest.approx(5.0)
    for d in doc["devices"]:
        assert d["measured"] is True and d["source"] == "rapl"
        assert d["share_rule"] == "cpu-time-share"
        assert 0 <= d["attributed_energy_j"] <= d["energy_j"] + 1e-9
        assert d["mean_power_w"] > 0
    for key in ("id", "name", "phase", "started_at", "ended_at", "duration_s", "intervals",
                "metrics"):
        assert key in doc
    assert doc["intervals"] >= 2


def test_run_handles_a_counter_wrap(tmp_path: Path, tree: PowercapTree,
                                    env: dict[str, str]) -> None:
    # package counter wraps: 1 J -> top of range -> 2 J; expected = range - 1 J + 2 J
    script = workload(tmp_path, tree, package_uj=2_000_000, dram_uj=0)
    tree.set_energy("intel-rapl:0", PACKAGE_MAX_ENERGY_RANGE_UJ - 4_000_000)
    result = wattprint("run", "--interval", "0.1", "--", sys.executable, str(script), env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(wattprint("show", "last", "--json", env=env).stdout)
    assert doc["energy_j"] == pytest.approx(4.0 + 2.0)


def test_sigterm_is_forwarded_and_run_finalised(tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "wait.py"
    script.write_text(textwrap.dedent("""
        import signal, sys, time
        def bye(signum, frame):
            print("child got", signum, flush=True)
            sys.exit(5)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(30)
    """))
    proc = subprocess.Popen([sys.executable, "-m", "wattprint", "run", "--interval", "0.1", "--",
                             sys.executable, str(script)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert out == "child got 15\n"
    assert proc.returncode == 5
    doc = json.loads(wattprint("show", "last", "--json", env=env).stdout)
    # the job ended because of the signal: terminated, with the child's own exit code
    assert doc["status"] == "terminated" and doc["exit_code"] == 5
    assert doc["error"] == "terminated by SIGTERM"


def test_missing_command_and_unknown_run_give_clear_errors(env: dict[str, str]) -> None:
    r = wattprint("run", "--", "definitely-not-a-command-xyz", env=env)
    assert r.returncode == 127 and "command not found" in r.stderr
    doc = json.loads(wattprint("show", "last", "--json", env=env).stdout)
    assert doc["status"] == "failed" and doc["exit_code"] == 127
    assert doc["error"].startswith("command not found: definitely-not-a-command-xyz")
    r = wattprint("show", "zzzz", env=env)
    assert r.returncode == 2 and "wattprint runs" in r.stderr and "Traceback" not in r.stderr


def test_bad_setting_names_the_variable(env: dict[str, str]) -> None:
    env["WATTPRINT_INTERVAL"] = "0.001"
    r = wattprint("config", env=env)
    assert r.returncode == 2
    assert "WATTPRINT_INTERVAL" in r.stderr and "0.01" in r.stderr


def test_config_shows_origins(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text('project = "from-file"\ninterval = 0.5\n')
    env["WATTPRINT_INTERVAL"] = "2"
    r = wattprint("config", "--json", env=env)
    doc = json.loads(r.stdout)
    assert doc["project"] == {"value": "from-file", "origin": str(tmp_path / "wattprint.toml")}
    assert doc["interval_s"] == {"value": 2.0, "origin": "environment"}


def test_sensors_lists_devices_and_skips(env: dict[str, str]) -> None:
    env.pop("WATTPRINT_SENSORS")
    r = wattprint("sensors", "--json", env=env)
    doc = json.loads(r.stdout)
    ids = {d["id"] for d in doc["devices"]}
    assert {"rapl:package-0", "rapl:dram-0"} <= ids
    assert "rapl" in doc["sensors"]
    # every skipped sensor says why; RAPL measures CPU and DRAM here, so no model is needed
    assert doc["skipped"] and all(s["reason"] for s in doc["skipped"])
    model = [s for s in doc["skipped"] if s["sensor"] == "model"]
    assert model and "measured by hardware sensors" in model[0]["reason"]


def test_runs_lists_json(tmp_path: Path, tree: PowercapTree, env: dict[str, str]) -> None:
    script = workload(tmp_path, tree, package_uj=2_000_000, dram_uj=0)
    for name in ("a", "b"):
        assert wattprint("run", "--name", name, "--project", "L", "--interval", "0.1", "--",
                         sys.executable, str(script), env=env).returncode == 0
    doc = json.loads(wattprint("runs", "--project", "L", "--json", env=env).stdout)
    assert [r["name"] for r in doc["runs"]] == ["b", "a"]


def test_config_file_hardware_overrides_reach_the_estimate(env: dict[str, str],
                                                           tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text(
        '[hardware]\nlifetime_years = 4\nutilization = 0.5\n')
    from wattprint.store import DeviceRecord, IntervalRecord, Store

    store = Store(Path(env["WATTPRINT_HOME"]) / "wattprint.db")
    rid = store.create_run(project="p", phase="training", attribution="machine", interval_s=1,
                           started_at=0.0)
    store.add_devices(rid, [DeviceRecord("x:cpu", "cpu", "cpu", "x", True, True, None, "r")])
    store.append_intervals(rid, [IntervalRecord("x:cpu", 0.0, 3600.0, 0.0, 0.0)])
    store.finish_run(rid, status="finished", ended_at=3600.0)
    r = wattprint("account", rid, "--region", "DE", "--json", env=env)
    fp = json.loads(r.stdout)["footprint"]
    # CCF rack server 1000 kg over 4 years at 50 % for one hour
    assert fp["co2e_kg"]["embodied"] == pytest.approx(1000.0 / (4 * 8760 * 0.5))


def test_live_keys_from_the_config_file_are_used_and_never_printed(
        env: dict[str, str], tmp_path: Path) -> None:
    from wattprint.config import load_settings

    (tmp_path / "wattprint.toml").write_text(
        '[live]\nelectricitymaps_token = "sekret-token-123"\n')
    settings = load_settings(environ={}, cwd=tmp_path, user_file=tmp_path / "none.toml")
    assert settings.live_environ({})["WATTPRINT_ELECTRICITYMAPS_TOKEN"] == "sekret-token-123"
    # the environment wins over the file
    assert settings.live_environ({"WATTPRINT_ELECTRICITYMAPS_TOKEN": "env"})[
        "WATTPRINT_ELECTRICITYMAPS_TOKEN"] == "env"
    r = wattprint("config", "--json", env=env)
    assert r.returncode == 0
    assert "sekret-token-123" not in r.stdout + r.stderr
    assert json.loads(r.stdout)["live"]["value"] == ["electricitymaps_token"]
    (tmp_path / "wattprint.toml").write_text('[live]\nbogus = "x"\n')
    r = wattprint("config", env=env)
    assert r.returncode == 2 and "bogus" in r.stderr


def test_error_messages_keep_square_brackets() -> None:
    # "[report]" in a pip hint must not be eaten as terminal markup
    import contextlib
    import io

    import typer

    from wattprint.cli.app import err, fail

    buf = io.StringIO()
    old = err.file
    err.file = buf
    try:
        with contextlib.suppress(typer.Exit):
            fail("install it with pip install 'wattprint[report]'")
    finally:
        err.file = old
    assert "wattprint[report]" in buf.getvalue()


def test_a_command_that_is_not_executable_exits_126_and_is_stored_failed(
        env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    r = wattprint("run", "--", str(script), env=env)
    assert r.returncode == 126 and "not executable" in r.stderr and "chmod +x" in r.stderr
    doc = json.loads(wattprint("show", "last", "--json", env=env).stdout)
    assert doc["status"] == "failed" and doc["exit_code"] == 126


def test_ctrl_c_leaves_the_run_interrupted(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "wait.py"
    script.write_text("import time\nprint('ready', flush=True)\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-m", "wattprint", "run", "--interval", "0.1", "--",
                             sys.executable, str(script)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130  # the child died of KeyboardInterrupt, as untracked
    doc = json.loads(wattprint("show", "last", "--json", env=env).stdout)
    assert doc["status"] == "interrupted" and doc["exit_code"] == 130
    assert doc["error"] == "interrupted by SIGINT"


def test_run_summary_puts_a_models_description_in_notes_and_fits_80_columns(
        env: dict[str, str]) -> None:
    env["WATTPRINT_SENSORS"] = "model"
    r = wattprint("run", "--", sys.executable, "-c", "pass", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("device "))
    end = next(i for i, line in enumerate(lines) if line.startswith("total (machine"))
    block = lines[start:end]
    assert all(len(line) <= 80 for line in block), block
    cpu = next(line for line in block if " cpu " in line)
    assert "estimated [1]" in cpu
    assert any(line.startswith("[1] ") and "estimated by" in line for line in block)
