"""vatt's Dropout: Keras' semantics on every backend, a packed random mask on JAX."""

import keras
import numpy as np
import pytest
from backend_helpers import to_numpy

from vatt.models.layers import Dropout
from vatt.models.layers.dropout import jax_dropout, random_uint16

jax = pytest.importorskip("jax")


def _drop(layer, x):
    return to_numpy(layer(keras.ops.convert_to_tensor(x), training=True))


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_drops_at_its_rate_and_keeps_the_expectation_on_every_backend(rate):
    layer = Dropout(rate, seed=3)
    ones = np.ones((64, 50, 768), "float32")
    out = _drop(layer, ones)
    dropped = (out == 0).mean()
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / out.size)
    np.testing.assert_allclose(out[out != 0], 1 / (1 - rate), rtol=2e-5)
    assert abs(out.mean() - 1.0) < 0.01


def test_dropout_is_identity_at_inference_and_at_rate_zero_and_fresh_per_call():
    x = np.random.default_rng(0).normal(size=(4, 9, 7)).astype("float32")
    layer = Dropout(0.3, seed=1)
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)
    np.testing.assert_array_equal(_drop(Dropout(0.0), x), x)
    first, second = _drop(layer, x), _drop(layer, x)
    assert not np.array_equal(first == 0, second == 0)
    assert Dropout(0.1).name.startswith("dropout")


def test_jax_backend_takes_the_packed_mask():
    if keras.backend.backend() != "jax":
        pytest.skip("the packed mask is the JAX backend's path; the jax session runs this")
    layer = Dropout(0.25, seed=7)
    x = np.random.default_rng(1).normal(size=(2, 5, 12)).astype("float32")
    seed = to_numpy(layer.seed_generator.state.value)
    expected = to_numpy(jax_dropout(jax.numpy.asarray(x), 0.25, seed))
    np.testing.assert_array_equal(_drop(layer, x), expected)


def test_random_uint16_is_uniform_seeded_and_shaped():
    seed = np.array([0, 42], "uint32")
    draws = np.asarray(random_uint16(seed, (3, 1000, 13)))  # 13: not a multiple of 4
    assert draws.shape == (3, 1000, 13) and draws.dtype == np.uint16
    counts = np.bincount(draws.ravel() >> 12, minlength=16)  # 16 bins of the 16-bit range
    expected = draws.size / 16
    assert ((counts - expected) ** 2 / expected).sum() < 60  # chi-square, 15 dof, p ~ 1e-7
    np.testing.assert_array_equal(draws, np.asarray(random_uint16(seed, (3, 1000, 13))))
    other = np.asarray(random_uint16(np.array([0, 43], "uint32"), (3, 1000, 13)))
    assert (draws == other).mean() < 0.01
    # Neighbouring elements (the same hash) and neighbouring rows are not correlated.
    flat = draws.reshape(-1).astype("float64")
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.02
    assert np.asarray(random_uint16(seed, ())).shape == ()


def test_jax_dropout_under_jit_and_bfloat16_keeps_the_expectation():
    x = jax.numpy.ones((256, 1024), "bfloat16")
    out = np.asarray(jax.jit(jax_dropout, static_argnums=1)(x, 0.1, np.array([1, 2], "uint32")))
    out = out.astype("float32")
    assert abs((out == 0).mean() - 0.1) < 0.003
    assert abs(out.mean() - 1.0) < 0.005  # the scale is applied in float32, rounded once
    np.testing.assert_array_equal(np.asarray(jax_dropout(x, 1.0, np.array([1, 2], "uint32"))), 0)
