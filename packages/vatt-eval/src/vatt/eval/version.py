"""Version of the vatt-eval distribution (the single place it is defined)."""

__version__ = "0.3.2"
