"""Build the shipped table of cloud instance types and their embodied carbon (CCF).

Cloud Carbon Footprint (CCF, Thoughtworks, ``ccf-coefficients``, Apache-2.0)
publishes, per instance type of AWS, Azure and GCP, the embodied carbon of
the *whole host* the instance runs on (``total``: a 1,000 kg rack server plus
the memory, storage, CPUs and GPUs the family's largest instance adds,
kgCO2e; Teads / Dell R740 method). CCF charges an instance its vCPU share of
that host, over a 4-year life::

    embodied_kg = total_kg × (hours / (4 × 8,760)) × (instance vCPUs / largest vCPUs of the family)

CCF's tables do not carry vCPU counts, so this script derives them from the
type names, by each cloud's naming rule, and the host's as the largest of
the family in the same table:

* AWS ``family.size``: ``medium``/``small``/``micro``/``nano`` 1 vCPU (2 in
  the burstable ``t3``/``t3a``/``t4g`` families, whose smallest have 2, and
  ``t2.medium``/``t2.large`` 2), ``large`` 2, ``xlarge`` 4, ``Nxlarge`` 4·N;
  ``metal`` the whole host (the largest sized type of the family). A prefix
  or suffix such as ``db.`` or ``.elasticsearch`` is a service's name for
  the same instance.
* GCP ``family-class-N``: N vCPUs; ``e2-micro``/``e2-small``/``e2-medium``
  2 (shared core), ``f1-micro`` and ``g1-small`` 1; ``a2-highgpu-Kg`` and
  ``a2-megagpu-16g`` 12 vCPUs per GPU. The embodied figure is
  ``coefficients-gcp-embodied-mean.csv`` (CCF's mean over the
  micro-architectures a type runs on).
* Azure ``<series><N>[-<active>]<features> v<gen>``: N vCPUs, or the active
  vCPUs of a constrained-core size (``E16-4s v3`` has 4).

A type whose vCPUs the rule cannot give is kept with ``vcpus`` empty: the
accounting then takes the run's own vCPUs. The script is deterministic::

    python scripts/build_cloud_instances.py [--data PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import re
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "src" / "wattprint" / "data" / "hardware" / "ccf_instance_embodied.csv"
FOLDER = "cloud_ccf_coefficients"
COLUMNS = ("provider", "type", "family", "vcpus", "host_vcpus", "host_embodied_kg")

_AWS_SMALL = {"nano": 1, "micro": 1, "small": 1, "medium": 1}
_AWS_TWO_VCPU_SMALLEST = ("t3", "t3a", "t4g")


_AWS_SERVICES = ("cache", "db", "ml")


def aws_family_size(instance_type: str) -> tuple[str, str]:
    """Family and size of an AWS type; a service prefix (``cache.``, ``db.``) is left out."""
    parts = instance_type.split(".")
    if parts[0] in _AWS_SERVICES and len(parts) > 2:
        parts = parts[1:]
    return parts[0], parts[1] if len(parts) > 1 else ""


def aws_vcpus(instance_type: str) -> int | None:
    """vCPUs of an AWS type from its size (``None`` for ``metal`` or an unknown size)."""
    family, size = aws_family_size(instance_type)
    if size in _AWS_SMALL:
        if family in _AWS_TWO_VCPU_SMALLEST or (family == "t2" and size == "medium"):
            return 2
        return _AWS_SMALL[size]
    if size == "large":
        return 2
    match = re.fullmatch(r"(\d*)xlarge", size)
    if match:
        return 4 * int(match.group(1) or 1)
    return None


def gcp_vcpus(instance_type: str) -> int | None:
    """vCPUs of a GCP machine type from its name."""
    if instance_type in ("e2-micro", "e2-small", "e2-medium"):
        return 2
    if instance_type in ("f1-micro", "g1-small"):
        return 1
    gpus = re.fullmatch(r"a2-(?:highgpu|megagpu|ultragpu)-(\d+)g", instance_type)
    if gpus:
        return 12 * int(gpus.group(1))
    last = instance_type.rsplit("-", 1)[-1]
    return int(last) if last.isdigit() else None


def azure_vcpus(instance_type: str) -> int | None:
    """vCPUs of an Azure size from its name (the active vCPUs of a constrained size)."""
    match = re.match(r"[A-Za-z]+(\d+)(?:-(\d+))?", instance_type)
    if not match:
        return None
    return int(match.group(2) or match.group(1))


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _rows(provider: str, entries: Iterable[tuple[str, str, float]]
          ) -> list[tuple[str, str, str, str, str, str]]:
    vcpus_of = {"aws": aws_vcpus, "gcp": gcp_vcpus, "azure": azure_vcpus}[provider]
    seen: dict[str, tuple[str, float]] = {}
    for instance_type, family, total in entries:
        seen.setdefault(instance_type, (family, total))  # first row of a type wins
    vcpus = {t: vcpus_of(t) for t in seen}
    largest: dict[str, int] = {}
    for t, (family, _) in seen.items():
        v = vcpus[t]
        if v is not None:
            largest[family] = max(largest.get(family, 0), v)
    out = []
    for t, (family, total) in sorted(seen.items()):
        host = largest.get(family)
        v = vcpus[t]
        if v is None and provider == "aws" and aws_family_size(t)[1] == "metal":
            v = host  # a bare-metal instance is the whole host
        out.append((provider, t, family, "" if v is None else str(v),
                    "" if host is None else str(host), f"{total:g}"))
    return out


def build(data: Path) -> list[tuple[str, str, str, str, str, str]]:
    """The table's rows, sorted by provider and type."""
    folder = data / FOLDER
    aws = [(r["type"], aws_family_size(r["type"])[0], float(r["total"]))
           for r in _read(folder / "coefficients-aws-embodied.csv")]
    azure = [(r["type"], r["family"], float(r["total"]))
             for r in _read(folder / "coefficients-azure-embodied.csv")]
    families = {r["type"]: r["family"] for r in _read(folder / "coefficients-gcp-embodied.csv")}
    gcp = [(r["type"], families.get(r["type"], r["type"].split("-")[0]), float(r["total_mean"]))
           for r in _read(folder / "coefficients-gcp-embodied-mean.csv")]
    return _rows("aws", aws) + _rows("azure", azure) + _rows("gcp", gcp)


def main() -> None:
    """Write the table (``--out``) from the reference folder (``--data``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = build(args.data)
    with args.out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"{args.out}: {len(rows)} instance types")


if __name__ == "__main__":
    main()
