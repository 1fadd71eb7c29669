"""Imports flow one way: down the layers drawn in docs/architecture.md.

Every module of src/wattprint is parsed (ast, nothing is imported) and each
``import``/``from ... import`` of a wattprint module, at module level or
inside a function, is checked against the layer table below. A module may
import from its own layer or any layer beneath it, never from above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "wattprint"

# Top-level module or package of wattprint -> its layer (0 = facts, 5 = edges).
LAYERS: dict[str, int] = {
    "errors": 0, "units": 0, "time": 0, "records": 0, "config": 0, "catalogue": 0,
    "data": 0, "hostinfo": 0, "procfs": 0, "signals": 0, "httpclient": 0, "_version": 0,
    "validate": 0, "atomic": 0, "extras": 0, "cloudmeta": 0,
    "sensors": 1,
    "sampling": 2, "attribution": 2, "distributed": 2,
    "store": 3, "accounting": 3,
    "run": 4, "report": 4, "schedule": 4, "serve": 4, "decide": 4, "audit": 4,
    "agent_client": 4,
    "cli": 5, "integrations": 5, "testing": 5, "__main__": 5, "__init__": 6,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _top(module: str) -> str:
    """``wattprint.accounting.series`` -> ``accounting``; ``wattprint`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imported_modules(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = _module_name(path) if path.name == "__init__.py" else \
            _module_name(path).rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] == "wattprint"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.split(".")[0] == "wattprint":
                if name == "wattprint":  # ``from wattprint import x``: x may be a submodule
                    found += [(node.lineno, f"wattprint.{a.name}") if a.name in LAYERS
                              else (node.lineno, name) for a in node.names]
                else:
                    found.append((node.lineno, name))
    return found


# Pairs that the layer numbers allow but the design does not: accounting and
# sensors share hardware facts through catalogue/, never through each other.
FORBIDDEN: set[tuple[str, str]] = {("accounting", "sensors")}

MODULES = sorted(SRC.rglob("*.py"))


def test_every_top_level_module_has_a_layer() -> None:
    tops = {_top(_module_name(p)) for p in MODULES}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {sorted(tops - set(LAYERS))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_down_the_layers(path: Path) -> None:
    me = _top(_module_name(path))
    upward = [
        f"line {line}: {name} (layer {LAYERS.get(_top(name))}) from layer {LAYERS[me]}"
        for line, name in _imported_modules(path)
        if LAYERS.get(_top(name), 99) > LAYERS[me] or (me, _top(name)) in FORBIDDEN
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The parser resolves absolute, relative and function-level imports."""
    pkg = SRC / "sensors" / "rapl.py"
    names = dict((n, line) for line, n in _imported_modules(pkg))
    assert any(n.startswith("wattprint.sensors") for n in names)
    fake = tmp_path / "probe.py"
    fake.write_text("import os\n\ndef f():\n    from wattprint.report import appendix\n"
                    "    from ..store import Store\n    from . import units\n")
    assert sorted(_imported_modules(fake, package="wattprint.sensors")) == [
        (4, "wattprint.report"), (5, "wattprint.store"), (6, "wattprint.sensors")]
