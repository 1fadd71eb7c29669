"""Kept series: a report made again after the live source changed its history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from wattprint.accounting.account import AccountingOptions, account_run
from wattprint.accounting.kept import (
    KeepingSource,
    KeptIntensity,
    export_csv,
    list_kept,
    load_kept,
)
from wattprint.accounting.live import UKCarbonIntensityClient
from wattprint.errors import IntensityError
from wattprint.records import DeviceRecord, IntervalRecord
from wattprint.store import Store


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


T0 = utc(2024, 5, 21, 10)


def body(values: list[int]) -> bytes:
    slots = []
    for k, v in enumerate(values):
        a = datetime.fromtimestamp(T0 + 1800 * k, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        b = datetime.fromtimestamp(T0 + 1800 * (k + 1), timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        slots.append({"from": a, "to": b, "intensity": {"forecast": v, "actual": v,
                                                         "index": "moderate"}})
    return json.dumps({"data": slots}).encode()


@pytest.fixture
def server() -> Iterator[dict[str, object]]:
    state: dict[str, object] = {"body": body([100, 200, 300, 400])}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = state["body"]
            assert isinstance(data, bytes)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def make_run(store: Store) -> str:
    rid = store.create_run(project="kept", phase="training", attribution="machine",
                           interval_s=3600, started_at=T0, region="GB")
    store.add_devices(rid, [DeviceRecord("rapl:package-0", "cpu", "CPU package 0", "rapl", True,
                                         True, None, "cpu-time-share")])
    # 1 kWh in each of two hours
    store.append_intervals(rid, [
        IntervalRecord("rapl:package-0", T0, T0 + 3600, 3.6e6, 3.6e6),
        IntervalRecord("rapl:package-0", T0 + 3600, T0 + 7200, 3.6e6, 3.6e6)])
    store.finish_run(rid, status="finished", ended_at=T0 + 7200, exit_code=0)
    return rid


def test_kept_series_reproduce_a_report_after_the_live_source_changes(
        server: dict[str, object], tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    rid = make_run(store)

    def live() -> UKCarbonIntensityClient:
        return UKCarbonIntensityClient(base_url=str(server["url"]), cache=False, strict=True,
                                       environ={})

    keeping = KeepingSource(live())
    opts = AccountingOptions(source=keeping, pue=1.0, embodied=False)
    first = account_run(store, rid, opts).footprint
    # hour 1: (100 + 200) / 2 = 150 g/kWh, hour 2: (300 + 400) / 2 = 350 g/kWh, 1 kWh each
    assert first.co2e_kg["dynamic"] == pytest.approx((150 + 350) / 1000)
    digests = keeping.keep(tmp_path / "home", used_by=f"account {rid}")
    assert len(digests) == 1
    # the API revises its history
    server["body"] = body([500, 500, 500, 500])
    revised = account_run(store, rid, AccountingOptions(source=live(), pue=1.0,
                                                        embodied=False)).footprint
    assert revised.co2e_kg["dynamic"] == pytest.approx(1.0)
    kept = load_kept(tmp_path / "home", digests[0][:10])
    again = account_run(store, rid, AccountingOptions(source=KeptIntensity(kept), pue=1.0,
                                                      embodied=False)).footprint
    assert again.co2e_kg == first.co2e_kg
    assert kept.provenance.basis == "direct" and kept.used_by == f"account {rid}"
    np.testing.assert_array_equal(kept.g_per_kwh, [150.0, 350.0])
    # the same values are kept once
    assert keeping.keep(tmp_path / "home", used_by="again") == digests
    assert len(list_kept(tmp_path / "home")) == 1
    assert export_csv(kept).splitlines() == [
        "start,end,g_per_kwh,region",
        "2024-05-21T10:00:00.000+00:00,2024-05-21T11:00:00.000+00:00,150.0,GB",
        "2024-05-21T11:00:00.000+00:00,2024-05-21T12:00:00.000+00:00,350.0,GB",
    ]
    with pytest.raises(IntensityError, match="no value for the interval"):
        KeptIntensity(kept).intensity("GB", T0, T0 + 1800)
    with pytest.raises(IntensityError, match="no kept series"):
        load_kept(tmp_path / "home", "ffffffffff")


def test_series_cli_lists_shows_and_exports_what_a_plan_used(tmp_path: Path) -> None:
    csv = tmp_path / "ci.csv"
    csv.write_text("timestamp,g_per_kwh\n" + "".join(
        f"2025-06-01T{h:02d}:00Z,{v}\n" for h, v in enumerate([300, 100, 200, 400, 50, 60])))
    env = dict(os.environ, WATTPRINT_HOME=str(tmp_path / "home"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wattprint", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    r = cli("plan", "--duration", "1h", "--deadline", "6h", "--intensity", str(csv),
            "--now", "2025-06-01T00:00Z", "--json")
    assert r.returncode == 0, r.stderr
    digest = json.loads(r.stdout)["kept_series"]
    listed = json.loads(cli("series", "list", "--json").stdout)["series"]
    assert [x["digest"] for x in listed] == [digest]
    assert listed[0]["used_by"] == "plan" and listed[0]["intervals"] == 6
    shown = json.loads(cli("series", "show", digest[:8], "--json").stdout)
    assert shown["g_per_kwh"] == [300, 100, 200, 400, 50, 60]
    assert shown["provenance"]["dataset"] == "ci.csv"
    exported = cli("series", "export", digest[:8]).stdout.splitlines()
    assert exported[0] == "start,end,g_per_kwh,region"
    assert exported[2].startswith(
        "2025-06-01T01:00:00.000+00:00,2025-06-01T02:00:00.000+00:00,100.0")
    missing = cli("series", "show", "abcdef")
    assert missing.returncode != 0 and "series list" in missing.stderr
