"""A path no route pattern can match (a newline in it) is a JSON 404 like any unknown path."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.serve.test_agent import start_agent, stop_agent


def test_a_path_with_a_newline_is_a_json_404(tmp_path: Path) -> None:
    agent = start_agent(tmp_path / "agent")
    try:
        # the request schemathesis once sent: an encoded newline inside the pid
        for path in ("/v1/processes/%F1%A2%85%B9%C3%B0%C2%A2%0A%29%C3%8B1%3F", "/%0A"):
            answer = httpx.get(agent.url + path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"] == "application/json"
            assert "no such endpoint" in answer.json()["error"]
    finally:
        stop_agent(agent)
