from __future__ import annotations

import csv
from pathlib import Path

import pytest

from wattprint.accounting.location import (
    WORLD_LABEL,
    cloud_region_from_env,
    list_regions,
    resolve_region,
)
from wattprint.errors import RegionError


def test_order_argument_env_config_cloud_world() -> None:
    env = {"WATTPRINT_REGION": "fr", "AWS_REGION": "eu-west-1"}
    got = resolve_region("deu", env, config_region="SE")
    assert (got.code, got.how, got.is_default, got.label) == (
        "DE",
        "argument",
        False,
        "DE (Germany)",
    )
    got = resolve_region(None, env, config_region="SE")
    assert (got.code, got.how, got.detail) == ("FR", "WATTPRINT_REGION", "WATTPRINT_REGION=fr")
    got = resolve_region(None, {"AWS_REGION": "eu-west-1"}, config_region="se")
    assert (got.code, got.how) == ("SE", "config")
    got = resolve_region(None, {"AWS_REGION": "eu-west-1"})
    assert (got.code, got.how, got.detail) == ("aws:eu-west-1", "cloud env", "AWS_REGION=eu-west-1")
    got = resolve_region(None, {})
    assert (got.code, got.how, got.is_default, got.label) == (
        "WORLD",
        "world default",
        True,
        WORLD_LABEL,
    )
    assert got.label == "world average (no region set)"
    assert got.hint is not None and "WATTPRINT_REGION" in got.hint and "\n" not in got.hint


def test_blank_values_are_not_set() -> None:
    got = resolve_region("  ", {"WATTPRINT_REGION": ""}, config_region="")
    assert got.how == "world default"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTPRINT_REGION", "US-CA")
    assert resolve_region().code == "US-CA"


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ({"AWS_DEFAULT_REGION": "us-east-1"}, "aws:us-east-1"),
        ({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-east-1"}, "aws:us-west-2"),
        ({"GOOGLE_CLOUD_REGION": "europe-west1"}, "gcp:europe-west1"),
        ({"CLOUDSDK_COMPUTE_REGION": "us-central1"}, "gcp:us-central1"),
        ({"CLOUD_ML_REGION": "europe-west4"}, "gcp:europe-west4"),
        ({"REGION_NAME": "West Europe"}, "azure:westeurope"),
        ({"REGION_NAME": "northeurope"}, "azure:northeurope"),
    ],
)
def test_cloud_environment_variables(env: dict[str, str], code: str) -> None:
    got = resolve_region(None, env)
    assert (got.code, got.how) == (code, "cloud env")


def test_unknown_cloud_region_is_skipped_with_a_note() -> None:
    env = {"AWS_REGION": "ap-southeast-7", "GOOGLE_CLOUD_REGION": "europe-west3"}
    got = resolve_region(None, env)
    assert got.code == "gcp:europe-west3"
    assert got.hint == "AWS_REGION=ap-southeast-7 is not a known aws region"
    got = resolve_region(None, {"AWS_REGION": "ap-southeast-7"})
    assert got.is_default
    assert got.hint is not None and got.hint.startswith(
        "AWS_REGION=ap-southeast-7 is not a known aws region; no region set"
    )
    assert cloud_region_from_env({"REGION_NAME": "Atlantis"}) == (
        None,
        "",
        ["REGION_NAME=Atlantis is not a known azure region"],
    )


def test_unknown_codes_are_errors_naming_their_origin() -> None:
    with pytest.raises(
        RegionError,
        match=r"region argument: unknown region 'Frnace'; "
        r"did you mean FR \(France\)",
    ):
        resolve_region("Frnace", {})
    with pytest.raises(RegionError, match=r"^WATTPRINT_REGION: unknown region 'US-CAA'"):
        resolve_region(None, {"WATTPRINT_REGION": "US-CAA"})
    with pytest.raises(RegionError, match=r"^config setting 'region': unknown region"):
        resolve_region(None, {}, config_region="nowhere-land")


def test_list_regions_search_and_kinds() -> None:
    found = list_regions("germany")
    assert found[0].code == "DE"
    assert found[0].kind == "country" and found[0].year is not None
    codes = [r.code for r in found]
    assert "em:DE" in codes and "aws:eu-central-1" in codes
    assert list_regions("DEU")[0].code == "DE"  # alpha-3 is an exact match
    assert list_regions("ciso")[0].code == "US-CAL-CISO"
    kinds = {r.kind for r in list_regions()}
    assert kinds == {"world", "country", "subnational", "cloud", "zone"}
    assert list_regions()[0].code == "WORLD"


def test_list_regions_hourly_only() -> None:
    hourly = list_regions(hourly_only=True)
    assert sorted(r.code for r in hourly) == sorted(
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
    assert all(r.has_hourly and r.kind == "zone" for r in hourly if r.code.startswith("US-"))
    assert [r.code for r in list_regions("ercot", hourly_only=True)] == ["US-TEX-ERCO"]
    assert not any(r.has_hourly for r in list_regions("japan"))


def test_listed_values_match_the_reference_tables(reference_data: Path) -> None:
    path = reference_data / "grid_ci_annual_owid_ember" / "owid_carbon_intensity_electricity.csv"
    with path.open(encoding="utf-8", newline="") as f:
        france = [r for r in csv.DictReader(f) if r["code"] == "FRA"]
    newest = max(france, key=lambda r: int(r["year"]))
    info = next(r for r in list_regions("FR") if r.code == "FR")
    assert info.year == int(newest["year"])
    assert info.g_per_kwh == float(newest["carbon_intensity_gco2eq_per_kwh"])
    assert "CC BY 4.0" in info.source
