"""The hardware catalogue: facts about the devices ML runs on, each with its source.

Layer 0: the catalogue reads only the tables shipped in ``wattprint/data/hardware``
(built by ``scripts/build_hardware_data.py`` from the reference data, one file
per licence) and imports nothing above :mod:`wattprint.units`,
:mod:`wattprint.errors` and :mod:`wattprint.hostinfo`. Sensors use it to
choose a power model, accounting to find idle power and embodied carbon.

Modules, one job each:

* :mod:`~wattprint.catalogue.data` — reading the shipped tables and the single
  constants of ``constants.json``;
* :mod:`~wattprint.catalogue.names` — CPU and GPU names reduced to comparable tokens;
* :mod:`~wattprint.catalogue.cpus` — CPU TDPs (Green Algorithms, codecarbon);
* :mod:`~wattprint.catalogue.ccf` — CPU micro-architectures and Cloud Carbon
  Footprint's watts per vCPU for each;
* :mod:`~wattprint.catalogue.gpus` — GPU cards: TDP, idle power, embodied carbon;
* :mod:`~wattprint.catalogue.embodied` — server chassis and the amortisation
  defaults (BLOOM's lifetime, utilisation, per-card and per-node carbon);
* :mod:`~wattprint.catalogue.lookup` — :class:`~wattprint.catalogue.lookup.Catalogue`,
  one object answering for all of them, with configuration overrides.

Nothing is imported here, so importing one module does not load the others.
"""
