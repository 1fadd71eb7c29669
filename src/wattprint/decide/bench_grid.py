"""The grid of a benchmark: its dimensions, command templates, devices and output markers.

A grid is ``--grid name=v1,v2`` dimensions whose cartesian product gives the
configurations; a command template names them as ``{name}`` placeholders;
``--devices`` picks GPUs by index or UUID; and the program under test reports
its work with marker lines (``WATTPRINT_UNITS``, ``WATTPRINT_METRIC``,
``WATTPRINT_LATENCY_S``). See :mod:`wattprint.decide.bench`.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from wattprint.errors import ConfigError

log = logging.getLogger(__name__)

#: Marker lines a benchmarked command prints on its standard output.
UNITS_MARKER = "WATTPRINT_UNITS"
METRIC_MARKER = "WATTPRINT_METRIC"
LATENCY_MARKER = "WATTPRINT_LATENCY_S"
#: The unit of a ``WATTPRINT_UNITS`` line without one, and of ``run.add_units(n)``.
DEFAULT_UNIT = "sample"
#: What a configuration is charged per when its program reports no units.
REPETITION_UNIT = "repetition"
#: The grid dimension that chooses the GPUs (``CUDA_VISIBLE_DEVICES``).
DEVICES_DIMENSION = "devices"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNIT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


# -- the grid -------------------------------------------------------------------------------

def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """The grid of ``--grid name=v1,v2`` items, in the order given.

    Raises:
        ConfigError: an item without ``=``, a name that is not an identifier
            (letters, digits, ``_``), a name given twice, an empty value or a
            value repeated within a dimension.
    """
    grid: dict[str, list[str]] = {}
    for item in items:
        name, sep, values_text = item.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"--grid {item!r} must be NAME=V1,V2,... (e.g. --grid batch=16,32)")
        if not _NAME.match(name):
            raise ConfigError(f"--grid {item!r}: the name {name!r} must be letters, digits and _ "
                              "(not starting with a digit), as in {name} placeholders")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice; give all its values in one "
                              f"--grid {name}=V1,V2,...")
        values = [v.strip() for v in values_text.split(",")]
        if any(not v for v in values):
            raise ConfigError(f"--grid {item!r} has an empty value; values are separated by "
                              "single commas")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"--grid {name} repeats the value(s) {', '.join(repeated)}")
        grid[name] = values
    return grid


def configurations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every configuration of ``grid``: the cartesian product, the last dimension fastest.

    An empty grid has one configuration, the empty one.
    """
    names = list(grid)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(list(grid[n]) for n in names))]


def placeholders(template: Sequence[str]) -> list[str]:
    """The ``{name}`` placeholders of a command template, in order of first use.

    Raises:
        ConfigError: a malformed placeholder (an unmatched brace) or one with
            a format spec or conversion; write ``{{`` and ``}}`` for braces.
    """
    found: list[str] = []
    for arg in template:
        try:
            parsed = list(string.Formatter().parse(arg))
        except ValueError as exc:
            raise ConfigError(f"the command argument {arg!r} has an unmatched brace ({exc}); "
                              "write {{ and }} for literal braces") from exc
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if not _NAME.match(name) or spec or conversion:
                raise ConfigError(f"the command argument {arg!r} has the placeholder "
                                  f"{{{name}{'!' + conversion if conversion else ''}"
                                  f"{':' + spec if spec else ''}}}; placeholders are grid names, "
                                  "such as {batch}")
            if name not in found:
                found.append(name)
    return found


def check_template(template: Sequence[str], grid: Mapping[str, Sequence[Any]]) -> None:
    """Check that every placeholder of ``template`` names a grid dimension.

    A dimension the template does not use is allowed (``devices`` sets
    ``CUDA_VISIBLE_DEVICES``; another may be read from the environment as
    ``WATTPRINT_BENCH_<NAME>``).

    Raises:
        ConfigError: a placeholder that names no dimension.
    """
    unknown = [n for n in placeholders(template) if n not in grid]
    if unknown:
        known = ", ".join(grid) or "none"
        raise ConfigError(f"the command uses {', '.join('{' + n + '}' for n in unknown)}, "
                          f"which no --grid defines (grid names: {known})")


def fill_command(template: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """The command of one configuration: each argument with its placeholders filled."""
    return [arg.format_map({k: str(v) for k, v in params.items()}) for arg in template]


def parse_devices(value: str) -> str:
    """Check a ``--devices`` value: GPU indices, or GPU or MIG UUIDs, comma-separated.

    Returns:
        The value as ``CUDA_VISIBLE_DEVICES`` takes it (entries stripped).

    Raises:
        ConfigError: an empty entry, an entry that is neither an index nor a
            ``GPU-``/``MIG-`` UUID, a list mixing indices and UUIDs, or a
            device given twice (CUDA would then show no device at all).
    """
    entries = [e.strip() for e in value.split(",")]
    kinds = set()
    for entry in entries:
        if entry.isdigit():
            kinds.add("index")
        elif entry.upper().startswith(("GPU-", "MIG-")) and len(entry) > 4:
            kinds.add(entry[:4].upper())
        else:
            raise ConfigError(f"--devices {value!r}: {entry!r} is neither a GPU index nor a "
                              "GPU-/MIG- UUID (as CUDA_VISIBLE_DEVICES takes them)")
    if len(kinds) > 1:
        raise ConfigError(f"--devices {value!r} mixes kinds of entries; CUDA reads a list of "
                          "indices, of GPU UUIDs or of MIG UUIDs, and stops at the first other")
    if len({e.upper() for e in entries}) < len(entries):
        raise ConfigError(f"--devices {value!r} names a device twice (CUDA would then show "
                          "no device at all)")
    return ",".join(entries)


# -- what the program reports -----------------------------------------------------------------

def parse_marker(line: str) -> tuple[str, str, float] | None:
    """A marker line of a benchmarked command as ``(kind, name, value)``, else ``None``.

    ``WATTPRINT_UNITS 512 token`` gives ``("units", "token", 512.0)``;
    ``WATTPRINT_METRIC accuracy 0.91`` gives ``("metric", "accuracy", 0.91)``;
    ``WATTPRINT_LATENCY_S 0.012`` gives ``("latency", "", 0.012)``. A
    malformed marker line is logged as a warning and ignored.
    """
    words = line.split()
    if not words or words[0] not in (UNITS_MARKER, METRIC_MARKER, LATENCY_MARKER):
        return None
    marker, args = words[0], words[1:]
    try:
        if marker == UNITS_MARKER and len(args) in (1, 2):
            unit = args[1] if len(args) == 2 else DEFAULT_UNIT
            n = float(args[0])
            if _UNIT.match(unit) and math.isfinite(n) and n >= 0:
                return "units", unit, n
        elif marker == METRIC_MARKER and len(args) == 2 and _UNIT.match(args[0]):
            value = float(args[1])
            if math.isfinite(value):
                return "metric", args[0], value
        elif marker == LATENCY_MARKER and len(args) == 1:
            latency_s = float(args[0])
            if math.isfinite(latency_s) and latency_s >= 0:
                return "latency", "", latency_s
    except ValueError:
        pass
    log.warning("ignored a malformed %s line: %r (expected %s)", marker, line.strip(), {
        UNITS_MARKER: f"{UNITS_MARKER} <n >= 0> [unit]",
        METRIC_MARKER: f"{METRIC_MARKER} <name> <number>",
        LATENCY_MARKER: f"{LATENCY_MARKER} <seconds >= 0>"}[marker])
    return None


__all__ = ["DEFAULT_UNIT", "DEVICES_DIMENSION", "LATENCY_MARKER", "METRIC_MARKER",
           "REPETITION_UNIT", "UNITS_MARKER", "check_template", "configurations",
           "fill_command", "parse_devices", "parse_grid", "parse_marker", "placeholders"]
