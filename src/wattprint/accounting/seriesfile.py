"""Intensity series from users' files: CSV or Parquet, with the gap rule.

User series (:func:`load_series`) are CSV or Parquet files with one row per
time step:

* a **timestamp** column (``timestamp``, ``datetime``, ``time`` or
  ``timestamp_utc``) in ISO 8601 *with a time zone* (``2024-03-01T13:00Z``,
  ``2024-03-01 14:00+01:00``). Naive times are refused: the same wall-clock
  hour happens twice a year in zones with daylight saving. In Parquet a
  time-zone-aware timestamp column works too. Each timestamp is the *start*
  of its step.
* an **intensity** column in gCO2e/kWh, named ``g_per_kwh``,
  ``carbon_intensity``, ``intensity``, ``gco2_per_kwh``, ``gco2e_per_kwh`` or
  ``carbon_intensity_g_per_kwh``. An empty cell (or ``nan``, ``na``, ``n/a``,
  ``null``) is a missing value.
* an optional **region** (or ``zone``) column; a file holding several regions
  needs ``region=`` to pick one.

Rows may come in any order. The series is put on a regular grid whose step is
the median spacing of the timestamps (the lower of the two middle spacings
when their number is even); rows between grid points go to the
nearest one (several rows on one point are averaged). **Gap rule:** a grid
point with no value is filled by linear interpolation in time between the
nearest points with values, and held at the nearest value at either edge;
every filled point is counted in ``provenance.filled_gaps``. A series in which
more than half the grid points would be filled is refused (the timestamps are
probably wrong). Duplicate
timestamps, negative or non-numeric values, naive timestamps, empty files and
missing columns are errors (:class:`~wattprint.errors.IntensityDataError`)
naming the file, the line (CSV) or row (Parquet), and the fix.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattprint.accounting.series import IntensitySeries, Provenance, _check_method, make_series
from wattprint.errors import IntensityDataError, IntensityError
from wattprint.extras import install_hint
from wattprint.time import NaiveTimestampError, parse_timestamp_s

logger = logging.getLogger(__name__)

__all__ = ["INTENSITY_COLUMNS", "REGION_COLUMNS", "TIMESTAMP_COLUMNS", "load_series"]

#: Accepted names of the timestamp column of a user series (case-insensitive).
TIMESTAMP_COLUMNS = ("timestamp", "datetime", "time", "timestamp_utc")
#: Accepted names of the intensity column (gCO2e/kWh) of a user series (case-insensitive).
INTENSITY_COLUMNS = (
    "g_per_kwh",
    "carbon_intensity",
    "intensity",
    "gco2_per_kwh",
    "gco2e_per_kwh",
    "carbon_intensity_g_per_kwh",
)
#: Accepted names of the optional region column (case-insensitive).
REGION_COLUMNS = ("region", "zone")

_MISSING = frozenset({"", "nan", "na", "n/a", "null"})



def _find_column(
    header: Sequence[str], names: Sequence[str], what: str, path: Path, *, required: bool
) -> int | None:
    folded = [h.strip().casefold() for h in header]
    for name in names:
        if name in folded:
            return folded.index(name)
    if required:
        raise IntensityDataError(
            f"{path}: no {what} column; name one column {' or '.join(repr(n) for n in names)} "
            f"(found: {', '.join(repr(h) for h in header) or 'no columns'})"
        )
    return None


@dataclass
class _Cells:
    """Raw cells of a user file, one entry per data row."""

    labels: list[str]  # "line 7" (CSV) or "row 6" (Parquet)
    times: list[Any]
    values: list[Any]
    regions: list[str] | None


def _read_csv(path: Path) -> _Cells:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                raise IntensityDataError(
                    f"{path}: the file is empty; it needs a header row naming a timestamp "
                    "column and a g_per_kwh column, then one row per time step"
                )
            t_col = _find_column(header, TIMESTAMP_COLUMNS, "timestamp", path, required=True)
            v_col = _find_column(header, INTENSITY_COLUMNS, "intensity", path, required=True)
            r_col = _find_column(header, REGION_COLUMNS, "region", path, required=False)
            assert t_col is not None and v_col is not None
            cells = _Cells([], [], [], [] if r_col is not None else None)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                label = f"line {reader.line_num}"
                width = max(t_col, v_col, r_col or 0) + 1
                if len(row) < width:
                    raise IntensityDataError(
                        f"{path}, {label}: the row has {len(row)} cells but the header has "
                        f"{len(header)}; fill in the missing cells"
                    )
                cells.labels.append(label)
                cells.times.append(row[t_col])
                cells.values.append(row[v_col])
                if cells.regions is not None and r_col is not None:
                    cells.regions.append(row[r_col].strip())
            return cells
    except UnicodeDecodeError as exc:
        raise IntensityDataError(
            f"{path}: not UTF-8 text ({exc.reason}); save the CSV as UTF-8"
        ) from exc
    except csv.Error as exc:
        raise IntensityDataError(f"{path}: not a readable CSV file ({exc})") from exc


def _read_parquet(path: Path) -> _Cells:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise IntensityError(
            f"{path}: reading Parquet needs pyarrow; install it with "
            f"{install_hint('parquet')}, or save the series as CSV"
        ) from exc
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise IntensityDataError(f"{path}: not a readable Parquet file ({exc})") from exc
    header = [str(name) for name in table.column_names]
    t_col = _find_column(header, TIMESTAMP_COLUMNS, "timestamp", path, required=True)
    v_col = _find_column(header, INTENSITY_COLUMNS, "intensity", path, required=True)
    r_col = _find_column(header, REGION_COLUMNS, "region", path, required=False)
    assert t_col is not None and v_col is not None
    if table.num_rows == 0:
        raise IntensityDataError(f"{path}: the file has no rows; add one row per time step")
    t_column = table.column(t_col)
    t_type = t_column.type
    times: list[Any]
    if pa.types.is_timestamp(t_type):
        if t_type.tz is None:
            raise IntensityDataError(
                f"{path}: column {header[t_col]!r} holds timestamps without a time zone; "
                "store them time-zone aware (e.g. pandas .dt.tz_localize('UTC')) or as "
                "ISO 8601 text with a zone such as 'Z' or '+01:00'"
            )
        times = [None if t is None else t.timestamp() for t in t_column.to_pylist()]
    elif pa.types.is_string(t_type) or pa.types.is_large_string(t_type):
        times = t_column.to_pylist()
    else:
        raise IntensityDataError(
            f"{path}: column {header[t_col]!r} has type {t_type}; store timestamps as "
            "time-zone-aware timestamps or ISO 8601 text with a zone"
        )
    regions = None
    if r_col is not None:
        regions = ["" if r is None else str(r).strip() for r in table.column(r_col).to_pylist()]
    return _Cells(
        labels=[f"row {i + 1}" for i in range(table.num_rows)],
        times=times,
        values=table.column(v_col).to_pylist(),
        regions=regions,
    )


def _time_of(cell: Any, label: str, path: Path) -> float:
    if isinstance(cell, float):
        return cell  # already epoch seconds (time-zone-aware Parquet timestamp)
    text = "" if cell is None else str(cell)
    try:
        return parse_timestamp_s(text)
    except NaiveTimestampError:
        raise IntensityDataError(
            f"{path}, {label}: timestamp {text!r} has no time zone; add one, e.g. "
            f"'{text.strip()}Z' for UTC or '{text.strip()}+01:00'"
        ) from None
    except ValueError:
        raise IntensityDataError(
            f"{path}, {label}: {text!r} is not an ISO 8601 timestamp; write it like "
            "'2024-03-01T13:00:00Z' or '2024-03-01 14:00+01:00'"
        ) from None


def _value_of(cell: Any, label: str, path: Path) -> float:
    if cell is None:
        return math.nan
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        value = float(cell)
    else:
        text = str(cell).strip()
        if text.casefold() in _MISSING:
            return math.nan
        try:
            value = float(text)
        except ValueError:
            hint = " (use a dot as the decimal separator)" if "," in text else ""
            raise IntensityDataError(
                f"{path}, {label}: intensity {text!r} is not a number{hint}; write gCO2e/kWh "
                "as a plain number such as 231.5, or leave the cell empty if it is missing"
            ) from None
    if math.isnan(value):
        return value
    if math.isinf(value):
        raise IntensityDataError(f"{path}, {label}: intensity {cell!r} is not finite")
    if value < 0:
        raise IntensityDataError(
            f"{path}, {label}: intensity {value} is negative; carbon intensity is >= 0 gCO2e/kWh "
            "(check the column and its unit)"
        )
    return value


def _pick_region(cells: _Cells, region: str | None, path: Path) -> tuple[list[int], str]:
    """Indexes of the rows to keep, and the series' region."""
    rows = range(len(cells.labels))
    if cells.regions is None:
        return list(rows), (region or "").strip()
    present = sorted({r for r in cells.regions if r})
    if region is not None:
        wanted = region.strip().casefold()
        keep = [i for i in rows if cells.regions[i].casefold() == wanted]
        if not keep:
            raise IntensityDataError(
                f"{path}: no rows for region {region!r}; the file has "
                f"{', '.join(present) or 'no region values'}"
            )
        return keep, cells.regions[keep[0]]
    if len(present) > 1:
        raise IntensityDataError(
            f"{path}: the file holds several regions ({', '.join(present)}); pick one with "
            "region=..."
        )
    return list(rows), present[0] if present else ""


def _duplicates(times: list[float], labels: list[str]) -> Iterator[tuple[str, str]]:
    seen: dict[float, str] = {}
    for t, label in zip(times, labels, strict=True):
        if t in seen:
            yield seen[t], label
        seen[t] = label


def load_series(
    path: Path | str, *, region: str | None = None, method: str = "average"
) -> IntensitySeries:
    """Load a user carbon-intensity series from CSV or Parquet.

    The format, the gap rule and the errors are described in the module
    docstring. ``.parquet`` and ``.pq`` files need the ``parquet`` extra
    (pyarrow); everything else is read as CSV.

    Args:
        path: the file.
        region: the region of the series; picks the rows of that region when the
            file has a region column.
        method: ``"average"`` or ``"marginal"``: what the numbers are.

    Returns:
        A regular series; ``provenance.filled_gaps`` counts the filled steps.

    Raises:
        IntensityDataError: the file is missing, empty or malformed (the message
            names the file, the line or row, and the fix).
        IntensityError: a Parquet file without pyarrow installed, or a bad ``method``.
    """
    _check_method(method)
    path = Path(path)
    if not path.is_file():
        raise IntensityDataError(f"{path}: no such file; check the path of the intensity series")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    cells = _read_parquet(path) if parquet else _read_csv(path)
    if not cells.labels:
        raise IntensityDataError(
            f"{path}: the file has a header but no data rows; add one row per time step"
        )
    keep, series_region = _pick_region(cells, region, path)
    labels = [cells.labels[i] for i in keep]
    times = [_time_of(cells.times[i], cells.labels[i], path) for i in keep]
    values = [_value_of(cells.values[i], cells.labels[i], path) for i in keep]
    duplicate = next(_duplicates(times, labels), None)
    if duplicate is not None:
        first, second = duplicate
        raise IntensityDataError(
            f"{path}, {second}: the same timestamp as {first}; remove one of the two rows "
            "(each time step must appear once)"
        )
    if len(times) < 2:
        raise IntensityDataError(
            f"{path}: only one time step; a series needs at least two rows to know its step"
        )
    if all(math.isnan(v) for v in values):
        raise IntensityDataError(f"{path}: every intensity cell is empty; fill in the values")
    provenance = Provenance(
        source="user series",
        dataset=path.name,
        year=None,
        method=method,
        basis="unknown",
        licence="user-provided",
        citation="",
        region=series_region,
    )
    try:
        series = make_series(
            times, values, region=series_region, method=method, provenance=provenance
        )
    except IntensityError as exc:
        raise IntensityDataError(f"{path}: {exc}") from None
    if series.provenance.filled_gaps:
        logger.info(
            "%s: filled %d of %d steps by interpolation",
            path.name,
            series.provenance.filled_gaps,
            len(series),
        )
    return series
