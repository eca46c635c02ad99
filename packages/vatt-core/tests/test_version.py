"""The installed distribution and the imported module agree on the version."""

from importlib import metadata

import vatt.core


def test_version_matches_distribution_metadata():
    assert vatt.core.__version__ == metadata.version("vatt-core")
