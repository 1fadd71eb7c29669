"""Meter every request of a web application: ASGI (FastAPI, Starlette) and WSGI (Flask).

Both wrappers put each HTTP request inside :meth:`EnergyMeter.request
<wattprint.serve.meter.EnergyMeter.request>`, so its energy and carbon come
from the sharing rule of :mod:`wattprint.serve.meter`::

    from fastapi import FastAPI
    from wattprint.serve import EnergyMiddleware

    app = FastAPI()
    app.add_middleware(EnergyMiddleware, project="chatbot")

    from flask import Flask
    from wattprint.serve import EnergyWSGIMiddleware

    app = Flask(__name__)
    app.wsgi_app = EnergyWSGIMiddleware(app.wsgi_app, project="chatbot")

**A request's span** runs from the moment the server hands it to the
application until the last byte of the response body is handed back to the
server (ASGI: the ``http.response.body`` message without ``more_body``; WSGI:
the server closing the response iterable), or until the application raises.
Streaming responses are metered over the whole stream.

**The response header** is off by default. ``header="X-Energy-Joules"`` adds
it to every metered response, with the request's *provisional* energy in
joules when the response headers are sent (the energy settled so far plus an
estimate for the part not yet sampled, see
:meth:`~wattprint.serve.meter.MeteredRequest.estimate_energy_j`): headers go
out before the body, and the interval the request ends in has not been
sampled yet. The settled figure is in the meter's ``completed`` records, its
``on_request`` callback and the stored run. A header reveals a little about
the server's load to every client; enable it for internal services or when
clients are meant to see it.

**The meter's life.** Given ``meter=``, the wrapper uses that
:class:`~wattprint.serve.meter.EnergyMeter` and leaves starting and stopping
it to the caller. Otherwise it builds one from the keyword arguments (those
of :class:`~wattprint.serve.meter.EnergyMeter`): the ASGI wrapper starts it
at the server's lifespan startup and stops it at lifespan shutdown; the
meter also starts on the first request and stops at interpreter exit.
Non-HTTP traffic (websockets) and the paths in ``exclude_paths`` (health
checks, metrics) pass through unmetered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any

from wattprint.serve.meter import EnergyMeter, MeteredRequest

log = logging.getLogger(__name__)

__all__ = ["EnergyMiddleware", "EnergyWSGIMiddleware"]

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

StartResponse = Callable[..., Any]
WSGIEnviron = dict[str, Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]


def _header_value(req: MeteredRequest) -> str | None:
    estimate = req.estimate_energy_j()
    return None if estimate is None else f"{estimate:.6g}"


def _check_header(header: str | None) -> str | None:
    if header is None:
        return None
    name = header.strip()
    if not name or any(c in name for c in " \t\r\n:"):
        raise ValueError(f"invalid response header name {header!r}: use e.g. 'X-Energy-Joules'")
    return name


class EnergyMiddleware:
    """ASGI middleware that meters the energy of each HTTP request.

    Args:
        app: the ASGI application to wrap.
        meter: an existing meter to use (its owner starts and stops it).
        header: name of a response header for the provisional energy in
            joules (e.g. ``"X-Energy-Joules"``); ``None`` (default) adds none.
        exclude_paths: request paths passed through unmetered.
        **meter_options: arguments of
            :class:`~wattprint.serve.meter.EnergyMeter` (``project``,
            ``region``, ``interval_s``...) when no ``meter`` is given.

    Raises:
        ValueError: an invalid header name.
    """

    def __init__(self, app: ASGIApp, *, meter: EnergyMeter | None = None,
                 header: str | None = None, exclude_paths: Sequence[str] = (),
                 **meter_options: Any) -> None:
        self.app = app
        self._owns_meter = meter is None
        self.meter = meter if meter is not None else EnergyMeter(**meter_options)
        self.header = _check_header(header)
        self._header_bytes = self.header.lower().encode("latin-1") if self.header else b""
        self.exclude_paths = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        kind = scope.get("type")
        if kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if kind != "http" or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        req = self.meter.request(f"{scope.get('method', '')} {scope.get('path', '')}")
        req.__enter__()

        async def metered_send(message: Message) -> None:
            mtype = message.get("type")
            if mtype == "http.response.start" and self.header:
                value = _header_value(req)
                if value is not None:
                    headers = list(message.get("headers", []))
                    headers.append((self._header_bytes, value.encode("latin-1")))
                    message["headers"] = headers
            await send(message)
            if mtype == "http.response.body" and not message.get("more_body", False):
                req.finish()

        try:
            await self.app(scope, receive, metered_send)
        finally:
            req.finish()

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if self._owns_meter:
                mtype = message.get("type")
                if mtype == "lifespan.startup":
                    self.meter.start_or_disable()  # the app starts even if metering cannot
                elif mtype == "lifespan.shutdown":
                    _stop_quietly(self.meter)
            return message

        return wrapped


def _stop_quietly(meter: EnergyMeter) -> None:
    try:
        meter.stop()
    except Exception as exc:  # shutting down the app matters more than the last totals
        log.error("wattprint meter did not stop cleanly: %s", exc)


class _MeteredBody:
    """The response iterable of a WSGI app, ending the request when the server closes it."""

    def __init__(self, body: Iterable[bytes], req: MeteredRequest) -> None:
        self._body = body
        self._req = req

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        """Close the wrapped iterable (PEP 3333), then end the request."""
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._req.finish()


class EnergyWSGIMiddleware:
    """WSGI middleware that meters the energy of each request.

    Wrap the WSGI callable, e.g. Flask's ``app.wsgi_app``.

    Args:
        app: the WSGI application to wrap.
        meter: an existing meter to use (its owner starts and stops it).
        header: name of a response header for the provisional energy in
            joules; ``None`` (default) adds none.
        exclude_paths: ``PATH_INFO`` values passed through unmetered.
        **meter_options: arguments of
            :class:`~wattprint.serve.meter.EnergyMeter` when no ``meter`` is
            given. That meter starts with the first request and stops at
            interpreter exit, or call :meth:`EnergyMeter.stop
            <wattprint.serve.meter.EnergyMeter.stop>` on :attr:`meter`.

    Raises:
        ValueError: an invalid header name.
    """

    def __init__(self, app: WSGIApp, *, meter: EnergyMeter | None = None,
                 header: str | None = None, exclude_paths: Sequence[str] = (),
                 **meter_options: Any) -> None:
        self.app = app
        self.meter = meter if meter is not None else EnergyMeter(**meter_options)
        self.header = _check_header(header)
        self.exclude_paths = frozenset(exclude_paths)

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Handle one WSGI request."""
        if environ.get("PATH_INFO") in self.exclude_paths:
            return self.app(environ, start_response)
        req = self.meter.request(
            f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}")
        req.__enter__()
        header = self.header

        def metered_start_response(status: str, headers: list[tuple[str, str]],
                                   exc_info: Any = None) -> Any:
            if header:
                value = _header_value(req)
                if value is not None:
                    headers = [*headers, (header, value)]
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, metered_start_response)
        except BaseException:
            req.finish()
            raise
        return _MeteredBody(body, req)
