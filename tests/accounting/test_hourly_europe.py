"""The shipped European hourly series: DE 2025, FR 2021-2022, GB 2023."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.hourly import (
    basis_note,
    comparable_series,
    hourly_catalogue,
    hourly_series,
    neso_forecast_series,
)
from wattprint.accounting.replay import series_year
from wattprint.errors import RegionError


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_germany_2025() -> None:
    s = hourly_series("DE")
    assert s is hourly_series("Germany") and s is hourly_series("deu")
    assert len(s) == 8760 and s.step_s == 3600.0
    assert s.start_s[0] == utc(2025, 1, 1) and s.end_s == utc(2026, 1, 1)
    assert s.provenance.basis == "lifecycle" and s.provenance.licence == "CC BY 4.0"
    assert "SMARD" in s.provenance.source and s.provenance.year == 2025
    # SOURCE.md: 6 hours without intensity; the last UTC hour of 2025 is not in the file
    assert s.provenance.filled_gaps == 7
    assert not np.isnan(s.g_per_kwh).any()
    # SOURCE.md: mean intensity lifecycle 321, direct 253 g/kWh
    assert float(np.mean(s.g_per_kwh)) == pytest.approx(321, abs=1.0)
    direct = hourly_series("DE", basis="direct")
    assert direct.provenance.basis == "direct"
    assert float(np.mean(direct.g_per_kwh)) == pytest.approx(253, abs=1.0)
    # UTC: in June the solar dip is at 10-11 UTC (12-13 CEST), not at 22-23 UTC
    june = (s.start_s >= utc(2025, 6, 1)) & (s.start_s < utc(2025, 7, 1))
    hour = ((s.start_s % 86400) // 3600).astype(int)
    assert s.g_per_kwh[june & (hour == 11)].mean() < s.g_per_kwh[june & (hour == 23)].mean() - 50


def test_france_2021_2022() -> None:
    s = hourly_series("FR")
    assert len(s) == 2 * 8760 and s.start_s[0] == utc(2021, 1, 1) and s.end_s == utc(2023, 1, 1)
    assert s.provenance.basis == "lifecycle" and "MIT" in s.provenance.licence
    assert s.provenance.year is None  # two years
    # SOURCE.md: the rows 2021-10-31 00:00 and 2022-10-30 00:00 UTC are empty
    assert s.provenance.filled_gaps == 2
    # SOURCE.md: mean lifecycle intensity 2021 53.8, 2022 73.0 g/kWh
    y2021 = s.start_s < utc(2022, 1, 1)
    assert float(s.g_per_kwh[y2021].mean()) == pytest.approx(53.8, abs=0.1)
    assert float(s.g_per_kwh[~y2021].mean()) == pytest.approx(73.0, abs=0.1)
    assert series_year(s) == 2022  # a replay reads the most recent whole year
    assert hourly_series("FR", basis="direct").provenance.basis == "direct"


def test_great_britain_2023() -> None:
    s = hourly_series("GB")
    assert s is hourly_series("UK")
    assert len(s) == 8760 and s.start_s[0] == utc(2023, 1, 1) and s.end_s == utc(2024, 1, 1)
    assert s.provenance.basis == "direct" and s.provenance.licence == "CC BY 4.0"
    assert "NESO" in s.provenance.source
    # hours with neither half-hour 'actual' (counted with awk on the half-hourly file;
    # zeros are API glitches and count as missing): the October outage and 26 January
    assert s.provenance.filled_gaps == 48
    # SOURCE.md: 2023 mean actual 152.1 g/kWh (of half-hours; glitches excluded here)
    assert float(np.mean(s.g_per_kwh)) == pytest.approx(152.1, abs=0.5)
    # the first hour is the mean of its half-hours 72 and 80
    assert s.g_per_kwh[0] == pytest.approx(76.0)
    with pytest.raises(RegionError, match="not on the 'lifecycle' basis"):
        hourly_series("GB", basis="lifecycle")
    forecast = neso_forecast_series()
    assert forecast.g_per_kwh[0] == pytest.approx(68.0)  # (73 + 63) / 2
    assert forecast.provenance.basis == "direct"


def test_catalogue_and_basis_notes() -> None:
    rows = {info.region: info for info in hourly_catalogue()}
    assert (rows["DE"].years, rows["DE"].basis, rows["DE"].bases) == (
        "2025", "lifecycle", ("direct", "lifecycle"))
    assert (rows["FR"].years, rows["FR"].basis) == ("2021-2022", "lifecycle")
    assert (rows["GB"].years, rows["GB"].basis, rows["GB"].bases) == ("2023", "direct",
                                                                       ("direct",))
    assert rows["US-CAL-CISO"].years == "2022"
    assert basis_note([hourly_series("DE"), hourly_series("FR")]) is None
    note = basis_note([hourly_series("DE"), hourly_series("GB")])
    assert note is not None and "direct: GB" in note and "lifecycle: DE" in note
    aligned, notes = comparable_series({"DE": hourly_series("DE"), "GB": hourly_series("GB")})
    assert aligned["DE"] is hourly_series("DE")
    assert aligned["GB"].start_s[0] == utc(2025, 1, 1) and len(aligned["GB"]) == 8760
    # 1 March 2025 12:00 reads 1 March 2023 12:00
    k25 = int((utc(2025, 3, 1, 12) - utc(2025, 1, 1)) // 3600)
    k23 = int((utc(2023, 3, 1, 12) - utc(2023, 1, 1)) // 3600)
    assert aligned["GB"].g_per_kwh[k25] == hourly_series("GB").g_per_kwh[k23]
    assert any("replayed onto 2025" in n for n in notes)
    assert any("different bases" in n for n in notes)


def test_regions_hourly_cli(tmp_path: Path) -> None:
    env = dict(os.environ, WATTPRINT_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "wattprint", "regions", "--hourly", "--json"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {x["code"]: x for x in json.loads(r.stdout)["regions"]}
    assert rows["DE"]["hourly_years"] == "2025" and rows["DE"]["hourly_basis"] == "lifecycle"
    assert rows["FR"]["hourly_years"] == "2021-2022"
    assert rows["GB"]["hourly_basis"] == "direct" and "NESO" in rows["GB"]["hourly_source"]
    text = subprocess.run([sys.executable, "-m", "wattprint", "regions", "--hourly"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert "basis" in text.stdout and "direct" in text.stdout


def test_hourly_accounting_in_europe_states_the_basis() -> None:
    from wattprint.accounting.hourly import HourlyIntensity

    s = hourly_series("GB")
    k = int((utc(2023, 7, 1, 12) - s.start_s[0]) // 3600)
    value = HourlyIntensity().intensity("UK", utc(2023, 7, 1, 12), utc(2023, 7, 1, 13))
    assert value.g_per_kwh == pytest.approx(float(s.g_per_kwh[k]))
    assert value.provenance.basis == "direct" and value.provenance.fallback is None
    later = HourlyIntensity().intensity("DE", utc(2026, 7, 1, 12), utc(2026, 7, 1, 13))
    de = hourly_series("DE")
    k = int((utc(2025, 7, 1, 12) - de.start_s[0]) // 3600)
    assert later.g_per_kwh == pytest.approx(float(de.g_per_kwh[k]))
    assert later.provenance.basis == "lifecycle"
    assert "typical-year replay" in str(later.provenance.fallback)
