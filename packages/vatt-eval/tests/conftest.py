"""Shared fixtures of vatt-eval's tests."""

import pytest


@pytest.fixture
def in_tmp_dir(tmp_path, monkeypatch):
    """Run the test inside ``tmp_path``, so that it passes relative paths as users type them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
