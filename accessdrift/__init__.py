"""accessdrift: stream-processing access-drift detector."""

__version__ = "0.1.0"
