"""The installed distribution and the imported module agree on the version."""

from importlib import metadata

import vatt.eval


def test_version_matches_distribution_metadata():
    assert vatt.eval.__version__ == metadata.version("vatt-eval")
