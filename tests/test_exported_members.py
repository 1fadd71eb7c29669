"""The public API is exactly what ``wattprint.__all__`` lists, and each name resolves."""

from __future__ import annotations

import subprocess
import sys

import wattprint

PUBLIC = {
    "AccountingOptions", "AuditError", "ConfigError", "DeviceEnergy", "EnergyMeter", "ExportError",
    "HardwareError", "HttpError", "IntensityDataError", "IntensityError", "NaiveTimestampError",
    "PeerLogError", "RegionError", "RunNotFound", "SensorError", "SensorPermissionError",
    "SensorUnavailable", "Store", "StoreError", "TimestampError", "Tracker", "WattprintError",
    "WriteError", "BudgetExceeded",
    "__version__", "account_run", "bench", "estimate", "track",
}


def test_all_is_pinned() -> None:
    assert set(wattprint.__all__) == PUBLIC


def test_every_public_name_resolves_to_its_home() -> None:
    from wattprint.accounting.account import account_run
    from wattprint.accounting.estimate import estimate
    from wattprint.serve.meter import EnergyMeter
    from wattprint.store import Store

    for name in PUBLIC:
        assert getattr(wattprint, name) is not None, name
    assert wattprint.account_run is account_run
    assert wattprint.estimate is estimate
    assert wattprint.EnergyMeter is EnergyMeter
    assert wattprint.Store is Store
    from wattprint.decide.bench import bench

    assert wattprint.bench is bench


def test_every_error_is_in_the_one_tree() -> None:
    import wattprint.errors as errors

    classes = [getattr(errors, n) for n in dir(errors) if n.endswith("Error") or n == "RunNotFound"]
    for cls in classes:
        if isinstance(cls, type) and issubclass(cls, Exception):
            assert issubclass(cls, wattprint.WattprintError), cls
            assert cls.__name__ in errors.__doc__, f"{cls.__name__} is not drawn in errors.py"


def test_import_wattprint_loads_no_accounting_numpy_or_server() -> None:
    code = ("import sys, wattprint; heavy = [m for m in ('numpy', 'wattprint.accounting', "
            "'wattprint.serve', 'wattprint.report', 'prometheus_client') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        wattprint.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
