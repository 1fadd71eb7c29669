"""Costs users log beside energy and carbon: dollars, annotation hours, anything countable.

Martínez-Plumed et al. (the neglected dimensions of AI progress) argue
that progress should be judged on many cost dimensions at once --
compute, energy, data, human effort, money -- on a Pareto surface, not on
one metric. wattprint measures energy, carbon and time itself; any other
cost the user logs:

* ``run.log_cost("usd", 12.5)`` in the Python API (each call **adds** the
  amount to the run's total of that cost, like ``run.add_units``), or
* ``wattprint run --cost-tag usd=12.5 -- CMD`` (sets the run's total).

**Storage.** A cost is stored as a run tag under the reserved prefix
``cost.`` (``cost.usd = "12.5"``), holding the run's total. Tags were chosen
over the metrics table because a cost is one number per run and name: the
tags table's primary key (run, key) keeps exactly one value, updated in
place, so no reader has to decide between "the last row" and "the sum of the
rows" (metrics keep every logged row and readers take the last one), and
``--cost-tag`` is a tag already. No new table or migration is needed;
``show``, exports and ``store copy`` carry costs with the other tags.

A cost name is a word of letters, digits, ``_``, ``-`` or ``.`` that names
its unit (``usd``, ``annotation_hours``, ``gpu_hours``); the names the
leaderboard computes itself (``energy``, ``co2e``, ``duration``,
``embodied``) are refused, so a logged cost never shadows a measured one.
Amounts are finite and not negative.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from wattprint.errors import ConfigError

#: Tag key prefix under which logged costs are stored (``cost.usd``).
COST_TAG_PREFIX = "cost."

#: Cost names the leaderboard computes from the measurement; not loggable.
MEASURED_COSTS = ("energy", "co2e", "duration", "embodied")

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


def cost_name(name: str) -> str:
    """Check a cost name and return it stripped.

    Raises:
        ConfigError: empty, not a word of letters, digits, ``_``, ``-`` or
            ``.`` starting with a letter (at most 64 characters), or one of
            :data:`MEASURED_COSTS`.
    """
    text = str(name).strip()
    if not _NAME.match(text):
        raise ConfigError(f"cost name {name!r} must start with a letter and hold only letters, "
                          "digits, '_', '-' or '.' (at most 64), e.g. usd or annotation_hours")
    if text in MEASURED_COSTS:
        raise ConfigError(f"cost name {text!r} is measured by wattprint itself; name a logged "
                          f"cost otherwise (e.g. {text}_logged)")
    return text


def cost_amount(value: object, name: str) -> float:
    """Check a cost amount: a finite number, not negative.

    Raises:
        ConfigError: not a number, not finite, or negative.
    """
    try:
        amount = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"cost {name}: {value!r} is not a number") from None
    if not math.isfinite(amount) or amount < 0:
        raise ConfigError(f"cost {name}: {value!r} must be a finite amount of at least 0")
    return amount


def cost_key(name: str) -> str:
    """The tag key a cost is stored under (``usd`` -> ``cost.usd``)."""
    return COST_TAG_PREFIX + cost_name(name)


def added_cost(tags: Mapping[str, str], name: str, amount: float) -> tuple[str, str]:
    """The tag that records ``amount`` more of cost ``name`` on top of ``tags``' total.

    Args:
        tags: the run's tags so far.
        name: the cost name.
        amount: the amount to add, in the cost's own unit.

    Returns:
        ``(key, total)``: the tag key and the new total as text (``repr`` of
        the float, so it reads back exactly).

    Raises:
        ConfigError: a bad name or amount.
    """
    key = cost_key(name)
    value = cost_amount(amount, name)
    before = tags.get(key)
    total = value + (cost_amount(before, name) if before is not None else 0.0)
    return key, repr(total)


def cost_tags(items: Iterable[str]) -> dict[str, str]:
    """Tags for ``--cost-tag NAME=AMOUNT`` items (a repeated name: the last wins).

    Raises:
        ConfigError: an item without ``=``, a bad name or a bad amount.
    """
    tags: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--cost-tag {item!r} must be NAME=AMOUNT, e.g. usd=12.5")
        name, value = item.split("=", 1)
        tags[cost_key(name)] = repr(cost_amount(value.strip(), name.strip()))
    return tags


def run_costs(tags: Mapping[str, str]) -> dict[str, float]:
    """The costs logged for a run, from its tags: name -> total (unreadable values left out)."""
    costs: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(COST_TAG_PREFIX):
            try:
                amount = float(value)
            except ValueError:
                continue
            if math.isfinite(amount):
                costs[key[len(COST_TAG_PREFIX):]] = amount
    return costs


__all__ = ["COST_TAG_PREFIX", "MEASURED_COSTS", "added_cost", "cost_amount", "cost_key",
           "cost_name", "cost_tags", "run_costs"]
