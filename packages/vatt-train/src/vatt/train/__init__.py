"""vatt.train — see the package README for the public API."""

from vatt.train.version import __version__

__all__ = ["__version__"]
