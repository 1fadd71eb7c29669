"""The MLflow integration against a real local tracking store (SQLite in tmp_path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from wattprint.integrations.mlflow import attach_appendix, track  # noqa: E402
from wattprint.run import Tracker  # noqa: E402
from wattprint.store import Store  # noqa: E402

# MLflow's SQLite store uses a SQLAlchemy loader option that SQLAlchemy 2.1 deprecates
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning")

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    # one tracking database for the module: creating its tables takes seconds
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_live_steps_summary_params_and_artifacts(home: Path, tracking_uri: str,
                                                 tmp_path: Path) -> None:
    with mlflow.start_run() as active, track(every_s=0.0, tracking_uri=tracking_uri,
                                             project="mlf", sensors=["model"], interval_s=0.02,
                                             region="FR") as run:
        _busy(0.6)
    got = mlflow.get_run(active.info.run_id)
    metrics, params, tags = got.data.metrics, got.data.params, got.data.tags
    stored = [i for i in Store(home / "wattprint.db").intervals(run.id or "") if not i.paused]
    total_j = sum(i.energy_j for i in stored)  # machine attribution, PUE 1 (no cloud region)
    assert total_j > 0
    assert metrics["wattprint.energy_kwh"] == pytest.approx(total_j / 3.6e6)
    assert metrics["wattprint.energy_j"] == pytest.approx(total_j)
    assert metrics["wattprint.co2e_kg"] > 0
    assert metrics["wattprint.co2e_kg"] == pytest.approx(
        metrics["wattprint.co2e_operational_kg"] + metrics["wattprint.co2e_embodied_kg"])
    assert params["wattprint.region"] == "FR"
    assert params["wattprint.pue"] == "1"
    assert "model (estimated)" in params["wattprint.sensors"]
    assert params["wattprint.intensity_source"].startswith("annual")
    assert params["wattprint.run"] == run.id and tags["wattprint.run"] == run.id
    # live steps: cumulative, so non-decreasing, and the last one is the whole live sum
    history = mlflow.tracking.MlflowClient().get_metric_history(active.info.run_id,
                                                                "wattprint.live.energy_j")
    live = sorted(history, key=lambda m: (m.step, m.timestamp))
    assert len(live) >= 2
    assert [m.step for m in live] == list(range(1, len(live) + 1))
    values = [m.value for m in live]
    assert values == sorted(values) and values[0] > 0
    assert values[-1] <= total_j + 1e-9
    names = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(
        active.info.run_id, "wattprint")}
    assert names == {"wattprint/appendix.html", "wattprint/appendix.json"}
    local = mlflow.artifacts.download_artifacts(run_id=active.info.run_id,
                                                artifact_path="wattprint/appendix.json",
                                                dst_path=str(tmp_path / "dl"))
    doc = json.loads(Path(local).read_text())
    assert doc["run"]["id"] == run.id and doc["kind"] == "run"


def test_report_cli_attaches_a_stored_runs_appendix(home: Path, tracking_uri: str) -> None:
    with Tracker("cli", sensors=["model"], interval_s=0.02, region="DE") as run:
        _busy(0.1)
    client = mlflow.tracking.MlflowClient()
    experiment = client.create_experiment("attach")
    target = client.create_run(experiment).info.run_id
    client.set_terminated(target)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-m", "wattprint", "report", run.id or "",
                          "--mlflow-run", target], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"to MLflow run {target}" in out.stderr
    got = mlflow.get_run(target)
    assert got.data.params["wattprint.region"] == "DE"
    assert got.data.tags["wattprint.run"] == run.id
    names = {a.path for a in client.list_artifacts(target, "wattprint")}
    assert names == {"wattprint/appendix.html", "wattprint/appendix.json"}
    # a project has no single appendix to attach
    bad = subprocess.run([sys.executable, "-m", "wattprint", "report", "--project", "cli",
                          "--mlflow-run", target], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode == 2 and "give a RUN" in bad.stderr


def test_attach_to_an_unknown_wattprint_run_is_a_clear_error(home: Path) -> None:
    from wattprint.errors import RunNotFound

    Store(home / "wattprint.db").close()
    with pytest.raises(RunNotFound):
        attach_appendix(Store(home / "wattprint.db"), "nope", "x",
                        tracking_uri="sqlite:///unused.db")


def test_docs_example_runs(home: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    from integrations.docsnippets import blocks

    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    [code] = blocks("MLflow")
    try:
        exec(compile(code, "docs/integrations.md", "exec"), {})
    finally:
        mlflow.set_tracking_uri(None)
    assert float(capsys.readouterr().out.strip()) > 0
    assert (home.parent / "mlflow.db").exists()  # the example ran in the test's folder
