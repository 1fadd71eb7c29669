"""Unit conversions, in one place.

Names carry their units everywhere in wattprint (``energy_j``, ``power_w``,
``co2e_g``, ``intensity_g_per_kwh``, ``duration_s``); these helpers are the
only place where one unit becomes another.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

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
#
# Every function takes ``precision``, the number of significant figures (3 unless a
# command's ``--precision N`` asks for more). JSON, CSV and Parquet never go through
# these functions: they keep base SI numbers at full precision.

#: Significant figures shown to people unless asked otherwise (``--precision``).
DEFAULT_PRECISION = 3

_BYTE_UNITS: tuple[tuple[float, str], ...] = (
    (1.0, "B"), (1e3, "kB"), (1e6, "MB"), (1e9, "GB"), (1e12, "TB"))
_ENERGY_UNITS: tuple[tuple[float, str], ...] = (
    (1e-3, "mJ"), (1.0, "J"), (1e3, "kJ"), (J_PER_WH, "Wh"), (J_PER_KWH, "kWh"),
    (J_PER_KWH * 1e3, "MWh"), (J_PER_KWH * 1e6, "GWh"), (J_PER_KWH * 1e9, "TWh"))
_MASS_UNITS: tuple[tuple[float, str], ...] = (
    (1e-3, "mg"), (1.0, "g"), (1e3, "kg"), (1e6, "t"))
_POWER_UNITS: tuple[tuple[float, str], ...] = (
    (1e-3, "mW"), (1.0, "W"), (1e3, "kW"), (1e6, "MW"), (1e9, "GW"))


def _check_precision(precision: int) -> None:
    if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 17:
        raise ValueError("precision must be a whole number of significant figures from 1 to "
                         f"17, not {precision!r}")


def _rounded(value: float, precision: int) -> Decimal:
    # Half away from zero on the exact binary value: 4.125 (exact) gives 4.13 as by
    # hand, while 2.675 (stored just below) gives 2.67; "%.3g" would give 4.12.
    exact = Decimal(value)
    quantum = Decimal(1).scaleb(exact.adjusted() - precision + 1)
    return exact.quantize(quantum, rounding=ROUND_HALF_UP)


def format_number(value: float, precision: int = DEFAULT_PRECISION) -> str:
    """A number with ``precision`` significant figures, thousands separators, no e-notation.

    ``12345`` gives ``"12,300"``, ``0.000123456`` gives ``"0.000123"``, ``1.5``
    gives ``"1.5"`` (trailing zeros dropped) and ``0`` gives ``"0"``. Halves are
    rounded away from zero (``4.125`` gives ``"4.13"``).

    Args:
        value: any finite number.
        precision: significant figures (1 to 17).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.

    Raises:
        ValueError: ``precision`` is out of range.
    """
    _check_precision(precision)
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    return format(_rounded(float(value), precision).normalize(), ",f")


def _scaled(value: float, ladder: tuple[tuple[float, str], ...],
            precision: int = DEFAULT_PRECISION) -> str:
    _check_precision(precision)
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
    shown = _rounded(size / ladder[index][0], precision)
    if shown >= 1000 and index + 1 < len(ladder):
        index += 1
    factor, unit = ladder[index]
    return f"{sign}{format_number(size / factor, precision)} {unit}"


def format_bytes(n: float, precision: int = DEFAULT_PRECISION) -> str:
    """A size in bytes for people, in decimal SI units (B, kB, MB, GB, TB).

    1 kB is 1,000 bytes (not 1,024): the units of network transfer and of disk
    makers, so sizes and transfer times agree. Examples: ``999`` -> ``"999 B"``,
    ``1_234_567`` -> ``"1.23 MB"``, ``999_999`` -> ``"1 MB"``,
    ``12_345e12`` -> ``"12,300 TB"``.

    Args:
        n: bytes (an int, or a float such as a mean).
        precision: significant figures (>= 1).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return _scaled(float(n), _BYTE_UNITS, precision)


def format_energy_j(energy_j: float, precision: int = DEFAULT_PRECISION) -> str:
    """An energy in joules for people: mJ, J, kJ, then Wh, kWh, MWh, GWh, TWh.

    Below 3.6 kJ (one watt-hour) joules are the natural unit; from there on
    watt-hours, the unit of electricity bills and grid data. Examples: ``0.5``
    -> ``"500 mJ"``, ``1500`` -> ``"1.5 kJ"``, ``3600`` -> ``"1 Wh"``,
    ``4.5e6`` -> ``"1.25 kWh"``.

    Args:
        energy_j: energy, J.
        precision: significant figures (>= 1).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return _scaled(float(energy_j), _ENERGY_UNITS, precision)


def format_energy_kwh(energy_kwh: float, precision: int = DEFAULT_PRECISION) -> str:
    """An energy in kWh shown as :func:`format_energy_j` shows it (``0.001`` -> ``"1 Wh"``)."""
    return format_energy_j(float(energy_kwh) * J_PER_KWH, precision)


def format_mass_g(mass_g: float, precision: int = DEFAULT_PRECISION) -> str:
    """A mass in grams (e.g. of CO2e) for people: mg, g, kg, t.

    Examples: ``0.000001`` -> ``"0.001 mg"`` (one microgram), ``1234`` ->
    ``"1.23 kg"``, ``1e12`` -> ``"1,000,000 t"`` (one megatonne).

    Args:
        mass_g: mass, g.
        precision: significant figures (>= 1).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return _scaled(float(mass_g), _MASS_UNITS, precision)


def format_mass_kg(mass_kg: float, precision: int = DEFAULT_PRECISION) -> str:
    """A mass given in kg, shown as :func:`format_mass_g` shows it (``0.0025`` -> ``"2.5 g"``)."""
    return format_mass_g(float(mass_kg) * 1000.0, precision)


def format_power_w(power_w: float, precision: int = DEFAULT_PRECISION) -> str:
    """A power in watts for people: mW, W, kW, MW, GW.

    Examples: ``0.25`` -> ``"250 mW"``, ``41.96`` -> ``"42 W"``, ``1500`` -> ``"1.5 kW"``.

    Args:
        power_w: power, W.
        precision: significant figures (>= 1).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return _scaled(float(power_w), _POWER_UNITS, precision)


def format_intensity(intensity_g_per_kwh: float, precision: int = DEFAULT_PRECISION) -> str:
    """A grid carbon intensity for people, always in g/kWh (gCO2e per kWh).

    Intensities are never rescaled: every grid data set publishes g/kWh, so
    the figures can be compared with the source. Examples: ``412.4`` ->
    ``"412 g/kWh"``, ``1234.5`` -> ``"1,230 g/kWh"``, ``0.5`` -> ``"0.5 g/kWh"``.

    Args:
        intensity_g_per_kwh: intensity, gCO2e/kWh.
        precision: significant figures (>= 1).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return f"{format_number(float(intensity_g_per_kwh), precision)} g/kWh"


def format_duration_s(duration_s: float, precision: int = DEFAULT_PRECISION) -> str:
    """A duration for people: seconds below one minute, else ``h:mm:ss``.

    Examples: ``1.234`` -> ``"1.23 s"``, ``59.9`` -> ``"59.9 s"``, ``3725`` ->
    ``"1:02:05"`` (:func:`wattprint.time.format_hms`; whole seconds, hours grow
    past 24).

    Args:
        duration_s: duration, s.
        precision: significant figures below one minute (>= 1).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    from wattprint.time import format_hms

    _check_precision(precision)
    value = float(duration_s)
    if not math.isfinite(value):
        return "n/a"
    if _rounded(abs(value), precision) < 60:  # 59.96 s rounds to a minute
        return f"{format_number(value, precision)} s"
    return ("-" if value < 0 else "") + format_hms(abs(value))


def format_percent(fraction: float, precision: int = DEFAULT_PRECISION) -> str:
    """A fraction as a percentage for people (``0.1234`` -> ``"12.3 %"``, ``1`` -> ``"100 %"``).

    Args:
        fraction: the share (1.0 is 100 %).
        precision: significant figures (>= 1).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    return f"{format_number(float(fraction) * 100.0, precision)} %"


_LADDERS: dict[str, tuple[tuple[tuple[float, str], ...], float]] = {
    # quantity -> (ladder, factor from the quantity's own unit to the ladder's base unit)
    "J": (_ENERGY_UNITS, 1.0), "kWh": (_ENERGY_UNITS, J_PER_KWH),
    "g": (_MASS_UNITS, 1.0), "kg": (_MASS_UNITS, 1000.0), "kgCO2e": (_MASS_UNITS, 1000.0),
    "gCO2e": (_MASS_UNITS, 1.0), "W": (_POWER_UNITS, 1.0), "B": (_BYTE_UNITS, 1.0),
}


def format_in(value: float, unit: str, precision: int = DEFAULT_PRECISION) -> str:
    """A value given in ``unit`` for people, scaled when the unit has a ladder.

    ``unit`` is how the value is stored: ``J``, ``kWh``, ``g``, ``kg``/``kgCO2e``,
    ``gCO2e``, ``W`` and ``B`` are scaled (``format_in(0.0015, "kWh")`` ->
    ``"1.5 Wh"``); ``s`` is a duration; ``gCO2e/kWh`` an intensity; ``%`` a
    fraction; anything else is a plain number followed by ``unit``.

    Args:
        value: the value, in ``unit``.
        unit: the stored unit.
        precision: significant figures (1 to 17).

    Returns:
        The text; ``"n/a"`` for NaN or an infinity.
    """
    if unit in _LADDERS:
        ladder, factor = _LADDERS[unit]
        return _scaled(float(value) * factor, ladder, precision)
    if unit == "s":
        return format_duration_s(value, precision)
    if unit in ("gCO2e/kWh", "g/kWh"):
        return format_intensity(value, precision)
    if unit == "%":
        return format_percent(value, precision)
    number = format_number(float(value), precision)
    return f"{number} {unit}" if unit and number != "n/a" else number


def axis_unit(largest: float, unit: str) -> tuple[float, str]:
    """The one unit for an axis (or a column) whose largest magnitude is ``largest``.

    Every tick of a plot axis must be in the same unit; this picks the unit
    :func:`format_in` would give the largest value, and the divisor that turns
    values in ``unit`` into it: ``axis_unit(3e-5, "kWh")`` -> ``(1/36000, "J")``
    (3e-5 kWh is 108 J). A unit without a ladder is kept as it is (divisor 1).

    Args:
        largest: the largest absolute value to show, in ``unit``.
        unit: the values' stored unit.

    Returns:
        ``(divisor, shown_unit)``: show ``value / divisor`` followed by ``shown_unit``.
    """
    if unit not in _LADDERS:
        return 1.0, unit
    ladder, factor = _LADDERS[unit]
    size = abs(float(largest)) * factor
    index = 1 if ladder[0][0] < 1 else 0  # zero or nothing: the base unit
    if math.isfinite(size) and size > 0:
        index = 0
        for i, (step, _name) in enumerate(ladder):
            if size >= step:
                index = i
    step, name = ladder[index]
    return step / factor, name
