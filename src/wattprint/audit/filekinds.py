"""What kind of file a path is: code, native library, tests, docs, model, data...

File-level bloat is the files inside a package the workload uses that it
never opened. Their kind says what they are and whether they could go:
test suites, documentation and binaries for another platform can always go
from a production image; model weights and data sets are often the largest
files of an ML image and belong to the workload, not to the software.

The kinds, tried in this order:

* ``metadata`` -- ``*.dist-info`` / ``*.egg-info`` contents (pip needs them);
* ``tests`` -- under a ``tests``/``test``/``testing`` directory, or ``test_*.py``;
* ``docs`` -- under ``doc``/``docs``/``examples``, or ``.md``, ``.rst``, ``.html``...;
* ``other-platform`` -- a native binary for another system or Python
  (``.dll``/``.pyd``/``.dylib`` on Linux, ``.so`` on Windows, an extension
  module whose ``cpython-3XX-<arch>`` tag is not one this Python loads);
* ``native`` -- a shared library or extension module for this platform;
* ``code`` -- ``.py``, ``.pyi``, ``.pyc``;
* ``model`` -- weights: ``.safetensors``, ``.pt``, ``.pth``, ``.ckpt``, ``.onnx``,
  ``.h5``, ``.gguf``, ``.tflite``, ``.pb``, ``.bin``, ``.msgpack``...;
* ``data`` -- ``.csv``, ``.json``, ``.parquet``, ``.npy``, ``.npz``, ``.arrow``,
  ``.txt``, ``.tfrecord``, images, archives...;
* ``other`` -- the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

KINDS = ("metadata", "tests", "docs", "other-platform", "native", "code", "model", "data",
         "other")

MODEL_EXTENSIONS = frozenset({
    ".safetensors", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".hdf5", ".keras", ".gguf",
    ".ggml", ".tflite", ".pb", ".bin", ".msgpack", ".mlmodel", ".joblib", ".pkl", ".pickle",
    ".engine", ".plan", ".params", ".caffemodel"})
DATA_EXTENSIONS = frozenset({
    ".csv", ".tsv", ".json", ".jsonl", ".parquet", ".arrow", ".feather", ".npy", ".npz",
    ".tfrecord", ".txt", ".xml", ".yaml", ".yml", ".png", ".jpg", ".jpeg", ".gif", ".wav",
    ".mp3", ".mp4", ".zip", ".gz", ".tar", ".bz2", ".xz", ".zst", ".db", ".sqlite", ".dat",
    ".mat", ".nc", ".avro", ".ttf", ".otf", ".afm", ".svg", ".ico"})
_DOC_EXTENSIONS = frozenset({".md", ".rst", ".html", ".htm", ".pdf", ".ipynb", ".tex"})
_TEST_DIRS = frozenset({"tests", "test", "testing"})
_DOC_DIRS = frozenset({"doc", "docs", "examples", "example"})
_NATIVE_FOREIGN = {"linux": (".dll", ".pyd", ".dylib", ".exe"),
                   "darwin": (".dll", ".pyd", ".exe"),
                   "win32": (".dylib",)}
_TAGGED_SO = re.compile(r"\.(cpython|pypy)[-0-9a-z_]*\.(so|pyd)$")
_METADATA_DIR = re.compile(r"\.(dist|egg)-info$")


def _suffix(base: str) -> str:
    dot = base.rfind(".")
    return base[dot:].lower() if dot > 0 else ""


def file_kind(path: str, *, platform: str = "linux",
              ext_suffixes: Sequence[str] | None = None) -> str:
    """The kind of the file at ``path`` (one of :data:`KINDS`).

    Args:
        path: a ``/``-separated path (absolute or relative).
        platform: ``sys.platform`` of the system that runs the files.
        ext_suffixes: extension-module endings that Python loads
            (``importlib.machinery.EXTENSION_SUFFIXES``); ``None`` when unknown,
            then tagged extension modules are taken as native.
    """
    parts = path.split("/")
    base = parts[-1]
    dirs = [p.lower() for p in parts[:-1]]
    if any(_METADATA_DIR.search(d) for d in dirs):
        return "metadata"
    if any(d in _TEST_DIRS for d in dirs) or (base.startswith("test_") and base.endswith(".py")):
        return "tests"
    suffix = _suffix(base)
    if any(d in _DOC_DIRS for d in dirs) or suffix in _DOC_EXTENSIONS:
        return "docs"
    lower = base.lower()
    if lower.endswith(_NATIVE_FOREIGN.get(platform, ())):
        return "other-platform"
    if platform == "win32" and (lower.endswith(".so") or ".so." in lower):
        return "other-platform"
    tagged = _TAGGED_SO.search(lower)
    own_tags = [s for s in ext_suffixes or () if s.count(".") > 1]  # not the bare ".so"
    if tagged and own_tags and not any(lower.endswith(s) for s in own_tags):
        return "other-platform"
    if lower.endswith((".so", ".pyd", ".dll", ".dylib")) or ".so." in lower:
        return "native"
    if suffix in (".py", ".pyi", ".pyc"):
        return "code"
    if suffix in MODEL_EXTENSIONS:
        return "model"
    if suffix in DATA_EXTENSIONS:
        return "data"
    return "other"


__all__ = ["DATA_EXTENSIONS", "KINDS", "MODEL_EXTENSIONS", "file_kind"]
