"""Power usage effectiveness (PUE): the data centre's overhead on top of IT energy.

``PUE = facility energy / IT equipment energy``; the overhead (cooling, power
conversion, lighting) is the *infrastructure* term of a footprint:
``IT energy × (PUE − 1)``.

Resolution, first match wins:

1. an explicit value (``--pue``, ``WATTPRINT_PUE``, config);
2. the provider default for a cloud region (``aws:``, ``gcp:``, ``azure:``),
   from Green Algorithms' ``defaults_PUE.csv`` (CC BY 4.0), which cites each;
3. ``1.0`` — no facility overhead assumed (a workstation or an unknown
   machine room), with a note pointing at the Uptime Institute 2024 global
   average (1.56, same table) for users in a typical data centre.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from wattprint.errors import ConfigError


@dataclass(frozen=True)
class PueChoice:
    """A PUE value and where it came from."""

    value: float
    source: str


@lru_cache(maxsize=1)
def provider_defaults() -> dict[str, tuple[float, str]]:
    """Provider key -> (PUE, source) from the shipped table."""
    local = Path(__file__).resolve().parent.parent / "data" / "pue_defaults.csv"
    if local.is_file():  # the usual install: a plain file (importlib.resources costs ~10 ms)
        text = local.read_text("utf-8")
    else:
        from importlib import resources

        text = (resources.files("wattprint") / "data" / "pue_defaults.csv").read_text("utf-8")
    return {
        row["provider"]: (float(row["pue"]), f"{row['dataset']}; {row['source_url']}")
        for row in csv.DictReader(io.StringIO(text))
    }


def resolve_pue(explicit: float | None, region: str | None) -> PueChoice:
    """The PUE to use for a run in ``region``.

    Raises:
        ConfigError: an explicit PUE below 1.
    """
    if explicit is not None:
        if explicit < 1.0:
            raise ConfigError(f"PUE {explicit} is below 1; a PUE is facility/IT energy, >= 1")
        return PueChoice(float(explicit), "given by the user")
    if region and ":" in region:
        provider = region.split(":", 1)[0].lower()
        found = provider_defaults().get(provider)
        if found is not None:
            return PueChoice(found[0], f"{provider} default PUE, {found[1]}")
    unknown = provider_defaults().get("unknown")
    hint = f" (a typical data centre: {unknown[0]:.2f}, {unknown[1]})" if unknown else ""
    return PueChoice(1.0, "no PUE set: no facility overhead assumed; set --pue" + hint)
