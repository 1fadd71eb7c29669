"""One small HTTP client for every call wattprint makes to another machine.

wattprint talks HTTP in two places: the live carbon-intensity APIs
(:mod:`wattprint.accounting.live`) and the node agent
(:mod:`wattprint.serve.client`). Both go through :class:`HttpClient`, a thin
layer over `httpx <https://www.python-httpx.org>`_ that fixes the rules once:

* **Time-outs.** Every request waits at most ``timeout_s`` for each of
  connecting, sending and each read; a time-out is an :class:`HttpError`
  with ``kind == "timeout"`` and is not retried (the caller's budget is
  already spent).
* **Retries with back-off.** A connection that fails (refused, reset, closed
  before an answer) and the answers that mean "try again" -- 429 Too Many
  Requests, 502, 503 and 504 -- are retried at most ``retries`` times, after
  ``backoff_s``, then twice that, and so on (capped at ``max_backoff_s``). A
  ``Retry-After`` in seconds is honoured when it fits under that cap;
  when it does not, the answer is returned as it is. Other statuses,
  500 included, come back at once: the caller decides what they mean.
* **Bounded bodies.** A body over ``max_body_bytes`` (after decompression)
  is refused, so a misbehaving server cannot fill memory.
* **Credentials never leave their origin.** ``Authorization``,
  ``Proxy-Authorization``, ``Cookie`` and any header the caller names in
  ``secret_headers`` (Electricity Maps' ``auth-token``) are sent to the URL
  asked for. Redirects are followed (at most :data:`MAX_REDIRECTS`), but a
  redirect keeps those headers only when it stays on the same origin
  (scheme, host and port) *and* that origin is https. A redirect to another
  host or port, or to plain http, is followed without them, and they stay
  dropped for the rest of the chain. httpx itself strips only
  ``Authorization`` on a cross-origin redirect, so redirects are followed
  here, hop by hop, rather than by httpx.
* **An injectable transport.** ``transport`` replaces the network: tests
  pass an ``httpx.MockTransport`` to answer requests in-process.

:class:`JsonCache` keeps parsed JSON answers on disk, keyed by URL (which
never holds a credential), each written atomically (a temporary file in the
same folder, then renamed).

httpx is imported when the first request is sent, not when wattprint is
imported: the CLI starts without paying for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattprint.atomic import write_atomic
from wattprint.errors import HttpError, WattprintError

if TYPE_CHECKING:
    import ssl

    import httpx

logger = logging.getLogger(__name__)

__all__ = [
    "ALWAYS_SECRET_HEADERS",
    "DEFAULT_BACKOFF_S",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "MAX_REDIRECTS",
    "RETRY_STATUSES",
    "HttpClient",
    "HttpError",
    "HttpResponse",
    "JsonCache",
    "keeps_credentials",
    "with_query",
]

#: Seconds a connect, a send or a read may take.
DEFAULT_TIMEOUT_S = 2.0
#: How many times a failed connection or a "try again" status is retried.
DEFAULT_RETRIES = 2
#: Seconds before the first retry; each further retry waits twice as long.
DEFAULT_BACKOFF_S = 0.1
#: Longest wait before a retry, seconds.
DEFAULT_MAX_BACKOFF_S = 2.0
#: Statuses that mean "the server is busy or restarting: ask again".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Largest body read, bytes (after content decoding).
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: Redirects followed before giving up.
MAX_REDIRECTS = 5
#: Headers that are credentials whatever the caller says.
ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer, read whole.

    Attributes:
        status: the status code.
        reason: the reason phrase (``Not Found``).
        url: the URL that answered (after redirects).
        headers: response headers, keys in lower case.
        body: the body, content-decoded.
    """

    status: int
    reason: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as UTF-8 JSON.

        Raises:
            ValueError: the body is not UTF-8 JSON.
        """
        return json.loads(self.body.decode("utf-8"))


def with_query(url: str, params: Mapping[str, str] | None) -> str:
    """``url`` with ``params`` appended as a query string (none: ``url`` as it is)."""
    if not params:
        return url
    return f"{url}?{urllib.parse.urlencode(params)}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def keeps_credentials(first_url: str, target_url: str) -> bool:
    """Whether a redirect from ``first_url`` to ``target_url`` may carry credentials.

    Only when both are the same origin (scheme, host, port) and that origin
    is https: a redirect never carries a credential to another host or port,
    nor over plain http.
    """
    origin = _origin(first_url)
    return origin[0] == "https" and _origin(target_url) == origin


class HttpClient:
    """GET JSON (or anything) from HTTP servers with wattprint's rules (module docstring).

    Args:
        timeout_s: time-out of each connect, send and read, seconds.
        retries: how many times a failed connection or a status in
            ``retry_statuses`` is retried (0: never).
        backoff_s: wait before the first retry, seconds; doubled each time.
        max_backoff_s: longest wait before a retry, seconds.
        retry_statuses: statuses that are retried.
        max_body_bytes: largest body accepted, bytes.
        secret_headers: names of headers, beyond :data:`ALWAYS_SECRET_HEADERS`,
            that carry credentials (case-insensitive).
        trust_env: whether to honour ``HTTP(S)_PROXY``, ``NO_PROXY`` and
            ``SSL_CERT_FILE`` from the environment (false: connect directly).
        transport: an httpx transport to use instead of the network (tests:
            ``httpx.MockTransport``).
        verify: check the server's TLS certificate (``True``), not at all
            (``False``: a BMC with a self-signed certificate on a trusted
            management network), or against the CA bundle at this path.
        user_agent: the ``User-Agent`` header.
        sleep: how to wait between retries (tests pass a recorder).
    """

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
        retry_statuses: Iterable[int] = RETRY_STATUSES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        secret_headers: Iterable[str] = (),
        trust_env: bool = True,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
        user_agent: str = "wattprint",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout_s = timeout_s
        self.retries = max(0, int(retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.retry_statuses = frozenset(retry_statuses)
        self.max_body_bytes = max_body_bytes
        self.secret_headers = ALWAYS_SECRET_HEADERS | {h.lower() for h in secret_headers}
        self.trust_env = trust_env
        self.transport = transport
        self.verify = verify
        self.user_agent = user_agent
        self._sleep = sleep
        self._ssl_context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"HttpClient(timeout_s={self.timeout_s:g}, retries={self.retries})"

    def _open(self) -> httpx.Client:
        # One httpx client per call, closed when the call ends, so no socket
        # outlives it; the TLS context (the costly part, certificates loaded
        # once) is shared between calls.
        import httpx

        if self.transport is None and self._ssl_context is None and self.verify is not False:
            if isinstance(self.verify, str):
                import ssl

                self._ssl_context = ssl.create_default_context(cafile=self.verify)
            else:
                self._ssl_context = httpx.create_ssl_context(trust_env=self.trust_env)
        return httpx.Client(
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            trust_env=self.trust_env,
            transport=self.transport,
            verify=False if self.verify is False else (self._ssl_context or True),
            headers={"User-Agent": self.user_agent},
        )

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """GET ``url``, following redirects by the credential rule; any status is returned.

        Args:
            url: an http or https URL.
            params: query parameters to append.
            headers: request headers; the secret ones never leave the origin.

        Returns:
            The final answer, whatever its status.

        Raises:
            HttpError: no usable answer (time-out, failed connection after the
                retries, body too large, too many redirects).
        """
        with self._open() as client:
            return self._follow(client, with_query(url, params), headers or {})

    def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send a request other than GET (``POST`` JSON, ``DELETE``); redirects are not followed.

        Args:
            method: the HTTP method.
            url: an http or https URL.
            json_body: a body to send as JSON (``None``: no body).
            headers: request headers.

        Returns:
            The answer, whatever its status.

        Raises:
            HttpError: no usable answer (time-out, failed connection after the retries).
        """
        sent = {"Accept": "application/json", **(headers or {})}
        content = None
        if json_body is not None:
            content = json.dumps(json_body).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        with self._open() as client:
            return self._get_with_retries(client, url, sent, method=method, content=content)

    def _follow(
        self, client: httpx.Client, first: str, headers: Mapping[str, str]
    ) -> HttpResponse:
        current = first
        sent = {"Accept": "application/json", **headers}
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._get_with_retries(client, current, sent)
            location = response.headers.get("location")
            if response.status not in _REDIRECT_STATUSES or not location:
                return response
            target = urllib.parse.urljoin(current, location)
            if urllib.parse.urlsplit(target).scheme.lower() not in _DEFAULT_PORTS:
                raise HttpError(
                    f"redirect from {_safe(current)} to a non-HTTP URL", kind="redirect",
                    reason="redirect to a non-HTTP URL",
                )
            if not keeps_credentials(first, target):
                dropped = [k for k in sent if k.lower() in self.secret_headers]
                if dropped:
                    logger.debug(
                        "redirect from %s to another origin or to http: not sending %s",
                        _safe(current), ", ".join(sorted(dropped)),
                    )
                sent = {k: v for k, v in sent.items() if k.lower() not in self.secret_headers}
            current = target
        raise HttpError(
            f"more than {MAX_REDIRECTS} redirects from {_safe(first)}", kind="redirect",
            reason=f"more than {MAX_REDIRECTS} redirects",
        )

    def _get_with_retries(
        self, client: httpx.Client, url: str, headers: Mapping[str, str], *,
        method: str = "GET", content: bytes | None = None,
    ) -> HttpResponse:
        import httpx

        attempt = 0
        while True:
            try:
                response = self._get_once(client, url, headers, method=method, content=content)
            except httpx.TimeoutException as exc:
                raise HttpError(
                    f"{_safe(url)} did not answer within {self.timeout_s:g} s", kind="timeout",
                    reason=f"timed out after {self.timeout_s:g} s",
                ) from exc
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if attempt < self.retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise HttpError(
                    f"cannot connect to {_safe(url)} ({_reason(exc)})", kind="connect",
                    reason=_reason(exc),
                ) from exc
            except httpx.HTTPError as exc:
                raise HttpError(
                    f"request to {_safe(url)} failed ({type(exc).__name__})", kind="request",
                    reason=f"request failed ({type(exc).__name__})",
                ) from exc
            if response.status in self.retry_statuses and attempt < self.retries:
                delay = self._retry_delay(attempt, response)
                if delay is not None:
                    logger.debug("%s answered %d; retrying in %.2f s",
                                 _safe(url), response.status, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
            return response

    def _get_once(
        self, client: httpx.Client, url: str, headers: Mapping[str, str], *,
        method: str = "GET", content: bytes | None = None,
    ) -> HttpResponse:
        request = client.build_request(method, url, headers=dict(headers), content=content)
        response = client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise HttpError(
                        f"the answer of {_safe(url)} is over {self.max_body_bytes} bytes",
                        kind="too-large", reason="body too large",
                    )
                chunks.append(chunk)
        finally:
            response.close()
        return HttpResponse(
            status=response.status_code,
            reason=response.reason_phrase,
            url=str(response.url),
            headers={k.lower(): v for k, v in response.headers.items()},
            body=b"".join(chunks),
        )

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff_s * 2**attempt, self.max_backoff_s))

    def _retry_delay(self, attempt: int, response: HttpResponse) -> float | None:
        retry_after = response.headers.get("retry-after", "").strip()
        if retry_after:
            try:
                seconds = float(retry_after)
            except ValueError:
                return self._backoff(attempt)  # an HTTP date: keep to our own back-off
            if not 0 <= seconds <= self.max_backoff_s:
                return None  # longer than we wait: let the caller see the answer
            return max(seconds, self._backoff(attempt))
        return self._backoff(attempt)


def _safe(url: str) -> str:
    """``url`` without user info or query (neither belongs in a message or a log)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


class JsonCache:
    """Parsed JSON answers on disk, one file per (namespace, URL), fresh for a while.

    The key is the URL (never a credential: credentials travel in headers);
    the file name is a hash of it, the file holds the time it was fetched,
    the URL (checked on read, against hash collisions) and the body. A
    file that cannot be read or written is treated as a miss: the cache
    never fails a request.

    Args:
        directory: the folder (created on the first write), or a callable
            giving it when first needed.
        namespace: prefix of the file names (one per API).
        clock: time source, UTC epoch seconds.
    """

    def __init__(
        self,
        directory: Path | Callable[[], Path],
        *,
        namespace: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self.namespace = namespace
        self._clock = clock

    @property
    def directory(self) -> Path:
        """The cache folder."""
        if callable(self._directory):
            self._directory = Path(self._directory())
        return self._directory

    def path(self, url: str) -> Path:
        """The file that caches ``url``."""
        digest = hashlib.sha256(f"{self.namespace}\n{url}".encode()).hexdigest()[:32]
        return self.directory / f"{self.namespace}-{digest}.json"

    def get(self, url: str, *, max_age_s: float) -> Any:
        """The cached body of ``url`` if fetched less than ``max_age_s`` ago, else ``None``."""
        try:
            entry = json.loads(self.path(url).read_text(encoding="utf-8"))
            fresh = self._clock() - float(entry["fetched_at"]) < max_age_s
            return entry["body"] if fresh and entry.get("url") == url else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, url: str, body: Any) -> None:
        """Cache ``body`` as the answer of ``url`` (atomically; failures are logged, not raised)."""
        path = self.path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"fetched_at": self._clock(), "url": url, "body": body})
            write_atomic(path, text)
        except (OSError, TypeError, ValueError, WattprintError) as exc:
            logger.debug("cannot cache the answer in %s: %s", path.parent, exc)
