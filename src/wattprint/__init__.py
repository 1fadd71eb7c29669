"""wattprint: measure the energy of ML work, account its life-cycle carbon, report and cut it."""

__version__ = "0.1.0"
