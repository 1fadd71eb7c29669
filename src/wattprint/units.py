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


# --- Human formatting ---------------------------------------------------------------
#
# One way to show a quantity to people, used by every report: at most three
# significant figures (trailing zeros dropped), decimal SI prefixes, never
# e-notation, a comma as thousands separator, and a value that is not zero never
# shown as zero (below the smallest unit it keeps as many decimals as it needs).
# A value is shown in the largest unit that keeps it at 1 or more, stepping up when
# rounding would show 1,000 of a unit (999.96 J is "1 kJ", not "1,000 J"); above the
# largest unit the number grows with separators ("12,300 TB").

_BYTE_UNITS: tuple[tuple[float, str], ...] = (
    (1.0, "B"), (1e3, "kB"), (1e6, "MB"), (1e9, "GB"), (1e12, "TB"))
_ENERGY_UNITS: tuple[tuple[float, str], ...] = (
    (1e-3, "mJ"), (1.0, "J"), (1e3, "kJ"), (J_PER_WH, "Wh"), (J_PER_KWH, "kWh"),
    (J_PER_KWH * 1e3, "MWh"), (J_PER_KWH * 1e6, "GWh"), (J_PER_KWH * 1e9, "TWh"))
_MASS_UNITS: tuple[tuple[float, str], ...] = (
    (1e-3, "mg"), (1.0, "g"), (1e3, "kg"), (1e6, "t"))


def format_number(value: float) -> str:
    """A number with three significant figures, thousands separators and no e-notation.

    ``12345`` gives ``"12,300"``, ``0.000123456`` gives ``"0.000123"``, ``1.5``
    gives ``"1.5"`` (trailing zeros dropped) and ``0`` gives ``"0"``.

    Args:
        value: any finite number.

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    import math
    from decimal import Decimal

    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    # "%.3g" rounds correctly to three significant figures; Decimal then writes the
    # result out in full (no exponent) and with separators.
    return format(Decimal(f"{value:.3g}"), ",f")


def _scaled(value: float, ladder: tuple[tuple[float, str], ...]) -> str:
    import math

    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return f"0 {ladder[1][1] if ladder[0][0] < 1 else ladder[0][1]}"
    sign = "-" if value < 0 else ""
    size = abs(value)
    index = 0
    for i, (factor, _unit) in enumerate(ladder):
        if size >= factor:
            index = i
    shown = float(f"{size / ladder[index][0]:.3g}")
    if shown >= 1000 and index + 1 < len(ladder):
        index += 1
    factor, unit = ladder[index]
    return f"{sign}{format_number(size / factor)} {unit}"


def format_bytes(n: float) -> str:
    """A size in bytes for people, in decimal SI units (B, kB, MB, GB, TB).

    1 kB is 1,000 bytes (not 1,024): the units of network transfer and of disk
    makers, so sizes and transfer times agree. Examples: ``999`` -> ``"999 B"``,
    ``1_234_567`` -> ``"1.23 MB"``, ``999_999`` -> ``"1 MB"``,
    ``12_345e12`` -> ``"12,300 TB"``.

    Args:
        n: bytes (an int, or a float such as a mean).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return _scaled(float(n), _BYTE_UNITS)


def format_energy_j(energy_j: float) -> str:
    """An energy in joules for people: mJ, J, kJ, then Wh, kWh, MWh, GWh, TWh.

    Below 3.6 kJ (one watt-hour) joules are the natural unit; from there on
    watt-hours, the unit of electricity bills and grid data. Examples: ``0.5``
    -> ``"500 mJ"``, ``1500`` -> ``"1.5 kJ"``, ``3600`` -> ``"1 Wh"``,
    ``4.5e6`` -> ``"1.25 kWh"``.

    Args:
        energy_j: energy, J.

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return _scaled(float(energy_j), _ENERGY_UNITS)


def format_mass_g(mass_g: float) -> str:
    """A mass in grams (e.g. of CO2e) for people: mg, g, kg, t.

    Examples: ``0.000001`` -> ``"0.001 mg"`` (one microgram), ``1234`` ->
    ``"1.23 kg"``, ``1e12`` -> ``"1,000,000 t"`` (one megatonne).

    Args:
        mass_g: mass, g.

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return _scaled(float(mass_g), _MASS_UNITS)
