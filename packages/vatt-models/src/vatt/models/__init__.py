"""vatt.models — see the package README for the public API."""

from vatt.models.version import __version__

__all__ = ["__version__"]
