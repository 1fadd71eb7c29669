"""Deciding before and during the work: predictions, benchmarks, break-even, explanations.

Each module answers one question a user asks before committing compute:
:mod:`~wattprint.decide.bench` measures the energy per unit (sample, token,
request) of a program over a grid of settings, with its report in
:mod:`~wattprint.decide.bench_report`.
"""
