"""vatt.eval — see the package README for the public API."""

from vatt.eval.version import __version__

__all__ = ["__version__"]
