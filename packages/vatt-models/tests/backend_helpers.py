"""What the tests do differently per Keras backend: host copies of outputs, and gradients."""

from __future__ import annotations

import keras


def to_numpy(outputs):
    """``outputs`` (a tensor or a nested dict of them) as NumPy arrays, detached from autograd."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def trainable_gradients(model: keras.Model, inputs, loss_fn) -> list:
    """Gradients of ``loss_fn(model(inputs, training=True))`` for ``model.trainable_variables``.

    One entry per variable, in order; ``None`` where the loss does not depend on it.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(model(inputs, training=True))
        return tape.gradient(loss, model.trainable_variables)
    if backend == "jax":
        import jax

        def stateless_loss(trainable, non_trainable):
            outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=True)
            return loss_fn(outputs)

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return jax.grad(stateless_loss)(trainable, non_trainable)
    if backend == "torch":
        import torch

        loss = loss_fn(model(inputs, training=True))
        parameters = [v.value for v in model.trainable_variables]
        return list(torch.autograd.grad(loss, parameters, allow_unused=True))
    raise NotImplementedError(f"no gradient helper for Keras backend {backend!r}")
