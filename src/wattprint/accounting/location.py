"""Which grid region a run draws its electricity from.

Carbon depends on *where* the energy was used, so every run is accounted in
a region (a country, a state or province, a grid zone or a cloud region; the
codes are described in :mod:`wattprint.accounting.intensity`).
:func:`resolve_region` finds it, in this order, and says how it was found:

1. ``argument`` -- a region given explicitly (``--region``, ``track(region=...)``);
2. ``WATTPRINT_REGION`` -- the environment variable;
3. ``config`` -- the ``region`` setting of the configuration file;
4. ``cloud env`` -- the region that cloud SDKs and runtimes put in the
   environment, read in this order:

   * ``AWS_REGION``, ``AWS_DEFAULT_REGION`` (AWS SDKs and CLI, Lambda, ECS,
     SageMaker) -> ``aws:<region>``;
   * ``GOOGLE_CLOUD_REGION``, ``CLOUDSDK_COMPUTE_REGION`` (gcloud),
     ``CLOUD_ML_REGION`` (Vertex AI training), ``FUNCTION_REGION`` (Cloud
     Functions) -> ``gcp:<region>``;
   * ``REGION_NAME`` (Azure App Service and Functions; may be the display
     name, ``West Europe``) -> ``azure:<region>``.

   A cloud region missing from the shipped tables is skipped with a note in
   the hint, and the next candidate is tried;
5. ``world default`` -- the world average, labelled "world average (no region
   set)", with a one-line hint on how to set the region.

No network look-up (IP geolocation, cloud metadata servers) is ever made.
An unknown code given in 1-3 is an error (:class:`~wattprint.errors.RegionError`)
that suggests the nearest known codes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from wattprint.accounting import intensity as _intensity
from wattprint.accounting.intensity import WORLD, canonical_region
from wattprint.errors import RegionError

logger = logging.getLogger(__name__)

__all__ = [
    "CLOUD_ENV_VARS",
    "WORLD_LABEL",
    "RegionInfo",
    "ResolvedRegion",
    "cloud_region_from_env",
    "list_regions",
    "resolve_region",
]

#: Label of the fallback region.
WORLD_LABEL = "world average (no region set)"

#: Environment variables read for a cloud region, in order, with their provider prefix.
CLOUD_ENV_VARS: tuple[tuple[str, str], ...] = (
    ("AWS_REGION", "aws"),
    ("AWS_DEFAULT_REGION", "aws"),
    ("GOOGLE_CLOUD_REGION", "gcp"),
    ("CLOUDSDK_COMPUTE_REGION", "gcp"),
    ("CLOUD_ML_REGION", "gcp"),
    ("FUNCTION_REGION", "gcp"),
    ("REGION_NAME", "azure"),
)

_WORLD_HINT = (
    "no region set, so the world-average intensity is used; set WATTPRINT_REGION "
    "(e.g. DE, US-CA, aws:us-east-1) or pass --region for a better estimate"
)


@dataclass(frozen=True)
class ResolvedRegion:
    """The region a run is accounted in, and how it was found.

    Attributes:
        code: canonical region code (``"DE"``, ``"aws:us-east-1"``, ``"WORLD"``).
        how: ``"argument"``, ``"WATTPRINT_REGION"``, ``"config"``,
            ``"cloud env"`` or ``"world default"``.
        is_default: true only for the world default.
        label: for people: ``"DE (Germany)"``, ``"world average (no region set)"``.
        detail: what exactly was read (``"AWS_REGION=eu-west-1"``), or ``""``.
        hint: one line telling the user how to do better, or ``None``.
    """

    code: str
    how: str
    is_default: bool
    label: str
    detail: str = ""
    hint: str | None = None


@dataclass(frozen=True)
class RegionInfo:
    """One region of the shipped tables, as listed by :func:`list_regions`.

    Attributes:
        code: canonical region code.
        name: human name.
        kind: ``"world"``, ``"country"``, ``"subnational"``, ``"cloud"`` or ``"zone"``.
        source: the data set its annual value comes from, with the licence.
        has_hourly: whether a shipped hourly series exists (:func:`hourly_series`).
        g_per_kwh: newest annual average intensity, gCO2e/kWh.
        year: year of that value (``None`` if the table gives none).
        hourly_years: UTC years of the shipped hourly series (``"2021-2022"``), or ``""``.
        hourly_basis: its default basis (``"lifecycle"``/``"direct"``), or ``""``.
        hourly_source: who publishes it, with the licence, or ``""``.
    """

    code: str
    name: str
    kind: str
    source: str
    has_hourly: bool
    g_per_kwh: float
    year: int | None
    hourly_years: str = ""
    hourly_basis: str = ""
    hourly_source: str = ""


def _label(code: str) -> str:
    name = _intensity._region_names().get(code, "")
    return f"{code} ({name})" if name and name != code else code


def _known(code: str, how: str) -> str:
    try:
        return canonical_region(code)
    except RegionError as exc:
        raise RegionError(f"{how}: {exc}") from None


def cloud_region_from_env(environ: Mapping[str, str]) -> tuple[str | None, str, list[str]]:
    """The first known cloud region named by the environment.

    Args:
        environ: the environment (``os.environ`` or a test mapping).

    Returns:
        ``(code, detail, skipped)``: the canonical code or ``None``, the
        variable that gave it (``"AWS_REGION=eu-west-1"``), and notes on set
        variables whose region is not in the shipped tables.
    """
    skipped: list[str] = []
    for var, provider in CLOUD_ENV_VARS:
        value = environ.get(var, "").strip()
        if not value:
            continue
        try:
            return canonical_region(f"{provider}:{value}"), f"{var}={value}", skipped
        except RegionError:
            skipped.append(f"{var}={value} is not a known {provider} region")
    return None, "", skipped


def resolve_region(
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    config_region: str | None = None,
) -> ResolvedRegion:
    """Find the region to account a run in (order in the module docstring).

    Args:
        explicit: a region given by the caller, or ``None``.
        environ: the environment; ``None`` reads ``os.environ``.
        config_region: the ``region`` setting of the configuration, or ``None``.

    Returns:
        The canonical region, how it was found, and a hint when defaulted.

    Raises:
        RegionError: an explicit, ``WATTPRINT_REGION`` or configured code is
            unknown; the message names where it came from and suggests codes.
    """
    env = os.environ if environ is None else environ
    if explicit is not None and explicit.strip():
        code = _known(explicit, "region argument")
        return ResolvedRegion(code, "argument", False, _label(code), f"region={explicit}")
    from_env = env.get("WATTPRINT_REGION", "").strip()
    if from_env:
        code = _known(from_env, "WATTPRINT_REGION")
        return ResolvedRegion(
            code, "WATTPRINT_REGION", False, _label(code), f"WATTPRINT_REGION={from_env}"
        )
    if config_region is not None and config_region.strip():
        code = _known(config_region, "config setting 'region'")
        return ResolvedRegion(code, "config", False, _label(code), f"region={config_region}")
    code_or_none, detail, skipped = cloud_region_from_env(env)
    if code_or_none is not None:
        return ResolvedRegion(
            code_or_none,
            "cloud env",
            False,
            _label(code_or_none),
            detail,
            "; ".join(skipped) or None,
        )
    hint = _WORLD_HINT if not skipped else f"{'; '.join(skipped)}; {_WORLD_HINT}"
    for note in skipped:
        logger.info("region from environment skipped: %s", note)
    return ResolvedRegion(WORLD, "world default", True, WORLD_LABEL, "", hint)


_KIND_ORDER = {kind: i for i, kind in enumerate(_intensity.KINDS)}


def list_regions(search: str | None = None, hourly_only: bool = False) -> list[RegionInfo]:
    """Regions of the shipped tables, optionally filtered.

    Args:
        search: case-insensitive text matched against codes, alternative codes
            (``DEU``, ``CISO``) and names; exact code matches come first.
        hourly_only: keep only regions with a shipped hourly series.

    Returns:
        Matching regions, ordered by kind (world, country, subnational, cloud,
        zone) then code.
    """
    from wattprint.accounting.hourly import hourly_catalogue

    hourly = {info.region: info for info in hourly_catalogue()}
    needle = search.strip().casefold() if search else ""
    exact: list[RegionInfo] = []
    partial: list[RegionInfo] = []
    for region, _ in _intensity._region_infos():
        series_info = hourly.get(region.code)
        has_hourly = series_info is not None
        if hourly_only and not has_hourly:
            continue
        words = [region.code, *region.aliases, region.name]
        folded = [w.casefold() for w in words]
        newest = region.newest()
        info = RegionInfo(
            code=region.code,
            name=region.name,
            kind=region.kind,
            source=_intensity._dataset_label(region),
            has_hourly=has_hourly,
            g_per_kwh=newest.g_per_kwh,
            year=newest.year,
            hourly_years=series_info.years if series_info else "",
            hourly_basis=series_info.basis if series_info else "",
            hourly_source=(f"{series_info.source} ({series_info.licence})"
                           if series_info else ""),
        )
        if not needle:
            partial.append(info)
        elif needle in folded[:-1]:
            exact.append(info)
        elif any(needle in w for w in folded):
            partial.append(info)

    def order(info: RegionInfo) -> tuple[int, str]:
        return _KIND_ORDER.get(info.kind, len(_KIND_ORDER)), info.code

    return sorted(exact, key=order) + sorted(partial, key=order)
