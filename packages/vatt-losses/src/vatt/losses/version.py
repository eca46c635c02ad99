"""Version of the vatt-losses distribution (the single place it is defined)."""

__version__ = "0.1.1"
