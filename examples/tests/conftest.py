"""Shared fixtures of the examples' tests: the examples load from their files, as users run them."""

import importlib.util
import pathlib
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1]


def load_example(name: str):
    """The module of ``examples/NAME.py``, loaded from its file as ``python examples/NAME.py``
    runs it."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def demo():
    """``examples/demo.py``, the main job."""
    return load_example("demo")
