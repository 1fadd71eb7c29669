"""Write the small reference-data extracts that the test suite reads.

The reference data (real public tables, about 28 MB) lives beside the
repository in ``../shared/data``; a fresh clone does not have it. The tests
that compare wattprint's shipped tables with their sources therefore read
small extracts of it, checked into ``tests/fixtures/reference/``: the same
folder and file names, the same columns, and a deterministic choice of rows
(a fixed set of countries, zones and regions, a few days of hourly data).
Every value is copied by this script from the source file, never typed.

Only folders whose licence allows redistribution are extracted (MIT,
Apache-2.0, CC BY 4.0, and the share-alike CC BY-SA 4.0 and ODbL 1.0 as
separate files under their own licence); each extract folder gets a
``SOURCE.md`` with its licence, the rule that chose its rows and the source
folder's own notes (origin, attribution), verbatim.

Usage::

    python scripts/make_reference_extracts.py [DATA] [--out tests/fixtures/reference]

Run over an extract folder, the script writes that extract again unchanged:
every rule keeps the rows it kept the first time.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "tests" / "fixtures" / "reference"
SCRIPT = "scripts/make_reference_extracts.py"
#: Line in an extract's SOURCE.md after which the source folder's notes follow verbatim.
MARKER = "<!-- the source folder's SOURCE.md follows, verbatim -->"

Row = list[str]
Select = Callable[[Row, list[Row]], list[Row]]


@dataclass(frozen=True)
class Extract:
    """One file of one reference folder, and how its rows are chosen."""

    folder: str
    name: str
    rule: str
    select: Select | None = None  # None: the whole file, byte for byte
    header_lines: int = 1  # Green Algorithms tables have a units line above the header


@dataclass(frozen=True)
class Licence:
    """A folder's licence, and where its text is kept in the repository."""

    name: str
    note: str


LICENCES = {
    "grid_ci_annual_owid_ember": Licence(
        "CC BY 4.0", "Attribution: Our World in Data / Ember (see below)."),
    "grid_ci_annual_electricitymaps_co2js": Licence(
        "ODbL 1.0", "Share-alike: this extract is a derived database under the same licence; "
        "text in src/wattprint/data/licenses/ODbL-1.0.txt."),
    "grid_ci_annual_co2js_ember_unfccc": Licence(
        "CC BY-SA 4.0", "Share-alike: this extract is under the same licence; "
        "text in src/wattprint/data/licenses/CC-BY-SA-4.0.txt."),
    "grid_ci_hourly_us_eia_2022": Licence(
        "MIT (Hewlett Packard Enterprise) over public-domain EIA data",
        "Keep the copyright notice quoted below."),
    "codecarbon_3_3_2": Licence("MIT", "Keep the copyright notice quoted below."),
    "cloud_region_ci_google": Licence("Apache-2.0", "Keep the notice quoted below."),
    "cloud_ccf_coefficients": Licence("Apache-2.0", "Keep the notice quoted below."),
    "green_algorithms": Licence("CC BY 4.0", "Attribution: cite the paper below."),
    "llmcarbon_chip_embodied": Licence("Apache-2.0", "Cite the paper below."),
    "literature_ml_embodied_constants": Licence(
        "facts with citation", "Published constants; cite the paper below."),
}


# ---------------------------------------------------------------- row rules


def column(header: Row, name: str) -> int:
    """Index of a named column (the first column of some CCF files has no name)."""
    return header.index(name)


def owid_rows(header: Row, rows: list[Row]) -> list[Row]:
    """The newest year of every coded entity, and every year of four countries."""
    code, year = column(header, "code"), column(header, "year")
    newest: dict[str, int] = {}
    for row in rows:
        if row[code]:
            newest[row[code]] = max(newest.get(row[code], 0), int(row[year]))
    every_year = ("DEU", "FRA", "IND", "BRA")
    return [r for r in rows
            if r[code] and (r[code] in every_year or newest[r[code]] == int(r[year]))]


EM_ZONES = ("AU-NSW", "AU-TAS-KI", "IN-WE", "US-CAL-CISO", "US-HI", "US-MIDA-PJM",
            "US-TEX-ERCO", "DE", "FR", "GB")


def em_rows(header: Row, rows: list[Row]) -> list[Row]:
    """Every year of a fixed set of zones (US, AU and IN sub-national ones, and three countries)."""
    zone = column(header, "zone")
    return [r for r in rows if r[zone] in EM_ZONES]


IFI_COUNTRIES = ("AF", "BR", "DE", "FR", "GB", "IN", "US", "ZA")


def ifi_rows(header: Row, rows: list[Row]) -> list[Row]:
    """A fixed set of countries."""
    iso2 = column(header, "iso2")
    return [r for r in rows if r[iso2] in IFI_COUNTRIES]


GCP_REGIONS = ("africa-south1", "asia-east1", "europe-west1", "europe-west10",
               "southamerica-east1", "us-central1", "us-east4")


def gcp_rows(header: Row, rows: list[Row]) -> list[Row]:
    """Every year of a fixed set of regions."""
    region = column(header, "region")
    return [r for r in rows if r[region] in GCP_REGIONS]


#: Hourly windows (first hour of 2022 = 0, length in hours): CISO's window holds one
#: empty hour (106), PJM's holds its 22-hour gap of March 2022 (hours 1711-1732).
EIA_WINDOWS = {"CISO": (0, 168), "SOCO": (0, 168), "PJM": (1608, 168)}
EIA_T0 = datetime.fromisoformat("2022-01-01 00:00:00+00:00").timestamp()


def eia_rows(header: Row, rows: list[Row]) -> list[Row]:
    """One week of hourly rows for each of three balancing authorities."""
    ba, stamp = column(header, "ba_code"), column(header, "timestamp_utc")
    kept = []
    for row in rows:
        if row[ba] in EIA_WINDOWS:
            first, hours = EIA_WINDOWS[row[ba]]
            hour = (datetime.fromisoformat(row[stamp]).timestamp() - EIA_T0) / 3600
            if first <= hour < first + hours:
                kept.append(row)
    return kept


def cpu_key(name: str) -> str:
    """A CPU name as codecarbon's table is deduplicated in build_hardware_data.py."""
    return " ".join(name.split()).lower()


def chosen_cpu(key: str) -> bool:
    """About one CPU name in 25, chosen by the name alone (so a rerun keeps the same ones)."""
    return zlib.crc32(key.encode("utf-8")) % 25 == 0


def cpu_rows(header: Row, rows: list[Row]) -> list[Row]:
    """All rows of about one CPU name in 25, and every row whose TDP is not a positive number.

    All rows of a chosen name are kept, so the build's "first row of a repeated
    name wins" picks the same row from the extract as from the whole table.
    """
    name, tdp = column(header, "Name"), column(header, "TDP")

    def odd(cell: str) -> bool:
        try:
            return float(cell) <= 0
        except ValueError:
            return True

    return [r for r in rows if chosen_cpu(cpu_key(r[name])) or odd(r[tdp])]


def ccf_embodied_rows(header: Row, rows: list[Row]) -> list[Row]:
    """The first 20 instance types, and p4d.24xlarge (8 A100) that the build checks."""
    kind = column(header, "type")
    return [r for i, r in enumerate(rows) if i < 20 or r[kind] == "p4d.24xlarge"]


EXTRACTS = (
    Extract("grid_ci_annual_owid_ember", "owid_carbon_intensity_electricity.csv",
            "newest year of every coded entity; every year of DEU, FRA, IND, BRA", owid_rows),
    Extract("grid_ci_annual_electricitymaps_co2js", "electricitymaps_yearly_2021_2025.csv",
            "every year of " + ", ".join(EM_ZONES), em_rows),
    Extract("grid_ci_annual_co2js_ember_unfccc", "unfccc_ifi_marginal_grid_factors_2021.csv",
            "rows of " + ", ".join(IFI_COUNTRIES), ifi_rows),
    Extract("grid_ci_hourly_us_eia_2022", "us_ba_hourly_2022.csv",
            "hours [first, first + 168) of 2022 (UTC): "
            + ", ".join(f"{ba} from hour {w[0]}" for ba, w in EIA_WINDOWS.items())
            + "; CISO hour 106 is empty, PJM hours 1711-1732 are a gap", eia_rows),
    Extract("cloud_region_ci_google", "gcp_region_carbon_2019_2025.csv",
            "every year of " + ", ".join(GCP_REGIONS), gcp_rows),
    Extract("cloud_ccf_coefficients", "cloud_region_grid_factors_tidy.csv", "whole file"),
    Extract("cloud_ccf_coefficients", "coefficients-aws-use.csv", "whole file"),
    Extract("cloud_ccf_coefficients", "coefficients-azure-use.csv", "whole file"),
    Extract("cloud_ccf_coefficients", "coefficients-gcp-use.csv", "whole file"),
    *(Extract("cloud_ccf_coefficients", f"coefficients-{p}-embodied.csv",
              "first 20 rows, and p4d.24xlarge", ccf_embodied_rows)
      for p in ("aws", "azure", "gcp")),
    *(Extract("codecarbon_3_3_2", name, "whole file") for name in (
        "usa_egrid2023_state_emission_rates.csv",
        "china_provincial_emission_factors_2023.csv",
        "nordic_bidding_zone_emission_factors.csv",
        "carbon_intensity_per_energy_source.csv",
        "canada_provincial_energy_mix_pct_2023.csv",
    )),
    Extract("codecarbon_3_3_2", "cpu_tdp.csv",
            "every row of the CPU names (spaces collapsed, case folded) whose CRC-32 is "
            "a multiple of 25; every row whose TDP is not a positive number", cpu_rows),
    *(Extract("green_algorithms", name, "whole file", header_lines=2)
      for name in ("TDP_cpu.csv", "TDP_gpu.csv", "referenceValues.csv")),
    Extract("green_algorithms", "hardware_impacts.csv", "whole file"),
    Extract("llmcarbon_chip_embodied", "hardware_cpa.csv", "whole file"),
    Extract("literature_ml_embodied_constants", "literature_constants.csv", "whole file"),
)


# ---------------------------------------------------------------- writing


def read_csv(path: Path) -> tuple[Row, list[Row]]:
    """Header and rows of a CSV file (a byte-order mark is dropped)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def write_csv(path: Path, header: Row, rows: list[Row]) -> None:
    """Rows as CSV with ``\\n`` line ends; cells are the source's text, unchanged."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def source_notes(folder: Path) -> str:
    """The source folder's SOURCE.md; from an extract, the verbatim part of it."""
    text = (folder / "SOURCE.md").read_text(encoding="utf-8")
    return text.split(MARKER + "\n", 1)[1] if MARKER in text else text


def source_md(folder: str, files: list[tuple[Extract, int]], notes: str) -> str:
    """The SOURCE.md of one extract folder."""
    licence = LICENCES[folder]
    lines = [
        f"# {folder} (test extract)",
        "",
        f"A small extract of the wattprint reference data folder `{folder}`, for the test",
        f"suite. Made by `{SCRIPT}` from the source files named below; do not",
        "edit by hand, rerun the script.",
        "",
        f"Licence: **{licence.name}**, the source folder's licence, which carries over to this "
        f"extract. {licence.note}",
        "",
        "| file | rows | rule |",
        "|---|---|---|",
        *(f"| `{e.name}` | {n} | {e.rule} |" for e, n in files),
        "",
        MARKER,
    ]
    return "\n".join(lines) + "\n" + notes


def build(data: Path, out: Path) -> list[Path]:
    """Write every extract of ``data`` into ``out``; returns the paths written."""
    written: list[Path] = []
    by_folder: dict[str, list[tuple[Extract, int]]] = {}
    for extract in EXTRACTS:
        source = data / extract.folder / extract.name
        target = out / extract.folder / extract.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if extract.select is None:
            shutil.copyfile(source, target)
            with source.open(newline="", encoding="utf-8-sig") as fh:
                count = sum(1 for _ in csv.reader(fh)) - extract.header_lines
        else:
            header, rows = read_csv(source)
            kept = extract.select(header, rows)
            write_csv(target, header, kept)
            count = len(kept)
        by_folder.setdefault(extract.folder, []).append((extract, count))
        written.append(target)
    for folder, files in by_folder.items():
        path = out / folder / "SOURCE.md"
        path.write_text(source_md(folder, files, source_notes(data / folder)), encoding="utf-8")
        written.append(path)
    path = out / "README.md"
    path.write_text(readme(by_folder), encoding="utf-8")
    written.append(path)
    return written


def readme(by_folder: dict[str, list[tuple[Extract, int]]]) -> str:
    """The README.md of the extracts folder."""
    lines = [
        "# Reference-data extracts for the tests",
        "",
        "Small extracts of wattprint's reference data (real public tables), so that the",
        "tests comparing the shipped package tables with their sources run on any clone.",
        f"Made by `{SCRIPT}`; do not edit by hand. Each folder's `SOURCE.md`",
        "gives its licence, the rule that chose its rows, and the source's own notes.",
        "When the full reference folder `../shared/data` is beside the checkout, the same",
        "tests also run over it, and a test checks that rerunning the script reproduces",
        "these files.",
        "",
        "Folders whose licence does not allow redistribution (AGPL, non-commercial,",
        "unlicensed or unclear) are never extracted.",
        "",
        "| folder | licence | files |",
        "|---|---|---|",
        *(f"| `{folder}` | {LICENCES[folder].name} | {len(files)} |"
          for folder, files in by_folder.items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="?", default=DEFAULT_DATA,
                        help="reference data folder (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: tests/fixtures/reference)")
    args = parser.parse_args(argv)
    for path in build(args.data, args.out):
        print(path.relative_to(args.out) if path.is_relative_to(args.out) else path)


if __name__ == "__main__":
    main()
