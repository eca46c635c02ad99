"""vatt.losses — see the package README for the public API."""

from vatt.losses.version import __version__

__all__ = ["__version__"]
