"""The one HTTP client: retries, back-off, time-outs, bounded bodies, redirects, disk cache."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from wattprint.httpclient import HttpClient, HttpError, JsonCache, keeps_credentials

SECRETS = {
    "Authorization": "Bearer secret-bearer-1",
    "auth-token": "secret-token-2",
    "X-Api-Key": "secret-key-3",
}


class Recorder:
    """A MockTransport handler that answers from a list and keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request],
                                                                          httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


def client(handler: Recorder, sleeps: list[float] | None = None, **kwargs: object) -> HttpClient:
    record = sleeps if sleeps is not None else []
    return HttpClient(transport=httpx.MockTransport(handler), sleep=record.append,
                      secret_headers=("auth-token", "X-Api-Key"), **kwargs)  # type: ignore[arg-type]


def redirect(to: str, status: int = 302) -> httpx.Response:
    return httpx.Response(status, headers={"Location": to})


# ----------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.net/steal",   # another host
        "https://api.example.com:8443/b",   # another port
        "http://api.example.com/b",         # same host, plain http
    ],
)
def test_credentials_never_follow_a_redirect_off_the_https_origin(target: str) -> None:
    handler = Recorder(redirect(target), httpx.Response(200, json={"ok": True}))
    response = client(handler).get("https://api.example.com/a",
                                   headers={**SECRETS, "X-Trace": "t-1"})
    assert response.status == 200 and response.json() == {"ok": True}
    first, second = handler.requests
    assert str(second.url) == target
    for name, value in SECRETS.items():
        assert first.headers[name] == value
        assert name not in second.headers
        assert all(value not in v for v in second.headers.values())
    assert second.headers["X-Trace"] == "t-1"  # only the credentials are dropped


def test_same_origin_https_redirect_keeps_credentials() -> None:
    handler = Recorder(redirect("/v2/b", 307), httpx.Response(200, json=[1]))
    client(handler).get("https://api.example.com/a", headers=SECRETS)
    second = handler.requests[1]
    assert str(second.url) == "https://api.example.com/v2/b"
    for name, value in SECRETS.items():
        assert second.headers[name] == value


def test_credentials_dropped_once_stay_dropped_back_on_the_origin() -> None:
    handler = Recorder(redirect("https://cdn.example.net/x"),
                       redirect("https://api.example.com/y"),
                       httpx.Response(200, json={}))
    client(handler).get("https://api.example.com/a", headers=SECRETS)
    assert [str(r.url) for r in handler.requests] == [
        "https://api.example.com/a", "https://cdn.example.net/x", "https://api.example.com/y"]
    for request in handler.requests[1:]:
        assert not set(SECRETS) & set(request.headers)


def test_plain_http_origin_sends_no_credential_on_a_redirect() -> None:
    handler = Recorder(redirect("/b"), httpx.Response(200, json={}))
    client(handler).get("http://127.0.0.1:9464/a", headers=SECRETS)
    assert "Authorization" not in handler.requests[1].headers


def test_redirect_loops_and_odd_schemes_are_errors() -> None:
    loop = Recorder(redirect("/again"))
    with pytest.raises(HttpError, match="more than 5 redirects") as info:
        client(loop).get("https://api.example.com/a")
    assert info.value.kind == "redirect" and len(loop.requests) == 6
    with pytest.raises(HttpError, match="non-HTTP URL"):
        client(Recorder(redirect("file:///etc/passwd"))).get("https://api.example.com/a")


def test_keeps_credentials_rule() -> None:
    assert keeps_credentials("https://a.example/x", "https://A.example:443/y")
    assert not keeps_credentials("https://a.example/x", "https://a.example:444/y")
    assert not keeps_credentials("https://a.example/x", "http://a.example/y")
    assert not keeps_credentials("http://a.example/x", "http://a.example/y")
    assert not keeps_credentials("https://a.example/x", "https://b.example/y")


@pytest.fixture
def two_servers() -> Iterator[tuple[str, str, list[dict[str, str]]]]:
    """Server A redirects everything to server B (another port: another origin)."""
    seen_by_b: list[dict[str, str]] = []
    servers: list[ThreadingHTTPServer] = []

    class B(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen_by_b.append({k.lower(): v for k, v in self.headers.items()})
            body = b'{"from": "b"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    b = ThreadingHTTPServer(("127.0.0.1", 0), B)
    b_url = f"http://127.0.0.1:{b.server_address[1]}"

    class A(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", b_url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    a = ThreadingHTTPServer(("127.0.0.1", 0), A)
    servers = [a, b]
    threads = [threading.Thread(target=s.serve_forever, args=(0.02,), daemon=True)
               for s in servers]
    for t in threads:
        t.start()
    yield f"http://127.0.0.1:{a.server_address[1]}", b_url, seen_by_b
    for s in servers:
        s.shutdown()
        s.server_close()


def test_real_redirect_to_another_port_carries_no_credential(
        two_servers: tuple[str, str, list[dict[str, str]]]) -> None:
    a_url, _, seen_by_b = two_servers
    response = HttpClient(secret_headers=("auth-token", "X-Api-Key"), trust_env=False).get(
        a_url + "/data?x=1", headers=SECRETS)
    assert response.json() == {"from": "b"}
    (headers,) = seen_by_b
    for name, value in SECRETS.items():
        assert name.lower() not in headers
        assert all(value not in v for v in headers.values())


# ----------------------------------------------------------------------------- retries


def test_busy_statuses_are_retried_with_doubling_back_off() -> None:
    sleeps: list[float] = []
    handler = Recorder(httpx.Response(503), httpx.Response(502), httpx.Response(200, json=7))
    response = client(handler, sleeps).get("https://api.example.com/a")
    assert response.status == 200 and response.json() == 7
    assert len(handler.requests) == 3 and sleeps == [0.1, 0.2]


def test_retries_are_bounded_and_500_is_not_retried() -> None:
    sleeps: list[float] = []
    busy = Recorder(httpx.Response(503))
    assert client(busy, sleeps).get("https://api.example.com/a").status == 503
    assert len(busy.requests) == 3 and sleeps == [0.1, 0.2]  # 1 try + 2 retries
    broken = Recorder(httpx.Response(500))
    assert client(broken).get("https://api.example.com/a").status == 500
    assert len(broken.requests) == 1
    never = Recorder(httpx.Response(503))
    assert client(never, retries=0).get("https://api.example.com/a").status == 503
    assert len(never.requests) == 1


def test_retry_after_is_honoured_only_when_short() -> None:
    sleeps: list[float] = []
    short = Recorder(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200))
    assert client(short, sleeps).get("https://api.example.com/a").status == 200
    assert sleeps == [1.0]
    long_wait = Recorder(httpx.Response(429, headers={"Retry-After": "120"}))
    assert client(long_wait, sleeps).get("https://api.example.com/a").status == 429
    assert len(long_wait.requests) == 1 and sleeps == [1.0]


def test_connection_errors_are_retried_then_reported() -> None:
    sleeps: list[float] = []
    flaky = Recorder(httpx.ConnectError("refused"), httpx.Response(200, json={}))
    assert client(flaky, sleeps).get("https://api.example.com/a").status == 200
    assert len(flaky.requests) == 2 and sleeps == [0.1]
    down = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(HttpError, match=r"cannot connect to https://api.example.com/a "
                                        r"\(\[Errno 111\] Connection refused\)") as info:
        client(down).get("https://api.example.com/a?token=in-query")
    assert info.value.kind == "connect" and len(down.requests) == 3
    assert "in-query" not in str(info.value)


def test_time_outs_are_not_retried() -> None:
    slow = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(HttpError, match=r"did not answer within 0\.5 s") as info:
        client(slow, timeout_s=0.5).get("https://api.example.com/a")
    assert info.value.kind == "timeout" and info.value.reason == "timed out after 0.5 s"
    assert len(slow.requests) == 1


def test_body_size_is_bounded() -> None:
    ten = Recorder(httpx.Response(200, content=b"0123456789"))
    assert client(ten, max_body_bytes=10).get("https://x.example/").body == b"0123456789"
    eleven = Recorder(httpx.Response(200, content=b"0123456789A"))
    with pytest.raises(HttpError, match="over 10 bytes") as info:
        client(eleven, max_body_bytes=10).get("https://x.example/")
    assert info.value.kind == "too-large"


def test_query_and_default_headers() -> None:
    handler = Recorder(httpx.Response(200, json={}))
    client(handler).get("https://x.example/v3/a", params={"zone": "DE", "t": "10:00Z"})
    (request,) = handler.requests
    assert str(request.url) == "https://x.example/v3/a?zone=DE&t=10%3A00Z"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == "wattprint"


# ----------------------------------------------------------------------------- cache


def test_json_cache_freshness_and_damage(tmp_path: Path) -> None:
    now = [1000.0]
    cache = JsonCache(tmp_path / "c", namespace="api", clock=lambda: now[0])
    url = "https://x.example/a?zone=DE"
    assert cache.get(url, max_age_s=300) is None
    cache.put(url, {"g": 1})
    (file,) = (tmp_path / "c").iterdir()
    assert file.name.startswith("api-") and file.suffix == ".json"
    assert json.loads(file.read_text()) == {"fetched_at": 1000.0, "url": url, "body": {"g": 1}}
    now[0] = 1299.0
    assert cache.get(url, max_age_s=300) == {"g": 1}
    now[0] = 1300.0
    assert cache.get(url, max_age_s=300) is None
    other = JsonCache(tmp_path / "c", namespace="other", clock=lambda: now[0])
    assert other.get(url, max_age_s=1e9) is None  # namespaces do not share entries
    file.write_text("{not json")
    assert cache.get(url, max_age_s=1e9) is None


def test_json_cache_write_failure_is_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = JsonCache(blocker / "sub", namespace="api")
    cache.put("https://x.example/", {"g": 1})  # the folder cannot be made: logged, not raised
    assert cache.get("https://x.example/", max_age_s=300) is None
