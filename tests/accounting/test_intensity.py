from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.hourly import (
    HourlyIntensity,
    SeriesIntensity,
    hourly_regions,
    hourly_series,
)
from wattprint.accounting.intensity import (
    AnnualIntensity,
    IntensitySource,
    annual_intensity,
    canonical_region,
)
from wattprint.accounting.series import IntensitySeries, Provenance
from wattprint.errors import IntensityError, RegionError

REPO = Path(__file__).resolve().parents[2]
EXTRACTS = REPO / "tests" / "fixtures" / "reference"
DATA = REPO / "src" / "wattprint" / "data"
LB_PER_MWH_IN_G_PER_KWH = 453.59237 / 1000.0  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


# ----------------------------------------------------------------------------- hand-picked values


def test_hand_picked_country_values() -> None:
    # Ember/OWID 2024, as quoted in the data set's description (rounded there).
    for code, g in [
        ("DE", 336),
        ("FR", 40),
        ("GB", 217),
        ("US", 384),
        ("CN", 555),
        ("IN", 705),
        ("WORLD", 471),
    ]:
        value = annual_intensity(code, year=2024)
        assert value.g_per_kwh == pytest.approx(g, abs=0.6), code
        assert value.provenance.year == 2024
        assert value.provenance.method == "average"
        assert value.provenance.basis == "lifecycle"
        assert value.provenance.licence == "CC BY 4.0"
        assert value.provenance.fallback is None


def test_codes_are_case_insensitive_and_have_aliases() -> None:
    assert canonical_region("deu") == "DE"
    assert canonical_region(" Germany ") == "DE"
    assert canonical_region("uk") == "GB"
    assert canonical_region("world") == "WORLD"
    assert canonical_region("us-ca") == "US-CA"
    assert canonical_region("se3") == "SE-SE3"
    assert canonical_region("Azure:West Europe") == "azure:westeurope"
    assert canonical_region("AWS:US-EAST-1") == "aws:us-east-1"
    assert canonical_region("ciso") == "US-CAL-CISO"
    assert canonical_region("em:us-cal-ciso") == "US-CAL-CISO"
    assert canonical_region("em:de") == "em:DE"
    # The IFI code columns give the Cayman Islands Cyprus's code; the tables must not.
    assert canonical_region("CYM") == "KY" and canonical_region("CYP") == "CY"
    assert annual_intensity("KY", method="marginal").provenance.region == "KY"


def test_unknown_region_suggests_nearest_codes() -> None:
    with pytest.raises(RegionError, match=r"unknown region 'Germny'; did you mean DE \(Germany\)"):
        canonical_region("Germny")
    with pytest.raises(RegionError, match=r"aws:us-east-1"):
        annual_intensity("aws:us-east-9")


def test_electricity_maps_zone_values_and_precedence() -> None:
    # US-CAL-CISO yearly 2021..2025 from the data set's description: 278/262/263/229/208.
    for year, g in zip(range(2021, 2026), [278, 262, 263, 229, 208], strict=True):
        value = annual_intensity("US-CAL-CISO", year=year)
        assert value.g_per_kwh == g
        assert value.provenance.licence.startswith("ODbL")
    # A plain country code is the Ember/OWID table; em: reaches Electricity Maps (2025: 342).
    assert annual_intensity("DE").provenance.licence == "CC BY 4.0"
    em = annual_intensity("em:DE")
    assert em.g_per_kwh == 342 and em.provenance.year == 2025
    assert em.provenance.source.startswith("Electricity Maps")


def test_missing_year_falls_back_with_a_note() -> None:
    value = annual_intensity("DE", year=1980)
    assert value.provenance.year == 1990
    assert value.provenance.fallback == "no 1980 value for DE; used 1990"
    undated = annual_intensity("aws:us-east-1", year=2023)
    assert undated.provenance.year is None
    assert "no dated value" in (undated.provenance.fallback or "")


def test_marginal_factors_and_their_fallbacks() -> None:
    de = annual_intensity("DE", method="marginal")
    assert de.provenance.method == "marginal" and de.provenance.year == 2021
    assert de.provenance.licence.startswith("CC BY-SA 4.0")
    assert de.provenance.fallback is None
    state = annual_intensity("US-CA", method="marginal")
    assert state.g_per_kwh == annual_intensity("US", method="marginal").g_per_kwh
    assert state.provenance.fallback == (
        "no marginal factor for US-CA; used the operating margin of United States (US)"
    )
    world = annual_intensity("WORLD", method="marginal")
    assert world.provenance.method == "average"
    assert world.g_per_kwh == annual_intensity("WORLD").g_per_kwh
    assert "no marginal factor for WORLD" in (world.provenance.fallback or "")


def test_annual_source_is_an_intensity_source() -> None:
    source = AnnualIntensity(year=2024)
    assert isinstance(source, IntensitySource)
    starts = np.array([0.0, 10.0, 20.0])
    values = source.intensities("FR", starts, starts + 10.0)
    np.testing.assert_allclose(values.g_per_kwh, [40.48] * 3)
    assert values.provenance.region == "FR"
    one = source.intensity("fra", 0.0, 1.0)
    assert one.g_per_kwh == 40.48
    with pytest.raises(IntensityError, match="unknown intensity method"):
        AnnualIntensity(method="median")


def test_repaired_azure_values_are_noted() -> None:
    # CCF publishes "000402" t/kWh for Germany West Central; read as 0.000402 t/kWh = 402 g/kWh.
    value = annual_intensity("azure:germanywestcentral")
    assert value.g_per_kwh == 402
    assert "repaired" in value.provenance.dataset


# ----------------------------------------------------------------------------- hourly series


def test_hourly_regions_and_codes() -> None:
    assert hourly_regions() == sorted(
        [
            "US-CAL-CISO",
            "US-TEX-ERCO",
            "US-MIDA-PJM",
            "US-MIDW-MISO",
            "US-NY-NYIS",
            "US-NW-BPAT",
            "US-SE-SOCO",
            "US-SW-AZPS",
            "DE",
            "FR",
            "GB",
        ]
    )
    assert hourly_series("ciso") is hourly_series("US-CAL-CISO")
    assert hourly_series("PJM").region == "US-MIDA-PJM"
    with pytest.raises(RegionError, match="no shipped hourly series for JP"):
        hourly_series("JPN")
    with pytest.raises(RegionError, match="unknown region"):
        hourly_series("ZZ-NOWHERE")


def test_hourly_series_shape_and_annual_means() -> None:
    # Annual means from the data set's description (g/kWh); gap filling moves them < 1 g.
    means = {
        "AZPS": 575,
        "BPAT": 55,
        "CISO": 256,
        "ERCO": 347,
        "MISO": 441,
        "NYIS": 273,
        "PJM": 363,
        "SOCO": 423,
    }
    for ba, mean in means.items():
        s = hourly_series(ba)
        assert isinstance(s, IntensitySeries)
        assert len(s) == 8760 and s.step_s == 3600.0
        assert s.start_s[0] == utc(2022, 1, 1)
        assert s.end_s == utc(2023, 1, 1)
        assert s.method == "average" and s.provenance.year == 2022
        assert float(np.mean(s.g_per_kwh)) == pytest.approx(mean, abs=1.0), ba
    # Missing plus low-generation hours: CISO 3 + 4, PJM 23 + 5, AZPS 0 + 45.
    assert hourly_series("CISO").provenance.filled_gaps == 7
    assert hourly_series("PJM").provenance.filled_gaps == 28
    assert hourly_series("AZPS").provenance.filled_gaps == 45
    assert hourly_series("ERCO").provenance.filled_gaps == 0


def test_hourly_source_replays_other_years_on_the_same_date() -> None:
    s = hourly_series("ERCO")
    k = int((utc(2022, 6, 1, 12) - s.start_s[0]) // 3600)
    expected = (s.g_per_kwh[k] * 3600 + s.g_per_kwh[k + 1] * 1800) / 5400
    source = HourlyIntensity()
    inside = source.intensity("ERCO", utc(2022, 6, 1, 12), utc(2022, 6, 1, 13, 30))
    assert inside.g_per_kwh == pytest.approx(expected, rel=1e-12)
    assert inside.provenance.fallback is None
    # 2024 is a leap year: 1 June 2024 must map to 1 June 2022, not 2 June.
    later = source.intensity("US-TEX-ERCO", utc(2024, 6, 1, 12), utc(2024, 6, 1, 13, 30))
    assert later.g_per_kwh == pytest.approx(expected, rel=1e-12)
    assert "typical-year replay" in (later.provenance.fallback or "")
    leap_day = source.intensity("ERCO", utc(2024, 2, 29, 5), utc(2024, 2, 29, 6))
    k28 = int((utc(2022, 2, 28, 5) - s.start_s[0]) // 3600)
    assert leap_day.g_per_kwh == pytest.approx(s.g_per_kwh[k28])
    strict = HourlyIntensity(replay_year=False)
    with pytest.raises(IntensityError, match="outside"):
        strict.intensity("ERCO", utc(2024, 6, 1, 12), utc(2024, 6, 1, 13))


def test_hourly_source_fallback_for_regions_without_hourly_data() -> None:
    with pytest.raises(RegionError):
        HourlyIntensity().intensity("JP", 0.0, 3600.0)
    values = HourlyIntensity(fallback=AnnualIntensity(year=2024)).intensities(
        "JP", np.array([0.0]), np.array([3600.0])
    )
    assert values.g_per_kwh[0] == pytest.approx(483.43)
    assert values.provenance.fallback == "no hourly series for JP; used the annual source"


def test_series_source_checks_region() -> None:
    prov = Provenance("test", "hand-made", None, "marginal", "unknown", "none", "", region="DE")
    series = IntensitySeries(
        "DE", np.array([0.0, 3600.0]), 3600.0, np.array([100.0, 300.0]), "marginal", prov
    )
    source = SeriesIntensity(series)
    assert source.method == "marginal"
    assert source.intensity("deu", 1800.0, 5400.0).g_per_kwh == pytest.approx(200.0)
    with pytest.raises(IntensityError, match="this series is for region 'DE', not 'FR'"):
        source.intensity("FR", 0.0, 10.0)


# ----------------------------------------------------------------------------- cross-checks


def test_every_country_matches_owid(reference_data: Path) -> None:
    owid = reference_data / "grid_ci_annual_owid_ember"
    rows = read(owid / "owid_carbon_intensity_electricity.csv")
    newest: dict[str, tuple[int, float]] = {}
    for r in rows:
        code = r["code"]
        if not code or (code.startswith("OWID_") and code not in ("OWID_WRL", "OWID_KOS")):
            continue
        year, g = int(r["year"]), float(r["carbon_intensity_gco2eq_per_kwh"])
        if code not in newest or year > newest[code][0]:
            newest[code] = (year, g)
    assert len(newest) > 200
    for code, (year, g) in newest.items():
        value = annual_intensity(code)
        assert (value.g_per_kwh, value.provenance.year) == (g, year), code
    some = {
        (r["code"], int(r["year"])): float(r["carbon_intensity_gco2eq_per_kwh"])
        for r in rows
        if r["code"] in ("DEU", "IND", "BRA")
    }
    for (code, year), g in some.items():
        assert annual_intensity(code, year=year).g_per_kwh == g


def test_subnational_values_match_codecarbon(reference_data: Path) -> None:
    cc = reference_data / "codecarbon_3_3_2"
    for r in read(cc / "usa_egrid2023_state_emission_rates.csv"):
        if r["state"] == "usa":
            continue
        value = annual_intensity(f"US-{r['region_code']}")
        g = float(r["co2e_lbs_per_mwh"]) * LB_PER_MWH_IN_G_PER_KWH
        assert value.g_per_kwh == pytest.approx(g, abs=1e-3), r["state"]
        assert value.provenance.basis == "direct" and value.provenance.year == 2023
    for r in read(cc / "china_provincial_emission_factors_2023.csv"):
        assert annual_intensity(r["region_code"]).g_per_kwh == float(r["emission_factor"])
    for r in read(cc / "nordic_bidding_zone_emission_factors.csv"):
        if r["zone"] != "FI":
            value = annual_intensity(r["zone"])  # bare SE3 / NO1
            assert value.g_per_kwh == float(r["emission_factor"])
    factors = {
        r["source_type"]: float(r["gco2eq_per_kwh"])
        for r in read(cc / "carbon_intensity_per_energy_source.csv")
    }
    quebec = next(
        r
        for r in read(cc / "canada_provincial_energy_mix_pct_2023.csv")
        if r["province"] == "quebec"
    )
    pairs = [
        ("naturalGas", "natural_gas"),
        ("nuclear", "nuclear"),
        ("petroleum", "petroleum"),
        ("biomass", "biomass"),
        ("coal", "coal"),
        ("solar", "solar"),
        ("wind", "wind"),
        ("hydro", "hydroelectricity"),
    ]
    shares = [float(quebec[col]) for col, _ in pairs]
    expected = sum(s * factors[f] for s, (_, f) in zip(shares, pairs, strict=True)) / sum(shares)
    assert annual_intensity("CA-QC").g_per_kwh == pytest.approx(expected, abs=1e-3)


def test_cloud_regions_match_their_tables(reference_data: Path) -> None:
    google = read(reference_data / "cloud_region_ci_google" / "gcp_region_carbon_2019_2025.csv")
    for r in google:
        value = annual_intensity(f"gcp:{r['region']}", year=int(r["year"]))
        assert value.g_per_kwh == float(r["grid_ci_gco2eq_per_kwh"]), (r["region"], r["year"])
        assert value.provenance.basis == ("lifecycle" if int(r["year"]) < 2021 else "direct")
    for r in read(reference_data / "cloud_ccf_coefficients" / "cloud_region_grid_factors_tidy.csv"):
        if r["provider"] == "gcp" or not r["co2e_g_per_kwh"]:
            continue
        code = r["region"].replace(" ", "").lower() if r["provider"] == "azure" else r["region"]
        value = annual_intensity(f"{r['provider']}:{code}")
        assert value.g_per_kwh == pytest.approx(float(r["co2e_g_per_kwh"]), abs=1e-6), code


def test_zones_and_marginal_match_their_tables(reference_data: Path) -> None:
    em = read(
        reference_data
        / "grid_ci_annual_electricitymaps_co2js"
        / "electricitymaps_yearly_2021_2025.csv"
    )
    for r in em:
        if r["zone"].startswith(("US-", "AU-", "IN-")):
            value = annual_intensity(f"em:{r['zone']}", year=int(r["year"]))
            assert value.g_per_kwh == float(r["carbon_intensity_gco2eq_per_kwh"]), r["zone"]
    ifi = read(
        reference_data
        / "grid_ci_annual_co2js_ember_unfccc"
        / "unfccc_ifi_marginal_grid_factors_2021.csv"
    )
    for r in ifi:
        if r["iso2"] in ("DE", "FR", "IN", "US", "BR", "ZA"):
            value = annual_intensity(r["iso2"], method="marginal")
            assert value.g_per_kwh == float(r["operating_margin_gco2_per_kwh"])


def test_hourly_values_match_eia_csv(reference_data: Path) -> None:
    rows = read(reference_data / "grid_ci_hourly_us_eia_2022" / "us_ba_hourly_2022.csv")
    t0 = utc(2022, 1, 1)
    # the extract holds one week of each: CISO and SOCO from 1 January (CISO's hour 106
    # is empty), PJM from hour 1608 (its 22 empty hours 1711-1732 included)
    extract = {"CISO": (0, 167), "PJM": (1608, 146), "SOCO": (0, 168)}
    for ba in ("CISO", "PJM", "SOCO"):
        s = hourly_series(ba)
        mine = [r for r in rows if r["ba_code"] == ba]
        first, expected = extract[ba] if reference_data == EXTRACTS else (0, 0)
        checked = 0
        for k, r in enumerate(mine, start=first):
            stamp = datetime.fromisoformat(r["timestamp_utc"]).timestamp()
            assert stamp == t0 + 3600 * k
            if r["avg_ci_gco2eq_per_kwh"] and r["flag_low_total_generation"] == "False":
                assert s.g_per_kwh[k] == pytest.approx(float(r["avg_ci_gco2eq_per_kwh"]), abs=0.051)
                checked += 1
        if reference_data == EXTRACTS:
            assert (len(mine), checked) == (168, expected)
        else:
            assert checked > 8700


def test_package_data_is_small_and_licensed() -> None:
    total = sum(p.stat().st_size for p in (DATA / "intensity").iterdir())
    assert total < 1_000_000
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for name in (
        "countries_owid_ember.csv",
        "electricitymaps_yearly.csv",
        "marginal_unfccc_ifi_2021.csv",
        "hourly_us_eia_2022.npz",
    ):
        assert name in sources
    assert (DATA / "licenses" / "ODbL-1.0.txt").is_file()
    assert (DATA / "licenses" / "CC-BY-SA-4.0.txt").is_file()
