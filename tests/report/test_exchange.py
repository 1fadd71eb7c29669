"""Exports: exact numbers from runs with known stored intervals."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.report.exchange import (
    CODECARBON_COLUMNS,
    EXPORT_SCHEMA,
    CarbonFigures,
    ExportError,
    RunExport,
    carbon_figures,
    collect_runs,
    render_codecarbon_csv,
    render_csv,
    render_json,
    render_parquet,
)
from wattprint.store import DeviceRecord, IntervalRecord, RunRecord, Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
J_PER_KWH = 3_600_000.0


def _device(device_id: str, kind: str, name: str, measured: bool) -> DeviceRecord:
    return DeviceRecord(device_id, kind, name, device_id.split(":")[0], measured, measured,
                        None if measured else "tdp-model", "cpu-time-share")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db.sqlite")
    # run A (machine attribution): cpu 1800+1800 J, gpu 36000 J over 100 s, in region DE
    a = s.create_run(project="vision", phase="training", attribution="machine", interval_s=50,
                     started_at=T0, name="resnet", region="DE", run_id="a" * 16)
    s.add_devices(a, [_device("rapl:package-0", "cpu", "Xeon", True),
                      _device("nvml:GPU-0", "gpu", "NVIDIA A100", True)])
    s.append_intervals(a, [
        IntervalRecord("rapl:package-0", T0, T0 + 50, 1800.0, 900.0),
        IntervalRecord("rapl:package-0", T0 + 50, T0 + 100, 1800.0, 900.0),
        IntervalRecord("nvml:GPU-0", T0, T0 + 100, 36000.0, 30000.0),
    ])
    s.log_metric(a, "accuracy", 0.5, 1, T0 + 50)
    s.log_metric(a, "accuracy", 0.9, 2, T0 + 100)
    s.add_units(a, "samples", 1000)
    s.finish_run(a, status="finished", ended_at=T0 + 100, exit_code=0)
    # run B (process attribution): modelled cpu 7200 J (attributed 3600), ram 720 J (360)
    b = s.create_run(project="vision", phase="inference", attribution="process", interval_s=10,
                     started_at=T0 + 1000, name="serve", region="aws:us-east-1",
                     run_id="b" * 16)
    s.add_devices(b, [_device("model:cpu", "cpu", "Generic CPU", False),
                      _device("model:ram", "ram", "RAM 16 GB", False)])
    s.append_intervals(b, [IntervalRecord("model:cpu", T0 + 1000, T0 + 1060, 7200.0, 3600.0),
                           IntervalRecord("model:ram", T0 + 1000, T0 + 1060, 720.0, 360.0)])
    s.finish_run(b, status="finished", ended_at=T0 + 1060, exit_code=0)
    # run C, another project
    c = s.create_run(project="nlp", phase="training", attribution="machine", interval_s=1,
                     started_at=T0 + 2000, run_id="c" * 16)
    s.finish_run(c, status="failed", ended_at=T0 + 2001, exit_code=1)
    return s


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_one_row_per_run_with_exact_energies(store: Store) -> None:
    runs = collect_runs(store, "vision", carbon=None)
    rows = _rows(render_csv(runs))
    assert [r["id"] for r in rows] == ["a" * 16, "b" * 16]  # oldest first, project only
    a, b = rows
    assert float(a["energy_kwh"]) == pytest.approx((1800 + 1800 + 36000) / J_PER_KWH, rel=1e-12)
    assert float(a["energy_cpu_kwh"]) == pytest.approx(3600 / J_PER_KWH, rel=1e-12)
    assert float(a["energy_gpu_kwh"]) == pytest.approx(36000 / J_PER_KWH, rel=1e-12)
    assert a["energy_ram_kwh"] == ""  # run A has no RAM device: empty, not 0
    assert a["started_at"] == "2023-11-14T22:13:20.000+00:00"
    assert a["ended_at"] == "2023-11-14T22:15:00.000+00:00"
    assert float(a["duration_s"]) == 100.0
    assert a["basis"] == "measured" and a["status"] == "finished" and a["tool"] == "wattprint"
    assert a["metric:accuracy"] == "0.9"  # the last value logged
    assert float(a["unit:samples"]) == 1000.0
    assert a["co2e_kg"] == "" and a["pue"] == ""  # no carbon asked for: empty cells, never 0
    # process attribution: the attributed shares, 3600 J + 360 J
    assert float(b["energy_kwh"]) == pytest.approx((3600 + 360) / J_PER_KWH, rel=1e-12)
    assert float(b["energy_cpu_kwh"]) == pytest.approx(3600 / J_PER_KWH, rel=1e-12)
    assert float(b["energy_ram_kwh"]) == pytest.approx(360 / J_PER_KWH, rel=1e-12)
    assert b["energy_gpu_kwh"] == "" and b["basis"] == "estimated"
    assert b["metric:accuracy"] == ""
    header = next(csv.reader(io.StringIO(render_csv(runs))))
    assert header[:11] == ["id", "project", "name", "phase", "status", "tool", "started_at",
                           "ended_at", "duration_s", "attribution", "energy_kwh"]
    assert header[11:14] == ["energy_cpu_kwh", "energy_ram_kwh", "energy_gpu_kwh"]
    assert header[-2:] == ["metric:accuracy", "unit:samples"]


def test_all_projects_when_none_given(store: Store) -> None:
    rows = _rows(render_csv(collect_runs(store, carbon=None)))
    assert [r["project"] for r in rows] == ["vision", "vision", "nlp"]
    assert rows[2]["energy_kwh"] == "0.0" and rows[2]["basis"] == ""


def test_csv_by_device(store: Store) -> None:
    rows = _rows(render_csv(collect_runs(store, "vision", carbon=None), by_device=True))
    by_id = {(r["run_id"], r["device_id"]): r for r in rows}
    assert len(rows) == 4
    gpu = by_id[("a" * 16, "nvml:GPU-0")]
    assert float(gpu["energy_kwh"]) == pytest.approx(36000 / J_PER_KWH, rel=1e-12)
    assert float(gpu["attributed_energy_kwh"]) == pytest.approx(30000 / J_PER_KWH, rel=1e-12)
    assert float(gpu["mean_power_w"]) == pytest.approx(36000 / 100)
    assert gpu["measured"] == "true" and gpu["kind"] == "gpu"
    cpu_b = by_id[("b" * 16, "model:cpu")]
    assert cpu_b["measured"] == "false" and cpu_b["model"] == "tdp-model"


def _fixed_carbon(store: Store, run: RunRecord) -> CarbonFigures:
    return {"a" * 16: CarbonFigures(0.010, 0.006, 0.004, 1.5),
            "b" * 16: CarbonFigures(0.002, 0.002, 0.0, 1.2)}[run.id]


def test_carbon_columns_come_from_the_carbon_function(store: Store) -> None:
    rows = _rows(render_csv(collect_runs(store, "vision", carbon=_fixed_carbon)))
    assert [float(rows[0][k]) for k in ("co2e_kg", "co2e_operational_kg", "co2e_embodied_kg",
                                         "pue")] == [0.010, 0.006, 0.004, 1.5]


def test_default_carbon_is_the_accounted_footprint(store: Store) -> None:
    # Germany's newest annual intensity in the shipped table, read here independently
    table = FIXTURES.parents[1] / "src" / "wattprint" / "data" / "intensity"
    with (table / "countries_owid_ember.csv").open() as f:
        de = max((r for r in csv.DictReader(f) if r["iso2"] == "DE"), key=lambda r: int(r["year"]))
    opts = AccountingOptions(pue=1.0, embodied=False)
    runs = collect_runs(store, "vision", carbon=lambda s, r: carbon_figures(s, r, opts))
    a = runs[0]
    assert a.carbon is not None
    expected_kg = (1800 + 1800 + 36000) / J_PER_KWH * float(de["g_per_kwh"]) / 1000
    assert a.carbon.operational_kg == pytest.approx(expected_kg, rel=1e-9)
    assert a.carbon.total_kg == pytest.approx(expected_kg, rel=1e-9)
    assert a.carbon.embodied_kg == 0.0 and a.carbon.pue == 1.0


def test_unaccountable_run_has_no_carbon(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    bad = store.create_run(project="x", phase="training", attribution="machine", interval_s=1,
                           started_at=T0, region="NOT-A-REGION", run_id="d" * 16)
    store.finish_run(bad, status="finished", ended_at=T0 + 1)
    (run,) = collect_runs(store, "x")
    assert run.carbon is None
    assert "no carbon in the export" in caplog.text


def test_json_document(store: Store) -> None:
    doc = json.loads(render_json(collect_runs(store, "vision", carbon=_fixed_carbon)))
    assert doc["schema"] == EXPORT_SCHEMA == "wattprint.export/1"
    a, b = doc["runs"]
    assert set(a) == {
        "id", "project", "name", "phase", "status", "tool", "started_at", "ended_at",
        "duration_s", "attribution", "energy_kwh", "energy_by_kind_kwh", "basis", "co2e_kg",
        "co2e_operational_kg", "co2e_embodied_kg", "pue", "region", "host", "command",
        "exit_code", "metrics", "units", "peer", "devices"}
    assert a["energy_kwh"] == pytest.approx(39600 / J_PER_KWH, rel=1e-12)
    assert a["energy_by_kind_kwh"] == pytest.approx({"cpu": 3600 / J_PER_KWH,
                                                     "gpu": 36000 / J_PER_KWH})
    assert a["metrics"] == {"accuracy": 0.9} and a["units"] == {"samples": 1000.0}
    assert a["co2e_kg"] == 0.010 and a["peer"] is None and a["exit_code"] == 0
    assert [d["id"] for d in a["devices"]] == ["nvml:GPU-0", "rapl:package-0"]
    assert b["energy_kwh"] == pytest.approx(3960 / J_PER_KWH, rel=1e-12)
    assert b["region"] == "aws:us-east-1" and b["basis"] == "estimated"


def test_parquet_round_trip(store: Store) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    data = render_parquet(collect_runs(store, "vision", carbon=_fixed_carbon))
    table = pq.read_table(pa.BufferReader(data))
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["a" * 16, "b" * 16]
    assert rows[0]["energy_kwh"] == pytest.approx(39600 / J_PER_KWH, rel=1e-12)
    assert rows[1]["energy_gpu_kwh"] is None
    assert rows[0]["metric:accuracy"] == 0.9 and rows[0]["co2e_kg"] == 0.010
    assert table.schema.field("energy_kwh").type == pa.float64()
    assert table.schema.field("id").type == pa.string()
    devices = pq.read_table(pa.BufferReader(
        render_parquet(collect_runs(store, "vision", carbon=None), by_device=True)))
    assert devices.schema.field("measured").type == pa.bool_()
    assert devices.num_rows == 4


def test_parquet_without_pyarrow_says_how_to_install(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = collect_runs(store, "vision", carbon=None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ExportError, match=r"pip install 'wattprint\[parquet\]'"):
        render_parquet(runs)


def test_codecarbon_header_is_codecarbon_3_3_2s(store: Store) -> None:
    with (FIXTURES / "peers" / "codecarbon" / "emissions.csv").open() as f:
        real_header = next(csv.reader(f))
    text = render_codecarbon_csv(collect_runs(store, carbon=_fixed_or_none))
    assert next(csv.reader(io.StringIO(text))) == real_header == list(CODECARBON_COLUMNS)


def _fixed_or_none(store: Store, run: RunRecord) -> CarbonFigures | None:
    return None if run.project == "nlp" else _fixed_carbon(store, run)


def test_codecarbon_values_and_units(store: Store) -> None:
    rows = _rows(render_codecarbon_csv(collect_runs(store, carbon=_fixed_or_none)))
    a, b, c = rows
    pue = 1.5  # codecarbon's energies and powers include the PUE
    assert a["timestamp"] == "2023-11-14T22:15:00"  # end of the run, UTC
    assert a["run_id"] == "a" * 16 and a["experiment_id"] == "resnet"
    assert float(a["duration"]) == 100.0
    assert float(a["cpu_energy"]) == pytest.approx(3600 / J_PER_KWH * pue, rel=1e-12)
    assert float(a["gpu_energy"]) == pytest.approx(36000 / J_PER_KWH * pue, rel=1e-12)
    assert a["ram_energy"] == "" and a["ram_power"] == ""
    assert float(a["energy_consumed"]) == pytest.approx(39600 / J_PER_KWH * pue, rel=1e-12)
    assert float(a["cpu_power"]) == pytest.approx(3600 / 100 * pue)
    assert float(a["gpu_power"]) == pytest.approx(36000 / 100 * pue)
    assert float(a["emissions"]) == 0.006  # operational only, as codecarbon
    assert float(a["emissions_rate"]) == pytest.approx(0.006 / 100)
    assert float(a["pue"]) == 1.5 and float(a["wue"]) == 0.0
    assert (a["country_iso_code"], a["country_name"], a["on_cloud"]) == ("DEU", "Germany", "N")
    assert a["gpu_model"] == "1 x NVIDIA A100" and a["cpu_model"] == "Xeon"
    assert a["gpu_count"] == "1" and a["tracking_mode"] == "machine"
    # process attribution: attributed energies; the dram/ram kinds make codecarbon's ram
    assert float(b["ram_energy"]) == pytest.approx(360 / J_PER_KWH * 1.2, rel=1e-12)
    assert float(b["cpu_power"]) == pytest.approx(3600 / 60 * 1.2)
    assert (b["cloud_provider"], b["cloud_region"], b["on_cloud"]) == ("aws", "us-east-1", "Y")
    assert b["tracking_mode"] == "process" and b["gpu_energy"] == ""
    # no carbon: empty emissions and PUE 1
    assert c["emissions"] == "" and float(c["pue"]) == 1.0 and float(c["energy_consumed"]) == 0


def test_run_export_is_plain_data(store: Store) -> None:
    (a, _b) = collect_runs(store, "vision", carbon=None)
    assert isinstance(a, RunExport)
    assert a.energy_j == pytest.approx(39600.0)
    assert list(a.energy_by_kind_j) == ["cpu", "gpu"]


def test_codecarbon_host_columns_from_the_runs_host_facts(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    rid = s.create_run(project="p", phase="training", attribution="machine", interval_s=10,
                       started_at=T0, run_id="d" * 16)
    # two CPU packages, 32 logical CPUs; 32 GiB of memory recorded in decimal GB
    s.add_devices(rid, [_device("rapl:package-0", "cpu", "Xeon", True),
                        _device("rapl:package-1", "cpu", "Xeon", True)])
    s.append_intervals(rid, [IntervalRecord("rapl:package-0", T0, T0 + 10, 100.0, 100.0),
                             IntervalRecord("rapl:package-1", T0, T0 + 10, 100.0, 100.0)])
    s.update_info(rid, {"host": {"os": "Linux 6.1.0-18-amd64", "machine": "x86_64",
                                 "python": "3.11.7", "cpu_logical": 32, "cpu_physical": 16,
                                 "memory_gb": 34.359738368}})
    s.finish_run(rid, status="finished", ended_at=T0 + 10, exit_code=0)
    bare = s.create_run(project="p", phase="training", attribution="machine", interval_s=10,
                        started_at=T0 + 100, run_id="e" * 16)
    s.finish_run(bare, status="finished", ended_at=T0 + 110, exit_code=0)
    row, no_host = _rows(render_codecarbon_csv(collect_runs(s, "p", carbon=None)))
    # codecarbon: platform.platform(), platform.python_version(), psutil.cpu_count() (logical)
    # and psutil's total bytes / 1024**3: 34_359_738_368 B = 32 GiB
    assert row["os"] == "Linux-6.1.0-18-amd64-x86_64"
    assert row["python_version"] == "3.11.7"
    assert row["cpu_count"] == "32"
    assert float(row["ram_total_size"]) == pytest.approx(32.0, rel=1e-12)
    assert row["cpu_model"] == "Xeon"
    # no host facts: unknown, not zero
    assert [no_host[k] for k in ("os", "python_version", "cpu_count", "ram_total_size")] == [
        "", "", "", ""]
