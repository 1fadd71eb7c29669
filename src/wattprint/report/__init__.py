"""Reports: the appendix of a run or project, leaderboards and Pareto fronts, and exchange.

Renderers are pure (stored runs and a footprint in, text or bytes out); the
CLI writes the files. Exchange reads and writes the formats of other tools
(codecarbon, carbontracker, eco2AI) so results can be checked side by side.
"""
