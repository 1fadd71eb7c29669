"""Deciding before and during the work: what to buy, what made a difference, what it cost.

* :mod:`~wattprint.decide.breakeven`: when replacing hardware pays back the
  candidate's embodied carbon (``wattprint breakeven``);
* :mod:`~wattprint.decide.explain`: a carbon difference between two runs
  split into exact Shapley contributions of its factors (``compare --explain``);
* :mod:`~wattprint.decide.costs`: costs users log beside energy and carbon
  (``run.log_cost``, ``--cost-tag``), as leaderboard cost dimensions.
"""
