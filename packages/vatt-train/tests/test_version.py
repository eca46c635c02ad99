"""The installed distribution and the imported module agree on the version."""

from importlib import metadata

import vatt.train


def test_version_matches_distribution_metadata():
    assert vatt.train.__version__ == metadata.version("vatt-train")
