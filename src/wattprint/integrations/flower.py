"""Flower: the footprint of a federated-learning job, clients, server and network.

Federated learning moves training onto many devices and adds a cost that
centralised training does not have: every round, each client downloads the
global model and uploads its update. Qiu et al. ("A first look into the
carbon footprint of federated learning", JMLR 2023) count three terms --
client training, server aggregation and communication -- and compare the
total with centralised training of the same model on the same data. This
module records all three:

* :func:`track_client` wraps a ``NumPyClient``: the client is one run (tags
  ``job`` = the federation id, ``flower.client``, ``flower.link``,
  ``flower.role=client``; its own region, the device's grid), each ``fit`` a
  phase ``round-N``; the bytes it received and sent (the parameters as
  Flower serialises them, ``ndarrays_to_parameters``) and their transfer
  energy are logged per round as metrics ``bytes_received``, ``bytes_sent``
  and ``comm_energy_j`` (step = round);
* :func:`track_strategy` wraps a server ``Strategy``: the server is one run
  of the same job (``flower.role=server``), each ``aggregate_fit`` a phase
  ``aggregate-N``;
* :func:`federation_report` puts them together: per round and client, the
  training energy (the run's intervals within the round's phase, pro rata
  where an interval straddles its edge), bytes and communication energy and
  carbon; the server's aggregation energy per round; totals; and, given a
  centralised baseline run, the ratio of the federation to it.

Communication energy = (bytes received + bytes sent) / 1e9 × the link's
kWh/GB (:mod:`wattprint.catalogue.network`: wired, Wi-Fi, 4G, 5G, each with
its source) × 3.6e6 J/kWh; its carbon uses the annual intensity of the
client's region (the device's end of the link). Flower is imported when a
client or strategy is wrapped (extra ``flower``).

One run per client holds while the wrapped client object lives (in-process
clients, or a simulation whose ``client_fn`` keeps the wrapped client for
its partition); a client rebuilt in another process starts another run with
the same tags, and the report adds them up by client.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wattprint.catalogue.network import NetworkLink, network_link
from wattprint.errors import ConfigError
from wattprint.integrations._common import require, stored_cost
from wattprint.run import Tracker
from wattprint.units import J_PER_KWH

if TYPE_CHECKING:
    from wattprint.records import IntervalRecord
    from wattprint.store import Store

log = logging.getLogger(__name__)

#: the tag that makes the runs of one federation one job
JOB_TAG = "job"


def _flwr_common() -> Any:
    return require("flwr.common", "flower", "the Flower integration")


def serialized_bytes(ndarrays: Sequence[Any]) -> int:
    """The bytes of parameters as Flower sends them (``ndarrays_to_parameters``)."""
    params = _flwr_common().ndarrays_to_parameters(list(ndarrays))
    return sum(len(t) for t in params.tensors)


def _tags(federation: str, role: str, extra: dict[str, str]) -> dict[str, str]:
    return {**extra, JOB_TAG: federation, "flower.role": role}


@functools.cache
def _client_class() -> type:
    flwr_client = require("flwr.client", "flower", "the Flower integration")

    class TrackedNumPyClient(flwr_client.NumPyClient):  # type: ignore[misc,name-defined]
        """A ``NumPyClient`` whose training rounds and traffic are measured."""

        def __init__(self, client: Any, tracker: Tracker, link: NetworkLink) -> None:
            self.client = client
            self.tracker = tracker
            self.link = link
            self.rounds = 0

        def get_properties(self, config: dict[str, Any]) -> dict[str, Any]:
            return dict(self.client.get_properties(config))

        def get_parameters(self, config: dict[str, Any]) -> Any:
            return self.client.get_parameters(config)

        def fit(self, parameters: Any, config: dict[str, Any]) -> Any:
            self.rounds += 1
            rnd = int(config.get("server_round", self.rounds))
            if self.tracker.status == "new":
                self.tracker.start()
            received = serialized_bytes(parameters)
            with self.tracker.phase(f"round-{rnd}"):
                result = self.client.fit(parameters, config)
            sent = serialized_bytes(result[0])
            energy_j = (received + sent) / 1e9 * self.link.kwh_per_gb * J_PER_KWH
            self.tracker.log_metric("bytes_received", received, rnd)
            self.tracker.log_metric("bytes_sent", sent, rnd)
            self.tracker.log_metric("comm_energy_j", energy_j, rnd)
            return result

        def evaluate(self, parameters: Any, config: dict[str, Any]) -> Any:
            if self.tracker.status == "new":
                self.tracker.start()
            with self.tracker.phase(f"evaluate-{self.rounds}"):
                return self.client.evaluate(parameters, config)

        def close(self) -> None:
            """End the client's run."""
            self.tracker.stop()

    return TrackedNumPyClient


def track_client(client: Any, *, federation: str, client_id: str, link: str = "wired",
                 region: str | None = None, project: str | None = None,
                 **tracker_options: Any) -> Any:
    """Wrap a Flower ``NumPyClient`` so that its rounds, bytes and transfer energy are recorded.

    Args:
        client: the ``NumPyClient`` to wrap.
        federation: the federation's id, shared by every client and the server.
        client_id: this client's name in the reports.
        link: its network link: ``wired``, ``wifi``, ``4g``, ``5g``, ``datacenter``.
        region: the grid region of the device (default: the usual resolution).
        project: the runs' project (default: the federation id).
        **tracker_options: passed to :class:`~wattprint.run.Tracker`.

    Returns:
        A ``NumPyClient`` (``.to_client()`` for a ``ClientApp``); call its
        ``close()`` when the federation ends, which ends the client's run.

    Raises:
        ConfigError: an unknown link, or Flower is not installed.
    """
    chosen = network_link(link)
    options = dict(tracker_options)
    tags = _tags(federation, "client", {**options.pop("tags", {}),
                                        "flower.client": client_id, "flower.link": chosen.name})
    tracker = Tracker(project or federation, name=f"client-{client_id}",
                      phase=options.pop("phase", "training"), region=region, tags=tags,
                      **options)
    return _client_class()(client, tracker, chosen)


class TrackedStrategy:
    """A Flower server ``Strategy`` whose aggregation is measured as one run of the job.

    Every method is the wrapped strategy's; ``aggregate_fit`` runs inside a
    phase ``aggregate-N`` of the server's run, which starts with the first
    round and ends with :meth:`close`.

    Args:
        strategy: the strategy to wrap (``FedAvg(...)``...).
        federation: the federation's id, shared with the clients.
        project: the run's project (default: the federation id).
        **tracker_options: passed to :class:`~wattprint.run.Tracker`.
    """

    def __init__(self, strategy: Any, *, federation: str, project: str | None = None,
                 **tracker_options: Any) -> None:
        _flwr_common()
        options = dict(tracker_options)
        tags = _tags(federation, "server", options.pop("tags", {}))
        self.strategy = strategy
        self.tracker = Tracker(project or federation, name="server",
                               phase=options.pop("phase", "training"), tags=tags, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.strategy, name)

    def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
        """The wrapped strategy's ``aggregate_fit``, measured as phase ``aggregate-N``."""
        if self.tracker.status == "new":
            self.tracker.start()
        with self.tracker.phase(f"aggregate-{server_round}"):
            return self.strategy.aggregate_fit(server_round, results, failures)

    def close(self) -> None:
        """End the server's run."""
        self.tracker.stop()


def track_strategy(strategy: Any, *, federation: str, **tracker_options: Any) -> TrackedStrategy:
    """Wrap a server strategy (see :class:`TrackedStrategy`)."""
    return TrackedStrategy(strategy, federation=federation, **tracker_options)


# ------------------------------------------------------------------------------ the report


def window_energy_j(intervals: Sequence[IntervalRecord], t_start: float, t_end: float) -> float:
    """Energy of the intervals within ``[t_start, t_end]``, pro rata for straddling ones (J)."""
    total = 0.0
    for i in intervals:
        if i.paused or i.t_end <= t_start or i.t_start >= t_end:
            continue
        span = i.t_end - i.t_start
        overlap = min(i.t_end, t_end) - max(i.t_start, t_start)
        total += i.energy_j if span <= 0 else i.energy_j * overlap / span
    return total


def _phase_energy(store: Store, run_id: str, prefix: str) -> dict[int, float]:
    intervals = store.intervals(run_id)
    out: dict[int, float] = {}
    for ph in store.phases(run_id):
        name = str(ph["name"])
        if not name.startswith(prefix) or ph["t_end"] is None:
            continue
        rnd = int(name[len(prefix):])
        out[rnd] = out.get(rnd, 0.0) + window_energy_j(intervals, float(ph["t_start"]),
                                                       float(ph["t_end"]))
    return out


def _g_per_kwh(region: str) -> float:
    from wattprint.accounting.intensity import annual_intensity

    return float(annual_intensity(region).g_per_kwh)


def federation_report(store: Store, federation: str, *, baseline: str | None = None,
                      project: str | None = None) -> dict[str, Any]:
    """The footprint of a federation, by round and client, against a centralised baseline.

    Args:
        store: the run store.
        federation: the federation id (the runs' ``job`` tag).
        baseline: a centralised run of the same model and data (id or prefix).
        project: the runs' project (default: the federation id).

    Returns:
        ``{"federation", "clients": [{"client", "runs", "region", "link",
        "energy_j", "co2e_kg", "rounds": [{"round", "fit_energy_j",
        "bytes_received", "bytes_sent", "comm_energy_j", "comm_co2e_kg"}]}],
        "server": {"runs", "energy_j", "co2e_kg", "rounds": [{"round",
        "aggregation_energy_j"}]}, "totals": {"compute_energy_j",
        "comm_energy_j", "energy_j", "compute_co2e_kg", "comm_co2e_kg",
        "co2e_kg", "bytes"}, "baseline": {"run", "energy_j", "co2e_kg",
        "energy_ratio", "co2e_ratio"} or None}``; compute figures are the
        runs' footprints (as ``wattprint show`` accounts them), communication
        is on top.

    Raises:
        ConfigError: no run of that federation.
        RunNotFound: no such baseline run.
    """
    runs = [r for r in store.runs(project or federation)
            if store.tags(r.id).get(JOB_TAG) == federation]
    if not runs:
        raise ConfigError(f"no run of federation {federation!r} in project "
                          f"{project or federation!r}")
    clients: dict[str, dict[str, Any]] = {}
    server: dict[str, Any] = {"runs": [], "energy_j": 0.0, "co2e_kg": 0.0, "rounds": []}
    server_rounds: dict[int, float] = {}
    for run in sorted(runs, key=lambda r: r.started_at):
        tags = store.tags(run.id)
        cost = stored_cost(store, run.id)
        if tags.get("flower.role") == "server":
            server["runs"].append(run.id)
            server["energy_j"] += cost.energy_j
            server["co2e_kg"] += cost.co2e_kg
            for rnd, e in _phase_energy(store, run.id, "aggregate-").items():
                server_rounds[rnd] = server_rounds.get(rnd, 0.0) + e
            continue
        name = tags.get("flower.client", run.id)
        link = network_link(tags.get("flower.link", "wired"))
        entry = clients.setdefault(name, {"client": name, "runs": [], "region": cost.region,
                                          "link": link.name, "energy_j": 0.0, "co2e_kg": 0.0,
                                          "_rounds": {}})
        entry["runs"].append(run.id)
        entry["energy_j"] += cost.energy_j
        entry["co2e_kg"] += cost.co2e_kg
        g_per_kwh = _g_per_kwh(cost.region)
        fit = _phase_energy(store, run.id, "round-")
        rows: dict[int, dict[str, float]] = entry["_rounds"]
        for m in store.metrics(run.id):
            if m["name"] in ("bytes_received", "bytes_sent", "comm_energy_j") \
                    and m["step"] is not None:
                row = rows.setdefault(int(m["step"]), {})
                row[m["name"]] = row.get(m["name"], 0.0) + float(m["value"])
        for rnd, e in fit.items():
            rows.setdefault(rnd, {})["fit_energy_j"] = rows.get(rnd, {}).get(
                "fit_energy_j", 0.0) + e
        for row in rows.values():
            row["comm_co2e_kg"] = row.get("comm_energy_j", 0.0) / J_PER_KWH * g_per_kwh / 1000
    client_list = []
    for entry in clients.values():
        rows = entry.pop("_rounds")
        entry["rounds"] = [{"round": rnd, "fit_energy_j": r.get("fit_energy_j", 0.0),
                            "bytes_received": int(r.get("bytes_received", 0)),
                            "bytes_sent": int(r.get("bytes_sent", 0)),
                            "comm_energy_j": r.get("comm_energy_j", 0.0),
                            "comm_co2e_kg": r.get("comm_co2e_kg", 0.0)}
                           for rnd, r in sorted(rows.items())]
        client_list.append(entry)
    server["rounds"] = [{"round": rnd, "aggregation_energy_j": e}
                        for rnd, e in sorted(server_rounds.items())]
    compute_j = server["energy_j"] + sum(c["energy_j"] for c in client_list)
    compute_kg = server["co2e_kg"] + sum(c["co2e_kg"] for c in client_list)
    comm_j = sum(r["comm_energy_j"] for c in client_list for r in c["rounds"])
    comm_kg = sum(r["comm_co2e_kg"] for c in client_list for r in c["rounds"])
    n_bytes = sum(r["bytes_received"] + r["bytes_sent"] for c in client_list
                  for r in c["rounds"])
    totals = {"compute_energy_j": compute_j, "comm_energy_j": comm_j,
              "energy_j": compute_j + comm_j, "compute_co2e_kg": compute_kg,
              "comm_co2e_kg": comm_kg, "co2e_kg": compute_kg + comm_kg, "bytes": n_bytes}
    base = None
    if baseline is not None:
        b = stored_cost(store, baseline)
        base = {"run": b.run_id, "energy_j": b.energy_j, "co2e_kg": b.co2e_kg,
                "energy_ratio": totals["energy_j"] / b.energy_j if b.energy_j > 0 else None,
                "co2e_ratio": totals["co2e_kg"] / b.co2e_kg if b.co2e_kg > 0 else None}
    return {"federation": federation, "clients": client_list, "server": server,
            "totals": totals, "baseline": base}


__all__ = ["JOB_TAG", "TrackedStrategy", "federation_report", "serialized_bytes",
           "track_client", "track_strategy", "window_energy_j"]
