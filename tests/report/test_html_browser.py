"""The HTML appendix in a real headless Chromium: no console errors, no requests, plots present.

The pages are written by the CLI (``wattprint report ... --format html -o``)
run as a subprocess, served from a local HTTP server that logs every request,
and opened in Debian's ``chromium`` driven over the Chrome DevTools Protocol
(``--remote-debugging-pipe``: JSON messages, NUL-separated, on file
descriptors 3 and 4). The protocol reports every request the page makes
(``Network.requestWillBeSent``, external hosts included), every console
message and uncaught exception, and every browser log entry (CSP violations,
failed loads). A control page with an external image and a console error
shows that these checks catch what they look for. A screenshot and a PDF
(print media) are kept under ``artifacts/`` as test artifacts.

Skipped only when ``chromium`` is not installed (``make test-system-deps``
installs it).
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from wattprint.accounting.account import AccountingOptions
from wattprint.report.appendix import run_appendix
from wattprint.store import DeviceRecord, IntervalRecord, Store

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CLI = "import wattprint.cli.reports; from wattprint.cli import main; main()"
T0 = datetime(2024, 3, 1, 0, 15, tzinfo=timezone.utc).timestamp()


# Put the pipe ends on fds 3 and 4, where --remote-debugging-pipe expects them, then exec.
_TRAMPOLINE = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
               "os.execv(sys.argv[3], sys.argv[3:])")


class Browser:
    """A headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # the browser reads commands on fd 3 and writes replies and events on fd 4
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_browser_r), str(from_browser_w),
             str(CHROMIUM),
             "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._w, self._r = to_browser_w, from_browser_r
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30.0) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            self.events.append(message)
            if message.get("method") == event:
                return

    def settle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except TimeoutError:
            pass

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


class Visit:
    """What one page load did."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.svg_count = 0
        self.data: Any = None
        self.print_svg_count = 0
        self.screenshot = b""
        self.pdf = b""


def visit(url: str, width: int = 1100) -> Visit:
    """Load ``url`` and report its requests, console/log problems, SVGs and embedded data."""
    result = Visit()
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(Path(profile))
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = browser.send("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Network", "Runtime", "Log", "Page"):
                browser.send(f"{domain}.enable", session=sid)
            browser.send("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": 900, "deviceScaleFactor": 1,
                          "mobile": False}, session=sid)
            browser.send("Page.navigate", {"url": url}, session=sid)
            browser.wait_for("Page.loadEventFired")
            browser.settle(0.5)

            def evaluate(expression: str) -> Any:
                reply = browser.send("Runtime.evaluate",
                                     {"expression": expression, "returnByValue": True},
                                     session=sid)
                return reply["result"].get("value")

            result.svg_count = int(evaluate("document.querySelectorAll('svg').length"))
            result.data = evaluate(
                "(() => { const e = document.getElementById('wattprint-data');"
                " return e ? JSON.parse(e.textContent) : null; })()")
            height = browser.send("Page.getLayoutMetrics", session=sid)["cssContentSize"][
                "height"]
            shot = browser.send("Page.captureScreenshot",
                                {"format": "png", "captureBeyondViewport": True,
                                 "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                          "scale": 1}}, session=sid)
            result.screenshot = base64.b64decode(shot["data"])
            browser.send("Emulation.setEmulatedMedia", {"media": "print"}, session=sid)
            result.print_svg_count = int(evaluate(
                "[...document.querySelectorAll('svg')]"
                ".filter(s => s.getBoundingClientRect().width > 0).length"))
            pdf = browser.send("Page.printToPDF", {"printBackground": False}, session=sid,
                               timeout=60)
            result.pdf = base64.b64decode(pdf["data"])
            browser.settle(0.2)
        finally:
            browser.close()
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            result.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            result.problems.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning",
                                                                             "assert"):
            result.problems.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            result.problems.append(f"log: {params['entry'].get('text')}")
    return result


class Server:
    """A local HTTP server for one directory that logs every request it gets."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        log = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                log.append(f"{self.command} {self.path}")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean; requests are recorded above

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    site = tmp_path / "site"
    site.mkdir()
    s = Server(site)
    yield s
    s.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def stored_run(home: Path) -> str:
    """A 1 h run sampled every 30 s: a GPU ramping up and a CPU, with host facts."""
    store = Store(home / "wattprint.db")
    info = {"wattprint_version": "0.1.0", "host": {
        "cpu_model": "AMD EPYC 7763 64-Core Processor", "cpu_logical": 128, "cpu_physical": 64,
        "memory_gb": 512.0, "gpus": ["NVIDIA A100-SXM4-40GB"], "os": "Linux 6.1",
        "python": "3.11.7", "packages": {"torch": "2.3.1"},
        "git": {"commit": "feedc0de", "dirty": False}}}
    rid = store.create_run(project="paper", phase="training", attribution="machine",
                           interval_s=30.0, started_at=T0, name="resnet50 <fp16> & co",
                           command="python train.py --amp", info=info)
    store.add_devices(rid, [
        DeviceRecord("rapl:package-0", "cpu", "package-0", "rapl", True, True, None,
                     "cpu-time-share"),
        DeviceRecord("nvml:GPU-1", "gpu", "NVIDIA A100-SXM4-40GB", "nvml", True, True, None,
                     "whole-device")])
    rows = []
    for k in range(120):
        a = T0 + 30 * k
        rows.append(IntervalRecord("rapl:package-0", a, a + 30, 30 * (90 + k % 7), 30 * 45))
        rows.append(IntervalRecord("nvml:GPU-1", a, a + 30, 30 * min(60 + 4 * k, 380),
                                   30 * min(60 + 4 * k, 380)))
    store.append_intervals(rid, rows)
    store.log_metric(rid, "accuracy", 0.76, 90, T0 + 3600)
    store.add_units(rid, "image", 1.28e6)
    store.finish_run(rid, status="finished", ended_at=T0 + 3600, exit_code=0)
    store.close()
    return rid


def series(tmp_path: Path) -> Path:
    path = tmp_path / "grid.csv"
    path.write_text("timestamp,g_per_kwh\n2024-03-01T00:00:00Z,310\n"
                    "2024-03-01T01:00:00Z,260\n2024-03-01T02:00:00Z,280\n")
    return path


def test_html_appendix_in_chromium(home: Path, tmp_path: Path, server: Server) -> None:
    rid = stored_run(home)
    site = tmp_path / "site"
    out = site / "appendix.html"
    made = cli("report", rid[:8], "--format", "html", "-o", str(out), "--intensity",
               str(series(tmp_path)), "--pue", "1.1", "--quiet")
    assert made.returncode == 0, made.stderr
    store = Store(home / "wattprint.db")
    expected = run_appendix(store, rid, AccountingOptions(intensity_file=series(tmp_path),
                                                          pue=1.1))
    store.close()
    html = out.read_text(encoding="utf-8")
    # nothing in the file points off the page
    for needle in ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http",
                   "<link rel=\"stylesheet\""):
        assert needle not in html
    result = visit(f"{server.base}/appendix.html")
    assert result.problems == []
    assert result.requests == [f"{server.base}/appendix.html"]
    assert server.requests == ["GET /appendix.html"]
    assert result.svg_count == 2  # power per device and intensity over time
    assert result.print_svg_count == 2
    assert result.data == expected  # the embedded document is the JSON report
    assert result.data["run"]["name"] == "resnet50 <fp16> & co"
    assert result.pdf.startswith(b"%PDF")
    assert result.screenshot.startswith(b"\x89PNG")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "appendix.png").write_bytes(result.screenshot)
    (ARTIFACTS / "appendix.pdf").write_bytes(result.pdf)


def test_project_report_and_leaderboard_in_chromium(home: Path, tmp_path: Path,
                                                    server: Server) -> None:
    stored_run(home)
    site = tmp_path / "site"
    made = cli("report", "--project", "paper", "--by", "phase", "--format", "html", "-o",
               str(site / "project.html"), "--intensity", str(series(tmp_path)), "--quiet")
    assert made.returncode == 0, made.stderr
    board = cli("leaderboard", "--project", "paper", "--metric", "accuracy", "--format", "html",
                "-o", str(site / "board.html"), "--intensity", str(series(tmp_path)), "--quiet")
    assert board.returncode == 0, board.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    for page, plots in (("project.html", 1), ("board.html", 1)):
        result = visit(f"{server.base}/{page}")
        assert result.problems == [], page
        assert result.requests == [f"{server.base}/{page}"], page
        assert result.svg_count == plots, page
        assert result.data is not None
        (ARTIFACTS / page.replace(".html", ".png")).write_bytes(result.screenshot)
    assert server.requests == ["GET /project.html", "GET /board.html"]


def test_the_checks_catch_console_errors_and_outside_requests(tmp_path: Path,
                                                              server: Server) -> None:
    (tmp_path / "site" / "bad.html").write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '</head><body><img src="https://example.invalid/x.png"><img src="local.png">'
        "<script>console.error('boom')</script></body></html>")
    result = visit(f"{server.base}/bad.html")
    assert "https://example.invalid/x.png" in result.requests
    assert f"{server.base}/local.png" in result.requests
    assert "GET /local.png" in server.requests
    assert any("boom" in p for p in result.problems)
    assert result.svg_count == 0 and result.data is None
