"""Deciding before and during the work: predictions, benchmarks, break-even, explanations.

The modules here turn measured or catalogued facts into decisions, each
answering one question a user asks before committing compute; they import
the layers beneath them only (accounting, the store, the catalogue):

* :mod:`~wattprint.decide.predict`: will this run fit its budget? Its totals
  predicted from its first epochs, with an interval (``--predict-after``,
  ``--budget-kwh``);
* :mod:`~wattprint.decide.bench`: the energy per unit (sample, token,
  request) of a program over a grid of settings (``wattprint bench``), with
  its report in :mod:`~wattprint.decide.bench_report`;
* :mod:`~wattprint.decide.breakeven`: when replacing hardware pays back the
  candidate's embodied carbon (``wattprint breakeven``);
* :mod:`~wattprint.decide.explain`: a carbon difference between two runs
  split into exact Shapley contributions of its factors (``compare --explain``);
* :mod:`~wattprint.decide.costs`: costs users log beside energy and carbon
  (``run.log_cost``, ``--cost-tag``), as leaderboard cost dimensions.
"""
