"""Every table-printing command fits 80 and 120 columns, ids whole, figures intact.

The store is seeded as a user would: a run of a fake powercap tree under
``wattprint run`` and two runs imported from a codecarbon log. Each command
is run as a subprocess with ``COLUMNS`` set; no line may be longer than the
width, every run id must be printed whole, and every energy in the JSON
must be found again, parsed back from the table, to three significant figures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.testing.powercap import PowercapTree

PEERS = Path(__file__).parent / "fixtures" / "peers"
# joules per unit, written out by hand
ENERGY_J = {"mJ": 1e-3, "J": 1.0, "kJ": 1e3, "Wh": 3600.0, "kWh": 3.6e6, "MWh": 3.6e9}
FIGURE = re.compile(r"(?<![\w.,])(-?\d[\d,]*(?:\.\d+)?) (mJ|J|kJ|Wh|kWh|MWh)(?!\w)")


def wattprint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("width")
    tree = PowercapTree(root / "sys")
    tree.add_package(0, energy_uj=1_000_000)
    tree.add_dram(0, energy_uj=0)
    env = dict(os.environ)
    env.update(WATTPRINT_HOME=str(root / "home"), WATTPRINT_SYSFS_ROOT=str(tree.sysfs_root),
               WATTPRINT_SENSORS="rapl")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    pkg = tree.zone_dir("intel-rapl:0") / "energy_uj"
    work = root / "work.py"
    work.write_text(f"import time\ntime.sleep(0.3)\nopen({str(pkg)!r}, 'w').write('2600000')\n"
                    "time.sleep(0.3)\n")
    r = wattprint("run", "--project", "wide", "--name",
                  "a-run-name-long-enough-to-need-wrapping-at-eighty-columns", "--interval",
                  "0.1", "--", sys.executable, str(work), env=env)
    assert r.returncode == 0, r.stderr
    r = wattprint("import", "codecarbon", str(PEERS / "codecarbon" / "emissions.csv"),
                  "--project", "wide", env=env)
    assert r.returncode == 0, r.stderr
    return env


def joules(text: str) -> list[float]:
    return [float(n.replace(",", "")) * ENERGY_J[u] for n, u in FIGURE.findall(text)]


def found(value_j: float, parsed: list[float]) -> bool:
    # three significant figures: within half a unit of the third figure
    return any(abs(p - value_j) <= 0.005 * abs(value_j) + 1e-12 for p in parsed)


def check_width(text: str, width: int) -> None:
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, f"lines over {width} columns: {too_long}"


@pytest.mark.parametrize("width", [80, 120])
def test_runs_and_show_fit_and_keep_ids_and_figures(seeded: dict[str, str], width: int) -> None:
    env = dict(seeded, COLUMNS=str(width))
    runs = json.loads(wattprint("runs", "--json", env=env).stdout)["runs"]
    assert len(runs) == 3
    table = wattprint("runs", env=env)
    assert table.returncode == 0, table.stderr
    check_width(table.stdout, width)
    parsed = joules(table.stdout)
    for r in runs:
        assert re.search(rf"(?<!\w){r['id']}(?!\w)", table.stdout), r["id"]
        assert found(r["energy_j"], parsed), (r["energy_j"], parsed)
    measured = next(r for r in runs if r["tool"] == "wattprint")
    assert measured["energy_j"] == pytest.approx(1.6)  # 1.6 J: "1.6 J", never "0.000000 kWh"
    assert "1.6 J" in table.stdout
    for r in runs:
        show = wattprint("show", r["id"], env=env)
        assert show.returncode == 0, show.stderr
        check_width(show.stdout, width)
        assert r["id"] in show.stdout
        doc = json.loads(wattprint("show", r["id"], "--json", env=env).stdout)
        parsed = joules(show.stdout)
        for d in doc["devices"]:
            assert found(d["energy_j"], parsed), (d["energy_j"], parsed)
        assert "e-0" not in show.stdout and "e+0" not in show.stdout


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("args", [
    ("sensors",), ("config",), ("regions",), ("regions", "--hourly"),
    ("account", "last", "--region", "DE"),
    ("estimate", "--gpu", "NVIDIA A100-SXM4-40GB", "--hours", "2", "--region", "FR"),
])
def test_other_tables_fit(seeded: dict[str, str], width: int, args: tuple[str, ...]) -> None:
    env = dict(seeded, COLUMNS=str(width))
    r = wattprint(*args, env=env)
    assert r.returncode == 0, r.stderr
    check_width(r.stdout, width)
    check_width(r.stderr, width)
    assert not re.search(r"\d[eE][-+]\d", r.stdout)


def test_regions_codes_whole_and_sources_in_notes(seeded: dict[str, str]) -> None:
    env = dict(seeded, COLUMNS="80")
    codes = [x["code"] for x in json.loads(wattprint("regions", "--json", env=env).stdout)
             ["regions"]]
    text = wattprint("regions", env=env).stdout
    for code in codes:
        assert re.search(rf"^{re.escape(code)}\s", text, re.M), code
    assert re.search(r"^\[1\] ", text, re.M)
    wide = wattprint("regions", "--wide", env=env).stdout
    assert not re.search(r"^\[1\] ", wide, re.M)


def test_compare_fits_and_keeps_ids(seeded: dict[str, str]) -> None:
    env = dict(seeded, COLUMNS="80")
    runs = json.loads(wattprint("runs", "--json", env=env).stdout)["runs"]
    ids = [r["id"] for r in runs[:2]]
    r = wattprint("compare", *ids, env=env)
    assert r.returncode == 0, r.stderr
    check_width(r.stdout, 80)
    for rid in ids:
        assert rid in r.stdout


def test_precision_and_wide(seeded: dict[str, str]) -> None:
    env = dict(seeded, COLUMNS="80")
    runs = json.loads(wattprint("runs", "--json", env=env).stdout)["runs"]
    imported = [r for r in runs if r["tool"] == "codecarbon"]
    text = wattprint("runs", "--precision", "6", env=env).stdout
    for r in imported:
        # six significant figures of the stored joules, read back
        assert found(r["energy_j"], joules(text))
        value = [j for j in joules(text) if abs(j - r["energy_j"]) <= 5e-6 * r["energy_j"]]
        assert value, (r["energy_j"], joules(text))
    bad = wattprint("runs", "--precision", "0", env=env)
    assert bad.returncode == 2
    wide = wattprint("runs", "--wide", env=env).stdout
    assert "a-run-name-long-enough-to-need-wrapping-at-eighty-columns" in wide
    assert "codecarbon" in wide  # the tool column
