"""Serving: per-request energy of inference endpoints, and the node agent.

* :class:`EnergyMeter` — ``with meter.request():`` for anything;
  :class:`EnergyMiddleware` (ASGI: FastAPI, Starlette) and
  :class:`EnergyWSGIMiddleware` (Flask) on top of it.
* :mod:`wattprint.serve.agent` — ``wattprint agent``: Prometheus ``/metrics``
  and a JSON API; needs the ``[serve]`` extra (prometheus-client), so it is
  not imported here.
"""

from __future__ import annotations

from wattprint.serve.meter import EnergyMeter
from wattprint.serve.middleware import EnergyMiddleware, EnergyWSGIMiddleware

__all__ = ["EnergyMeter", "EnergyMiddleware", "EnergyWSGIMiddleware"]
