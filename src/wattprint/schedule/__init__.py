"""Reduce: what-if analysis, planning, and carbon-aware pausing over real intensity series.

The what-if engine replays a run's measured power profile against another
region, a later start or pausing while the grid is dirty; ``plan`` picks a
start window before a job runs; the pause controller stops and resumes a
live job when the intensity crosses a threshold, within a deadline.
"""
