"""Version of the vatt-models distribution (the single place it is defined)."""

__version__ = "0.4.0"
