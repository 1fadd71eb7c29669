"""Human formatting in wattprint.units: every magnitude, hand-written expectations."""

from __future__ import annotations

import math

import pytest

from wattprint import units
from wattprint.units import format_bytes, format_energy_j, format_mass_g, format_number

# one decade at a time from 1 mJ to 1 GWh; 1 Wh = 3,600 J, 1 kWh = 3.6e6 J
ENERGY = [
    (0.001, "1 mJ"), (0.01, "10 mJ"), (0.1, "100 mJ"), (0.0123, "12.3 mJ"),
    (1.0, "1 J"), (10.0, "10 J"), (100.0, "100 J"), (456.7, "457 J"),
    (1_000.0, "1 kJ"), (2_500.0, "2.5 kJ"),
    (3_600.0, "1 Wh"), (10_000.0, "2.78 Wh"),          # 10,000 / 3,600 = 2.777...
    (100_000.0, "27.8 Wh"), (1_000_000.0, "278 Wh"),   # 277.77...
    (3_600_000.0, "1 kWh"), (10_000_000.0, "2.78 kWh"), (100_000_000.0, "27.8 kWh"),
    (1e9, "278 kWh"), (3.6e9, "1 MWh"), (1e10, "2.78 MWh"), (1e11, "27.8 MWh"),
    (1e12, "278 MWh"), (3.6e12, "1 GWh"),
]

# one decade at a time from 1 µg to 1 Mt (1e12 g)
MASS = [
    (1e-6, "0.001 mg"), (1e-5, "0.01 mg"), (1e-4, "0.1 mg"), (1e-3, "1 mg"), (1e-2, "10 mg"),
    (0.1, "100 mg"), (1.0, "1 g"), (10.0, "10 g"), (100.0, "100 g"), (1e3, "1 kg"),
    (1e4, "10 kg"), (1e5, "100 kg"), (1e6, "1 t"), (1e7, "10 t"), (1e8, "100 t"),
    (1e9, "1,000 t"), (1e10, "10,000 t"), (1e11, "100,000 t"), (1e12, "1,000,000 t"),
    (1234.0, "1.23 kg"), (0.0456, "45.6 mg"),
]

BYTES = [
    (0, "0 B"), (1, "1 B"), (999, "999 B"), (1_000, "1 kB"), (1_499, "1.5 kB"),
    (1_234_567, "1.23 MB"), (999_999, "1 MB"), (45_600_000_000, "45.6 GB"),
    (7_000_000_000_000, "7 TB"), (12_345_000_000_000_000, "12,300 TB"),
]


@pytest.mark.parametrize(("energy_j", "text"), ENERGY)
def test_energy_every_magnitude(energy_j: float, text: str) -> None:
    assert format_energy_j(energy_j) == text


@pytest.mark.parametrize(("mass_g", "text"), MASS)
def test_mass_every_magnitude(mass_g: float, text: str) -> None:
    assert format_mass_g(mass_g) == text


@pytest.mark.parametrize(("n", "text"), BYTES)
def test_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


def test_rounding_steps_up_to_the_next_unit() -> None:
    assert format_energy_j(999.96) == "1 kJ"
    assert format_energy_j(0.99996) == "1 J"
    assert format_energy_j(3_599_999.0) == "1 kWh"      # 999.9997 Wh
    assert format_mass_g(999_600.0) == "1 t"             # 999.6 kg rounds to 1,000 kg
    assert format_bytes(999_500) == "1 MB"


def test_never_zero_never_e_notation() -> None:
    assert format_energy_j(1e-9) == "0.000001 mJ"
    assert format_mass_g(2.5e-9) == "0.0000025 mg"
    assert format_bytes(0.25) == "0.25 B"
    for value in (1e-12, 1e-9, 1e30):
        for text in (format_energy_j(value), format_mass_g(value), format_bytes(value)):
            assert "e" not in text.split()[0].lower()
            assert text.split()[0] != "0"


def test_zero_negative_and_not_finite() -> None:
    assert format_energy_j(0) == "0 J"
    assert format_mass_g(0) == "0 g"
    assert format_energy_j(-1500) == "-1.5 kJ"
    assert format_mass_g(-0.002) == "-2 mg"
    assert format_bytes(math.nan) == "n/a"
    assert format_energy_j(math.inf) == "n/a"


def test_format_number() -> None:
    assert format_number(12_345) == "12,300"
    assert format_number(0.000123456) == "0.000123"
    assert format_number(1.50) == "1.5"
    assert format_number(2.675) == "2.67"   # the binary value is just below 2.675
    assert format_number(1e20) == "100,000,000,000,000,000,000"
    assert format_number(0) == "0"


# --- the cases of the issue, the rest of the quantities, and --precision --------------

ISSUE_AND_EDGES = [
    (1.6, "1.6 J"),                 # the 1.6 J run that showed "0.000000 kWh"
    (6.200568, "6.2 J"),            # 1.72238e-06 kWh
    (3_599.0, "3.6 kJ"),            # joules up to one watt-hour
    (3_599_856.0, "1 kWh"),         # 999.96 Wh
    (1e-6, "0.001 mJ"),
]


@pytest.mark.parametrize(("energy_j", "text"), ISSUE_AND_EDGES)
def test_energy_of_the_issue_and_unit_edges(energy_j: float, text: str) -> None:
    assert format_energy_j(energy_j) == text


def test_kwh_and_kg_inputs_scale_the_same_way() -> None:
    assert units.format_energy_kwh(1.72238e-06) == "6.2 J"
    assert units.format_energy_kwh(0.001) == "1 Wh"
    assert units.format_energy_kwh(4.125) == "4.13 kWh"   # halves away from zero
    assert units.format_mass_kg(9.62947e-06) == "9.63 mg"
    assert units.format_mass_kg(0.4625) == "463 g"
    assert units.format_mass_kg(1_500.0) == "1.5 t"
    assert format_mass_g(999.5) == "1 kg"


def test_power_intensity_duration_percent() -> None:
    assert units.format_power_w(0.25) == "250 mW"
    assert units.format_power_w(41.96) == "42 W"
    assert units.format_power_w(1_500.0) == "1.5 kW"
    assert units.format_power_w(2.5e6) == "2.5 MW"
    assert units.format_power_w(0.0) == "0 W"
    assert units.format_intensity(412.4) == "412 g/kWh"
    assert units.format_intensity(1_234.5) == "1,230 g/kWh"
    assert units.format_intensity(0.5) == "0.5 g/kWh"
    assert units.format_duration_s(1.234) == "1.23 s"
    assert units.format_duration_s(0.0004) == "0.0004 s"
    assert units.format_duration_s(59.96) == "0:01:00"
    assert units.format_duration_s(3_725.0) == "1:02:05"
    assert units.format_duration_s(90_000.0) == "25:00:00"
    assert units.format_percent(0.1234) == "12.3 %"
    assert units.format_percent(1.0) == "100 %"
    assert units.format_percent(0.000012) == "0.0012 %"
    assert units.format_percent(-0.5) == "-50 %"


def test_precision_gives_more_or_fewer_figures() -> None:
    assert format_energy_j(1e7, precision=5) == "2.7778 kWh"
    assert format_energy_j(1e7, precision=1) == "3 kWh"
    assert format_energy_j(999.0, precision=1) == "1 kJ"
    assert format_energy_j(4.5e6, precision=6) == "1.25 kWh"
    assert format_mass_g(9.62947e-3, precision=6) == "9.62947 mg"
    assert format_number(12_345.678, precision=6) == "12,345.7"
    assert format_number(12_345.678, precision=8) == "12,345.678"
    assert format_bytes(1_234_567, precision=5) == "1.2346 MB"
    assert units.format_power_w(41.96, precision=4) == "41.96 W"
    assert units.format_intensity(412.44, precision=4) == "412.4 g/kWh"
    assert units.format_duration_s(12.3456, precision=5) == "12.346 s"
    assert units.format_percent(0.123456, precision=2) == "12 %"


@pytest.mark.parametrize("bad", [0, -1, 18])
def test_precision_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="precision"):
        format_energy_j(1.0, precision=bad)
