"""Property: every parser and numeric option gives a clean error or a valid result.

"Clean" means a :class:`~wattprint.errors.WattprintError` with a one-line
message, never a raw exception; "valid" means finite numbers, so JSON of the
result never holds NaN or Infinity. Hypothesis writes the inputs: random
bytes and text for the file parsers, mutations of real peer logs, and any
float (NaN, infinities, huge and tiny) for the numeric options.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wattprint import validate
from wattprint.accounting.estimate import estimate
from wattprint.accounting.seriesfile import load_series
from wattprint.config import load_settings
from wattprint.errors import WattprintError
from wattprint.report.importers import parse_peer_log

with warnings.catch_warnings():  # this click warns about typer's import of it, once
    warnings.simplefilter("ignore", DeprecationWarning)
    from typer.testing import CliRunner

    import wattprint.cli.accounting
    import wattprint.cli.schedule  # noqa: F401 - importing a command module registers its commands
    from wattprint.cli.app import app

PEERS = Path(__file__).parent / "fixtures" / "peers"
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
NUMBER_TEXT = st.one_of(
    ANY_FLOAT.map(repr), st.integers().map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e400", "-0", "1.2.3", "", " ", "0x10",
                     "1_000", "９", "1e-320", "99999999999999999999"]))


def _clean(exc: WattprintError) -> None:
    message = str(exc)
    assert message and "\n" not in message, message
    assert "Traceback" not in message


def _finite_json(data: object) -> None:
    json.dumps(data, allow_nan=False, default=str)  # raises ValueError on NaN/Infinity


# ----------------------------------------------------------------------- validate itself


@given(value=st.one_of(ANY_FLOAT, st.integers(), NUMBER_TEXT))
@FAST
def test_every_check_returns_a_finite_number_in_range_or_refuses(value: object) -> None:
    checks = [
        (validate.pue, validate.PUE_MIN, validate.PUE_MAX),
        (validate.hours, 0.0, validate.HOURS_MAX),
        (validate.power_w, 0.0, validate.POWER_MAX_W),
        (validate.intensity_g_per_kwh, 0.0, validate.INTENSITY_MAX_G_PER_KWH),
        (validate.idle_s, 0.0, validate.IDLE_MAX_S),
        (validate.process_interval_s, validate.PROCESS_INTERVAL_MIN_S,
         validate.PROCESS_INTERVAL_MAX_S),
        (validate.duration_s, 0.0, validate.DURATION_MAX_S),
        (validate.count, 1, validate.COUNT_MAX),
        (validate.limit, 1, validate.LIMIT_MAX),
        (validate.year, validate.YEAR_MIN, validate.year_max()),
    ]
    for check, low, high in checks:
        try:
            got = check(value, "--x")  # type: ignore[operator]
        except WattprintError as exc:
            _clean(exc)
            continue
        if got is None:
            assert value in (None, "")
            continue
        assert math.isfinite(got) and low <= got <= high, (check, value, got)


@given(data=st.recursive(
    st.one_of(ANY_FLOAT, st.integers(), st.text(max_size=5), st.none(), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20))
@FAST
def test_json_safe_output_is_always_valid_json(data: object) -> None:
    clean, replaced = validate.json_safe(data)
    json.dumps(clean, allow_nan=False)

    def nonfinite(value: object) -> int:  # counted on the values, not on their text
        if isinstance(value, float):
            return 0 if math.isfinite(value) else 1
        if isinstance(value, dict):
            return sum(nonfinite(v) for v in value.values())
        if isinstance(value, list):
            return sum(nonfinite(v) for v in value)
        return 0

    assert bool(replaced) == (nonfinite(data) > 0)


# ----------------------------------------------------------------------- the Python API


@given(gpus=st.one_of(st.integers(), ANY_FLOAT), hours=ANY_FLOAT, power=ANY_FLOAT,
       pue=st.one_of(st.none(), ANY_FLOAT), intensity=ANY_FLOAT)
@example(gpus=10**20, hours=1.0, power=300.0, pue=None, intensity=400.0)
@example(gpus=1, hours=math.nan, power=300.0, pue=None, intensity=400.0)
@example(gpus=1, hours=1.0, power=300.0, pue=6.0, intensity=400.0)
@FAST
def test_estimate_is_finite_or_a_clean_error(gpus: object, hours: float, power: float,
                                             pue: float | None, intensity: float) -> None:
    try:
        fp = estimate(gpus=gpus, hours=hours, gpu_power_w=power,  # type: ignore[arg-type]
                      intensity_g_per_kwh=intensity, pue=pue)
    except WattprintError as exc:
        _clean(exc)
        return
    doc = fp.to_dict()
    _finite_json(doc)
    assert doc["co2e_kg"]["total"] >= 0


# ----------------------------------------------------------------------- file parsers


@given(body=st.binary(max_size=300))
@example(body=b"pue = 1.2\n\xff\xfe")
@example(body=b"a = " + b"[" * 5000 + b"]" * 5000)
@example(body=b"pue = nan")
@example(body=b"pue = inf")
@example(body=b'home = "~nosuchuser/x"')
@FAST
def test_config_file_is_read_or_refused_cleanly(body: bytes, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    (project / "wattprint.toml").write_bytes(body)
    try:
        s = load_settings(environ={}, cwd=project, user_file=tmp_path / "none.toml")
    except WattprintError as exc:
        _clean(exc)
        return
    assert s.pue is None or 1.0 <= s.pue <= 5.0
    assert 0.01 <= s.interval_s <= 3600


@given(home=st.text(max_size=30), pue=NUMBER_TEXT, interval=NUMBER_TEXT)
@example(home="~nosuchuser/x", pue="1.5", interval="1")
@FAST
def test_environment_is_read_or_refused_cleanly(home: str, pue: str, interval: str,
                                                tmp_path: Path) -> None:
    env = {"WATTPRINT_HOME": home, "WATTPRINT_PUE": pue, "WATTPRINT_INTERVAL": interval}
    try:
        s = load_settings(environ=env, cwd=tmp_path, user_file=tmp_path / "none.toml")
    except WattprintError as exc:
        _clean(exc)
        return
    assert s.pue is None or 1.0 <= s.pue <= 5.0


@given(body=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)),
       header=st.booleans())
@example(body=b"x" * (130 * 1024), header=True)
@example(body=b'"' + b"x" * (130 * 1024), header=True)
@FAST
def test_series_csv_is_read_or_refused_cleanly(body: bytes, header: bool, tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    path.write_bytes((b"timestamp,g_per_kwh\n" if header else b"") + body)
    try:
        series = load_series(path)
    except WattprintError as exc:
        _clean(exc)
        return
    assert series.step_s > 0


@given(values=st.lists(st.one_of(NUMBER_TEXT, st.just("")), min_size=2, max_size=6),
       steps=st.lists(st.sampled_from(["00:00:00Z", "00:00:00.000001Z", "01:00:00Z",
                                       "01:00:00+14:00", "23:59:59-12:00", "00:00"]),
                      min_size=2, max_size=6))
@FAST
def test_series_values_are_read_or_refused_cleanly(values: list[str], steps: list[str],
                                                   tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    pairs = zip(steps, values, strict=False)
    rows = [f"2022-01-0{i + 1}T{t},{v}" for i, (t, v) in enumerate(pairs)]
    path.write_text("timestamp,g_per_kwh\n" + "\n".join(rows) + "\n")
    try:
        series = load_series(path)
    except WattprintError as exc:
        _clean(exc)
        return
    import numpy as np

    assert np.all(np.isfinite(np.asarray(series.g_per_kwh)))


@given(cells=st.lists(NUMBER_TEXT, min_size=1, max_size=4), column=st.integers(4, 14),
       row=st.integers(1, 2))
@FAST
def test_codecarbon_rows_are_read_or_refused_cleanly(cells: list[str], column: int, row: int,
                                                     tmp_path: Path) -> None:
    lines = (PEERS / "codecarbon" / "emissions.csv").read_text().splitlines()
    fields = lines[row].split(",")
    for k, cell in enumerate(cells):
        fields[min(column + k, len(fields) - 1)] = cell.replace(",", ".")
    lines[row] = ",".join(fields)
    path = tmp_path / "emissions.csv"
    path.write_text("\n".join(lines) + "\n")
    _parsed_or_clean("codecarbon", path)


@given(cell=NUMBER_TEXT, column=st.integers(0, 12))
@FAST
def test_eco2ai_rows_are_read_or_refused_cleanly(cell: str, column: int, tmp_path: Path) -> None:
    lines = (PEERS / "eco2ai" / "emission.csv").read_text().splitlines()
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    rows[1][min(column, len(rows[1]) - 1)] = cell
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path = tmp_path / "emission.csv"
    path.write_text(out.getvalue())
    _parsed_or_clean("eco2ai", path)


def test_a_csv_field_over_128_kib_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_text('timestamp,"' + "x" * (130 * 1024) + '"\n1,2\n')
    with pytest.raises(WattprintError, match=r"emissions\.csv line \d+: not valid CSV: field "
                                             "larger than field limit"):
        parse_peer_log("codecarbon", path)


CT_NUMBERS = ["PUE coefficient of 1.58", "Duration: 0:00:01.50",
              "Average power usage (W) for gpu: 240.0"]


@given(which=st.sampled_from(CT_NUMBERS), number=st.sampled_from(
    ["1.2.3", "..", "9" * 400, ".", "1e999", "0.0.0.1"]))
@example(which="PUE coefficient of 1.58", number="1.2.3")
@example(which="PUE coefficient of 1.58", number="6")
@FAST
def test_carbontracker_malformed_numbers_are_clean_errors(which: str, number: str,
                                                          tmp_path: Path) -> None:
    for src in (PEERS / "carbontracker").glob("full_*"):
        shutil.copy(src, tmp_path / src.name)
    std = next(tmp_path.glob("full_*_carbontracker.log"))
    head, _, _ = which.rpartition(" ")
    std.write_text(std.read_text().replace(which, f"{head} {number}", 1))
    _parsed_or_clean("carbontracker", std)


@given(mutation=st.binary(min_size=1, max_size=40), at=st.integers(0, 4000))
@FAST
def test_carbontracker_random_corruption_is_a_clean_error(mutation: bytes, at: int,
                                                          tmp_path: Path) -> None:
    for src in (PEERS / "carbontracker").glob("full_*"):
        shutil.copy(src, tmp_path / src.name)
    std = next(tmp_path.glob("full_*_carbontracker.log"))
    data = std.read_bytes()
    at = min(at, len(data))
    std.write_bytes(data[:at] + mutation + data[at + len(mutation):])
    _parsed_or_clean("carbontracker", std)


def _parsed_or_clean(tool: str, path: Path) -> None:
    try:
        runs = parse_peer_log(tool, path)
    except WattprintError as exc:
        _clean(exc)
        return
    for run in runs:
        for interval in run.intervals:
            assert math.isfinite(interval.energy_j) and 0 <= interval.energy_j <= 3.6e15
            assert 0 <= interval.t_start <= interval.t_end < validate.TIME_MAX_S
        _finite_json(run.info)


# ----------------------------------------------------------------------- CLI options in-process


@pytest.fixture
def runner_home(home: Path) -> Path:
    return home


@given(option=st.sampled_from(["--hours", "--gpu-power-w", "--pue", "--gpus", "--intensity",
                               "--idle-kwh"]),
       value=NUMBER_TEXT)
@example(option="--gpus", value="99999999999999999999")
@FAST
def test_estimate_options_exit_cleanly_and_never_print_nan(option: str, value: str,
                                                           runner_home: Path) -> None:
    base = {"--hours": "2", "--gpu-power-w": "300", "--intensity": "400"}
    base[option] = value
    args = ["estimate", "--json"] + [x for kv in base.items() for x in kv]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        doc = json.loads(result.stdout, parse_constant=_no_constants)
        assert math.isfinite(doc["co2e_kg"])
    # else: ours ("error: ...") or click's usage error; its one line is checked by the
    # subprocess tests below (rich binds stderr once, so the runner may not capture it)


@given(option=st.sampled_from(["--threshold", "--power-w", "--windows", "--duration"]),
       value=st.one_of(NUMBER_TEXT, NUMBER_TEXT.map(lambda t: t + "h")))
@example(option="--duration", value="1e300h")
@example(option="--windows", value="nan")
@example(option="--threshold", value="inf")
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_whatif_options_exit_cleanly(option: str, value: str, runner_home: Path) -> None:
    base = {"--duration": "6h", "--region": "US-CAL-CISO", "--strategies": "flexible-start",
            "--period": "2022-06", "--windows": "6h"}
    base[option] = value
    args = ["whatif", "--json"] + [x for kv in base.items() for x in kv]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        json.loads(result.stdout, parse_constant=_no_constants)


def _no_constants(name: str) -> object:
    raise AssertionError(f"JSON holds {name}")


# ----------------------------------------------------------------------- real subprocesses


@pytest.mark.parametrize(("args", "message"), [
    (["estimate", "--hours", "nan", "--gpu-power-w", "300", "--intensity", "400", "--json"],
     "--hours must be a finite number"),
    (["estimate", "--hours", "1", "--gpu-power-w", "300", "--gpus", "100000000000000000000",
      "--intensity", "400"], "--gpus = 100000000000000000000 is out of range"),
    (["runs", "--limit", "99999999999999999999"], "--limit = 99999999999999999999 is out"),
    (["import", "eco2ai", str(PEERS / "eco2ai" / "emission.csv"), "--peer-pue", "inf"],
     "--peer-pue must be a finite number"),
    (["agent", "--process-interval", "nan", "--port", "0"], "--process-interval must be a"),
    (["run", "--measure-idle", "nan", "--", "true"], "--measure-idle must be a finite"),
    (["plan", "--duration", "1h", "--deadline", "9999-12-31T23:00Z", "--region",
      "US-CAL-CISO"], "plans reach at most 366 days ahead"),
    (["whatif", "--duration", "1e300h", "--region", "US-CAL-CISO"],
     "at most 366 days is supported"),
    (["whatif", "--duration", "6h", "--region", "US-CAL-CISO", "--threshold", "inf"],
     "--threshold must be a finite number"),
])
def test_bad_numbers_are_one_line_errors_in_a_real_process(home: Path, args: list[str],
                                                           message: str) -> None:
    env = dict(os.environ, WATTPRINT_HOME=str(home))
    result = subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_microsecond_series_is_refused_not_allocated(home: Path, tmp_path: Path) -> None:
    """A 1 µs-step series would make a 6 h job 2×10^10 steps (tens of GiB)."""
    path = tmp_path / "us.csv"
    rows = [f"2022-01-01T00:00:00.{i:06d}Z,{100 + i}" for i in range(50)]
    path.write_text("timestamp,g_per_kwh\n" + "\n".join(rows) + "\n")
    env = dict(os.environ, WATTPRINT_HOME=str(home))
    result = subprocess.run([sys.executable, "-m", "wattprint", "whatif", "--duration", "6h",
                             "--intensity", str(path)], env=env, text=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "at most 1,000,000 are supported" in result.stderr
    assert result.stderr.count("\n") == 1
