"""Unit conversions, in one place.

Names carry their units everywhere in wattprint (``energy_j``, ``power_w``,
``co2e_g``, ``intensity_g_per_kwh``, ``duration_s``); these helpers are the
only place where one unit becomes another.
"""

from __future__ import annotations

J_PER_KWH = 3_600_000.0
J_PER_WH = 3_600.0
UJ_PER_J = 1_000_000.0
MJ_PER_J = 1_000.0  # millijoules per joule (NVML reports mJ)
S_PER_H = 3_600.0
H_PER_YEAR = 8_760.0  # 365 days; the convention of the life-cycle studies we follow


def j_to_kwh(energy_j: float) -> float:
    """Joules to kilowatt-hours."""
    return energy_j / J_PER_KWH


def kwh_to_j(energy_kwh: float) -> float:
    """Kilowatt-hours to joules."""
    return energy_kwh * J_PER_KWH


def uj_to_j(energy_uj: float) -> float:
    """Microjoules (RAPL ``energy_uj``) to joules."""
    return energy_uj / UJ_PER_J


def mj_to_j(energy_mj: float) -> float:
    """Millijoules (NVML total-energy counter) to joules."""
    return energy_mj / MJ_PER_J


def mw_to_w(power_mw: float) -> float:
    """Milliwatts (NVML power usage) to watts."""
    return power_mw / 1000.0


def g_to_kg(mass_g: float) -> float:
    """Grams to kilograms."""
    return mass_g / 1000.0


def co2e_g(energy_kwh: float, intensity_g_per_kwh: float) -> float:
    """Grams of CO2e for ``energy_kwh`` at ``intensity_g_per_kwh``."""
    return energy_kwh * intensity_g_per_kwh
