"""The Flower integration: 3 in-process NumPyClients, the real FedAvg, 2 rounds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.client import NumPyClient
from flwr.common import (
    Code,
    FitRes,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.strategy import FedAvg

from wattprint.errors import ConfigError
from wattprint.integrations.flower import (
    federation_report,
    track_client,
    track_strategy,
)
from wattprint.run import Tracker
from wattprint.store import Store

TRACKING = {"sensors": ["model"], "interval_s": 0.01}
DIM = 2000  # a float64 vector of 2,000 weights: 16,000 bytes of data per transfer


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, DIM))
    return x, x @ np.linspace(-1, 1, DIM)


def _train(w: np.ndarray, x: np.ndarray, y: np.ndarray, steps: int = 30) -> np.ndarray:
    for _ in range(steps):
        w = w - 1e-4 * x.T @ (x @ w - y)
    return w


class LinearClient(NumPyClient):  # type: ignore[misc]
    def __init__(self, seed: int) -> None:
        self.x, self.y = _data(seed)

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]
            ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        time.sleep(0.03)  # a round long enough to hold a few sampling intervals
        return [_train(parameters[0], self.x, self.y)], len(self.y), {}


def _federation(home: Path) -> tuple[list[Any], Any]:
    links = {"a": ("wired", "FR"), "b": ("wifi", "DE"), "c": ("4g", "PL")}
    clients = [track_client(LinearClient(i), federation="fl-1", client_id=name, link=link,
                            region=region, **TRACKING)
               for i, (name, (link, region)) in enumerate(links.items())]
    strategy = track_strategy(FedAvg(), federation="fl-1", region="FR", **TRACKING)
    weights = [np.zeros(DIM)]
    for rnd in (1, 2):
        results = []
        for client in clients:
            new, n, _ = client.fit(weights, {"server_round": rnd})
            results.append((None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(new), n,
                                         {})))
        aggregated, _ = strategy.aggregate_fit(rnd, results, [])
        weights = parameters_to_ndarrays(aggregated)
    for client in clients:
        client.close()
    strategy.close()
    return clients, strategy


def test_rounds_bytes_and_communication_energy_add_up(home: Path) -> None:
    _federation(home)
    store = Store(home / "wattprint.db")
    runs = store.runs("fl-1")
    assert len(runs) == 4  # one run per client and one for the server
    assert {store.tags(r.id)["job"] for r in runs} == {"fl-1"}
    report = federation_report(store, "fl-1")
    assert [c["client"] for c in report["clients"]] == ["a", "b", "c"]
    # each transfer is one float64 array of DIM values as Flower serialises it (numpy .npy:
    # the 16,000 data bytes plus a 128-byte header)
    per_transfer = DIM * 8 + 128
    links = {"a": 0.03, "b": 0.03, "c": 0.14}  # kWh/GB: wired, Wi-Fi, 4G, as the sources give
    regions = {"a": "FR", "b": "DE", "c": "PL"}
    comm_total = 0.0
    for client in report["clients"]:
        assert client["region"] == regions[client["client"]]
        assert [r["round"] for r in client["rounds"]] == [1, 2]
        for r in client["rounds"]:
            assert r["bytes_received"] == per_transfer and r["bytes_sent"] == per_transfer
            expected_j = 2 * per_transfer / 1e9 * links[client["client"]] * 3.6e6
            assert r["comm_energy_j"] == pytest.approx(expected_j)
            assert r["fit_energy_j"] > 0
            comm_total += expected_j
        # the rounds' training energy is part of the client's run, never more than it
        assert sum(r["fit_energy_j"] for r in client["rounds"]) <= client["energy_j"] * (1 + 1e-9)
    server = report["server"]
    assert [r["round"] for r in server["rounds"]] == [1, 2]
    assert len(server["runs"]) == 1
    totals = report["totals"]
    assert totals["bytes"] == 3 * 2 * 2 * per_transfer
    assert totals["comm_energy_j"] == pytest.approx(comm_total)
    # compute = the four runs' stored energy (PUE 1: no cloud region), intervals summed here
    stored_j = sum(i.energy_j for r in runs for i in store.intervals(r.id) if not i.paused)
    assert totals["compute_energy_j"] == pytest.approx(stored_j)
    assert totals["energy_j"] == pytest.approx(stored_j + comm_total)
    assert totals["co2e_kg"] == pytest.approx(totals["compute_co2e_kg"] + totals["comm_co2e_kg"])
    # communication carbon: each client's bytes at its own region's annual intensity
    from wattprint.accounting.intensity import annual_intensity

    comm_kg = sum(r["comm_energy_j"] / 3.6e6 * annual_intensity(c["region"]).g_per_kwh / 1000
                  for c in report["clients"] for r in c["rounds"])
    assert totals["comm_co2e_kg"] == pytest.approx(comm_kg)


def test_report_compares_with_a_centralised_baseline(home: Path) -> None:
    _federation(home)
    with Tracker("fl-1", name="centralised", region="FR", **TRACKING) as central:
        xs, ys = zip(*(_data(i) for i in range(3)), strict=True)
        w = np.zeros(DIM)
        for _ in range(2):
            time.sleep(0.09)
            w = _train(w, np.vstack(xs), np.concatenate(ys))
    store = Store(home / "wattprint.db")
    report = federation_report(store, "fl-1", baseline=central.id)
    base = report["baseline"]
    assert base["run"] == central.id
    central_j = sum(i.energy_j for i in store.intervals(central.id or "") if not i.paused)
    assert base["energy_j"] == pytest.approx(central_j)
    assert base["energy_ratio"] == pytest.approx(report["totals"]["energy_j"] / central_j)
    # the baseline has no job tag, so it is not counted as part of the federation
    assert len(report["server"]["runs"]) == 1 and len(report["clients"]) == 3


def test_unknown_link_and_federation(home: Path) -> None:
    with pytest.raises(ConfigError, match="unknown network link 'carrier-pigeon'"):
        track_client(LinearClient(0), federation="x", client_id="a", link="carrier-pigeon")
    with pytest.raises(ConfigError, match="no run of federation 'nope'"):
        federation_report(Store(home / "wattprint.db"), "nope")


def test_docs_example_runs(home: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    from integrations.docsnippets import blocks

    monkeypatch.setenv("WATTPRINT_SENSORS", "model")
    monkeypatch.setenv("WATTPRINT_INTERVAL", "0.01")
    [code] = blocks("Flower")
    exec(compile(code, "docs/integrations.md", "exec"), {})
    assert "x the centralised run" in capsys.readouterr().out
    assert len(Store(home / "wattprint.db").runs("fl-demo")) == 5
