"""Dropout whose mask costs a quarter of the random hashing of Keras' own on JAX.

Keras' ``Dropout`` on JAX hashes once per element (threefry-2x32, about 75 integer operations
per element). On an H200 the dropouts of ``vit_base`` took 12.7 ms of its 89 ms training step
(``benchmarks/results/h200-2026-12-04``, runs 3 and 4), about what that hashing costs by its
operation count; their memory traffic is a fraction of it. :class:`Dropout` hashes one counter
pair per four elements instead, keeps BOTH 32-bit words of each threefry output, and cuts them
into four 16-bit draws: an element is dropped when its draw is below ``round(rate * 65536)``,
so the realised rate equals ``rate`` to within 2**-17, and kept values are scaled by the exact
inverse of the realised keep probability, so the expectation is the input's. Elsewhere
(TensorFlow, PyTorch, a ``noise_shape``) it is Keras' ``Dropout``.
"""

from __future__ import annotations

import math

import keras

#: 16-bit draws per threefry-2x32 hash: two per 32-bit word, both output words kept.
DRAWS_PER_HASH = 4
_LEVELS = 1 << 16


class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` with a cheaper mask on the JAX backend (see the module doc).

    Same arguments, same seeding (the layer's ``SeedGenerator``, one fresh key per call), same
    auto-name ``dropout``, so it replaces Keras' layer without changing checkpoints.
    """

    def call(self, inputs, training=False):
        if (
            not training
            or self.rate == 0
            or self.noise_shape is not None
            or keras.backend.backend() != "jax"
        ):
            return super().call(inputs, training=training)
        return jax_dropout(inputs, self.rate, self.seed_generator.next())


def jax_dropout(inputs, rate: float, seed):
    """Drop elements of ``inputs`` with probability ``rate`` (to 2**-17), JAX only.

    Args:
        inputs: any array with at least one element.
        rate: drop probability in [0, 1].
        seed: a raw threefry key, ``uint32[2]`` (what Keras' ``SeedGenerator`` hands out).

    Returns:
        ``inputs`` with dropped elements zeroed and kept ones scaled by ``1 / keep``.
    """
    from jax import lax
    from jax import numpy as jnp

    threshold = round(rate * _LEVELS)
    if threshold >= _LEVELS:
        return jnp.zeros_like(inputs)
    scale = _LEVELS / (_LEVELS - threshold)
    draws = random_uint16(seed, tuple(inputs.shape))
    kept = (inputs.astype(jnp.float32) * scale).astype(inputs.dtype)  # one rounding
    return lax.select(draws >= jnp.uint16(threshold), kept, jnp.zeros_like(inputs))


def random_uint16(seed, shape: tuple[int, ...]):
    """Uniform ``uint16`` draws of ``shape``: four per threefry-2x32 hash of ``seed``.

    The counters are the flat indices of the packed array, built from per-axis iotas, so the
    draws of a batch-sharded array are computed where the shard lives.
    """
    from jax import lax
    from jax import numpy as jnp
    from jax.extend.random import threefry2x32_p

    if not shape:
        return random_uint16(seed, (1,))[0]
    packed = (*shape[:-1], -(-shape[-1] // DRAWS_PER_HASH))
    if math.prod(packed) >= 1 << 32:
        raise ValueError(
            f"dropout over {math.prod(shape)} elements needs more than 2**32 counters; "
            "split the tensor"
        )
    counters = jnp.zeros(packed, jnp.uint32)
    stride = 1
    for axis in reversed(range(len(packed))):
        counters = counters + lax.broadcasted_iota(jnp.uint32, packed, axis) * jnp.uint32(stride)
        stride *= packed[axis]
    key = jnp.asarray(seed).astype(jnp.uint32)
    words = threefry2x32_p.bind(key[0], key[1], counters, jnp.zeros_like(counters))
    # Shifts and masks rather than a bitcast, so that compilers fuse the draws into their user.
    halves = [half for word in words for half in (word & 0xFFFF, word >> 16)]
    draws = jnp.reshape(jnp.stack(halves, axis=-1), (*shape[:-1], packed[-1] * DRAWS_PER_HASH))
    return draws[..., : shape[-1]].astype(jnp.uint16)
