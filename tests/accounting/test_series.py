from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.series import IntensitySeries, Provenance, make_series, series_intensity
from wattprint.accounting.seriesfile import load_series
from wattprint.errors import IntensityDataError, IntensityError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intensity"
H = 3600.0


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def prov() -> Provenance:
    return Provenance("test", "hand-made", None, "average", "unknown", "none", "")


def hand_series(
    values: list[float], t0: float = 1_700_000_000.0, step: float = H
) -> IntensitySeries:
    starts = t0 + step * np.arange(len(values))
    return IntensitySeries("XX", starts, step, np.array(values, dtype=float), "average", prov())


# ----------------------------------------------------------------------------- series_intensity


def test_time_weighted_mean_over_partial_steps() -> None:
    s = hand_series([100.0, 200.0, 300.0])
    t0 = float(s.start_s[0])
    starts = np.array([t0 + 1800, t0, t0, t0 + 3600, t0 + 900])
    ends = np.array([t0 + 5400, t0 + 3 * H, t0 + 3600, t0 + 3600 + 1200, t0 + 3 * H])
    expected = [
        (100 * 1800 + 200 * 1800) / 3600,  # half of step 0, half of step 1
        (100 + 200 + 300) / 3,  # all of it
        100.0,  # exactly step 0
        200.0,  # inside step 1
        (100 * 2700 + 200 * 3600 + 300 * 3600) / 9900,
    ]
    np.testing.assert_allclose(series_intensity(s, starts, ends), expected, rtol=1e-12)


def test_zero_length_interval_takes_the_value_of_its_step() -> None:
    s = hand_series([100.0, 200.0])
    t0 = float(s.start_s[0])
    got = series_intensity(s, [t0 + 4000, t0 + 2 * H], [t0 + 4000, t0 + 2 * H])
    np.testing.assert_allclose(got, [200.0, 200.0])


def test_vectorised_keeps_shape() -> None:
    s = hand_series([10.0, 20.0, 30.0, 40.0])
    t0 = float(s.start_s[0])
    starts = t0 + H * np.array([[0.0, 1.0], [2.0, 3.0]])
    got = series_intensity(s, starts, starts + H)
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got, [[10.0, 20.0], [30.0, 40.0]])


def test_intervals_outside_the_series_are_an_error() -> None:
    s = hand_series([100.0, 200.0])
    t0 = float(s.start_s[0])
    with pytest.raises(IntensityError, match="outside"):
        series_intensity(s, [t0 - 60], [t0 + 60])
    with pytest.raises(IntensityError, match="outside"):
        series_intensity(s, [t0], [t0 + 2 * H + 1])
    with pytest.raises(IntensityError, match="ends before it starts"):
        series_intensity(s, [t0 + 100], [t0])


def test_series_validation() -> None:
    with pytest.raises(IntensityError, match="not regular"):
        IntensitySeries("XX", np.array([0.0, 3600.0, 9000.0]), H, np.ones(3), "average", prov())
    with pytest.raises(IntensityError, match="negative"):
        IntensitySeries("XX", np.array([0.0, 3600.0]), H, np.array([1.0, -1.0]), "average", prov())
    with pytest.raises(IntensityError, match="same"):
        IntensitySeries("XX", np.array([0.0, 3600.0]), H, np.ones(3), "average", prov())
    with pytest.raises(IntensityError, match="method"):
        IntensitySeries("XX", np.array([0.0, 3600.0]), H, np.ones(2), "median", prov())


def test_series_arrays_are_read_only_copies() -> None:
    values = np.array([1.0, 2.0])
    s = IntensitySeries("XX", np.array([0.0, 3600.0]), H, values, "average", prov())
    values[0] = 99.0
    assert s.g_per_kwh[0] == 1.0
    with pytest.raises(ValueError):
        s.g_per_kwh[0] = 5.0
    assert s.end_s == 7200.0 and len(s) == 2


def test_make_series_resamples_onto_the_median_step() -> None:
    t0 = 1_700_000_000.0
    # 15-minute data: one point 2 minutes late, slot 3 missing, two values in slot 4.
    times = [t0, t0 + 900, t0 + 1800 + 120, t0 + 3600, t0 + 3600 + 60, t0 + 4500]
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 70.0]
    # spacings 900, 1020, 1680, 60, 840 -> median 900
    s = make_series(times, values, region="XX", method="average", provenance=prov())
    assert s.step_s == 900.0
    np.testing.assert_allclose(s.start_s, t0 + 900.0 * np.arange(6))
    # slot 4 = mean(40, 50) = 45; slot 3 = halfway between 30 and 45
    np.testing.assert_allclose(s.g_per_kwh, [10, 20, 30, 37.5, 45, 70])
    assert s.provenance.filled_gaps == 1


def test_make_series_holds_edges_and_counts() -> None:
    t0 = 0.0
    values = [np.nan, 5.0, np.nan, 9.0, np.nan]
    s = make_series(
        t0 + H * np.arange(5), values, region="XX", method="marginal", provenance=prov()
    )
    np.testing.assert_allclose(s.g_per_kwh, [5.0, 5.0, 7.0, 9.0, 9.0])
    assert s.provenance.filled_gaps == 3
    assert s.method == "marginal"


# ----------------------------------------------------------------------------- user CSV files


def test_load_csv_fills_and_counts_gaps() -> None:
    s = load_series(FIXTURES / "series_gaps.csv")
    assert s.step_s == H
    np.testing.assert_allclose(s.start_s, utc(2024, 3, 1) + H * np.arange(6))
    # 02:00 is absent (between 110 and 130), 04:00 (written 05:00+01:00) is empty.
    np.testing.assert_allclose(s.g_per_kwh, [100, 110, 120, 130, 140, 150])
    assert s.provenance.filled_gaps == 2
    assert s.provenance.dataset == "series_gaps.csv"
    assert s.method == "average" and s.region == ""


def test_load_csv_sorts_rows_reads_aliases_and_zones() -> None:
    s = load_series(FIXTURES / "series_unsorted_aliases.csv", method="marginal")
    assert s.step_s == 900.0
    assert s.start_s[0] == utc(2024, 6, 30, 23, 45)
    np.testing.assert_allclose(s.g_per_kwh, [42.5, 40.5, 41.5, 43.0])
    assert s.region == "FR" and s.method == "marginal"
    assert s.provenance.method == "marginal" and s.provenance.filled_gaps == 0


def test_load_csv_with_several_regions_needs_a_choice() -> None:
    path = FIXTURES / "series_two_regions.csv"
    with pytest.raises(IntensityDataError, match=r"several regions \(DE, FR\).*region="):
        load_series(path)
    fr = load_series(path, region="fr")
    np.testing.assert_allclose(fr.g_per_kwh, [50, 60, 70])
    assert fr.region == "FR"
    with pytest.raises(IntensityDataError, match="no rows for region 'ES'"):
        load_series(path, region="ES")


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("bad_naive.csv", r"line 3: timestamp '2024-03-01T01:00:00' has no time zone; add one"),
        ("bad_negative.csv", r"line 4: intensity -5.0 is negative"),
        ("bad_text.csv", r"line 3: intensity 'high' is not a number"),
        ("bad_duplicate.csv", r"line 4: the same timestamp as line 3; remove one"),
        ("bad_empty.csv", r"the file is empty; it needs a header row"),
        ("bad_header_only.csv", r"no data rows"),
        ("bad_missing_column.csv", r"no intensity column; name one column 'g_per_kwh' or"),
    ],
)
def test_bad_csv_inputs_name_file_row_and_fix(name: str, pattern: str) -> None:
    with pytest.raises(IntensityDataError, match=pattern) as info:
        load_series(FIXTURES / name)
    assert name in str(info.value)


def test_more_bad_inputs(tmp_path: Path) -> None:
    one_row = tmp_path / "one.csv"
    one_row.write_text("timestamp,g_per_kwh\n2024-01-01T00:00Z,5\n")
    with pytest.raises(IntensityDataError, match="only one time step"):
        load_series(one_row)
    all_empty = tmp_path / "empty_values.csv"
    all_empty.write_text("timestamp,g_per_kwh\n2024-01-01T00:00Z,\n2024-01-01T01:00Z,nan\n")
    with pytest.raises(IntensityDataError, match="every intensity cell is empty"):
        load_series(all_empty)
    garbled = tmp_path / "garbled.csv"
    garbled.write_text("timestamp,g_per_kwh\nyesterday,5\n2024-01-01T01:00Z,6\n")
    with pytest.raises(IntensityDataError, match="line 2: 'yesterday' is not an ISO 8601"):
        load_series(garbled)
    comma = tmp_path / "comma.csv"
    comma.write_text('timestamp,g_per_kwh\n2024-01-01T00:00Z,"12,5"\n2024-01-01T01:00Z,6\n')
    with pytest.raises(IntensityDataError, match="decimal separator"):
        load_series(comma)
    short = tmp_path / "short.csv"
    short.write_text("timestamp,region,g_per_kwh\n2024-01-01T00:00Z,DE\n")
    with pytest.raises(IntensityDataError, match="line 2: the row has 2 cells"):
        load_series(short)
    stray = tmp_path / "stray.csv"
    stray.write_text(
        "timestamp,g_per_kwh\n2024-01-01T00:00Z,5\n2024-01-01T01:00Z,6\n2204-01-01T02:00Z,7\n"
    )
    with pytest.raises(IntensityDataError, match=r"stray.csv: the timestamps span \d+ steps"):
        load_series(stray)
    with pytest.raises(IntensityDataError, match="no such file"):
        load_series(tmp_path / "absent.csv")
    with pytest.raises(IntensityError, match="unknown intensity method 'median'"):
        load_series(FIXTURES / "series_gaps.csv", method="median")


def test_offsets_without_colon_and_fractions(tmp_path: Path) -> None:
    path = tmp_path / "offsets.csv"
    path.write_text(
        "timestamp,intensity\n"
        "2024-01-01T01:00:00+0100,10\n"  # = 00:00Z
        "2024-01-01T00:30:00.5-00:00,20\n"  # = 00:30:00.5Z, rounds to slot 1
        "2024-01-01T01:00Z,30\n"
    )
    s = load_series(path)
    assert s.start_s[0] == utc(2024, 1, 1) and s.step_s == pytest.approx(1800.0, abs=1)
    np.testing.assert_allclose(s.g_per_kwh, [10, 20, 30])


# ----------------------------------------------------------------------------- Parquet


def test_parquet_with_timezone_aware_timestamps(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    times = [datetime(2024, 5, 1, h, tzinfo=timezone.utc) for h in (0, 1, 3)]
    table = pa.table(
        {
            "timestamp": pa.array(times, type=pa.timestamp("s", tz="UTC")),
            "g_per_kwh": pa.array([200.0, None, 260.0]),
            "region": ["DE", "DE", "DE"],
        }
    )
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    s = load_series(path)
    # 01:00 is null, 02:00 absent: both filled between 200 and 260.
    np.testing.assert_allclose(s.g_per_kwh, [200, 220, 240, 260])
    assert s.provenance.filled_gaps == 2 and s.region == "DE"


def test_parquet_text_timestamps_and_bad_rows(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    good = tmp_path / "text.parquet"
    pq.write_table(
        pa.table({"time": ["2024-05-01T00:00Z", "2024-05-01T01:00Z"], "intensity": [1.0, 2.0]}),
        good,
    )
    np.testing.assert_allclose(load_series(good).g_per_kwh, [1.0, 2.0])
    negative = tmp_path / "negative.parquet"
    pq.write_table(
        pa.table({"time": ["2024-05-01T00:00Z", "2024-05-01T01:00Z"], "intensity": [1.0, -2.0]}),
        negative,
    )
    with pytest.raises(IntensityDataError, match=r"row 2: intensity -2\.0 is negative"):
        load_series(negative)
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table(
            {
                "timestamp": pa.array(
                    [datetime(2024, 5, 1, 0), datetime(2024, 5, 1, 1)], type=pa.timestamp("s")
                ),
                "g_per_kwh": [1.0, 2.0],
            }
        ),
        naive,
    )
    with pytest.raises(IntensityDataError, match="without a time zone"):
        load_series(naive)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(IntensityDataError, match="not a readable Parquet file"):
        load_series(broken)


def test_parquet_without_pyarrow_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(IntensityError, match=r"pip install 'wattprint\[parquet\]'"):
        load_series(path)


def test_regular_series_from_arrays_may_miss_steps() -> None:
    s = IntensitySeries.regular(utc(2024, 5, 1), 900.0, [100.0, np.nan, 300.0], region="XX")
    assert list(s.start_s) == [utc(2024, 5, 1), utc(2024, 5, 1, 0, 15), utc(2024, 5, 1, 0, 30)]
    assert s.step_s == 900.0 and s.end_s == utc(2024, 5, 1, 0, 45)
    assert s.method == "average" and s.region == "XX"
    assert s.provenance.source == "given in code" and s.provenance.basis == "unknown"
    assert np.isnan(s.g_per_kwh[1])
    with pytest.raises(IntensityError, match="infinite"):
        IntensitySeries.regular(0.0, H, [1.0, np.inf])
    with pytest.raises(IntensityError, match="method"):
        IntensitySeries.regular(0.0, H, [1.0, 2.0], method="median")


def test_accounting_refuses_a_series_with_missing_steps() -> None:
    s = IntensitySeries.regular(0.0, H, [100.0, np.nan, 300.0], region="XX")
    with pytest.raises(IntensityError, match="missing steps"):
        series_intensity(s, [0.0], [600.0])
    filled = make_series(s.start_s, s.g_per_kwh, region="XX", method="average", provenance=prov())
    # the gap is interpolated: 200 in the middle hour; mean over [0.5 h, 2.5 h) by hand
    assert series_intensity(filled, [1800.0], [9000.0])[0] == pytest.approx(
        (100.0 * 1800 + 200.0 * 3600 + 300.0 * 1800) / 7200
    )
