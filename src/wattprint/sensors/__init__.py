"""Hardware sources of energy readings; see :mod:`wattprint.sensors.base`."""
