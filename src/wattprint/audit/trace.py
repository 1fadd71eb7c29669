"""Tracing what a workload imports and opens, with no change to the workload.

The command runs with a directory put first on its ``PYTHONPATH`` that holds a
``sitecustomize.py``. Python imports ``sitecustomize`` at start-up (the
:mod:`site` module does, unless ``-S``, ``-I`` or ``-E`` is given), and ours
installs an audit hook (:func:`sys.addaudithook`, PEP 578) that sees two
events:

* ``import`` -- a module is being imported for the first time in this
  process (its dotted name);
* ``open`` -- a file is opened by :func:`open`, :func:`os.open` or the import
  system reading a ``.py`` / ``.pyc`` (the path).

When the process exits, the hook's ``atexit`` handler also writes every module
in :data:`sys.modules` with its ``__file__``, and on Linux every file mapped
into the process (``/proc/self/maps``): that catches extension modules and the
shared libraries they link (loaded by ``dlopen``, which raises no ``open``
event), the interpreter itself, and modules imported before the hook was
installed.

Python subprocesses inherit the environment, so they load the same
``sitecustomize`` and are traced too (``subprocess``, ``multiprocessing``,
a shell script that calls ``python``). Each process appends to its own file
(``trace-<pid>-<random>.log``) with single ``os.write`` calls on a descriptor
opened in append mode: no locks, and a forked child that shares the
descriptor still writes whole lines. A ``sitecustomize`` that the
environment already had is found on the rest of ``sys.path`` and run after
ours, so tracing does not take it away.

Limits (the audit says them in its report): a run only shows the paths it
took -- code behind a flag, an error handler or another input is not seen, so
run several representative commands and merge them with ``--append``; a
Python started with ``-S``, ``-I`` or ``-E``, or a program that clears
``PYTHONPATH`` for its children, is not traced; files read by native code
(C/C++ libraries opening their own data) are not seen, though the extension
module that loaded them is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattprint.errors import AuditError

#: environment variable naming the directory where traced processes write
TRACE_DIR_ENV = "WATTPRINT_AUDIT_TRACE_DIR"

#: the child-side tracer; plain Python 3.8+ syntax, since it runs in the target interpreter
SITECUSTOMIZE = r'''"""wattprint audit: record what this Python process imports and opens."""


def _wattprint_audit_install():
    import os
    import sys

    directory = os.environ.get("WATTPRINT_AUDIT_TRACE_DIR")
    if not directory or not hasattr(sys, "addaudithook"):
        return
    name = "trace-%d-%s.log" % (os.getpid(), os.urandom(4).hex())
    try:
        fd = os.open(os.path.join(directory, name),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return
    seen = set()
    join, isabs, getcwd, fsdecode = os.path.join, os.path.isabs, os.getcwd, os.fsdecode

    def write(kind, text):
        line = kind + "\t" + text
        if line in seen:
            return
        seen.add(line)
        text = text.replace("\\", "\\\\").replace("\n", "\\n")
        try:
            os.write(fd, (kind + "\t" + text + "\n").encode("utf-8", "surrogateescape"))
        except OSError:
            pass

    def hook(event, args):
        try:
            if event == "open":
                path = args[0]
                if isinstance(path, int):
                    return
                path = fsdecode(path)
                if not isabs(path):
                    path = join(getcwd(), path)
                write("o", path)
            elif event == "import":
                write("i", args[0])
        except Exception:
            pass

    def modules():
        for mod_name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                write("m", mod_name + "\t" + path)
        try:  # shared libraries mapped by dlopen raise no open event; Linux lists them here
            with open("/proc/self/maps") as maps:
                for line in maps:
                    fields = line.rstrip("\n").split(None, 5)
                    if len(fields) == 6 and fields[5].startswith("/"):
                        write("o", fields[5])
        except OSError:
            pass

    write("p", "%d\t%s" % (os.getpid(), sys.executable))
    sys.addaudithook(hook)
    import atexit

    atexit.register(modules)


def _wattprint_audit_chain():
    # run the sitecustomize this environment had before ours shadowed it
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_wattprint_audit_install()
try:
    _wattprint_audit_chain()
except Exception as _exc:  # the environment's own file failed: say so, as site would
    import sys as _sys

    _sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                      "%s: %s\n" % (_exc.__class__.__name__, _exc))
'''


@dataclass
class Trace:
    """What one or more traced commands imported and opened.

    Attributes:
        commands: the traced command lines, in the order they ran.
        modules: every imported module name, mapped to its file (``None``
            when only the import event was seen, e.g. the process was killed).
        opened: absolute paths of the files opened.
        processes: number of Python processes traced.
    """

    commands: list[list[str]] = field(default_factory=list)
    modules: dict[str, str | None] = field(default_factory=dict)
    opened: set[str] = field(default_factory=set)
    processes: int = 0

    def merge(self, other: Trace) -> Trace:
        """This trace and ``other`` together (a new object)."""
        modules = dict(self.modules)
        for name, path in other.modules.items():
            if modules.get(name) is None:
                modules[name] = path
        return Trace(self.commands + other.commands, modules, self.opened | other.opened,
                     self.processes + other.processes)

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON-ready data (sorted, so it is reproducible)."""
        return {"commands": [list(c) for c in self.commands],
                "processes": self.processes,
                "modules": {k: self.modules[k] for k in sorted(self.modules)},
                "opened": sorted(self.opened)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        """Read a trace written by :meth:`to_dict`.

        Raises:
            AuditError: the data is not a trace.
        """
        try:
            return cls([list(map(str, c)) for c in data["commands"]],
                       {str(k): (None if v is None else str(v))
                        for k, v in dict(data["modules"]).items()},
                       {str(p) for p in data["opened"]}, int(data["processes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"the stored trace is malformed ({exc!r}); remove it and trace "
                             "again without --append") from exc


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append("\n" if nxt == "n" else nxt)
        else:
            out.append(ch)
    return "".join(out)


def parse_trace_lines(lines: Iterable[str]) -> Trace:
    """Build a trace from the lines the child-side tracer wrote.

    Lines are ``p<TAB>pid<TAB>executable`` (a process started), ``i<TAB>module``
    (import event), ``o<TAB>path`` (open event) and ``m<TAB>module<TAB>file``
    (modules loaded at exit). Unknown or torn lines are skipped.
    """
    trace = Trace()
    for raw in lines:
        kind, _, payload = raw.rstrip("\n").partition("\t")
        if kind == "p":
            trace.processes += 1
        elif kind == "i" and payload:
            trace.modules.setdefault(_unescape(payload), None)
        elif kind == "o" and payload:
            trace.opened.add(_unescape(payload))
        elif kind == "m" and "\t" in payload:
            name, _, path = payload.partition("\t")
            trace.modules[_unescape(name)] = _unescape(path)
    return trace


def read_trace_dir(directory: Path) -> Trace:
    """Merge the per-process trace files of ``directory``."""
    lines: list[str] = []
    for path in sorted(directory.glob("trace-*.log")):
        lines.extend(path.read_text(encoding="utf-8", errors="surrogateescape").splitlines())
    return parse_trace_lines(lines)


def tracing_env(tracer_dir: Path, trace_dir: Path,
                environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a traced command: the tracer first on ``PYTHONPATH``."""
    env = dict(os.environ if environ is None else environ)
    rest = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(tracer_dir) + (os.pathsep + rest if rest else "")
    env[TRACE_DIR_ENV] = str(trace_dir)
    return env


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object with no descriptor
        return 2


def run_traced(cmd: Sequence[str], *, cwd: Path | None = None,
               environ: Mapping[str, str] | None = None) -> tuple[int, Trace]:
    """Run ``cmd`` with the tracer and return its exit code and trace.

    The command's standard output goes to this process's standard error, so a
    report written to standard output stays clean; its input and exit code
    pass through. Ctrl-C reaches the command (same process group); the trace
    of what ran until then is kept.

    Args:
        cmd: the command and its arguments.
        cwd: its working directory (default: ours).
        environ: its environment before tracing is added (default: ours).

    Returns:
        ``(exit_code, trace)``; a command killed by signal N gives 128 + N.

    Raises:
        AuditError: the command cannot be started.
    """
    if not cmd:
        raise AuditError("no command given: put the workload after --, e.g. "
                         "wattprint audit env -- python train.py")
    with tempfile.TemporaryDirectory(prefix="wattprint-audit-") as tmp:
        tracer_dir, trace_dir = Path(tmp, "tracer"), Path(tmp, "trace")
        tracer_dir.mkdir()
        trace_dir.mkdir()
        (tracer_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        env = tracing_env(tracer_dir, trace_dir, environ)
        try:
            child = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=_stderr_fd())
        except FileNotFoundError as exc:
            raise AuditError(f"command not found: {cmd[0]}; check the command after --") from exc
        except PermissionError as exc:
            raise AuditError(f"command is not executable: {cmd[0]}; check its permissions"
                             ) from exc
        except OSError as exc:
            raise AuditError(f"cannot start {cmd[0]}: {exc.strerror or exc}") from exc
        try:
            code = child.wait()
        except KeyboardInterrupt:
            code = child.wait()
        trace = read_trace_dir(trace_dir)
    trace.commands.append(list(cmd))
    return (128 - code if code < 0 else code), trace


__all__ = ["SITECUSTOMIZE", "TRACE_DIR_ENV", "Trace", "parse_trace_lines", "read_trace_dir",
           "run_traced", "tracing_env"]
