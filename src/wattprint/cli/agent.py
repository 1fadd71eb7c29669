"""The ``agent`` command: run the node agent until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from wattprint import validate
from wattprint.cli.app import app, fail, handle_error, setup_logging
from wattprint.config import load_settings
from wattprint.errors import WattprintError

BIND_HELP = ("Address to listen on. Loopback by default; any other address needs "
             "--token-file.")
TOKEN_HELP = ("File holding the bearer token clients must send "
              "(Authorization: Bearer TOKEN). Required for a non-loopback --bind.")
TLS_CERT_HELP = "PEM certificate chain: serve HTTPS (with --tls-key)."
TLS_KEY_HELP = "PEM private key of --tls-cert."
TOP_HELP = ("Process groups (name and container) with a /metrics series of their own, most "
            "energy first; kernel threads and the rest are two more series.")
PID_LABEL_HELP = ("Label process series by pid too: one series per process (many series on "
                  "a busy machine).")


@app.command()
def agent(
    bind: Annotated[str, typer.Option("--bind", help=BIND_HELP)] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 9464,
    token_file: Annotated[Path | None, typer.Option("--token-file", help=TOKEN_HELP)] = None,
    interval: Annotated[float | None, typer.Option(
        "--interval", help="Sampling interval in seconds (default: the setting, 1 s).")] = None,
    process_interval: Annotated[float, typer.Option(
        "--process-interval", help="Seconds between process listings (0.05-3600).")] = 5.0,
    region: Annotated[str | None, typer.Option(
        "--region", help="Grid region for carbon (e.g. DE, US-CA, aws:us-east-1).")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help=TLS_CERT_HELP)] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help=TLS_KEY_HELP)] = None,
    top_processes: Annotated[int, typer.Option("--top-processes", min=0,
                                               help=TOP_HELP)] = 20,
    process_pid_label: Annotated[bool, typer.Option("--process-pid-label",
                                                    help=PID_LABEL_HELP)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the node agent: Prometheus /metrics and a JSON API of this machine's energy.

    Examples:
      wattprint agent
      wattprint agent --port 9464 --region DE
      wattprint agent --top-processes 50 --process-pid-label
      wattprint agent --bind 0.0.0.0 --token-file /etc/wattprint/token
    """
    setup_logging(verbose)
    try:
        process_interval = validate.process_interval_s(process_interval)
        if not 0 <= port <= 65_535:
            fail(f"--port = {port} is out of range: it must be between 0 and 65535")
    except WattprintError as exc:
        handle_error(exc)
    from wattprint.serve.agent import Agent, read_token_file

    try:
        settings = load_settings({"interval_s": interval, "region": region})
        token = read_token_file(token_file) if token_file is not None else None
        node_agent = Agent(bind=bind, port=port, token=token, settings=settings,
                           process_interval_s=process_interval, tls_cert=tls_cert,
                           tls_key=tls_key, top_processes=top_processes,
                           process_pid_label=process_pid_label)
        node_agent.start()
    except WattprintError as exc:
        handle_error(exc)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stderr.write(f"wattprint agent listening on {node_agent.url} "
                     f"({'token required' if token else 'loopback, no token'})\n")
    sys.stderr.flush()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        node_agent.stop()
