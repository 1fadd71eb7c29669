"""The footprint a short run's summary prints is summed without numpy, to the same numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.footprint import DeviceUse, device_sums
from wattprint.accounting.intensity import annual_intensity, canonical_region

# Two intervals of one device, idle 20 W: idle_i = min(20 W × Δt_i, E_i) = 200 J and 400 J,
# dynamic 800 J and 100 J; intensities 300 and 500 g/kWh.
STARTS, ENDS, ENERGY, SHARE, CI = [0.0, 10.0], [10.0, 30.0], [1000.0, 500.0], [1.0, 1.0], \
    [300.0, 500.0]


def _use(*arrays: object) -> DeviceUse:
    starts, ends, energy, share = arrays
    return DeviceUse("cpu0", "cpu", "cpu", True, "rapl", starts, ends, energy, share,  # type: ignore[arg-type]
                     idle_w=20.0)


@pytest.mark.parametrize("as_arrays", [False, True], ids=["lists", "numpy"])
def test_device_sums_are_the_hand_computed_ones(as_arrays: bool) -> None:
    inputs = [np.array(v) if as_arrays else v for v in (STARTS, ENDS, ENERGY, SHARE)]
    ci = np.array(CI) if as_arrays else CI
    sums = device_sums(_use(*inputs), ci)
    assert sums.energy_j == 1500.0
    assert sums.idle_j == 600.0
    assert sums.dynamic_j == 900.0
    # (800 J × 300 + 100 J × 500) g/kWh / 3.6e6 J/kWh = 0.080556 g
    assert sums.dynamic_kg == pytest.approx(290_000 / 3.6e6 / 1000, rel=1e-12)
    # (200 J × 300 + 400 J × 500) / 3.6e6 = 0.072222 g
    assert sums.idle_kg == pytest.approx(260_000 / 3.6e6 / 1000, rel=1e-12)
    assert (sums.min_g_per_kwh, sums.max_g_per_kwh) == (300.0, 500.0)
    assert sums.time_weighted == 300 * 10 + 500 * 20
    assert sums.time_s == 30.0
    assert sums.intervals == 2


def test_regions_found_in_later_tables_still_resolve() -> None:
    # the tables are read only as far as the lookup needs; later ones still answer
    assert canonical_region("deu") == "DE"
    assert canonical_region("aws:us-east-1") == "aws:us-east-1"
    assert canonical_region("ciso") == "US-CAL-CISO"
    assert canonical_region("em:DE") == "em:DE"
    assert annual_intensity("DE", year=2000).provenance.year == 2000


def test_the_run_summary_leaves_numpy_out(home: Path) -> None:
    code = ("import sys\n"
            "from wattprint.cli import main\n"
            "sys.argv = ['wattprint', 'run', '--', sys.executable, '-c', 'pass']\n"
            "try:\n"
            "    main()\n"
            "except SystemExit:\n"
            "    pass\n"
            "print('numpy imported:', 'numpy' in sys.modules, file=sys.stderr)\n")
    env = dict(os.environ, WATTPRINT_SENSORS="model")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert "carbon, region" in proc.stderr + proc.stdout
    assert "numpy imported: False" in proc.stderr
