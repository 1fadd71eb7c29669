"""Import the logs of other energy trackers as runs, to compare tools on one workload.

One module per peer format, each describing the log it reads --
:mod:`~wattprint.report.importers.codecarbon`,
:mod:`~wattprint.report.importers.carbontracker`,
:mod:`~wattprint.report.importers.eco2ai` -- plus what they share
(:mod:`~wattprint.report.importers.common`: :class:`PeerRun`, the helpers) and
the writing into the store (:mod:`~wattprint.report.importers.storing`).

Three peers are read, each in the format its own code writes:

* **codecarbon** ``emissions.csv``: each row is a run; energies per
  component, multiplied by the PUE written in the ``pue`` column.
* **carbontracker** log directory: per run a standard log (per epoch its
  duration and each device's mean power) and an output log (its totals,
  multiplied by its fixed PUE).
* **eco2AI** ``emission.csv``: a row per run, or per epoch (rows sharing an
  ``id``), with the total energy times a PUE the file does not record
  (give it with ``peer_pue``).

Every imported run is stored with ``tool`` = the peer's name and status
``imported``; each energy the peer reports is a device (``codecarbon:cpu``,
``codecarbon:gpu``, ``codecarbon:ram``, ``carbontracker:gpu:0``,
``eco2ai:total``...) with ``source`` the peer's name, ``measured`` false (no
peer's log says whether a number was read from a hardware counter or
estimated from a TDP) and a ``model`` text saying where the number came from.
The stored energy is **device energy**: the peer's figure divided by the PUE
the peer applied, since wattprint applies its own PUE when it accounts
carbon. Each device gets one interval per run (codecarbon, eco2AI rows) or
per epoch (carbontracker, eco2AI epochs). The peer's own figures go to the
run's info under ``peer_*`` keys: ``peer_energy_kwh`` and ``peer_co2e_kg``
(as the peer reported them, PUE included), ``peer_pue``, ``peer_country``,
``peer_region``, ``peer_intensity_g_per_kwh``, ``peer_version``,
``peer_file``, ``peer_run_id``, and for carbontracker
``peer_predicted_energy_kwh``, ``peer_predicted_co2e_kg`` and
``peer_early_stop``.

The peers write **naive local timestamps**; they are read in the time zone
given (``tz``), by default this machine's. Run ids are derived from the
peer's own identity of the run, so importing a file again skips the runs
already in the store. A file is parsed and checked completely before
anything is stored, and a failure while storing removes what this file had
added, so a file is imported whole or not at all.
"""

from __future__ import annotations

from wattprint.report.importers.carbontracker import parse_carbontracker
from wattprint.report.importers.codecarbon import parse_codecarbon
from wattprint.report.importers.common import (
    PEERS,
    ImportResult,
    PeerGap,
    PeerLogError,
    PeerRun,
)
from wattprint.report.importers.eco2ai import parse_eco2ai
from wattprint.report.importers.storing import import_peer_log, import_runs, parse_peer_log
from wattprint.time import parse_time_zone

__all__ = [
    "PEERS",
    "ImportResult",
    "PeerGap",
    "PeerLogError",
    "PeerRun",
    "import_peer_log",
    "import_runs",
    "parse_carbontracker",
    "parse_codecarbon",
    "parse_eco2ai",
    "parse_peer_log",
    "parse_time_zone",
]
