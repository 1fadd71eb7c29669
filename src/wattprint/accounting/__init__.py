"""Accounting: turn stored energy into carbon, with the provenance of every factor.

Energy is the stored fact; carbon is derived here, when asked: grid
intensity by region and hour (average or marginal; shipped tables, user
series or live APIs), PUE for the infrastructure, embodied carbon of the
hardware, and SCI per functional unit. Nothing here writes to the store.
"""
