"""The model of a run, built under the Keras dtype policy of ``train.precision``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import keras

import vatt.models

if TYPE_CHECKING:
    from vatt.train.config import ExperimentConfig


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy ``precision``, then restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(config: ExperimentConfig) -> keras.Model:
    """The model of ``config`` (``model_arch`` with the ``model`` section), in its precision."""
    with precision_policy(config.train.precision):
        return vatt.models.build(config.model_arch, config.model)
