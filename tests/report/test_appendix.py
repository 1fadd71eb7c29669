"""The appendix of a run and of a project: exact numbers from known stored intervals.

Runs are written with the Store API into a temporary WATTPRINT_HOME and
accounted with a user intensity series (200 gCO2e/kWh from 00:00 UTC,
500 from 01:00), so every expected number below is worked out by hand.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from wattprint.accounting import hardware
from wattprint.accounting.account import AccountingOptions
from wattprint.errors import ConfigError, RunNotFound
from wattprint.report.appendix import project_appendix, run_appendix
from wattprint.report.render_md import appendix_markdown
from wattprint.store import DeviceRecord, IntervalRecord, Store

T0 = datetime(2024, 3, 1, 0, 40, tzinfo=timezone.utc).timestamp()
GPU = "NVIDIA A100-SXM4-40GB"
HOST = {"cpu_model": "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "cpu_logical": 80,
        "cpu_physical": 40, "memory_gb": 384.0, "gpus": [GPU], "os": "Linux 6.1",
        "machine": "x86_64", "python": "3.11.7",
        "packages": {"torch": "2.3.1", "numpy": "1.26.4", "wattprint": "0.1.0"},
        "git": {"commit": "0123456789abcdef", "dirty": True}, "cuda_visible_devices": "0"}


def intensity_csv(tmp_path: Path) -> Path:
    path = tmp_path / "intensity.csv"
    path.write_text("timestamp,g_per_kwh\n2024-03-01T00:00:00Z,200\n"
                    "2024-03-01T01:00:00Z,500\n2024-03-01T02:00:00Z,500\n")
    return path


def make_run(store: Store, *, project: str = "paper", phase: str = "training",
             name: str = "resnet", scale: float = 1.0, start: float = T0,
             host: bool = True, attribution: str = "machine") -> str:
    """Three 600 s intervals per device: CPU 0.5, 0.5, 1 kWh; GPU 0.25 kWh each (× scale)."""
    info: dict[str, Any] = {"wattprint_version": "0.1.0"}
    if host:
        info["host"] = HOST
    rid = store.create_run(project=project, phase=phase, attribution=attribution,
                           interval_s=600.0, started_at=start, name=name,
                           command="python train.py --epochs 3", info=info)
    store.add_devices(rid, [
        DeviceRecord("model:cpu", "cpu", "cpu", "model", False, False, "tdp-utilisation",
                     "cpu-time-share"),
        DeviceRecord("nvml:GPU-1", "gpu", GPU, "nvml", True, True, None, "whole-device"),
    ])
    cpu_j = [1.8e6, 1.8e6, 3.6e6]
    rows = []
    for k in range(3):
        a, b = start + 600 * k, start + 600 * (k + 1)
        rows.append(IntervalRecord("model:cpu", a, b, cpu_j[k] * scale, cpu_j[k] * scale / 2))
        rows.append(IntervalRecord("nvml:GPU-1", a, b, 0.9e6 * scale, 0.9e6 * scale))
    store.append_intervals(rid, rows)
    store.add_units(rid, "sample", 1000)
    store.log_metric(rid, "accuracy", 0.5, 1, start + 600)
    store.log_metric(rid, "accuracy", 0.75, 2, start + 1200)
    store.finish_run(rid, status="finished", ended_at=start + 1800, exit_code=0)
    return rid


def embodied_kg(hours: float, cards: float = 1.0, share: float = 1.0,
                node_share: float = 1.0) -> float:
    cat = hardware.default_catalogue()
    a = cat.assumptions
    per_hour = 1.0 / (a.lifetime_years * 8760.0 * a.utilization)
    gpu_kg = cat.gpu(GPU).embodied_kg
    node_kg = cat.servers()[0].embodied_kg  # the GPU node (the run has a GPU)
    return (gpu_kg * cards * share + node_kg * node_share) * per_hour * hours


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(home / "wattprint.db")
    yield s
    s.close()


def test_run_appendix_exact_numbers(store: Store, tmp_path: Path) -> None:
    rid = make_run(store)
    opts = AccountingOptions(region="DE", intensity_file=intensity_csv(tmp_path), pue=1.5)
    doc = run_appendix(store, rid, opts)

    idle_w = hardware.default_catalogue().gpu(GPU).idle_w
    # CPU (estimated, no idle): 0.5 kWh × 200 + 0.5 kWh × 200 + 1 kWh × 500 = 700 g, 2 kWh
    # GPU: 0.25 kWh per interval; idle idle_w × 600 s each; intensities 200, 200, 500
    gpu_idle_kwh = 3 * idle_w * 600 / 3.6e6
    gpu_idle_g = idle_w * 600 / 3.6e6 * (200 + 200 + 500)
    dynamic_kwh = 2.0 + 0.75 - gpu_idle_kwh
    dynamic_g = 700.0 + 0.25 * (200 + 200 + 500) - gpu_idle_g
    infra_kwh = (2.0 + 0.75) * 0.5
    infra_g = (700.0 + 0.25 * 900) * 0.5
    emb = embodied_kg(hours=0.5)
    fp = doc["footprint"]
    assert fp["energy_kwh"]["dynamic"] == pytest.approx(dynamic_kwh, rel=1e-12)
    assert fp["energy_kwh"]["idle"] == pytest.approx(gpu_idle_kwh, rel=1e-12)
    assert fp["energy_kwh"]["infrastructure"] == pytest.approx(infra_kwh, rel=1e-12)
    assert fp["energy_kwh"]["total"] == pytest.approx(2.75 * 1.5, rel=1e-12)
    assert fp["co2e_kg"]["dynamic"] == pytest.approx(dynamic_g / 1000, rel=1e-12)
    assert fp["co2e_kg"]["idle"] == pytest.approx(gpu_idle_g / 1000, rel=1e-12)
    assert fp["co2e_kg"]["infrastructure"] == pytest.approx(infra_g / 1000, rel=1e-12)
    assert fp["co2e_kg"]["embodied"] == pytest.approx(emb, rel=1e-12)
    total_kg = (925.0 * 1.5) / 1000 + emb
    assert fp["co2e_kg"]["total"] == pytest.approx(total_kg, rel=1e-12)
    assert fp["intensity"]["mean_g_per_kwh"] == pytest.approx(925.0 / 2.75, rel=1e-12)
    assert fp["sci"][0]["co2e_g_per_unit"] == pytest.approx(total_kg * 1000 / 1000, rel=1e-12)

    # energy per device, with measured / estimated and the attribution rule
    devices = {d["id"]: d for d in doc["energy"]["devices"]}
    assert devices["model:cpu"]["counted_energy_kwh"] == pytest.approx(2.0)
    assert devices["model:cpu"]["basis"] == "estimated"
    assert devices["nvml:GPU-1"]["basis"] == "measured"
    assert devices["nvml:GPU-1"]["share_rule"] == "whole-device"
    assert devices["model:cpu"]["peak_power_w"] == pytest.approx(3.6e6 / 600)
    assert devices["nvml:GPU-1"]["mean_power_w"] == pytest.approx(0.9e6 / 600)
    assert doc["energy"]["by_kind_kwh"] == pytest.approx({"cpu": 2.0, "gpu": 0.75})

    # hardware and software facts, the command and times
    assert doc["hardware"]["cpu_model"] == HOST["cpu_model"]
    assert doc["hardware"]["gpus"] == [{"name": GPU, "count": 1}]
    assert doc["software"]["git"] == {"commit": "0123456789abcdef", "dirty": True}
    assert doc["software"]["packages"]["torch"] == "2.3.1"
    assert doc["software"]["wattprint"] == "0.1.0"
    assert doc["run"]["command"] == "python train.py --epochs 3"
    assert doc["run"]["started_at"].startswith("2024-03-01T00:40:00")
    assert doc["run"]["duration_s"] == 1800.0
    assert doc["metrics"] == {"accuracy": 0.75}  # the last logged value

    # every assumption with its source: the intensity series, idle, PUE, embodied
    factors = {p["factor"] for p in fp["provenance"]}
    assert {"grid_intensity", "idle_power", "pue", "embodied", "embodied_node",
            "lifetime", "utilization"} <= factors
    assert all(p.get("source") for p in fp["provenance"])

    # the inputs: every interval with the intensity applied to it
    inputs = {d["id"]: d for d in doc["inputs"]["devices"]}
    assert inputs["nvml:GPU-1"]["intervals"]["intensity_g_per_kwh"] == pytest.approx(
        [200.0, 200.0, 500.0])
    assert inputs["model:cpu"]["intervals"]["energy_j"] == [1.8e6, 1.8e6, 3.6e6]
    assert inputs["nvml:GPU-1"]["idle_w"] == idle_w
    assert inputs["model:cpu"]["idle_w"] is None
    assert doc["inputs"]["pue"] == 1.5
    assert doc["inputs"]["embodied"]["hours"] == pytest.approx(0.5)


def recompute(inputs: dict[str, Any]) -> dict[str, float]:
    """Redo a footprint from an appendix's inputs with the documented formulas."""
    process = inputs["attribution"] == "process"
    dyn_kwh = idle_kwh = dyn_g = idle_g = 0.0
    embodied_kg = 0.0
    emb = inputs["embodied"]
    per_hour = 1.0 / (emb["lifetime_years"] * 8760.0 * emb["utilization"]) if emb else 0.0
    for d in inputs["devices"]:
        iv = d["intervals"]
        for a, b, whole, attributed, ci in zip(iv["t_start"], iv["t_end"], iv["energy_j"],
                                               iv["attributed_j"], iv["intensity_g_per_kwh"],
                                               strict=True):
            counted = attributed if process else whole
            share = (attributed / whole if whole > 0 else 1.0) if process else 1.0
            idle_j = min(d["idle_w"] * (b - a) * share, counted) if d["idle_w"] else 0.0
            dyn_kwh += (counted - idle_j) / 3.6e6
            idle_kwh += idle_j / 3.6e6
            dyn_g += (counted - idle_j) / 3.6e6 * ci
            idle_g += idle_j / 3.6e6 * ci
        if emb and d["embodied_kg"] is not None:
            embodied_kg += d["embodied_kg"] * d["embodied_share"] * per_hour * emb["hours"]
    if emb and emb["node_kg"] is not None:
        embodied_kg += emb["node_kg"] * emb["nodes"] * emb["node_share"] * per_hour * emb["hours"]
    pue = inputs["pue"]
    return {"energy_total_kwh": (dyn_kwh + idle_kwh) * pue,
            "co2e_total_kg": (dyn_g + idle_g) * pue / 1000 + embodied_kg,
            "embodied_kg": embodied_kg}


def test_inputs_recompute_the_footprint_under_process_attribution(store: Store,
                                                                 tmp_path: Path) -> None:
    rid = make_run(store, attribution="process", scale=0.5)
    # a paused interval is stored but not counted; the pause shortens the embodied time
    store.append_intervals(rid, [IntervalRecord("nvml:GPU-1", T0 + 1800, T0 + 2400, 5e6, 5e6,
                                                paused=True)])
    store.add_pause(rid, T0 + 1200, T0 + 1500, "grid too dirty")
    opts = AccountingOptions(intensity_file=intensity_csv(tmp_path), pue=1.2)
    doc = run_appendix(store, rid, opts)
    again = recompute(doc["inputs"])
    fp = doc["footprint"]
    assert again["energy_total_kwh"] == pytest.approx(fp["energy_kwh"]["total"], rel=1e-12)
    assert again["co2e_total_kg"] == pytest.approx(fp["co2e_kg"]["total"], rel=1e-12)
    assert again["embodied_kg"] == pytest.approx(fp["co2e_kg"]["embodied"], rel=1e-12)
    # by hand: CPU attributed half of 0.5 × (0.5, 0.5, 1) kWh; GPU whole 0.125 kWh × 3
    assert doc["energy"]["counted_energy_kwh"] == pytest.approx(0.5 + 0.375)
    # node share = attributed / whole CPU energy = 0.5; the GPU's own share is 1
    assert doc["inputs"]["embodied"]["node_share"] == pytest.approx(0.5)
    assert doc["inputs"]["embodied"]["hours"] == pytest.approx((1800 - 300) / 3600)
    assert fp["co2e_kg"]["embodied"] == pytest.approx(
        embodied_kg(hours=1500 / 3600, node_share=0.5), rel=1e-12)


def test_markdown_appendix_shows_the_numbers_and_embeds_the_document(store: Store,
                                                                    tmp_path: Path) -> None:
    rid = make_run(store)
    opts = AccountingOptions(intensity_file=intensity_csv(tmp_path), pue=1.5)
    doc = run_appendix(store, rid, opts)
    text = appendix_markdown(doc)
    idle_w = hardware.default_catalogue().gpu(GPU).idle_w
    gpu_idle_kwh = 3 * idle_w * 600 / 3.6e6
    # the carbon breakdown row of the infrastructure term: 2.75 kWh × 0.5, 925 g × 0.5
    assert gpu_idle_kwh == pytest.approx(0.025)  # 3 × 50 W × 600 s = 25 Wh
    assert "| infrastructure | 1.38 kWh | 463 g |" in text
    assert "| idle | 25 Wh |" in text
    assert "| total | 4.13 kWh |" in text
    assert "**4.13 kWh**" in text
    assert "| cpu | cpu | model | estimated (tdp-utilisation) | cpu-time-share |" in text
    assert f"| {GPU} | gpu | nvml | measured | whole-device |" in text
    assert "| CPU | Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz |" in text
    assert "| git commit of the code | 0123456789abcdef (uncommitted changes) |" in text
    assert "| `torch` | 2.3.1 |" in text
    assert "| sample | 1,000 |" in text
    assert "| accuracy | 0.75 |" in text
    # GitHub pipe tables: every table row starts and ends with a pipe
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")
    # the machine-readable block parses back to the same document
    block = re.search(r"<details>\n<summary>.*?</summary>\n\n```json\n(.*?)\n```\n\n</details>",
                      text, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == doc


def test_run_without_host_facts_says_so(store: Store, tmp_path: Path) -> None:
    rid = make_run(store, host=False)
    doc = run_appendix(store, rid, AccountingOptions(intensity_file=intensity_csv(tmp_path)))
    assert doc["hardware"]["recorded"] is False
    assert doc["hardware"]["cpu_model"] is None
    # GPU names still come from the stored devices
    assert doc["hardware"]["gpus"] == [{"name": GPU, "count": 1}]
    assert doc["software"]["git"] is None
    assert any("not recorded" in n for n in doc["notes"])
    text = appendix_markdown(doc)
    assert "Hardware facts were not recorded for this run." in text
    assert "| Python | not recorded |" in text


def test_markdown_survives_pipes_and_backticks(store: Store) -> None:
    command = "sh -c 'echo ```x``` | tee out.log'"
    rid = store.create_run(project="p", phase="training", attribution="machine",
                           interval_s=1.0, started_at=T0, command=command, name="a|b")
    store.finish_run(rid, status="finished", ended_at=T0 + 10)
    doc = run_appendix(store, rid, AccountingOptions(region="DE"))
    text = appendix_markdown(doc)
    assert "| command | ````sh -c 'echo ```x``` \\| tee out.log'```` |" in text
    block = re.search(r"\n(`{4,})json\n(.*?)\n\1\n", text, re.S)
    assert block is not None
    assert json.loads(block.group(2))["run"]["command"] == command


def test_run_without_intervals_is_valid_json(store: Store) -> None:
    rid = store.create_run(project="p", phase="training", attribution="machine",
                           interval_s=1.0, started_at=T0)
    store.finish_run(rid, status="finished", ended_at=T0 + 10)
    doc = run_appendix(store, rid, AccountingOptions(region="DE", embodied=False))
    # nothing measured: no mean intensity, written as null rather than NaN
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text)["footprint"]["energy_kwh"]["total"] == 0.0
    assert doc["inputs"]["embodied"] is None
    assert appendix_markdown(doc).startswith("# Energy and carbon appendix")


def test_unknown_run_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RunNotFound):
        run_appendix(store, "nope", AccountingOptions(region="DE"))


def test_project_appendix_groups_by_phase(store: Store, tmp_path: Path) -> None:
    make_run(store, phase="training", name="a", scale=1.0)
    make_run(store, phase="training", name="b", scale=2.0, start=T0 + 1)
    make_run(store, phase="inference", name="c", scale=0.5, start=T0 + 2)
    make_run(store, project="other", phase="training", name="elsewhere")
    running = store.create_run(project="paper", phase="training", attribution="machine",
                               interval_s=1.0, started_at=T0 + 3, pid=1)
    calls: list[tuple[int, int]] = []
    opts = AccountingOptions(intensity_file=intensity_csv(tmp_path), pue=1.0, embodied=False)
    doc = project_appendix(store, "paper", by="phase", opts=opts,
                           progress=lambda done, total: calls.append((done, total)))
    groups = {g["key"]: g for g in doc["groups"]}
    # each unscaled run: 2.75 kWh, 925 g; the runs start 1-2 s apart, which moves 1-2 s of
    # energy across the 01:00 step: compare with a tolerance well below one run's share
    assert groups["training"]["runs"] == 2
    assert groups["training"]["energy_kwh"]["total"] == pytest.approx(2.75 * 3, rel=1e-12)
    assert groups["training"]["co2e_kg"]["total"] == pytest.approx(0.925 * 3, rel=1e-3)
    assert groups["inference"]["energy_kwh"]["total"] == pytest.approx(2.75 * 0.5, rel=1e-12)
    assert groups["inference"]["duration_s"] == 1800.0
    assert doc["total"]["runs"] == 3
    assert doc["total"]["energy_kwh"]["total"] == pytest.approx(2.75 * 3.5, rel=1e-12)
    assert [e["id"] for e in doc["excluded"]] == [running]
    assert {r["name"] for r in doc["runs"]} == {"a", "b", "c"}
    assert doc["hardware"] == [{"host": doc["hardware"][0]["host"], "cpu_model": HOST["cpu_model"],
                                "gpus": f"1 × {GPU}", "runs": 3}]
    assert calls[0] == (0, 4) and calls[-1] == (4, 4) and len(calls) == 5
    assert "energy" not in {a["factor"] for a in doc["assumptions"]}
    text = appendix_markdown(doc)
    assert "| training | 2 | 1:00:00 | 8.25 kWh |" in text


def test_project_grouping_must_be_known(store: Store) -> None:
    with pytest.raises(ConfigError, match="--by"):
        project_appendix(store, "paper", by="colour")


def test_html_needs_matplotlib_and_says_how_to_install_it(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wattprint.errors import WattprintError
    from wattprint.report.render_html import appendix_html

    doc = run_appendix(store, make_run(store),
                       AccountingOptions(intensity_file=intensity_csv(tmp_path)))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(WattprintError, match=r"pip install 'wattprint\[report\]'"):
        appendix_html(doc)


CLI = "import wattprint.cli.reports; from wattprint.cli import main; main()"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_cli_report_markdown_json_and_project(store: Store, tmp_path: Path) -> None:
    rid = make_run(store)
    make_run(store, phase="inference", name="serve", start=T0 + 1, scale=0.5)
    series = str(intensity_csv(tmp_path))
    md = cli("report", rid, "--intensity", series, "--pue", "1.5")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith(f"# Energy and carbon appendix: run `{rid}` (resnet)")
    assert "| infrastructure | 1.38 kWh | 463 g |" in md.stdout
    assert md.stderr == ""
    as_json = cli("report", rid, "--format", "json", "--intensity", series, "--no-embodied")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["schema"] == "wattprint.appendix.run/1"
    assert doc["footprint"]["co2e_kg"]["embodied"] == 0.0
    assert doc["footprint"]["co2e_kg"]["total"] == pytest.approx(0.925)
    out = tmp_path / "life-cycle.md"
    project = cli("report", "--project", "paper", "--by", "phase", "-o", str(out),
                  "--intensity", series, "--no-embodied")
    assert project.returncode == 0, project.stderr
    assert f"wrote {out}" in project.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Life-cycle energy and carbon: project `paper`")
    assert "| inference | 1 | 0:30:00 | 1.38 kWh |" in text
    quiet = cli("report", "--project", "paper", "--format", "json", "--quiet",
                "--intensity", series)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["total"]["runs"] == 2
    neither = cli("report")
    assert neither.returncode == 2
    assert "--project" in neither.stderr
    bad = cli("report", rid, "--format", "pdf")
    assert bad.returncode == 2 and "--format" in bad.stderr
    missing = cli("report", "nope")
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_html_appendix_is_self_contained(store: Store, tmp_path: Path) -> None:
    from wattprint.report.render_html import appendix_html

    doc = run_appendix(store, make_run(store),
                       AccountingOptions(intensity_file=intensity_csv(tmp_path), pue=1.5))
    page = appendix_html(doc)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2 and "<?xml" not in page and "<!DOCTYPE svg" not in page
    # the two plots' element ids never collide on one page
    ids = re.findall(r'<[^<>]*?\sid="([^"]+)"', page)  # id attributes of elements
    assert len(ids) == len(set(ids))
    assert "default-src 'none'" in page and "@media print" in page
    embedded = re.search(r'<script type="application/json" id="wattprint-data">(.*?)</script>',
                         page, re.S)
    assert embedded is not None and json.loads(embedded.group(1)) == doc
    assert "<td class=\"num\">463 g</td>" in page  # infrastructure CO2e, 0.4625 kg


def test_pauses_are_shown_in_the_appendix(tmp_path: Path) -> None:
    from wattprint.accounting.account import AccountingOptions
    from wattprint.report.appendix import run_appendix
    from wattprint.report.render_html import run_html
    from wattprint.report.render_md import run_markdown
    from wattprint.store import DeviceRecord, IntervalRecord, Store

    store = Store(tmp_path / "w.db")
    t0 = 1_700_000_000.0
    rid = store.create_run(project="p", phase="training", attribution="machine",
                           interval_s=60, started_at=t0)
    store.add_devices(rid, [DeviceRecord("x:gpu", "gpu", "card", "x", True, True, None,
                                         "whole-device")])
    store.append_intervals(rid, [IntervalRecord("x:gpu", t0, t0 + 60, 600.0, 600.0),
                                 IntervalRecord("x:gpu", t0 + 60, t0 + 120, 60.0, 60.0, True),
                                 IntervalRecord("x:gpu", t0 + 120, t0 + 180, 600.0, 600.0)])
    store.add_pause(rid, t0 + 60, t0 + 120, "intensity 412 g/kWh > 300")
    store.finish_run(rid, status="finished", ended_at=t0 + 180)
    doc = run_appendix(store, rid, AccountingOptions(region="DE", pue=1.0, embodied=False))
    md = run_markdown(doc)
    assert "## Pauses" in md and "intensity 412 g/kWh > 300" in md
    assert "| 2023-11-14T22:14:20.000+00:00 | 2023-11-14T22:15:20.000+00:00 | 0:01:00 |" in md
    html = run_html(doc)
    assert "<h2>Pauses" in html and "intensity 412 g/kWh &gt; 300" in html
    # the paused interval's 60 J is not in the energy: 1200 J = 1/3000 kWh
    assert doc["footprint"]["energy_kwh"]["total"] == 1200.0 / 3.6e6
