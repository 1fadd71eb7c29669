"""The agent's HTTP face: a Starlette app served by uvicorn.

Routes (described in ``openapi.yaml`` next to this module)
    ``/metrics`` (Prometheus exposition, ``prometheus_client``'s ASGI app),
    ``/v1/devices``, ``/v1/processes``, ``/v1/processes/{pid}``,
    ``/v1/runs`` (JSON) and ``/healthz``. A trailing slash is ignored.

Rules, in the order they apply
    1. The API is read-only: any method but GET and HEAD is answered 405
       with ``Allow: GET, HEAD``, whatever the path.
    2. An unknown path is 404.
    3. With a token, every route but ``/healthz`` needs
       ``Authorization: Bearer <token>``, compared in constant time
       (:func:`hmac.compare_digest`); anything else is 401 with
       ``WWW-Authenticate``.
    4. A bad parameter is 400, a pid the agent has not listed 404, a store
       that cannot be read 503; every error body is ``{"error": message}``.

Every answer carries ``Cache-Control: no-store``. HTTP itself -- request
parsing, message framing, keep-alive, TLS -- is uvicorn's (h11 or
httptools): a request body is always framed by its ``Content-Length`` or
chunked encoding and discarded when unread, so it can never be read as a
second request on the same connection.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from prometheus_client import CollectorRegistry, make_asgi_app
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wattprint.attribution import CPU_TIME_SHARE
from wattprint.errors import WattprintError
from wattprint.serve.monitor import NodeMonitor
from wattprint.serve.runs import RunsReader

log = logging.getLogger(__name__)

__all__ = ["AgentAPI", "HTTPServer", "build_app"]

_MAX_LIMIT = 10_000
_ALLOW = "GET, HEAD"


@dataclass(frozen=True)
class AgentAPI:
    """What the HTTP app serves: the monitor's totals, the metrics and the stored runs.

    Args:
        monitor: the running totals.
        registry: the Prometheus registry of ``/metrics``.
        runs: the read-only view of the run store.
        token: the bearer token, or ``None`` (loopback only).
        process_interval_s: seconds between process listings (reported).
    """

    monitor: NodeMonitor
    registry: CollectorRegistry
    runs: RunsReader
    token: str | None
    process_interval_s: float


# --------------------------------------------------------------------------- responses


class _JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), allow_nan=False).encode()


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _JSON({"error": message}, status_code=status, headers=dict(headers or {}))


class _Problem(Exception):
    """A client error with its status; the message is the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _query(request: Request) -> dict[str, list[str]]:
    try:
        return parse_qs(request.scope["query_string"].decode("latin-1"),
                        keep_blank_values=True, max_num_fields=32)
    except ValueError:
        raise _Problem(400, "too many query parameters") from None


def _int_param(query: Mapping[str, list[str]], name: str, default: int, low: int,
               high: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise _Problem(400, f"query parameter {name} must be an integer") from None
    if not low <= value <= high:
        raise _Problem(400, f"query parameter {name} must be between {low} and {high}")
    return value


# --------------------------------------------------------------------------- ASGI wrappers


class _ReadOnly:
    """Answers every method but GET and HEAD with 405, drops a trailing slash, adds no-store."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        if scope["method"] not in ("GET", "HEAD"):
            response = _error(
                405, f"method {scope['method']} is not allowed; the API is read-only (GET)",
                {"Allow": _ALLOW})
            await response(scope, receive, send_no_store)
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send_no_store)


class _Guard:
    """Lets a request through only with the right bearer token (when there is one)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = None if token is None else token.encode("utf-8")

    def _authorised(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._authorised(scope):
            await self.app(scope, receive, send)
            return
        response = _error(401, "missing or wrong bearer token; send 'Authorization: Bearer "
                               "<token>' with the token of the agent's --token-file",
                          {"WWW-Authenticate": 'Bearer realm="wattprint"'})
        await response(scope, receive, send)


class _WithLength:
    """Gives a one-message response (the Prometheus exposition) its Content-Length."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        held: list[Message] = []

        async def send_with_length(message: Message) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if held and message["type"] == "http.response.body":
                start = held.pop()
                headers = list(start.get("headers", []))
                if not message.get("more_body", False) and not any(
                        k.lower() == b"content-length" for k, _ in headers):
                    headers.append((b"content-length", str(len(message["body"])).encode()))
                await send({**start, "headers": headers})
            await send(message)

        await self.app(scope, receive, send_with_length)


_Endpoint = Callable[[Request], Awaitable[Response]]


def _route(path: str, func: _Endpoint, token: str | None) -> Route:
    """A route answering with ``func``, its errors as JSON, behind the token check."""

    async def answer(request: Request) -> Response:
        try:
            return await func(request)
        except _Problem as exc:
            return _error(exc.status, exc.message)
        except (WattprintError, sqlite3.Error) as exc:
            log.warning("the agent cannot read the run store: %s", exc)
            return _error(503, f"the run store cannot be read: {exc}")
        except Exception:
            log.exception("the agent failed to answer %s", request.url.path)
            return _error(500, "internal error; see the agent's log")

    return Route(path, _Guard(request_response(answer), token))


# --------------------------------------------------------------------------- the app


def build_app(api: AgentAPI) -> ASGIApp:
    """The agent's ASGI app: routes, token checks and read-only rules (module docstring)."""
    monitor = api.monitor

    async def health(request: Request) -> Response:
        return _JSON({"status": "ok", "uptime_s": time.time() - monitor.started_at,
                      "devices": len(monitor.devices_snapshot())})

    async def devices(request: Request) -> Response:
        return _JSON({"intensity": monitor.intensity(), "devices": monitor.devices_snapshot()})

    async def processes(request: Request) -> Response:
        limit = _int_param(_query(request), "limit", _MAX_LIMIT, 1, _MAX_LIMIT)
        un_j, un_g = monitor.unattributed()
        return _JSON({"share_rule": CPU_TIME_SHARE, "devices": monitor.cpu_device_ids,
                      "process_interval_s": api.process_interval_s,
                      "unattributed_energy_j": un_j, "unattributed_co2e_g": un_g,
                      "processes": monitor.processes_snapshot(limit)})

    async def process(request: Request) -> Response:
        text = request.path_params["pid"]
        if not text.isdigit() or not text.isascii() or len(text) > 10:
            raise _Problem(400, "the pid must be a positive integer")
        doc = monitor.process(int(text))
        if doc is None:
            raise _Problem(404, f"the agent has not listed a process {text}; it lists "
                                f"processes every {api.process_interval_s:g} s")
        return _JSON(doc | {"share_rule": CPU_TIME_SHARE})

    async def runs(request: Request) -> Response:
        query = _query(request)
        limit = _int_param(query, "limit", 50, 1, 1000)
        project = query.get("project", [None])[-1] or None
        doc = api.runs.cached_doc(project, limit)  # one PRAGMA while the store is unchanged
        if doc is None:  # a full read takes milliseconds: off the event loop
            doc = await run_in_threadpool(api.runs.runs_doc, project, limit)
        return _JSON(doc)

    async def not_found(request: Request) -> Response:
        raise _Problem(404, f"no such endpoint {request.url.path}; see the agent's openapi.yaml")

    token = api.token
    metrics = _Guard(_WithLength(make_asgi_app(api.registry)), token)
    routes = [
        _route("/healthz", health, None),  # liveness needs no token
        Route("/metrics", metrics),
        _route("/v1/devices", devices, token),
        _route("/v1/processes", processes, token),
        _route("/v1/processes/{pid:path}", process, token),
        _route("/v1/runs", runs, token),
        _route("/{path:path}", not_found, None),
    ]
    async def unrouted(request: Request, exc: Exception) -> Response:
        # a path no route pattern matches at all (a newline in it: `.*` stops there)
        return _error(404, "no such endpoint; see the agent's openapi.yaml")

    return _ReadOnly(Starlette(routes=routes, exception_handlers={404: unrouted}))


# --------------------------------------------------------------------------- the server


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` holds a colon).

    Raises:
        OSError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it Nagle's algorithm and the client's delayed ACK hold answers back ~40 ms
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class HTTPServer:
    """uvicorn serving an ASGI app on a bound socket, in a background thread.

    Args:
        app: the ASGI app.
        sock: a listening socket (:func:`bind_socket`); the server closes it.
        tls_cert: PEM certificate chain, for HTTPS.
        tls_key: its private key (PEM).

    Raises:
        OSError: the certificate or key cannot be loaded (``ssl.SSLError``
            is an ``OSError``).
    """

    def __init__(self, app: ASGIApp, sock: socket.socket, *, tls_cert: Path | None = None,
                 tls_key: Path | None = None) -> None:
        self._sock = sock
        config = uvicorn.Config(
            app, lifespan="off", ws="none", interface="asgi3", log_config=None, access_log=False,
            proxy_headers=False, server_header=False, headers=[("server", "wattprint-agent")],
            timeout_keep_alive=30, ssl_certfile=tls_cert, ssl_keyfile=tls_key)
        config.load()  # a bad certificate or key fails here, not in the thread
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start()
            self._failure = exc

    def start(self, timeout_s: float = 20.0) -> None:
        """Start serving; returns once the server accepts connections.

        Raises:
            OSError: uvicorn failed to start.
        """
        self._thread = threading.Thread(target=self._serve, name="wattprint-agent-http",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"the HTTP server did not start: {self._failure!r}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Close connections and stop serving; idempotent."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._sock.close()
