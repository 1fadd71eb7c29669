"""The audit's pure parts with known inputs: closure, module names, RECORD, file kinds, traces."""

from __future__ import annotations

import sys

import pytest

from wattprint.audit.closure import classify, dependency_graph, required_by
from wattprint.audit.distributions import (
    make_distribution,
    module_name,
    normalize_name,
    parse_record,
    requirement_name,
)
from wattprint.audit.filekinds import file_kind
from wattprint.audit.trace import Trace, parse_trace_lines
from wattprint.audit.usage import trace_usage
from wattprint.errors import AuditError


def test_closure_statuses() -> None:
    graph = dependency_graph({"app": ["lib", "missing"], "lib": ["base"], "base": [],
                              "tool": ["base"], "lone": ["lone"]})
    assert graph == {"app": {"lib"}, "lib": {"base"}, "base": set(), "tool": {"base"},
                     "lone": set()}
    assert classify(graph, ["app"]) == {"app": "used", "lib": "dependency",
                                        "base": "dependency", "tool": "unused",
                                        "lone": "unused"}
    assert classify(graph, ["base"], keep=["tool"]) == {
        "app": "unused", "lib": "unused", "base": "used", "tool": "dependency",
        "lone": "unused"}
    assert required_by(graph)["base"] == {"lib", "tool"}


def test_requirement_and_module_names() -> None:
    assert normalize_name("Foo_Bar.baz") == "foo-bar-baz"
    assert requirement_name("idna (>=2.5)") == "idna"
    assert requirement_name('Typing_Extensions>=4; python_version < "3.11"') == \
        "typing-extensions"
    assert requirement_name('pytest; extra == "test"') is None
    assert module_name("a/b/__init__.py") == "a.b"
    assert module_name("six.py") == "six"
    assert module_name("a/_d.cpython-311-x86_64-linux-gnu.so") == "a._d"
    assert module_name("six-1.0.dist-info/RECORD") is None
    assert module_name("../../bin/tool") is None


def test_parse_record() -> None:
    text = 'six.py,sha256=x,200\n"a,b.txt",sha256=y,5\nsix-1.0.dist-info/RECORD,,\n'
    assert parse_record(text) == [("six.py", 200), ("a,b.txt", 5),
                                  ("six-1.0.dist-info/RECORD", None)]
    with pytest.raises(AuditError, match="row 1"):
        parse_record("six.py,sha256=x\n")
    with pytest.raises(AuditError, match="not a number"):
        parse_record("six.py,sha256=x,big\n")


@pytest.mark.parametrize(("path", "kind"), [
    ("numpy/core/tests/test_a.py", "tests"),
    ("pkg/test_thing.py", "tests"),
    ("pkg/docs/guide.txt", "docs"),
    ("pkg/README.md", "docs"),
    ("pkg/_x.cpython-311-x86_64-linux-gnu.so", "native"),
    ("pkg/_x.cpython-310-x86_64-linux-gnu.so", "other-platform"),
    ("pkg/helper.dll", "other-platform"),
    ("pkg/libfoo.so.1", "native"),
    ("pkg/mod.py", "code"),
    ("pkg/__pycache__/mod.cpython-311.pyc", "code"),
    ("model/weights.safetensors", "model"),
    ("pkg/data/table.csv", "data"),
    ("pkg-1.0.dist-info/METADATA", "metadata"),
    ("pkg/LICENSE", "other"),
])
def test_file_kinds(path: str, kind: str) -> None:
    suffixes = [".cpython-311-x86_64-linux-gnu.so", ".abi3.so", ".so"]
    assert file_kind(path, platform="linux", ext_suffixes=suffixes) == kind


def test_trace_lines_and_merge() -> None:
    trace = parse_trace_lines([
        "p\t10\t/usr/bin/python3", "i\tjson", "o\t/data/a\\nb.txt", "m\tjson\t/lib/json.py",
        "torn line", "i\tcsv", "o\t/data/x.csv"])
    assert trace.processes == 1
    assert trace.modules == {"json": "/lib/json.py", "csv": None}
    assert trace.opened == {"/data/a\nb.txt", "/data/x.csv"}
    other = Trace([["b"]], {"csv": "/lib/csv.py"}, {"/y"}, 2)
    merged = Trace([["a"]], trace.modules, trace.opened, 1).merge(other)
    assert merged.commands == [["a"], ["b"]]
    assert merged.modules == {"json": "/lib/json.py", "csv": "/lib/csv.py"}
    assert merged.processes == 3
    assert Trace.from_dict(merged.to_dict()) == merged
    with pytest.raises(AuditError, match="malformed"):
        Trace.from_dict({"commands": []})


def test_usage_pairs_sources_with_their_bytecode() -> None:
    dist = make_distribution("pkg", "1", "/site", [], [
        ("pkg/__init__.py", 10), ("pkg/__pycache__/__init__.cpython-311.pyc", 20),
        ("pkg/other.py", 30), ("lazy/__init__.py", 5)])
    other = make_distribution("lazy-dist", "2", "/site", [], [("lazymod.py", 1)])
    trace = Trace([], {"lazymod": None}, {"/site/pkg/__pycache__/__init__.cpython-311.pyc"}, 1)
    usage = trace_usage([dist, other], trace, root_of=lambda r: r, path_of=lambda p: p)
    assert usage.used == {"pkg", "lazy-dist"}
    assert usage.files == {"/site/pkg/__init__.py",
                           "/site/pkg/__pycache__/__init__.cpython-311.pyc"}
    assert usage.evidence["lazy-dist"] == ["lazymod"]


def test_html_without_matplotlib_draws_plain_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    from wattprint.audit.analysis import audit_environment
    from wattprint.audit.distributions import Environment
    from wattprint.audit.report import render_html

    used = make_distribution("used-pkg", "1.0", "/site", [], [("used_pkg.py", 3_000)])
    unused = make_distribution("big-pkg", "2.0", "/site", [], [("big_pkg.py", 1_500_000)])
    env = Environment({"executable": "/venv/bin/python", "version": "3.11.7"}, (used, unused))
    doc = audit_environment(env, Trace([["python", "x.py"]], {"used_pkg": None}, set(), 1))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    html = render_html(doc)
    assert "<svg" not in html
    assert 'class="bar-row"' in html
    # the largest bar is full width, the other in proportion: 3,000 / 1,500,000 = 0.2 %
    assert "width:100.0%;background:#d1495b" in html
    assert "width:0.5%;background:#2e933c" in html    # drawn at least 0.5 % wide
    assert "1.5 MB unused" in html and "3 kB used" in html
