"""The benchmark harness in-process: grid, template, markers, figures, fingerprint, Python API."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import wattprint
from wattprint.decide.bench_grid import (
    check_template,
    configurations,
    fill_command,
    parse_devices,
    parse_grid,
    parse_marker,
)
from wattprint.decide.bench_report import (
    bench_document,
    bench_html,
    bench_markdown,
    failure_lines,
    fmt_latency,
    front_flags,
    summary_rows,
)
from wattprint.decide.bench_results import (
    BenchResult,
    BenchRun,
    ConfigResult,
    Repetition,
    derive,
    gpu_driver,
    hardware_fingerprint,
    percentile,
)
from wattprint.errors import ConfigError
from wattprint.store import Store
from wattprint.testing.powercap import PowercapTree

# -- the grid and the template ---------------------------------------------------------------


def test_grid_items_parse_in_order_and_their_product_runs_last_dimension_fastest() -> None:
    grid = parse_grid(["batch=16,32", "precision = fp32, bf16"])
    assert grid == {"batch": ["16", "32"], "precision": ["fp32", "bf16"]}
    assert configurations(grid) == [
        {"batch": "16", "precision": "fp32"}, {"batch": "16", "precision": "bf16"},
        {"batch": "32", "precision": "fp32"}, {"batch": "32", "precision": "bf16"}]
    assert configurations({}) == [{}]


@pytest.mark.parametrize(("items", "message"), [
    (["batch16"], "--grid 'batch16' must be NAME=V1,V2,... (e.g. --grid batch=16,32)"),
    (["1batch=1"], "the name '1batch' must be letters, digits and _"),
    (["batch=1", "batch=2"], "--grid batch is given twice"),
    (["batch=16,,32"], "has an empty value"),
    (["batch="], "has an empty value"),
    (["batch=16,32,16"], "--grid batch repeats the value(s) 16"),
])
def test_bad_grid_items_name_the_fix(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_grid(items)
    assert message in str(info.value)


def test_the_template_is_filled_per_configuration_and_checked_against_the_grid() -> None:
    template = ["python", "infer.py", "--batch={batch}", "--json", "{{}}", "--p", "{precision}"]
    assert fill_command(template, {"batch": 16, "precision": "bf16"}) == [
        "python", "infer.py", "--batch=16", "--json", "{}", "--p", "bf16"]
    check_template(template, {"batch": ["16"], "precision": ["bf16"], "unused": ["x"]})
    with pytest.raises(ConfigError, match=r"uses \{precision\}, which no --grid defines "
                                          r"\(grid names: batch\)"):
        check_template(template, {"batch": ["16"]})
    with pytest.raises(ConfigError, match="unmatched brace"):
        check_template(["--batch={batch"], {"batch": ["1"]})
    with pytest.raises(ConfigError, match="placeholders are grid names"):
        check_template(["{batch:>4}"], {"batch": ["1"]})


def test_devices_take_indices_or_gpu_and_mig_uuids_and_refuse_what_cuda_would_misread() -> None:
    assert parse_devices("0, 2") == "0,2"
    assert parse_devices("MIG-1f2e3d4c-aaaa-bbbb") == "MIG-1f2e3d4c-aaaa-bbbb"
    assert parse_devices("GPU-8932f937,GPU-1234") == "GPU-8932f937,GPU-1234"
    for bad, message in (("gpu0", "neither a GPU index nor"), ("0,MIG-1f2e", "mixes kinds"),
                         ("1,1", "names a device twice"), ("", "neither a GPU index nor")):
        with pytest.raises(ConfigError, match=message):
            parse_devices(bad)


# -- what the program reports ----------------------------------------------------------------


def test_marker_lines_are_read_and_malformed_ones_ignored() -> None:
    assert parse_marker("WATTPRINT_UNITS 512 token\n") == ("units", "token", 512.0)
    assert parse_marker("WATTPRINT_UNITS 32") == ("units", "sample", 32.0)
    assert parse_marker("WATTPRINT_METRIC accuracy 0.91") == ("metric", "accuracy", 0.91)
    assert parse_marker("WATTPRINT_LATENCY_S 0.012") == ("latency", "", 0.012)
    assert parse_marker("loss 0.3") is None
    for bad in ("WATTPRINT_UNITS -1", "WATTPRINT_UNITS many", "WATTPRINT_METRIC acc",
                "WATTPRINT_LATENCY_S nan", "WATTPRINT_UNITS 3 sample extra"):
        assert parse_marker(bad) is None, bad


def test_a_recorder_sums_units_keeps_the_last_metric_and_every_latency() -> None:
    run = BenchRun({"batch": 8}, 1)
    for line in ("WATTPRINT_UNITS 8", "WATTPRINT_UNITS 4 sample", "WATTPRINT_METRIC acc 0.5",
                 "WATTPRINT_METRIC acc 0.75", "WATTPRINT_LATENCY_S 0.25", "other output"):
        run.record_line(line)
    run.log_latency(0.5)
    assert run.units == {"sample": 12.0}
    assert run.metrics == {"acc": 0.75}
    assert run.latencies_s == [0.25, 0.5]
    with pytest.raises(ValueError):
        run.add_units(-1)


# -- the figures -----------------------------------------------------------------------------


def test_percentiles_interpolate_linearly_between_sorted_values() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    # rank (4 - 1) x 0.99 = 2.97: 3 + 0.97 x (4 - 3)
    assert percentile([4.0, 1.0, 3.0, 2.0], 99) == pytest.approx(3.97)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def _rep(index: int, duration_s: float, units: float | None, latencies: list[float] | None = None,
         metrics: dict[str, float] | None = None) -> Repetition:
    return Repetition(index, duration_s, {"token": units} if units is not None else {},
                      metrics or {}, latencies or [], 0)


def test_per_unit_figures_from_repetitions_energy_and_duration() -> None:
    c = ConfigResult({"batch": 8}, "batch=8", energy_j=30.0, duration_s=6.0,
                     repetitions=[_rep(1, 2.0, 100, metrics={"bleu": 30.0}),
                                  _rep(2, 3.0, 200, metrics={"bleu": 32.0})])
    derive(c)
    # 30 J over 300 tokens; 300 tokens over 5 s of repetitions; 30 J over 6 s
    assert (c.unit, c.units) == ("token", 300.0)
    assert c.energy_j_per_unit == pytest.approx(0.1)
    assert c.throughput_per_s == pytest.approx(60.0)
    assert c.mean_power_w == pytest.approx(5.0)
    assert c.latency_basis == "per repetition (wall time)"
    assert c.latency_p50_s == pytest.approx(2.5)
    assert c.latency_p99_s == pytest.approx(2.99)  # 2 + 0.99 x (3 - 2)
    assert c.metrics == {"bleu": pytest.approx(31.0)}


def test_reported_latencies_win_and_no_units_means_per_repetition() -> None:
    c = ConfigResult({}, "(no grid)", energy_j=9.0, duration_s=3.0,
                     repetitions=[_rep(1, 1.0, None, [0.1, 0.3]), _rep(2, 1.0, None, [0.2])])
    derive(c)
    assert (c.unit, c.units, c.energy_j_per_unit) == ("repetition", 2.0, pytest.approx(4.5))
    assert c.latency_basis == "per unit (reported)"
    assert c.latency_p50_s == pytest.approx(0.2)
    assert c.latency_p99_s == pytest.approx(0.298)  # rank 1.98: 0.2 + 0.98 x 0.1


def _config(label: str, per_unit: float | None, rate: float | None, ok: bool = True,
            acc: float | None = None) -> ConfigResult:
    return ConfigResult({"c": label}, label, status="finished" if ok else "failed",
                        energy_j_per_unit=per_unit, throughput_per_s=rate,
                        metrics={"acc": acc} if acc is not None else {})


def test_the_front_is_energy_per_unit_against_throughput_or_a_quality_metric() -> None:
    configs = [_config("a", 1.0, 10.0, acc=0.90), _config("b", 2.0, 30.0, acc=0.80),
               _config("c", 2.0, 20.0, acc=0.95), _config("d", 0.5, 5.0, acc=0.70),
               _config("e", 3.0, 25.0, acc=0.99), _config("f", 0.1, 99.0, ok=False)]
    # throughput: c loses to b (same energy, less throughput); e loses to b
    assert front_flags(configs) == [True, True, False, True, False, None]
    # accuracy: b loses to a (more energy, less accuracy); the rest trade off
    assert front_flags(configs, "acc") == [True, False, True, True, True, None]
    # a lower metric is better: d (0.70 at 0.5 J) beats every other
    assert front_flags(configs, "acc", maximize=False) == [False, False, False, True, False, None]


def test_latency_cells_are_milliseconds_below_a_second() -> None:
    assert fmt_latency(0.01234) == "12.3 ms"
    assert fmt_latency(2.5) == "2.5 s"
    assert fmt_latency(None) == "—"


def _measured(batch: str, energy_j: float, seconds: float, samples: float) -> ConfigResult:
    c = ConfigResult({"batch": batch}, f"batch={batch}", run_id=f"run{batch}", energy_j=energy_j,
                     duration_s=seconds, basis="measured",
                     repetitions=[_rep(1, seconds, samples)])
    derive(c)
    return c


def test_the_report_ranks_marks_the_front_and_lists_failures() -> None:
    # 8 J for 100 tokens in 2 s: 80 mJ/token, 50/s; 6 J for 50 tokens in 0.5 s: 120 mJ, 100/s;
    # 20 J for 100 tokens in 4 s: 200 mJ, 25/s (beaten by the first in both)
    a, b, c = _measured("8", 8.0, 2.0, 100), _measured("4", 6.0, 0.5, 50), \
        _measured("16", 20.0, 4.0, 100)
    broken = ConfigResult({"batch": "64"}, "batch=64", run_id="run64", status="failed",
                          exit_code=137, error="terminated by SIGKILL")
    result = BenchResult("b1", "bench", "python infer.py --batch {batch}",
                         {"batch": ["8", "4", "16", "64"]}, 0, 1, [c, broken, a, b])
    doc = bench_document(result)
    assert [(x["label"], x["rank"], x["pareto"]) for x in doc["configs"]] == [
        ("batch=8", 1, True), ("batch=4", 2, True), ("batch=16", 3, False),
        ("batch=64", None, None)]
    headers, rows = summary_rows(doc)
    assert headers == ["#", "configuration", "energy/token", "token/s", "p50", "p99", "power",
                       "Pareto"]
    assert rows[0] == ["1", "batch=8", "80 mJ", "50", "2 s", "2 s", "4 W", "front"]
    assert rows[2] == ["3", "batch=16", "200 mJ", "25", "4 s", "4 s", "5 W", "·"]
    assert failure_lines(doc) == [
        "batch=64: failed, exit code 137 (terminated by SIGKILL), run run64"]
    md = bench_markdown(doc)
    assert ("| 2 | batch=4 | finished | 120 mJ/token | 100 token/s | 500 ms | 500 ms | 12 W "
            "| 6 J | measured | front | run4 |") in md
    assert "## Pareto front: energy per unit against throughput\n\n- batch=8\n- batch=4\n" in md
    assert "- batch=64: failed, exit code 137 (terminated by SIGKILL), run run64" in md
    html = bench_html(doc)
    assert html.count("<svg") == 1 and 'id="wattprint-data"' in html
    assert "<td>batch=16</td>" in html and "terminated by SIGKILL" in html


# -- the fingerprint -------------------------------------------------------------------------


def test_the_fingerprint_hashes_the_host_and_groups_by_the_hardware() -> None:
    one = hardware_fingerprint(["NVIDIA H100", "NVIDIA A100"], cpu_model="Xeon 8480",
                               driver="nvidia 550.54.15", host="node1")
    assert one["gpus"] == ["NVIDIA A100", "NVIDIA H100"]
    assert one["host_hash"] == hashlib.sha256(b"node1").hexdigest()[:12]
    facts = ('{"cpu_model":"Xeon 8480","gpu_driver":"nvidia 550.54.15",'
             '"gpus":["NVIDIA A100","NVIDIA H100"],"host_hash":"' + one["host_hash"] + '"}')
    assert one["id"] == hashlib.sha256(facts.encode()).hexdigest()[:12]
    again = hardware_fingerprint(["NVIDIA A100", "NVIDIA H100"], cpu_model="Xeon 8480",
                                 driver="nvidia 550.54.15", host="node1")
    other = hardware_fingerprint(["NVIDIA A100", "NVIDIA H100"], cpu_model="Xeon 8480",
                                 driver="nvidia 550.54.15", host="node2")
    assert again["id"] == one["id"] and other["id"] != one["id"]


def test_the_gpu_driver_is_read_from_the_kernel_module(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "driver" / "nvidia").mkdir(parents=True)
    (proc / "driver" / "nvidia" / "version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
        "GCC version:  gcc version 12.3.0\n")
    assert gpu_driver(proc, tmp_path / "sys") == "nvidia 550.54.15"
    (tmp_path / "sys" / "module" / "amdgpu").mkdir(parents=True)
    (tmp_path / "sys" / "module" / "amdgpu" / "version").write_text("6.7.0\n")
    assert gpu_driver(tmp_path / "none", tmp_path / "sys") == "amdgpu 6.7.0"
    assert gpu_driver(tmp_path / "none", tmp_path / "none") is None


# -- the Python API on a fake powercap tree --------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> PowercapTree:
    t = PowercapTree(tmp_path / "sys")
    t.add_package(0, energy_uj=1_000_000)
    monkeypatch.setenv("WATTPRINT_SYSFS_ROOT", str(t.sysfs_root))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return t


def _advance(tree: PowercapTree, joules: float) -> None:
    path = tree.zone_dir("intel-rapl:0") / "energy_uj"
    now_uj = int(path.read_text())
    tree.set_energy("intel-rapl:0", now_uj + round(joules * 1_000_000))


def test_the_python_api_measures_each_configuration_without_its_warm_up(
        tree: PowercapTree, home: Path) -> None:
    calls: list[tuple[int, int]] = []

    def infer(run: Any, batch: int) -> None:
        calls.append((batch, run.repetition))
        if batch == 3:
            raise RuntimeError("out of memory")
        # a warm-up costs 1000 J; a measured repetition 3 J per sample at batch 4, 2 J at 8
        _advance(tree, 1000.0 if run.repetition == 0 else (3.0 if batch == 4 else 2.0) * batch)
        run.add_units(batch, "sample")
        run.log_metric("accuracy", 0.5 + batch / 100)

    result = wattprint.bench(infer, grid={"batch": [4, 3, 8]}, warmup=1, repeat=2,
                             interval_s=0.05, sensors=["rapl"], tags={"owner": "me"})
    assert calls == [(4, 0), (4, 1), (4, 2), (3, 0), (8, 0), (8, 1), (8, 2)]
    by_label = {c.label: c for c in result.configs}
    assert [c.label for c in result.configs] == ["batch=4", "batch=3", "batch=8"]
    four, three, eight = by_label["batch=4"], by_label["batch=3"], by_label["batch=8"]
    # batch 4: two repetitions of 12 J for 8 samples; batch 8: two of 16 J for 16 samples
    assert four.energy_j == pytest.approx(24.0) and four.units == 8.0
    assert four.energy_j_per_unit == pytest.approx(3.0)
    assert eight.energy_j == pytest.approx(32.0) and eight.energy_j_per_unit == pytest.approx(2.0)
    assert four.basis == "measured" and four.metrics == {"accuracy": pytest.approx(0.54)}
    # each repetition's share of the intervals: never more than the run's (the rest falls
    # between repetitions, where the sampler read a counter the last one advanced)
    assert 0.0 <= sum(r.energy_j or 0.0 for r in four.repetitions) <= 24.0 + 1e-9
    assert not three.ok and three.run_id is None and three.exit_code == 1
    assert three.error == "warm-up failed: RuntimeError: out of memory"
    assert [c.label for c in result.failed] == ["batch=3"]

    store = Store(home / "wattprint.db")
    try:
        assert sorted(store.run_ids("bench")) == sorted([four.run_id, eight.run_id])
        run = store.run(str(four.run_id))
        assert run.project == "bench" and run.status == "finished"
        assert run.name == "infer batch=4" and run.phase == "experimentation"
        tags = store.tags(str(four.run_id))
        assert tags["batch"] == "4" and tags["owner"] == "me"
        assert tags["bench.id"] == result.bench_id
        assert tags["bench.hardware"] == four.hardware["id"]
        metrics = {m["name"]: m["value"] for m in store.metrics(str(four.run_id))}
        assert metrics["energy_j_per_sample"] == pytest.approx(3.0)
        assert metrics["accuracy"] == pytest.approx(0.54)
        assert run.info["bench"]["params"] == {"batch": "4"}
    finally:
        store.close()

    doc = bench_document(result)
    assert [c["label"] for c in doc["configs"]] == ["batch=8", "batch=4", "batch=3"]
    assert [c["rank"] for c in doc["configs"]] == [1, 2, None]
    # the least energy per unit is always on the front; a failed configuration is not compared
    assert doc["configs"][0]["pareto"] is True and doc["configs"][2]["pareto"] is None
    headers, rows = summary_rows(doc)
    assert headers[:3] == ["#", "configuration", "energy/sample"]
    assert [r[1] for r in rows] == ["batch=8", "batch=4"]
    assert rows[0][2] == "2 J"


def test_a_devices_dimension_is_checked_and_labels_its_configurations(
        tree: PowercapTree, home: Path) -> None:
    def work(run: Any, devices: str) -> None:
        run.add_units(1)

    result = wattprint.bench(work, grid={"devices": ["0", "MIG-1f2e3d"]}, repeat=1,
                             interval_s=0.05, sensors=["rapl"])
    assert [c.label for c in result.configs] == ["devices=0", "devices=MIG-1f2e3d"]
    assert all(c.ok for c in result.configs)
    with pytest.raises(ConfigError, match="neither a GPU index"):
        wattprint.bench(work, grid={"devices": ["gpu0"]}, repeat=1)
