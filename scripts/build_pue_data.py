"""Convert Green Algorithms' default PUE table (CC BY 4.0) into package data.

Usage: python scripts/build_pue_data.py [SHARED_DATA_DIR]
Writes src/wattprint/data/pue_defaults.csv (provider, pue, source_url, dataset).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "src" / "wattprint" / "data" / "pue_defaults.csv"

#: provider names in the table -> our provider keys (cloud region prefixes)
PROVIDERS = {"Unknown": "unknown", "gcp": "gcp", "aws": "aws", "azure": "azure"}


def main(shared: Path) -> None:
    rows = []
    with (shared / "green_algorithms" / "defaults_PUE.csv").open(newline="") as fh:
        lines = fh.read().splitlines()
    # the first line is a validation header ("index,>1,"); the real header follows
    reader = csv.DictReader(lines[1:])
    for row in reader:
        key = PROVIDERS.get(row["provider"])
        if key is None:
            continue
        rows.append({"provider": key, "pue": f"{float(row['PUE']):.2f}",
                     "source_url": row["source"],
                     "dataset": "Green Algorithms defaults_PUE.csv (CC BY 4.0)"})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["provider", "pue", "source_url", "dataset"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["provider"]))
    print(f"wrote {len(rows)} rows to {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SHARED)
