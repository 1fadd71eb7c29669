"""A footprint before running: :func:`estimate` from hardware, hours, region and PUE.

The same footprint model as a stored run's (:mod:`wattprint.accounting.footprint`),
fed with what a user plans instead of what was measured: a GPU card (catalogue
name or ``gpu_power_w``), how many, for how long, where, with which PUE and,
optionally, embodied carbon and the functional units for an SCI figure. The
config file and ``WATTPRINT_*`` variables fill what the arguments leave out,
as for every other command. The BLOOM training estimate is reproduced by it
(tests/accounting/test_estimate.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from wattprint import validate
from wattprint.accounting import hardware
from wattprint.accounting.footprint import (
    Assumption,
    DeviceUse,
    EmbodiedParams,
    Footprint,
    compute_footprint,
)
from wattprint.accounting.intensity import (
    annual_intensity,
)
from wattprint.accounting.location import resolve_region
from wattprint.accounting.pue import resolve_pue
from wattprint.accounting.series import Provenance
from wattprint.catalogue.instances import instance_embodied
from wattprint.errors import HardwareError

#: what a run's energy is counted on: its components, or the node's wall power (BMC)

def estimate(
    *,
    gpu: str | None = None,
    gpus: int = 1,
    hours: float | None = None,
    gpu_hours: float | None = None,
    gpu_power_w: float | None = None,
    power_w: float | None = None,
    region: str | None = None,
    intensity_g_per_kwh: float | None = None,
    pue: float | None = None,
    idle_kwh: float = 0.0,
    embodied: bool = False,
    embodied_gpu_kg: float | None = None,
    embodied_node_kg: float | None = None,
    gpus_per_node: int | None = None,
    lifetime_years: float | None = None,
    utilization: float | None = None,
    units: Mapping[str, float] | None = None,
    config_region: str | None = None,
    config_pue: float | None = None,
    catalogue_overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    instance_type: str | None = None,
) -> Footprint:
    """Footprint of a job before (or without) running it: power × hours × PUE × intensity.

    Energy = ``power_w × hours`` (the whole job's average draw) or
    ``gpu_power_w × GPU-hours`` (per-GPU average, default the card's TDP from
    the catalogue), plus ``idle_kwh``; embodied = GPU cards and their share of
    server nodes amortised over lifetime × utilisation (BLOOM's method).

    Like every other command, an estimate follows the configuration: the
    region is the argument, else ``WATTPRINT_REGION``, else ``config_region``
    (``wattprint.toml``), else cloud hints; the PUE is the argument, else
    ``config_pue`` (``WATTPRINT_PUE`` or the config file); catalogue values
    follow ``catalogue_overrides`` (the ``[hardware]`` table). A GPU not in
    the catalogue can be estimated when its power is given (``gpu_power_w``).

    Args:
        gpu: GPU model (catalogue name or alias).
        gpus: number of GPUs.
        hours: wall-clock hours (GPU-hours = ``gpus × hours``).
        gpu_hours: GPU-hours directly (instead of ``hours``).
        gpu_power_w: average power per GPU, W (default: the card's TDP).
        power_w: average power of the whole job, W (instead of per-GPU power).
        region: region code for the grid intensity.
        intensity_g_per_kwh: a given intensity instead of a region.
        pue: power usage effectiveness.
        idle_kwh: idle energy to add (e.g. BLOOM's idle cluster consumption).
        embodied: include embodied carbon.
        embodied_gpu_kg: embodied carbon per GPU card (default: catalogue).
        embodied_node_kg: embodied carbon per server node without GPUs.
        gpus_per_node: GPUs per node (default 8, BLOOM's).
        lifetime_years: hardware lifetime (default 6).
        utilization: hardware utilisation over its life (default 0.85).
        units: functional units for SCI.
        config_region: the configured region (settings), used after ``WATTPRINT_REGION``.
        config_pue: the configured PUE (settings), used when ``pue`` is ``None``.
        catalogue_overrides: overrides of hardware catalogue values (settings).
        environ: the environment for the region (default ``os.environ``).
        instance_type: the cloud instance type of the job (``p4d.24xlarge``; default
            ``WATTPRINT_INSTANCE_TYPE``, else ``[hardware] instance_type``); with
            ``embodied``, its host's embodied carbon by Cloud Carbon Footprint's
            figure, GPUs included, replaces the GPU cards and server node.

    Raises:
        ConfigError: inconsistent or missing inputs.
        HardwareError: a GPU model not in the catalogue, when its power is not given.
        RegionError: unknown region.
    """
    from wattprint.errors import ConfigError

    cat = hardware.default_catalogue()
    if catalogue_overrides:
        cat = cat.with_overrides(catalogue_overrides)
    a = cat.assumptions
    if pue is None:
        pue = config_pue
    gpus = validate.count(gpus, "--gpus")
    if hours is not None:
        hours = validate.hours(hours, "--hours")
    if gpu_hours is not None:
        gpu_hours = validate.in_range(gpu_hours, "--gpu-hours", 0.0,
                                      validate.HOURS_MAX * validate.COUNT_MAX, unit="h",
                                      low_open=True)
    if power_w is not None:
        power_w = validate.power_w(power_w, "--power-w")
    if gpu_power_w is not None:
        gpu_power_w = validate.power_w(gpu_power_w, "--gpu-power-w", per_gpu=True)
    if intensity_g_per_kwh is not None:
        intensity_g_per_kwh = validate.intensity_g_per_kwh(intensity_g_per_kwh)
    validate.pue(pue, "--pue")
    idle_kwh = validate.in_range(idle_kwh, "--idle-kwh", 0.0, validate.ENERGY_MAX_J / 3.6e6,
                                 unit="kWh")
    for name, kg in (("--embodied-gpu-kg", embodied_gpu_kg),
                     ("--embodied-node-kg", embodied_node_kg)):
        if kg is not None:
            validate.in_range(kg, name, 0.0, 1e6, unit="kg")
    if gpus_per_node is not None:
        gpus_per_node = validate.integer(gpus_per_node, "--gpus-per-node", 1, 1024)
    if lifetime_years is not None:
        lifetime_years = validate.positive(lifetime_years, "--lifetime-years", 100.0,
                                           unit="years")
    if utilization is not None:
        validate.finite(utilization, "--utilization")
    if gpu_hours is None:
        if hours is None:
            raise ConfigError("give --hours or --gpu-hours")
        gpu_hours = hours * gpus
    elif hours is None:
        hours = gpu_hours / gpus
    assumptions: list[Assumption] = []
    spec = None
    if gpu:
        try:
            spec = cat.gpu(gpu)
        except HardwareError:
            if gpu_power_w is None and power_w is None:
                raise
            assumptions.append(Assumption(
                "gpu_model", 0.0, "", f"{gpu}: not in the hardware catalogue; its power is "
                "given by the user" + ("" if not embodied or embodied_gpu_kg is not None else
                                       ", its embodied carbon is the default GPU card's")))
    if power_w is not None:
        energy_kwh = power_w * hours / 1000.0
        assumptions.append(Assumption("power", power_w, "W (whole job)", "given by the user"))
    else:
        if gpu_power_w is None:
            if spec is None:
                raise ConfigError("give --gpu MODEL, --gpu-power-w W or --power-w W")
            gpu_power_w = spec.tdp_w
            assumptions.append(Assumption("gpu_power", gpu_power_w, "W per GPU",
                                          f"catalogue TDP of {spec.name}: "
                                          f"{spec.sources.get('tdp_w', '')}"))
        else:
            assumptions.append(Assumption("gpu_power", gpu_power_w, "W per GPU",
                                          "given by the user"))
        energy_kwh = gpu_power_w * gpu_hours / 1000.0
    assumptions.append(Assumption("gpu_hours", gpu_hours, "h", "given by the user"))
    if intensity_g_per_kwh is not None:
        g = float(intensity_g_per_kwh)
        prov = Provenance("given by the user", "--intensity", None, "average", "unknown",
                          "n/a", "", region or "")
        region_code = region or "given"
    else:
        resolved = resolve_region(region, dict(os.environ if environ is None else environ),
                                  config_region=config_region)
        value = annual_intensity(resolved.code)
        g, prov, region_code = value.g_per_kwh, value.provenance, resolved.code
    pue_choice = resolve_pue(pue, region_code if intensity_g_per_kwh is None else None)
    seconds = hours * 3600.0
    use = DeviceUse("estimate", "gpu" if gpu or gpu_power_w else "node",
                    spec.name if spec else (gpu or "job"), False, "estimate (power × hours)",
                    [0.0], [seconds], [energy_kwh * 3.6e6], [1.0])
    emb = None
    if embodied:
        per_gpu = embodied_gpu_kg if embodied_gpu_kg is not None else (
            spec.embodied_kg if spec else a.gpu_embodied_kg)
        node_kg = embodied_node_kg if embodied_node_kg is not None else a.server_embodied_kg
        per_node = gpus_per_node if gpus_per_node is not None else a.gpus_per_server
        life = lifetime_years if lifetime_years is not None else a.lifetime_years
        util = utilization if utilization is not None else a.utilization
        if not 0 < util <= 1:
            raise ConfigError("--utilization must be in (0, 1]")
        if life <= 0 or per_node < 1:
            raise ConfigError("--lifetime-years must be > 0 and --gpus-per-node >= 1")
        # GPU cards: per GPU-hour; nodes: gpu_hours / gpus_per_node node-hours
        emb = EmbodiedParams(life, util, node_kg, nodes=1.0 / per_node * gpus,
                             source="estimate inputs and catalogue defaults (BLOOM method)")
        use = DeviceUse(use.device_id, use.kind, use.name, False, use.energy_source,
                        use.starts_s, use.ends_s, use.energy_j, use.share,
                        embodied_kg=per_gpu * gpus,
                        embodied_source="embodied per GPU × GPUs")
        env = os.environ if environ is None else environ
        instance_type = (instance_type or env.get("WATTPRINT_INSTANCE_TYPE", "").strip()
                         or a.instance_type)
        if instance_type:
            instance = instance_embodied(instance_type)  # HardwareError: not in CCF's tables
            emb = hardware.instance_embodied_params(instance, None, 1.0, assumptions)
            use = replace(use, embodied_kg=None)
    return compute_footprint(
        [use], {"estimate": [g]}, prov, region=region_code, source_name="annual"
        if intensity_g_per_kwh is None else "given", pue=pue_choice.value,
        pue_source=pue_choice.source, duration_s=seconds, embodied=emb, units=units,
        extra_idle_kwh=idle_kwh, extra_assumptions=assumptions,
    )


__all__ = ["estimate"]
