"""Which GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` and its AMD cousins.

A GPU library only reports what it sees, and NVML and amdsmi see *every* GPU
of the machine, while the tracked process sees only those its runtime lets it
use. The runtimes read an environment variable, a comma-separated list:

``CUDA_VISIBLE_DEVICES`` (NVIDIA CUDA)
    Entries are device indices (``"0,2"``), GPU UUIDs
    (``"GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"``), or MIG device UUIDs
    (``"MIG-1f2e..."``, and on drivers before R470 the legacy form
    ``"MIG-GPU-<gpu uuid>/<gpu instance id>/<compute instance id>"``).
    A UUID may be shortened to any prefix (``"GPU-8932"``) as long as it names
    one device. Devices are enumerated in the order given.

``ROCR_VISIBLE_DEVICES`` (AMD ROCm runtime), then ``HIP_VISIBLE_DEVICES``
    Entries are indices or UUIDs (``"GPU-4b2c1a9f8d3e6f7a"``). ROCr filters
    first; HIP then picks, by index, among the devices ROCr left. On AMD,
    ``CUDA_VISIBLE_DEVICES`` is read in place of ``HIP_VISIBLE_DEVICES`` when
    the latter is unset.

The parsing rules below are those of the CUDA runtime (as also modelled by
PyTorch's ``torch.cuda._parse_visible_devices``), and wattprint applies them to
the AMD variables too:

1. **Unset** means every device is visible.
2. **Empty** (``""``) means no device is visible.
3. The **first entry decides the kind** of the list. If it starts with
   ``GPU-`` or ``MIG-`` the list is of UUIDs and reading stops at the first
   entry that does not start with that same prefix; otherwise the list is of
   indices, and an entry that is not a number stops it.
4. An index is read like C's ``strtoul``: leading digits count, the rest of
   the entry is ignored (``"1gpu"`` is ``1``). A negative or non-numeric
   entry, or an index past the last device, **stops the list there**: the
   devices before it stay visible, those after it are ignored
   (``"0,2,-1,1"`` selects 0 and 2).
5. A UUID entry that matches no device, or more than one (an ambiguous
   prefix), also stops the list there. Matching ignores case.
6. A **repeated device** makes the whole list invalid: no device is visible.

The functions here are pure: they take the variable's value and the devices'
identifiers and return positions, so they are tested without any GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Prefixes that make a ``*_VISIBLE_DEVICES`` list a list of UUIDs.
UUID_PREFIXES = ("GPU-", "MIG-")


@dataclass(frozen=True)
class VisibleSpec:
    """A parsed ``*_VISIBLE_DEVICES`` value, before matching it to devices.

    Attributes:
        indices: index entries, in order, already cut at the first invalid
            entry (rule 4); empty when the list is of UUIDs.
        ids: UUID entries (or prefixes), in order, cut at the first entry of
            another kind (rule 3); empty when the list is of indices.
        duplicate: a repeated index or UUID string was found (rule 6): no
            device is visible.
    """

    indices: tuple[int, ...] = ()
    ids: tuple[str, ...] = ()
    duplicate: bool = False


def _strtoul(entry: str) -> int:
    """The index at the start of ``entry``, or ``-1`` when there is none."""
    text = entry.strip()
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    digits = ""
    for char in text:
        if not char.isdigit():
            break
        digits += char
    if not digits:
        return -1
    value = sign * int(digits)
    return value if value >= 0 else -1


def _uuid_prefix(entry: str) -> str | None:
    upper = entry.upper()
    for prefix in UUID_PREFIXES:
        if upper.startswith(prefix):
            return prefix
    return None


def parse_visible_devices(value: str) -> VisibleSpec:
    """Parse a ``*_VISIBLE_DEVICES`` value (rules 2 to 4 and 6 of the module doc).

    Args:
        value: the variable's value; callers handle "unset" themselves.

    Returns:
        The entries that remain after the syntax rules. Matching UUIDs to
        devices, and cutting indices past the last device, is
        :func:`select_visible`'s job.
    """
    entries = [entry.strip() for entry in value.split(",")]
    kind = _uuid_prefix(entries[0])
    if kind is not None:
        ids: list[str] = []
        for entry in entries:
            if _uuid_prefix(entry) != kind:
                break
            if entry.upper() in (seen.upper() for seen in ids):
                return VisibleSpec(duplicate=True)
            ids.append(entry)
        return VisibleSpec(ids=tuple(ids))
    indices: list[int] = []
    for entry in entries:
        index = _strtoul(entry)
        if index < 0:
            break
        if index in indices:
            return VisibleSpec(duplicate=True)
        indices.append(index)
    return VisibleSpec(indices=tuple(indices))


def match_id(entry: str, identifiers: Sequence[Sequence[str]]) -> int | None:
    """The one device whose identifiers start with ``entry``, ignoring case.

    Args:
        entry: a UUID or UUID prefix from a ``*_VISIBLE_DEVICES`` list.
        identifiers: for each device, every string that names it (its UUID,
            a legacy MIG name...).

    Returns:
        The device's position, or ``None`` when no device or several match.
    """
    wanted = entry.upper()
    found: int | None = None
    for position, names in enumerate(identifiers):
        if any(name.upper().startswith(wanted) for name in names):
            if found is not None and found != position:
                return None
            found = position
    return found


def select_visible(
    value: str | None,
    identifiers: Sequence[Sequence[str]],
    index_count: int | None = None,
) -> list[int] | None:
    """Positions of the devices that one ``*_VISIBLE_DEVICES`` value selects.

    Args:
        value: the variable's value, ``None`` when unset.
        identifiers: for each candidate device, the strings that name it.
        index_count: how many of the candidates (the first ones) an index
            entry may address; default all of them. NVML passes its GPUs
            followed by their MIG devices, and only GPUs have indices.

    Returns:
        ``None`` when ``value`` is ``None`` (every device visible), else the
        selected positions into ``identifiers``, in the order given, possibly
        empty.
    """
    if value is None:
        return None
    spec = parse_visible_devices(value)
    if spec.duplicate:
        return []
    count = len(identifiers) if index_count is None else min(index_count, len(identifiers))
    selected: list[int] = []
    if spec.ids:
        for entry in spec.ids:
            position = match_id(entry, identifiers)
            if position is None:
                break
            if position in selected:  # two prefixes of the same device
                return []
            selected.append(position)
        return selected
    for index in spec.indices:
        if index >= count:
            break
        selected.append(index)
    return selected


def select_visible_chain(
    values: Sequence[str | None], identifiers: Sequence[Sequence[str]]
) -> list[int] | None:
    """Apply several visibility variables in turn, each to what the previous left.

    This is the AMD rule: ``ROCR_VISIBLE_DEVICES`` picks among all devices,
    then ``HIP_VISIBLE_DEVICES`` picks among those, its indices counting
    within the ROCr-visible list.

    Args:
        values: the variables' values, outermost first; ``None`` for unset.
        identifiers: for each device, the strings that name it.

    Returns:
        ``None`` when every value is unset, else positions into
        ``identifiers`` in the final enumeration order.
    """
    current: list[int] | None = None
    for value in values:
        if value is None:
            continue
        base = current if current is not None else list(range(len(identifiers)))
        picked = select_visible(value, [identifiers[i] for i in base])
        current = [] if picked is None else [base[i] for i in picked]
    return current
