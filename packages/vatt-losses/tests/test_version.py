"""The installed distribution and the imported module agree on the version."""

from importlib import metadata

import vatt.losses


def test_version_matches_distribution_metadata():
    assert vatt.losses.__version__ == metadata.version("vatt-losses")
