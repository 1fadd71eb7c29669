"""The version of wattprint, in one place (read by the build and by ``wattprint --version``)."""

__version__ = "0.1.0"
