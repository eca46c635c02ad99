"""vatt.data — see the package README for the public API."""

from vatt.data.version import __version__

__all__ = ["__version__"]
