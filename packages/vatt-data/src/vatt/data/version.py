"""Version of the vatt-data distribution (the single place it is defined)."""

__version__ = "0.4.1"
