"""The instance type from the environment or from a (local, fake) cloud metadata service."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wattprint import cloudmeta

TOKEN = "tok-123"


class _Metadata(BaseHTTPRequestHandler):
    """Answers like AWS IMDSv2, GCP and Azure's metadata services, checking their headers."""

    cloud = "aws"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, text: str = "") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        if (self.cloud == "aws" and self.path == "/latest/api/token"
                and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")):
            return self._send(200, TOKEN)
        return self._send(404)

    def do_GET(self) -> None:
        if self.cloud == "aws" and self.path == "/latest/meta-data/instance-type":
            ok = self.headers.get("X-aws-ec2-metadata-token") == TOKEN
            return self._send(200, "m5.large") if ok else self._send(401)
        if (self.cloud == "gcp" and self.path == "/computeMetadata/v1/instance/machine-type"
                and self.headers.get("Metadata-Flavor") == "Google"):
            return self._send(200, "projects/123/machineTypes/e2-standard-4")
        if (self.cloud == "azure" and self.path.startswith("/metadata/instance/compute/vmSize")
                and self.headers.get("Metadata") == "true"):
            return self._send(200, "Standard_D4s_v3")
        return self._send(404)


def _serve(cloud: str) -> Iterator[str]:
    handler = type(f"{cloud}Handler", (_Metadata,), {"cloud": cloud})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def aws() -> Iterator[str]:
    yield from _serve("aws")


@pytest.fixture
def gcp() -> Iterator[str]:
    yield from _serve("gcp")


@pytest.fixture
def azure() -> Iterator[str]:
    yield from _serve("azure")


@pytest.fixture
def nothing() -> Iterator[str]:
    yield from _serve("none")  # a server that knows no metadata path


def test_each_cloud_answers_through_its_own_protocol(aws: str, gcp: str, azure: str) -> None:
    assert cloudmeta.aws_instance_type(aws) == "m5.large"
    assert cloudmeta.gcp_machine_type(gcp) == "e2-standard-4"
    assert cloudmeta.azure_vm_size(azure) == "Standard_D4s_v3"
    # another cloud's service does not answer the AWS protocol
    assert cloudmeta.aws_instance_type(gcp) is None


def test_detection_asks_in_turn_and_names_the_provider(nothing: str, azure: str) -> None:
    found = cloudmeta.detect_instance_type(aws_url=nothing, gcp_url=nothing, azure_url=azure)
    assert found == "azure:Standard_D4s_v3"
    assert cloudmeta.detect_instance_type(aws_url=nothing, gcp_url=nothing,
                                          azure_url=nothing) is None


def test_environment_first_and_detection_only_when_enabled(aws: str) -> None:
    assert cloudmeta.instance_type({"WATTPRINT_INSTANCE_TYPE": "c5.xlarge"},
                                   aws_url=aws) == "c5.xlarge"
    assert cloudmeta.instance_type({}, aws_url=aws) is None
    assert cloudmeta.instance_type({"WATTPRINT_CLOUD_METADATA": "1"}, aws_url=aws) == \
        "aws:m5.large"


def test_an_unreachable_service_ends_at_its_time_out() -> None:
    # a closed port on the loopback: refused at once, no answer
    assert cloudmeta.aws_instance_type("http://127.0.0.1:9", timeout_s=0.2) is None


def test_the_host_facts_record_the_instance_type(monkeypatch: pytest.MonkeyPatch) -> None:
    from wattprint import hostinfo

    monkeypatch.setenv("WATTPRINT_INSTANCE_TYPE", "m5.large")
    assert hostinfo.collect()["instance_type"] == "m5.large"
