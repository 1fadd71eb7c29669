"""MLflow: a run's energy and carbon beside its loss curves, and its appendix as artifacts.

Three pieces, usable alone or together:

* :class:`MlflowLogger`, an ``on_intervals`` callback of a
  :class:`~wattprint.run.Tracker`: while the run measures, it logs the
  cumulative energy (``wattprint.live.energy_j``) and operational carbon
  (``wattprint.live.co2e_kg``: energy × the annual grid intensity of the
  run's region, before PUE and embodied carbon: a running estimate) to the
  MLflow run as stepped metrics, at most every ``every_s`` seconds;
* :func:`log_to_mlflow`, at the end: the footprint as metrics
  (``wattprint.energy_kwh``, ``wattprint.co2e_kg`` total, ...), the sensors,
  region, PUE and intensity source as params and the run id as a tag, and the
  run's appendix (``wattprint/appendix.html`` and ``wattprint/appendix.json``)
  as artifacts;
* :func:`track`, a context manager doing both for the active MLflow run::

      with mlflow.start_run():
          with wattprint.integrations.mlflow.track(project="bert") as run:
              train()

``wattprint report RUN --mlflow-run ID`` attaches a stored run's appendix to
an existing MLflow run (:func:`attach_appendix`). MLflow calls go through
``MlflowClient`` with the MLflow run id captured up front, because the
sampler thread that calls the logger has no active MLflow run of its own.
MLflow is imported when first needed (extra ``mlflow``).
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattprint.errors import ConfigError
from wattprint.integrations._common import require
from wattprint.run import Tracker
from wattprint.units import J_PER_KWH

if TYPE_CHECKING:
    from wattprint.records import IntervalRecord
    from wattprint.store import Store

log = logging.getLogger(__name__)

#: artifact folder of the appendix inside the MLflow run
ARTIFACT_PATH = "wattprint"


def _mlflow() -> Any:
    return require("mlflow", "mlflow", "the MLflow integration")


def _client(tracking_uri: str | None) -> Any:
    mlflow = _mlflow()
    return mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)


def _active_run_id() -> str:
    active = _mlflow().active_run()
    if active is None:
        raise ConfigError("no active MLflow run: call mlflow.start_run() first or pass run_id=")
    return str(active.info.run_id)


class MlflowLogger:
    """Log a run's cumulative energy and carbon to an MLflow run while it measures.

    Pass it as ``on_intervals`` of a :class:`~wattprint.run.Tracker` and
    :meth:`bind` it to that tracker (or use :func:`track`, which does both).

    Args:
        run_id: the MLflow run (default: the active run when created).
        every_s: the least time between two logged steps, s.
        tracking_uri: the MLflow tracking URI (default: MLflow's own).
    """

    def __init__(self, run_id: str | None = None, *, every_s: float = 10.0,
                 tracking_uri: str | None = None) -> None:
        self.run_id = run_id or _active_run_id()
        self.every_s = every_s
        self._client = _client(tracking_uri)
        self._tracker: Tracker | None = None
        self._g_per_kwh: float | None = None
        self._energy_j = 0.0
        self._last_logged: float | None = None
        self._lock = threading.Lock()
        self.step = 0

    def bind(self, tracker: Tracker) -> None:
        """Take the attribution rule and region of the tracker whose intervals arrive."""
        self._tracker = tracker

    def _intensity(self) -> float | None:
        if self._g_per_kwh is None and self._tracker is not None:
            try:
                from wattprint.accounting.intensity import annual_intensity
                from wattprint.run import resolve_settings_region

                region = self._tracker.region or resolve_settings_region(self._tracker.settings)
                self._g_per_kwh = annual_intensity(region.code).g_per_kwh
            except Exception:  # the live figure is a nicety; the summary is accounted
                log.debug("no intensity for live MLflow carbon", exc_info=True)
        return self._g_per_kwh

    def __call__(self, intervals: Sequence[IntervalRecord]) -> None:
        """Add a batch of intervals and log a step when ``every_s`` has passed."""
        process = self._tracker is not None and self._tracker.settings.attribution == "process"
        now = time.monotonic()
        with self._lock:
            self._energy_j += sum((i.attributed_j if process else i.energy_j)
                                  for i in intervals if not i.paused)
            if self._last_logged is not None and now - self._last_logged < self.every_s:
                return
            self._last_logged = now
            self.step += 1
            step, energy_j = self.step, self._energy_j
        self.log_step(step, energy_j)

    def log_step(self, step: int, energy_j: float) -> None:
        """Log the cumulative energy (and carbon, when the intensity is known) at ``step``."""
        stamp = int(time.time() * 1000)
        self._client.log_metric(self.run_id, "wattprint.live.energy_j", energy_j, stamp, step)
        g_per_kwh = self._intensity()
        if g_per_kwh is not None:
            self._client.log_metric(self.run_id, "wattprint.live.co2e_kg",
                                    energy_j / J_PER_KWH * g_per_kwh / 1000.0, stamp, step)


def summary(store: Store, run_id: str) -> tuple[dict[str, float], dict[str, str], dict[str, Any]]:
    """A stored run's MLflow metrics, params and its appendix document.

    Returns:
        ``(metrics, params, appendix)``: metrics ``wattprint.energy_kwh``,
        ``wattprint.energy_j``, ``wattprint.co2e_kg``,
        ``wattprint.co2e_operational_kg``, ``wattprint.co2e_embodied_kg``,
        ``wattprint.duration_s``; params ``wattprint.run``, ``wattprint.sensors``,
        ``wattprint.region``, ``wattprint.pue``, ``wattprint.intensity_source``,
        ``wattprint.intensity_g_per_kwh``.
    """
    from wattprint.report.appendix import run_appendix

    doc = run_appendix(store, run_id)
    fp = doc["footprint"]
    devices = store.devices(doc["run"]["id"])
    co2e = fp["co2e_kg"]
    metrics = {
        "wattprint.energy_kwh": fp["energy_kwh"]["total"],
        "wattprint.energy_j": fp["energy_kwh"]["total"] * J_PER_KWH,
        "wattprint.co2e_kg": co2e["total"],
        "wattprint.co2e_operational_kg": co2e["total"] - co2e["embodied"],
        "wattprint.co2e_embodied_kg": co2e["embodied"],
    }
    if doc["run"]["duration_s"] is not None:
        metrics["wattprint.duration_s"] = float(doc["run"]["duration_s"])
    intensity = fp["intensity"]
    sensors = sorted({f"{d.source} ({'measured' if d.measured else 'estimated'})"
                      for d in devices})
    params = {
        "wattprint.run": str(doc["run"]["id"]),
        "wattprint.sensors": ", ".join(sensors) or "none",
        "wattprint.region": str(intensity["region"]),
        "wattprint.pue": f"{fp['pue']:g}",
        "wattprint.intensity_source": f"{intensity['source']}: {intensity.get('provenance', '')}",
        "wattprint.intensity_g_per_kwh": f"{intensity['mean_g_per_kwh']:.6g}",
    }
    return metrics, params, doc


def attach_appendix(store: Store, run_id: str, mlflow_run_id: str, *,
                    tracking_uri: str | None = None, log_summary: bool = True) -> list[str]:
    """Log a stored run's appendix (HTML and JSON) as artifacts of an MLflow run.

    Args:
        store: the run store.
        run_id: the wattprint run (id, unique prefix or ``last``).
        mlflow_run_id: the MLflow run to attach to (it may be finished).
        tracking_uri: the MLflow tracking URI (default: MLflow's own).
        log_summary: also log the footprint metrics, params and tags.

    Returns:
        The artifact paths written, relative to the MLflow run's artifact root.

    Raises:
        RunNotFound: no such wattprint run.
        ConfigError: MLflow is not installed.
    """
    from wattprint.report.render_html import appendix_html

    metrics, params, doc = summary(store, run_id)
    client = _client(tracking_uri)
    if log_summary:
        stamp = int(time.time() * 1000)
        for key, value in metrics.items():
            client.log_metric(mlflow_run_id, key, value, stamp)
        for key, text in params.items():
            client.log_param(mlflow_run_id, key, text[:6000])
        client.set_tag(mlflow_run_id, "wattprint.run", params["wattprint.run"])
    with tempfile.TemporaryDirectory(prefix="wattprint-mlflow-") as folder:
        root = Path(folder)
        (root / "appendix.json").write_text(
            json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", "utf-8")
        (root / "appendix.html").write_text(appendix_html(doc), "utf-8")
        for name in ("appendix.html", "appendix.json"):
            client.log_artifact(mlflow_run_id, str(root / name), ARTIFACT_PATH)
    return [f"{ARTIFACT_PATH}/appendix.html", f"{ARTIFACT_PATH}/appendix.json"]


def log_to_mlflow(tracker: Tracker, run_id: str | None = None, *,
                  tracking_uri: str | None = None, artifacts: bool = True) -> None:
    """Log a finished tracker's footprint, sources and appendix to an MLflow run.

    Args:
        tracker: a stopped tracker whose run is stored.
        run_id: the MLflow run (default: the active run).
        tracking_uri: the MLflow tracking URI (default: MLflow's own).
        artifacts: also attach the appendix (HTML and JSON).

    Raises:
        ConfigError: the tracker has no stored run, no MLflow run is active,
            or MLflow is not installed.
    """
    if tracker.store is None or tracker.id is None:
        raise ConfigError("the tracker has no stored run to log (was it started?)")
    target = run_id or _active_run_id()
    if artifacts:
        attach_appendix(tracker.store, tracker.id, target, tracking_uri=tracking_uri)
        return
    client = _client(tracking_uri)
    metrics, params, _ = summary(tracker.store, tracker.id)
    stamp = int(time.time() * 1000)
    for key, value in metrics.items():
        client.log_metric(target, key, value, stamp)
    for key, text in params.items():
        client.log_param(target, key, text[:6000])
    client.set_tag(target, "wattprint.run", tracker.id)


@contextmanager
def track(run_id: str | None = None, *, every_s: float = 10.0, tracking_uri: str | None = None,
          artifacts: bool = True, **tracker_options: Any) -> Iterator[Tracker]:
    """Measure a block and log it to an MLflow run, live and at the end.

    Args:
        run_id: the MLflow run (default: the active run).
        every_s: the least time between two live steps, s.
        tracking_uri: the MLflow tracking URI (default: MLflow's own).
        artifacts: attach the appendix at the end.
        **tracker_options: passed to :class:`~wattprint.run.Tracker`.

    Yields:
        The running tracker.
    """
    logger = MlflowLogger(run_id, every_s=every_s, tracking_uri=tracking_uri)
    tracker = Tracker(on_intervals=logger, **tracker_options)
    logger.bind(tracker)
    with tracker:
        yield tracker
    log_to_mlflow(tracker, logger.run_id, tracking_uri=tracking_uri, artifacts=artifacts)


__all__ = ["ARTIFACT_PATH", "MlflowLogger", "attach_appendix", "log_to_mlflow", "summary",
           "track"]
