"""Version of the vatt-train distribution (the single place it is defined)."""

__version__ = "0.4.2"
