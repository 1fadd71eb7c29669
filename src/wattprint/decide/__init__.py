"""Deciding before and during the work: forecasts, benchmarks and trade-offs.

The modules here turn measured or catalogued facts into decisions: whether a
run will fit its budget, which configuration or device to use, when new
hardware pays back its embodied carbon, and why two footprints differ. Each
module has one job and imports the layers beneath it only (accounting, the
store, the catalogue).
"""
