"""A tracked piece of work: :func:`track` and :class:`Tracker`.

The package holds the run and what it is made of, one module each:

- :mod:`~wattprint.run.tracker`: :class:`Tracker` and :func:`track`, the run's life;
- :mod:`~wattprint.run.devices`: the sensors a run opens and one device's energy;
- :mod:`~wattprint.run.signals`: finalising on a signal or at interpreter exit;
- :mod:`~wattprint.run.results`: what a running or ended run answers;
- :mod:`~wattprint.run.pausing`: what a run needs of a pausing controller;
- :mod:`~wattprint.run.summary`: the run in one line, and as HTML for notebooks.
"""

from wattprint.run.devices import DeviceEnergy, open_sensors, sensor_context
from wattprint.run.pausing import CooperativePausing, PauseControl
from wattprint.run.tracker import STANDARD_PHASES, Tracker, resolve_settings_region, track

__all__ = ["STANDARD_PHASES", "CooperativePausing", "DeviceEnergy", "PauseControl", "Tracker",
           "open_sensors", "resolve_settings_region", "sensor_context", "track"]
