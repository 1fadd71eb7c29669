"""The code blocks of one section of docs/integrations.md, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def blocks(heading: str, lang: str = "python") -> list[str]:
    """The ``lang`` fenced blocks under ``## heading`` (up to the next ``## ``)."""
    text = DOC.read_text("utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    found = re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)
    assert found, f"no {lang} block under ## {heading}"
    return found
