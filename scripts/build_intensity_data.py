"""Build wattprint's shipped carbon-intensity tables from the reference data sets.

Reads the CSV folders of the wattprint reference data (by default
``../shared/data`` next to the repository; override with ``--data``) and
writes compact tables to ``src/wattprint/data/intensity/``. One output file per
input licence, never merged across licences; each row keeps the data set it
came from. Run it again whenever a reference folder is updated::

    python scripts/build_intensity_data.py [--data PATH] [--out PATH]

Outputs (see ``src/wattprint/data/SOURCES.md`` for origin and licence):

* ``countries_owid_ember.csv``           CC BY 4.0   country averages, every year
* ``subnational_codecarbon.csv``         MIT         US states, Canadian and Chinese
                                                     provinces, Nordic bidding zones
* ``cloud_google.csv``                   Apache-2.0  GCP regions, every year
* ``cloud_ccf.csv``                      Apache-2.0  AWS, Azure, GCP regions (CCF)
* ``cloud_locations_green_algorithms.csv`` CC BY 4.0 cloud region -> country
* ``hourly_us_eia_2022.npz``             MIT         hourly series of 8 US BAs
* ``hourly_de_smard_2025.npz``           CC BY 4.0   hourly series of Germany, 2025
* ``hourly_fr_eco2mix_2021_2022.npz``    MIT         hourly series of France, 2021-2022
* ``hourly_gb_neso_2023.npz``            CC BY 4.0   hourly means of Great Britain, 2023
* ``electricitymaps_yearly.csv``         ODbL 1.0    zone averages 2021-2025
* ``marginal_unfccc_ifi_2021.csv``       CC BY-SA 4.0 operating-margin factors
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

# the eight balancing authorities of the EIA series and their Electricity Maps zone keys
from wattprint.accounting.intensity import BA_ZONES

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "src" / "wattprint" / "data" / "intensity"

#: One pound per megawatt-hour in grams per kilowatt-hour (1 lb = 453.59237 g).
G_PER_KWH_PER_LB_PER_MWH = 0.45359237

#: ISO 3166-1 code pairs missing from, or wrong in, the IFI table's iso2/iso3 columns
#: (it gives Cayman Islands "CY", Cyprus's code), and OWID's own code for Kosovo (XK is
#: the code in common use, not an ISO code).
EXTRA_ALPHA2 = {"ESH": "EH", "HKG": "HK", "MAC": "MO", "CYM": "KY", "OWID_KOS": "XK"}

#: IFI rows left out of the marginal table: the Canary Islands row carries the Cayman
#: Islands' codes (KY, CYM) and is not a country.
IFI_SKIP = {"Canary Islands (Spain)"}

#: ISO 3166-2 codes of the Canadian provinces and territories.
CANADA_CODES = {
    "alberta": "AB",
    "british columbia": "BC",
    "manitoba": "MB",
    "new brunswick": "NB",
    "newfoundland and labrador": "NL",
    "nova scotia": "NS",
    "northwest territories": "NT",
    "nunavut": "NU",
    "ontario": "ON",
    "prince edward island": "PE",
    "quebec": "QC",
    "saskatchewan": "SK",
    "yukon": "YT",
}

#: Canada mix column -> codecarbon per-source factor name.
CANADA_FUELS = {
    "naturalGas": "natural_gas",
    "nuclear": "nuclear",
    "petroleum": "petroleum",
    "biomass": "biomass",
    "coal": "coal",
    "solar": "solar",
    "wind": "wind",
    "hydro": "hydroelectricity",
    "other": None,
    "tidal": None,
}

#: Cloud location names (CCF "Location") that are not OWID entity names.
LOCATION_ALIASES = {"England": "GB"}



def read_csv(path: Path, *, skip: int = 0) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        for _ in range(skip):
            f.readline()
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"wrote {path.name}: {len(rows)} rows, {path.stat().st_size} bytes")


def fmt(value: float) -> str:
    """Shortest round-trip text of a float, without a trailing ``.0``."""
    text = repr(round(value, 4))
    return text[:-2] if text.endswith(".0") else text


def alpha2_of_alpha3(data: Path) -> dict[str, str]:
    """ISO 3166-1 alpha-3 -> alpha-2, from the code columns of the IFI table, corrected."""
    rows = read_csv(
        data / "grid_ci_annual_co2js_ember_unfccc" / "unfccc_ifi_marginal_grid_factors_2021.csv"
    )
    pairs = {
        r["iso3"]: r["iso2"]
        for r in rows
        if len(r["iso3"]) == 3 and len(r["iso2"]) == 2 and r["country"] not in IFI_SKIP
    }
    pairs.update(EXTRA_ALPHA2)
    alpha2 = [a for code, a in pairs.items() if not code.startswith("OWID_")]
    duplicates = {a for a in alpha2 if alpha2.count(a) > 1}
    if duplicates:
        raise SystemExit(f"alpha-2 codes used by two alpha-3 codes: {sorted(duplicates)}")
    return pairs


def build_countries(data: Path, out: Path, a2: dict[str, str]) -> dict[str, str]:
    rows = read_csv(data / "grid_ci_annual_owid_ember" / "owid_carbon_intensity_electricity.csv")
    result: list[list[object]] = []
    names: dict[str, str] = {}
    for r in rows:
        code = r["code"]
        if code == "OWID_WRL":
            iso2 = "WORLD"
        elif not code or (code.startswith("OWID_") and code not in a2):
            continue  # regional aggregates
        else:
            iso2 = a2[code]
        names[r["entity"]] = iso2
        result.append(
            [
                iso2,
                code,
                r["entity"],
                int(r["year"]),
                fmt(float(r["carbon_intensity_gco2eq_per_kwh"])),
            ]
        )
    result.sort(key=lambda row: (str(row[2]), int(str(row[3]))))
    write_csv(
        out / "countries_owid_ember.csv", ["iso2", "iso3", "name", "year", "g_per_kwh"], result
    )
    return names


def build_subnational(data: Path, out: Path) -> None:
    cc = data / "codecarbon_3_3_2"
    rows: list[list[object]] = []
    # US states: eGRID2023 STC2ERTA (total output CO2e rate), lb/MWh -> g/kWh.
    for r in read_csv(cc / "usa_egrid2023_state_emission_rates.csv"):
        if r["state"] == "usa":
            continue  # the national total; the country table covers the US
        g = float(r["co2e_lbs_per_mwh"]) * G_PER_KWH_PER_LB_PER_MWH
        rows.append(
            [
                f"US-{r['region_code']}",
                r["state"].title(),
                "US",
                2023,
                fmt(g),
                "direct",
                "usa_egrid2023_state_emission_rates.csv",
                "US EPA eGRID2023 STC2ERTA",
            ]
        )
    # Chinese provinces: MEE/NBS 2023 factors, CO2 only, with inter-provincial transfers.
    for r in read_csv(cc / "china_provincial_emission_factors_2023.csv"):
        rows.append(
            [
                r["region_code"],
                r["description"],
                "CN",
                int(r["year"]),
                fmt(float(r["emission_factor"])),
                "direct",
                "china_provincial_emission_factors_2023.csv",
                "China MEE & NBS Announcement 2025 No. 47, CO2 only",
            ]
        )
    # Nordic bidding zones, keyed like Electricity Maps (SE-SE3, NO-NO1); Finland is a country.
    for r in read_csv(cc / "nordic_bidding_zone_emission_factors.csv"):
        zone = r["zone"]
        if zone == "FI":
            continue
        note = f"ENTSO-E generation x codecarbon per-source factors; coverage {r['coverage']}"
        rows.append(
            [
                f"{zone[:2]}-{zone}",
                r["description"],
                zone[:2],
                int(r["year"]),
                fmt(float(r["emission_factor"])),
                "lifecycle",
                "nordic_bidding_zone_emission_factors.csv",
                note,
            ]
        )
    # Canadian provinces: 2023 generation shares x codecarbon per-source lifecycle factors.
    factors = {
        r["source_type"]: float(r["gco2eq_per_kwh"])
        for r in read_csv(cc / "carbon_intensity_per_energy_source.csv")
    }
    for r in read_csv(cc / "canada_provincial_energy_mix_pct_2023.csv"):
        weighted = 0.0
        share_sum = 0.0
        for column, fuel in CANADA_FUELS.items():
            share = float(r[column])
            if fuel is None:
                if share != 0.0:
                    raise SystemExit(f"{r['province']}: {column} share {share} has no factor")
                continue
            weighted += share * factors[fuel]
            share_sum += share
        g = weighted / share_sum
        rows.append(
            [
                f"CA-{CANADA_CODES[r['province']]}",
                r["province"].title(),
                "CA",
                2023,
                fmt(g),
                "lifecycle",
                "canada_provincial_energy_mix_pct_2023.csv",
                "generation shares x carbon_intensity_per_energy_source.csv factors",
            ]
        )
    rows.sort(key=lambda row: str(row[0]))
    write_csv(
        out / "subnational_codecarbon.csv",
        ["code", "name", "country", "year", "g_per_kwh", "basis", "source_file", "note"],
        rows,
    )


def build_cloud_google(data: Path, out: Path) -> None:
    rows = read_csv(data / "cloud_region_ci_google" / "gcp_region_carbon_2019_2025.csv")
    location: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: int(r["year"])):
        if r["location"] and r["location"] != "N/A":
            location[r["region"]] = r["location"]
    result: list[list[object]] = []
    for r in rows:
        basis = "lifecycle" if r["ci_basis"] == "lifecycle" else "direct"
        result.append(
            [
                r["region"],
                location.get(r["region"], ""),
                int(r["year"]),
                fmt(float(r["grid_ci_gco2eq_per_kwh"])),
                basis,
            ]
        )
    result.sort(key=lambda row: (str(row[0]), int(str(row[2]))))
    write_csv(
        out / "cloud_google.csv", ["region", "location", "year", "g_per_kwh", "basis"], result
    )


def build_cloud_ccf(data: Path, out: Path, country_names: dict[str, str]) -> None:
    rows = read_csv(data / "cloud_ccf_coefficients" / "cloud_region_grid_factors_tidy.csv")
    result: list[list[object]] = []
    for r in rows:
        provider = r["provider"]
        region = r["region"]
        code = region.replace(" ", "").lower() if provider == "azure" else region
        note = ""
        if r["co2e_g_per_kwh"]:
            g = float(r["co2e_g_per_kwh"])
        else:
            # Two Azure rows lack the leading "0." (e.g. "000402"); read as 0.000402 t/kWh.
            published = r["co2e_metric_ton_per_kwh_as_published"]
            g = float("0." + published) * 1e6
            note = f"repaired: published as {published!r}, read as 0.{published} t/kWh"
        country = ""
        if provider == "aws":
            country = LOCATION_ALIASES.get(r["location"]) or country_names.get(r["location"], "")
        result.append([provider, code, region, r["location"], country, fmt(g), r["source"], note])
    write_csv(
        out / "cloud_ccf.csv",
        [
            "provider",
            "code",
            "region",
            "location",
            "country",
            "g_per_kwh",
            "upstream_source",
            "note",
        ],
        result,
    )


def build_cloud_locations(data: Path, out: Path) -> None:
    rows = read_csv(data / "green_algorithms" / "cloudProviders_datacenters.csv", skip=1)
    result: list[list[object]] = []
    for r in rows:
        provider, name, location = r["provider"], r["Name"], r["location"]
        if not location:
            continue
        if provider == "azure":
            # "Germany West Central (Public)" -> "germanywestcentral"
            name = name.split("(")[0].strip().replace(" ", "").lower()
        country = "HK" if location.startswith("CN-HK") else location[:2]
        result.append([provider, name, location, country])
    write_csv(
        out / "cloud_locations_green_algorithms.csv",
        ["provider", "region", "location", "country"],
        result,
    )


def build_hourly(data: Path, out: Path) -> None:
    rows = read_csv(data / "grid_ci_hourly_us_eia_2022" / "us_ba_hourly_2022.csv")
    by_ba: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_ba[r["ba_code"]].append(r)
    bas = sorted(by_ba)
    assert bas == sorted(BA_ZONES), bas
    first = dt.datetime.fromisoformat(by_ba[bas[0]][0]["timestamp_utc"])
    start_s = int(first.timestamp())
    n = len(by_ba[bas[0]])
    table = np.full((len(bas), n), -1, dtype=np.int16)
    missing = 0
    flagged = 0
    for i, ba in enumerate(bas):
        series = by_ba[ba]
        assert len(series) == n
        for k, r in enumerate(series):
            t = dt.datetime.fromisoformat(r["timestamp_utc"]).timestamp()
            assert t == start_s + 3600 * k, (ba, k, r["timestamp_utc"])
            text = r["avg_ci_gco2eq_per_kwh"]
            if not text or math.isnan(float(text)):
                missing += 1
                continue
            if r["flag_low_total_generation"] == "True":
                flagged += 1  # a reporting gap, not a clean hour: left missing
                continue
            table[i, k] = round(float(text) * 10)
    np.savez_compressed(
        out / "hourly_us_eia_2022.npz",
        ba=np.array(bas),
        zone=np.array([BA_ZONES[b] for b in bas]),
        start_s=np.int64(start_s),
        step_s=np.float64(3600.0),
        g_per_kwh_x10=table,
    )
    size = (out / "hourly_us_eia_2022.npz").stat().st_size
    print(
        f"wrote hourly_us_eia_2022.npz: {len(bas)} x {n} hours ({missing} missing, "
        f"{flagged} flagged low-generation hours left missing), {size} bytes"
    )


def _utc_s(text: str) -> float:
    stamp = dt.datetime.fromisoformat(text)
    assert stamp.utcoffset() == dt.timedelta(0), text
    return stamp.timestamp()


def _year_start_s(year: int) -> int:
    return int(dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc).timestamp())


def _tenths(value: float) -> int:
    return -1 if math.isnan(value) else round(value * 10)


def _number(text: str) -> float:
    return float(text) if text.strip() else math.nan


def _hourly_grid(
    rows: list[dict[str, str]], columns: list[str], first_year: int, last_year: int
) -> tuple[int, np.ndarray]:
    """Values of ``columns`` on the whole UTC years ``first_year..last_year``, hour by hour.

    Rows outside those years are dropped; an hour without a row or with an empty cell
    stays missing (-1), for wattprint to fill and count.
    """
    start_s = _year_start_s(first_year)
    n = (_year_start_s(last_year + 1) - start_s) // 3600
    table = np.full((len(columns), n), -1, dtype=np.int16)
    for r in rows:
        k, rest = divmod(_utc_s(r["timestamp_utc"]) - start_s, 3600)
        if rest or not 0 <= k < n:
            continue
        for i, col in enumerate(columns):
            table[i, int(k)] = _tenths(_number(r[col]))
    return start_s, table


def _save_hourly(
    out: Path,
    name: str,
    start_s: int,
    table: np.ndarray,
    zones: list[str],
    bases: list[str],
    kinds: list[str],
) -> None:
    np.savez_compressed(
        out / name,
        zone=np.array(zones),
        basis=np.array(bases),
        kind=np.array(kinds),
        start_s=np.int64(start_s),
        step_s=np.float64(3600.0),
        g_per_kwh_x10=table,
    )
    missing = [int(np.count_nonzero(row < 0)) for row in table]
    size = (out / name).stat().st_size
    print(f"wrote {name}: {table.shape[0]} x {table.shape[1]} hours (missing {missing}), "
          f"{size} bytes")


def build_hourly_de(data: Path, out: Path) -> None:
    """Germany 2025 (SMARD, CC BY 4.0): lifecycle and direct rows, UTC year 2025.

    The source's first row (2024-12-31 23:00 UTC, the first hour of the German year) lies
    outside the UTC year and is dropped; its last UTC hour (2025-12-31 23:00) is missing.
    """
    rows = read_csv(data / "grid_ci_hourly_de_smard_2025" / "de_mix_ci_hourly_2025.csv")
    columns = ["ci_lifecycle_gco2eq_per_kwh", "ci_direct_gco2_per_kwh"]
    start_s, table = _hourly_grid(rows, columns, 2025, 2025)
    _save_hourly(out, "hourly_de_smard_2025.npz", start_s, table, ["DE", "DE"],
                 ["lifecycle", "direct"], ["actual", "actual"])


def build_hourly_fr(data: Path, out: Path) -> None:
    """France 2021-2022 (RTE eCO2mix via dreamRs/uPlot-r, MIT): the two full years present."""
    rows = read_csv(data / "grid_ci_hourly_fr_eco2mix_2021_2023" / "fr_mix_ci_hourly_2021_2023.csv")
    columns = ["ci_lifecycle_gco2eq_per_kwh", "ci_direct_gco2_per_kwh"]
    start_s, table = _hourly_grid(rows, columns, 2021, 2022)
    _save_hourly(out, "hourly_fr_eco2mix_2021_2022.npz", start_s, table, ["FR", "FR"],
                 ["lifecycle", "direct"], ["actual", "actual"])


def build_hourly_gb(data: Path, out: Path) -> None:
    """Great Britain 2023 (NESO, CC BY 4.0): hourly means of the half-hourly actual and forecast.

    An hour's mean is over the half-hours that have a value; an ``actual`` of 0 is an API
    glitch (SOURCE.md) and counts as missing. An hour with no value stays missing.
    """
    rows = read_csv(data / "grid_ci_halfhourly_gb_neso_2023" / "gb_national_ci_2023_halfhourly.csv")
    start_s = _year_start_s(2023)
    n = (_year_start_s(2024) - start_s) // 3600
    sums = np.zeros((2, n))
    counts = np.zeros((2, n), dtype=np.int64)
    for r in rows:
        k = int((_utc_s(r["timestamp_utc"]) - start_s) // 3600)
        if not 0 <= k < n:
            continue
        for i, col in enumerate(("actual_gco2_per_kwh", "forecast_gco2_per_kwh")):
            value = _number(r[col])
            if math.isnan(value) or (col.startswith("actual") and value == 0):
                continue
            sums[i, k] += value
            counts[i, k] += 1
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    table = np.where(np.isnan(means), -1, np.rint(np.nan_to_num(means) * 10)).astype(np.int16)
    _save_hourly(out, "hourly_gb_neso_2023.npz", start_s, table, ["GB", "GB"],
                 ["direct", "direct"], ["actual", "forecast"])


def build_electricitymaps(data: Path, out: Path) -> None:
    rows = read_csv(
        data / "grid_ci_annual_electricitymaps_co2js" / "electricitymaps_yearly_2021_2025.csv"
    )
    result: list[list[object]] = []
    for r in rows:
        name = r["display_name"] or r["zone_name"]
        result.append(
            [
                r["zone"],
                name,
                r["country_name"],
                int(r["year"]),
                fmt(float(r["carbon_intensity_gco2eq_per_kwh"])),
            ]
        )
    result.sort(key=lambda row: (str(row[0]), int(str(row[3]))))
    write_csv(
        out / "electricitymaps_yearly.csv", ["zone", "name", "country", "year", "g_per_kwh"], result
    )


def build_marginal(data: Path, out: Path, a2: dict[str, str]) -> None:
    rows = read_csv(
        data / "grid_ci_annual_co2js_ember_unfccc" / "unfccc_ifi_marginal_grid_factors_2021.csv"
    )
    result: list[list[object]] = []
    for r in rows:
        if r["iso3"] not in a2 or r["country"] in IFI_SKIP:
            continue  # sub-national islands and the EU memo line have no ISO code
        result.append(
            [
                a2[r["iso3"]],  # corrected alpha-2 (the table's own is wrong for Cayman)
                r["iso3"],
                r["country"],
                fmt(float(r["operating_margin_gco2_per_kwh"])),
                fmt(float(r["cm_electricity_consumption_gco2_per_kwh"])),
            ]
        )
    result.sort(key=lambda row: str(row[0]))
    codes = [row[0] for row in result]
    assert len(codes) == len(set(codes)), "duplicate alpha-2 codes in the marginal table"
    write_csv(
        out / "marginal_unfccc_ifi_2021.csv",
        ["iso2", "iso3", "country", "operating_margin_g_per_kwh", "combined_margin_g_per_kwh"],
        result,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="reference data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()
    data: Path = args.data
    out: Path = args.out
    if not data.is_dir():
        raise SystemExit(f"reference data folder {data} not found; pass --data PATH")
    out.mkdir(parents=True, exist_ok=True)
    a2 = alpha2_of_alpha3(data)
    names = build_countries(data, out, a2)
    build_subnational(data, out)
    build_cloud_google(data, out)
    build_cloud_ccf(data, out, names)
    build_cloud_locations(data, out)
    build_hourly(data, out)
    build_hourly_de(data, out)
    build_hourly_fr(data, out)
    build_hourly_gb(data, out)
    build_electricitymaps(data, out)
    build_marginal(data, out, a2)


if __name__ == "__main__":
    main()
