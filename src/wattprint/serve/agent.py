"""The node agent: this machine's energy and carbon, for Prometheus and for applications.

``wattprint agent`` runs one long-lived :class:`~wattprint.sampling.Sampler`
over every sensor of the machine (RAPL packages and DRAM, GPUs, power
models) and keeps running totals in memory. Nothing is written to the store;
the agent only reads it (read-only), to list runs.

This module is the wiring; each part has its own module:

* :mod:`wattprint.serve.monitor` -- the totals per device, process, cgroup
  and container, and what they include (pure: readings in, totals out);
* :mod:`wattprint.serve.metrics` -- the Prometheus collector;
* :mod:`wattprint.serve.runs` -- the read-only view of the run store;
* :mod:`wattprint.serve.http` -- the Starlette app and the uvicorn server:
  ``/metrics``, ``/v1/devices``, ``/v1/processes``, ``/v1/processes/{pid}``,
  ``/v1/runs`` (JSON, described in ``openapi.yaml`` next to this module)
  and ``/healthz``.

Security
    The agent binds the loopback interface by default. Any other address
    needs a bearer token (``--token-file``), or the agent refuses to start;
    with a token every endpoint but ``/healthz`` requires
    ``Authorization: Bearer <token>``, compared in constant time. The
    token is never logged or exposed, and nothing secret is: process names
    (the kernel's ``comm``), not command lines or environments, appear in
    the metrics. TLS: give a certificate and key (``--tls-cert``,
    ``--tls-key``) and uvicorn serves HTTPS. The agent needs no privilege
    beyond reading the energy counters (see the RAPL udev rule in
    ``docs/agent.md``).

Starlette, uvicorn and prometheus-client (the ``[serve]`` extra) are imported
by :meth:`Agent.start`, never at import.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wattprint import validate
from wattprint.accounting.intensity import AnnualIntensity, IntensitySource
from wattprint.accounting.location import resolve_region
from wattprint.attribution import machine_busy_s
from wattprint.config import Settings, load_settings
from wattprint.errors import ConfigError
from wattprint.sampling import Sampler
from wattprint.sensors.base import ProcessBreakdownSource, Sensor, SkippedSensor
from wattprint.serve.monitor import NodeMonitor, container_id, read_processes
from wattprint.serve.runs import RunsReader
from wattprint.store.base import Store, backend_of

if TYPE_CHECKING:
    from wattprint.serve.http import HTTPServer

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BIND",
    "DEFAULT_PORT",
    "Agent",
    "NodeMonitor",
    "check_bind",
    "check_tls",
    "container_id",
    "is_loopback",
    "read_token_file",
]

DEFAULT_BIND = "127.0.0.1"
#: Default TCP port of the agent.
DEFAULT_PORT = 9464
#: Bounds of the process listing interval, seconds.

_SERVE_HINT = "pip install 'wattprint[serve]'"


# --------------------------------------------------------------------------- options


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is reachable from this machine only.

    A name counts as loopback only if every address it resolves to is one.
    """
    name = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    if name.lower() == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    addresses = {str(info[4][0]).split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the agent beyond this machine without a token.

    Raises:
        ConfigError: ``host`` is not a loopback address and no token is set.
    """
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"binding the agent to {host} would expose this machine's energy data to the "
            "network without authentication; give --token-file FILE (a file holding a secret "
            "token, e.g. from `openssl rand -hex 32`), or bind 127.0.0.1"
        )


def check_tls(cert: Path | None, key: Path | None) -> None:
    """Both TLS files or neither, and both readable.

    Raises:
        ConfigError: only one is given, or one cannot be read.
    """
    if (cert is None) != (key is None):
        raise ConfigError("TLS needs both --tls-cert (the PEM certificate chain) and "
                          "--tls-key (its PEM private key)")
    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"cannot read the {option} file {path}: {exc}") from exc


def read_token_file(path: Path | str) -> str:
    """The bearer token stored in ``path`` (surrounding whitespace removed).

    Warns when the file can be read by other users.

    Raises:
        ConfigError: the file cannot be read, is empty or holds a token with
            whitespace or non-ASCII characters.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        mode = p.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token file {p}: {exc}") from exc
    token = text.strip()
    if not token:
        raise ConfigError(f"the token file {p} is empty; write a secret token into it")
    if not token.isascii() or any(c.isspace() for c in token):
        raise ConfigError(
            f"the token in {p} contains whitespace or non-ASCII characters; "
            "use one line of letters and digits (e.g. `openssl rand -hex 32`)")
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("the token file %s can be read by other users; `chmod 600` it", p)
    return token


# --------------------------------------------------------------------------- the agent


class Agent:
    """The node agent: a sampler, the monitor, and the HTTP server.

    Args:
        bind: address to listen on (default loopback).
        port: TCP port; 0 picks a free one (see :attr:`port` after start).
        token: bearer token; required for a non-loopback ``bind``.
        settings: effective settings (default: resolved as for the CLI).
        sensor_objects: opened sensors (default: detected from settings).
        intensity: intensity source (default: the shipped annual averages).
        proc_root: procfs root (processes, their cgroups, the machine's CPU time).
        process_interval_s: seconds between process listings.
        process_ttl_s: how long exited processes stay listed.
        top_processes: process groups (name and container) with a series of
            their own in ``/metrics``; kernel threads and the rest are two more.
        process_pid_label: label process series by pid too (one per process).
        tls_cert: PEM certificate chain; with ``tls_key``, the agent serves HTTPS.
        tls_key: the certificate's PEM private key.

    Raises:
        ConfigError: a non-loopback ``bind`` without a token, a port or
            process interval out of range, half a TLS pair, a negative
            ``top_processes``, or bad settings.
    """

    def __init__(
        self,
        *,
        bind: str = DEFAULT_BIND,
        port: int = DEFAULT_PORT,
        token: str | None = None,
        settings: Settings | None = None,
        sensor_objects: Sequence[Sensor] | None = None,
        intensity: IntensitySource | None = None,
        proc_root: Path = Path("/proc"),
        process_interval_s: float = 5.0,
        process_ttl_s: float = 300.0,
        top_processes: int = 20,
        process_pid_label: bool = False,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        check_bind(bind, token)
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is out of range; use 1-65535 (0 picks a free port)")
        validate.process_interval_s(process_interval_s)
        check_tls(tls_cert, tls_key)
        if top_processes < 0:
            raise ConfigError(f"--top-processes {top_processes} is negative; give 0 or more")
        self.bind = bind
        self.port = port
        self.token = token
        self.settings = settings or load_settings()
        self.process_interval_s = process_interval_s
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self._sensor_objects = list(sensor_objects) if sensor_objects is not None else None
        self._intensity = intensity or AnnualIntensity()
        self._proc_root = proc_root
        self._ttl_s = process_ttl_s
        self._top_processes = top_processes
        self._pid_label = process_pid_label
        self.sensors: list[Sensor] = []
        self.skipped: list[SkippedSensor] = []
        self.monitor: NodeMonitor | None = None
        self._sampler: Sampler | None = None
        self._server: HTTPServer | None = None
        self._runs: RunsReader | None = None
        self._lister: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        """Base URL the agent answers on."""
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        scheme = "https" if self.tls_cert is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> Agent:
        """Open the sensors, start sampling, bind and start serving (in threads).

        Returns:
            ``self``.

        Raises:
            ConfigError: the address cannot be bound, the TLS files cannot be
                loaded, or the ``[serve]`` extra is not installed.
            RegionError: the configured region is unknown.
            SensorError: a sensor asked for by name is unavailable.
        """
        try:
            from wattprint.serve.http import AgentAPI, HTTPServer, bind_socket, build_app
            from wattprint.serve.metrics import registry_for
        except ImportError as exc:
            raise ConfigError(f"the agent needs the serve extra ({exc}); install it with "
                              f"`{_SERVE_HINT}`") from exc
        from wattprint.run import open_sensors

        region = resolve_region(self.settings.region, config_region=self.settings.region).code
        if self._sensor_objects is not None:
            self.sensors = self._sensor_objects
        else:
            self.sensors, self.skipped = open_sensors(self.settings)
        for note in self.skipped:
            log.info("sensor %s skipped: %s", note.sensor, note.reason)
        if not self.sensors:
            log.warning("the agent found no energy sensor; it reports no energy. "
                        "Run `wattprint sensors` to see why.")
        devices = {d.id: d for s in self.sensors for d in s.devices()}
        breakdowns = [s for s in self.sensors if isinstance(s, ProcessBreakdownSource)]

        def gpu_breakdown() -> dict[str, Mapping[int, float]]:
            merged: dict[str, Mapping[int, float]] = {}
            for source in breakdowns:
                merged.update(source.process_breakdown())
            return merged

        proc_root = str(self._proc_root)
        self._runs = RunsReader(self.settings.db_path)
        from wattprint.serve.jobs import JobLabels
        from wattprint.store.base import hostname

        job_of = JobLabels(self._proc_root, tracked=self._tracked_jobs(hostname()))
        self.monitor = NodeMonitor(
            devices, region=region, intensity=self._intensity, proc_root=self._proc_root,
            process_ttl_s=self._ttl_s, busy_s=functools.partial(machine_busy_s, proc_root),
            gpu_breakdown=gpu_breakdown if breakdowns else None,
            list_processes=functools.partial(read_processes, proc_root),
            top_processes=self._top_processes, pid_label=self._pid_label, job_of=job_of)
        app = build_app(AgentAPI(
            monitor=self.monitor,
            registry=registry_for(self.monitor, _version()),
            runs=self._runs, token=self.token, process_interval_s=self.process_interval_s))
        try:
            sock = bind_socket(self.bind, self.port)
        except OSError as exc:
            self._close_sensors()
            raise ConfigError(f"the agent cannot listen on {self.bind}:{self.port}: {exc}; "
                              "choose another --port or --bind") from exc
        self.port = int(sock.getsockname()[1])
        try:
            self._server = HTTPServer(app, sock, tls_cert=self.tls_cert, tls_key=self.tls_key)
        except OSError as exc:
            sock.close()
            self._close_sensors()
            raise ConfigError(f"cannot load the TLS certificate {self.tls_cert} and key "
                              f"{self.tls_key}: {exc}") from exc
        self._sampler = Sampler(self.sensors, self.monitor.on_intervals,
                                interval_s=self.settings.interval_s)
        self._sampler.start()
        self.monitor.refresh_processes()  # the baseline of the first share
        self._lister = threading.Thread(target=self._process_loop,
                                        name="wattprint-agent-processes", daemon=True)
        self._lister.start()
        try:
            self._server.start()
        except OSError as exc:
            self.stop()
            raise ConfigError(f"the agent cannot serve on {self.url}: {exc}") from exc
        log.info("wattprint agent listening on %s (%s)", self.url,
                 "token required" if self.token else "no token")
        return self

    def _tracked_jobs(self, host: str) -> Callable[[], Mapping[int, str]]:
        """Where the jobs of tracked runs are read: the configured store.

        The local SQLite file through the agent's read-only reader, or the
        cluster's PostgreSQL store (opened read-only on first use).
        """
        target = self.settings.store_target
        if backend_of(target) != "postgresql" and self._runs is not None:
            return functools.partial(self._runs.running_jobs, host)
        opened: list[Store] = []

        def from_store() -> Mapping[int, str]:
            from wattprint.store.jobs import running_jobs

            if not opened:
                opened.append(Store(target, read_only=True, timeout_s=2.0))
            return running_jobs(opened[0], host)

        return from_store

    def _process_loop(self) -> None:
        while not self._stop.wait(self.process_interval_s):
            assert self.monitor is not None
            try:
                self.monitor.refresh_processes()
            except Exception:  # never stop listing because of one bad pass
                log.debug("process listing failed", exc_info=True)

    def stop(self) -> None:
        """Stop serving and sampling, close sensors and the store; idempotent."""
        self._stop.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._lister is not None:
            self._lister.join(timeout=5)
            self._lister = None
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        self._close_sensors()
        if self._runs is not None:
            self._runs.close()
            self._runs = None

    def _close_sensors(self) -> None:
        for sensor in self.sensors:
            try:
                sensor.close()
            except Exception:
                log.debug("closing %s failed", sensor.name, exc_info=True)


def _version() -> str:
    from wattprint._version import __version__

    return __version__

