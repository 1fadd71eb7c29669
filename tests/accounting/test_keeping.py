"""Every series an accounting used is kept with the run: a changed file gives the same numbers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.accounting.keeping import account_keeping, shipped_origin
from wattprint.accounting.kept import list_kept, load_kept
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.store import Store

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
CSV = ("timestamp,g_per_kwh\n"
       "2023-11-14T22:00:00Z,{a}\n2023-11-14T23:00:00Z,{b}\n"
       "2023-11-15T00:00:00Z,{c}\n2023-11-15T01:00:00Z,{d}\n")


def make_run(store: Store) -> str:
    rid = store.create_run(project="keep", phase="training", attribution="machine",
                           interval_s=3600, started_at=T0, region="DE")
    store.add_devices(rid, [DeviceRecord("rapl:package-0", "cpu", "CPU package 0", "rapl", True,
                                         True, None, "cpu-time-share")])
    # 1 kWh in the first hour, 2 kWh in the second
    store.append_intervals(rid, [
        IntervalRecord("rapl:package-0", T0, T0 + 3600, 3.6e6, 3.6e6),
        IntervalRecord("rapl:package-0", T0 + 3600, T0 + 7200, 7.2e6, 7.2e6)])
    store.finish_run(rid, status="finished", ended_at=T0 + 7200, exit_code=0)
    return rid


# interval 1 spans 22:13:20-23:13:20: 2800 s at the 22:00 value, 800 s at the 23:00 value
def grams(a: float, b: float, c: float) -> float:
    return 1.0 * (2800 * a + 800 * b) / 3600 + 2.0 * (2800 * b + 800 * c) / 3600


def test_a_changed_user_file_gives_the_same_numbers_until_refreshed(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store)
    home = tmp_path / "home"
    csv = tmp_path / "ci.csv"
    csv.write_text(CSV.format(a=100, b=300, c=500, d=700))
    first_sha = hashlib.sha256(csv.read_bytes()).hexdigest()
    opts = AccountingOptions(region="DE", intensity_file=csv, pue=1.0, embodied=False)

    first, use = account_keeping(store, rid, opts, home)
    assert first.footprint.co2e_kg["dynamic"] == pytest.approx(grams(100, 300, 500) / 1000)
    assert use is not None and not use.reused
    assert first.footprint.intensity["source"] == "series ci.csv"
    kept = load_kept(home, use.digest)
    # the two intervals the run used, with the values the file gave
    assert kept.start_s.tolist() == [T0, T0 + 3600]
    assert kept.g_per_kwh.tolist() == pytest.approx([(2800 * 100 + 800 * 300) / 3600,
                                                     (2800 * 300 + 800 * 500) / 3600])
    assert kept.origin == {"kind": "file", "path": str(csv.resolve()), "sha256": first_sha}
    assert kept.provenance.dataset == "ci.csv" and kept.used_by == f"account {rid}"
    recorded = store.run(rid).info["kept_series"]
    key = f"file:{csv.resolve()}:average"
    assert list(recorded) == [key] and recorded[key]["digest"] == use.digest

    csv.write_text(CSV.format(a=900, b=900, c=900, d=900))  # the user edits the file
    again, use2 = account_keeping(store, rid, opts, home)
    assert again.footprint.co2e_kg == first.footprint.co2e_kg
    assert use2 is not None and use2.reused and use2.digest == use.digest
    assert use2.note is not None and "has changed since" in use2.note
    assert "--refresh-series" in use2.note

    fresh, use3 = account_keeping(store, rid, opts, home, refresh=True)
    assert fresh.footprint.co2e_kg["dynamic"] == pytest.approx(3 * 900 / 1000)
    assert use3 is not None and not use3.reused and use3.digest != use.digest
    assert store.run(rid).info["kept_series"][key]["digest"] == use3.digest
    assert len(list_kept(home)) == 2
    # and from now on the refreshed values are the ones kept
    after, _ = account_keeping(store, rid, opts, home)
    assert after.footprint.co2e_kg == fresh.footprint.co2e_kg


def test_the_shipped_hourly_series_is_kept_with_its_package_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store)
    home = tmp_path / "home"
    opts = AccountingOptions(region="DE", hourly=True, pue=1.0, embodied=False)
    first, use = account_keeping(store, rid, opts, home)
    assert use is not None and use.key == "hourly:DE:average"
    kept = load_kept(home, use.digest)
    assert kept.origin["kind"] == "shipped"
    assert kept.origin["package_data"] == "hourly_de_smard_2025.npz"
    from importlib import resources
    data = (resources.files("wattprint") / "data" / "intensity" /
            "hourly_de_smard_2025.npz").read_bytes()
    assert kept.origin["sha256"] == hashlib.sha256(data).hexdigest()
    assert kept.provenance.basis == "lifecycle"
    again, use2 = account_keeping(store, rid, opts, home)
    assert use2 is not None and use2.reused and use2.note is not None
    assert "changed" not in use2.note
    assert again.footprint.co2e_kg == first.footprint.co2e_kg


def test_the_annual_tables_are_not_series_and_are_not_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store)
    _, use = account_keeping(store, rid, AccountingOptions(pue=1.0, embodied=False),
                             tmp_path / "home")
    assert use is None and list_kept(tmp_path / "home") == []
    assert "kept_series" not in store.run(rid).info
    assert shipped_origin("ci.csv") == {}


def test_cli_account_keeps_the_file_and_refresh_series_reads_it_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rid = make_run(Store(home / "wattprint.db"))
    csv = tmp_path / "ci.csv"
    csv.write_text(CSV.format(a=100, b=300, c=500, d=700))
    env = dict(os.environ, WATTPRINT_HOME=str(home), XDG_CONFIG_HOME=str(tmp_path / "x"))

    def account(*extra: str) -> dict[str, object]:
        r = subprocess.run([sys.executable, "-m", "wattprint", "account", rid, "--intensity",
                            str(csv), "--pue", "1.0", "--no-embodied", "--json", *extra],
                           env=env, text=True, capture_output=True, timeout=120, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        doc: dict[str, object] = json.loads(r.stdout)
        return doc

    first = account()
    assert first["co2e_kg"] == pytest.approx(grams(100, 300, 500) / 1000)
    assert first["kept_series_reused"] is False
    csv.write_text(CSV.format(a=900, b=900, c=900, d=900))
    second = account()
    assert second["co2e_kg"] == first["co2e_kg"] and second["kept_series_reused"] is True
    assert second["kept_series"] == first["kept_series"]
    refreshed = account("--refresh-series")
    assert refreshed["co2e_kg"] == pytest.approx(3 * 900 / 1000)
    listed = subprocess.run([sys.executable, "-m", "wattprint", "series", "list", "--json"],
                            env=env, text=True, capture_output=True, timeout=120)
    origins = [s["origin"]["kind"] for s in json.loads(listed.stdout)["series"]]
    assert origins == ["file", "file"]
