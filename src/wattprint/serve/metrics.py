"""The agent's Prometheus metrics: a collector that reads a :class:`NodeMonitor` at each scrape.

Counters run from the agent's start (Prometheus' ``rate()`` and ``increase()``
handle the reset when it restarts). Per-process series are bounded: at most
the top N process groups (name and container), one ``kernel`` and one
``other`` series (:mod:`wattprint.serve.series`), so that pid churn cannot
blow up the series count; the ``pid`` label is there only when asked for.
The JSON API lists every process. Per-job series are bounded the same way
and labelled ``job_id`` (not ``job``, which Prometheus sets on every scraped
series to the scrape job's name: a target's own ``job`` label would be renamed
``exported_job`` unless the scrape config sets ``honor_labels``). docs/agent.md
has the table of metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wattprint.serve.monitor import NodeMonitor
from wattprint.units import J_PER_KWH

__all__ = ["NodeCollector", "registry_for"]

_PROCESS_ENERGY_HELP = (
    "Energy charged to processes: each one's share of the CPU-side devices' energy by busy "
    "CPU time, plus its share of each GPU's energy by the driver's per-process accounting; "
    "summed per name and container for the top groups, series=\"kernel\" for kernel "
    "threads, series=\"other\" for the rest.")
_INTENSITY_HELP = (
    "Carbon intensity of the grid used for the carbon counters, in grams CO2e per "
    "kilowatt-hour (the unit intensities are published in).")
_INTENSITY_BASE_HELP = (
    "The same carbon intensity in base units, grams CO2e per joule (the g/kWh value / "
    "3.6e6): multiply a joules counter's rate by it for grams per second.")
_CGROUP_ENERGY_HELP = (
    "Energy charged to the processes of each cgroup (container), CPU and GPU shares "
    "together.")
_JOB_ENERGY_HELP = (
    "Energy charged to the processes of each distributed job on this node (CPU and GPU "
    "shares, as for processes); job_id as `wattprint jobs` names it (slurm:<job>.<step>, "
    "...), series=\"other\" for jobs beyond the agent's bound. Sum a job over nodes with "
    "sum by (job_id).")
_UNATTRIBUTED_HELP = (
    "Energy of the CPU-side devices and GPUs charged to no listed process (idle, kernel, "
    "short-lived work, GPUs without per-process accounting, energy before the first "
    "listing).")


class NodeCollector(Collector):
    """Builds the metric families from a :class:`NodeMonitor` at each scrape.

    Args:
        monitor: the totals to expose.
        version: the agent's version, for ``wattprint_agent_info``.
    """

    def __init__(self, monitor: NodeMonitor, version: str) -> None:
        self.monitor = monitor
        self.version = version

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        m = self.monitor
        dev_labels = ["device", "kind", "source", "measured"]
        energy = CounterMetricFamily(
            "wattprint_device_energy_joules", "Energy used by each device since the agent started.",
            labels=dev_labels)
        power = GaugeMetricFamily(
            "wattprint_device_power_watts", "Mean power of each device over the last interval.",
            labels=dev_labels)
        co2e = CounterMetricFamily(
            "wattprint_co2e_grams",
            "Operational carbon of each device's energy at the grid intensity of the moment.",
            labels=dev_labels)
        gaps = CounterMetricFamily(
            "wattprint_device_read_gaps", "Spans in which a device could not be read.",
            labels=["device"])
        for d in m.devices_snapshot():
            values = [d["id"], d["kind"], d["source"], "true" if d["measured"] else "false"]
            energy.add_metric(values, d["energy_j"])
            co2e.add_metric(values, d["co2e_g"])
            if d["power_w"] is not None:
                power.add_metric(values, d["power_w"])
            gaps.add_metric([d["id"]], d["gaps"])
        yield from (energy, power, co2e, gaps)

        p_labels = ["name", "container_id", "series"]
        if m.pid_label:
            p_labels.insert(0, "pid")
        p_energy = CounterMetricFamily(
            "wattprint_process_energy_joules", _PROCESS_ENERGY_HELP, labels=p_labels)
        p_co2e = CounterMetricFamily(
            "wattprint_process_co2e_grams",
            "Operational carbon of the energy of each process series.", labels=p_labels)
        for p in m.process_series():
            values = [p["name"], p["container_id"], p["series"]]
            if m.pid_label:
                values.insert(0, "" if p["pid"] is None else str(p["pid"]))
            p_energy.add_metric(values, p["energy_j"])
            p_co2e.add_metric(values, p["co2e_g"])
        yield from (p_energy, p_co2e)

        c_energy = CounterMetricFamily(
            "wattprint_cgroup_energy_joules", _CGROUP_ENERGY_HELP,
            labels=["cgroup", "container_id"])
        c_co2e = CounterMetricFamily(
            "wattprint_cgroup_co2e_grams", "Operational carbon of each cgroup's energy.",
            labels=["cgroup", "container_id"])
        for c in m.cgroups_snapshot():
            values = [c["cgroup"], c["container_id"] or ""]
            c_energy.add_metric(values, c["energy_j"])
            c_co2e.add_metric(values, c["co2e_g"])
        yield from (c_energy, c_co2e)

        j_energy = CounterMetricFamily(
            "wattprint_job_energy_joules", _JOB_ENERGY_HELP, labels=["job_id", "series"])
        j_co2e = CounterMetricFamily(
            "wattprint_job_co2e_grams",
            "Operational carbon of the energy of each job series.", labels=["job_id", "series"])
        for j in m.job_series():
            j_energy.add_metric([j["job_id"], j["series"]], j["energy_j"])
            j_co2e.add_metric([j["job_id"], j["series"]], j["co2e_g"])
        yield from (j_energy, j_co2e)

        un_j, _ = m.unattributed()
        unattributed = CounterMetricFamily("wattprint_unattributed_energy_joules",
                                           _UNATTRIBUTED_HELP)
        unattributed.add_metric([], un_j)
        yield unattributed

        cur = m.intensity()
        i_labels = [cur["region"], cur["method"], cur["source"]]
        intensity = GaugeMetricFamily(
            "wattprint_grid_intensity_grams_per_kilowatt_hour", _INTENSITY_HELP,
            labels=["region", "method", "source"])
        intensity.add_metric(i_labels, cur["g_per_kwh"])
        yield intensity
        per_joule = GaugeMetricFamily(
            "wattprint_grid_intensity_grams_per_joule", _INTENSITY_BASE_HELP,
            labels=["region", "method", "source"])
        per_joule.add_metric(i_labels, cur["g_per_kwh"] / J_PER_KWH)
        yield per_joule

        info = GaugeMetricFamily("wattprint_agent_info", "The agent's version and region.",
                                 labels=["version", "region"])
        info.add_metric([self.version, m.region], 1.0)
        yield info


def registry_for(monitor: NodeMonitor, version: str) -> CollectorRegistry:
    """A registry holding only the node collector (no process or platform collectors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(monitor, version))
    return registry
