"""What every framework integration shares: a run's cost, the missing-framework error.

An integration measures with a :class:`~wattprint.run.Tracker` and reports the
run's cost to its framework (an Optuna trial's user attributes, MLflow
metrics, a notebook's output). The cost is the run's footprint, accounted the
way ``wattprint show`` and ``wattprint leaderboard`` account it (default
:class:`~wattprint.accounting.account.AccountingOptions`: the run's region,
the shipped annual intensity, the default PUE, embodied carbon included), so
a figure a framework shows is the figure the CLI shows for the same run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from wattprint.errors import ConfigError
from wattprint.extras import install_hint
from wattprint.units import J_PER_KWH

if TYPE_CHECKING:
    from wattprint.run import Tracker
    from wattprint.store import Store


@dataclass(frozen=True)
class RunCost:
    """A finished run's energy and carbon, as the leaderboard counts them.

    Attributes:
        run_id: the stored run.
        energy_j: the footprint's total energy (IT energy × PUE), joules.
        co2e_kg: the footprint's total carbon (operational + embodied), kgCO2e.
        region: the region the carbon was accounted in.
    """

    run_id: str
    energy_j: float
    co2e_kg: float
    region: str

    @property
    def energy_kwh(self) -> float:
        """The total energy in kWh (the leaderboard's ``energy`` cost)."""
        return self.energy_j / J_PER_KWH


def stored_cost(store: Store, run_id: str) -> RunCost:
    """The cost of a stored run, accounted with the default options.

    Raises:
        RunNotFound: no such run.
        RegionError: the run's region is unknown.
    """
    from wattprint.accounting.account import account_run

    accounted = account_run(store, run_id)
    fp = accounted.footprint
    return RunCost(run_id, fp.energy_kwh["total"] * J_PER_KWH, fp.co2e_kg["total"],
                   accounted.region.code)


def run_cost(tracker: Tracker) -> RunCost | None:
    """The cost of a tracker's run, or ``None`` when it has no stored run.

    A run that could not be written to the store (tracking went on in memory)
    has no footprint to account; the integrations then report nothing rather
    than a zero.
    """
    if tracker.store is None or tracker.id is None:
        return None
    return stored_cost(tracker.store, tracker.id)


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import a framework module, or say which extra installs it.

    Args:
        module: the module to import (``optuna``, ``flwr.common``).
        extra: the wattprint extra that installs it (``optuna``).
        feature: what needs it, for the message (``the Optuna integration``).

    Raises:
        ConfigError: the framework is not installed; the message names the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{feature} needs {module.split('.')[0]}, which is not installed: "
                          f"{install_hint(extra)}") from exc


__all__ = ["RunCost", "require", "run_cost", "stored_cost"]
