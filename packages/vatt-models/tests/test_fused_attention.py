"""Fast paths: fused attention, DropToken sequence rounding, patch embedding, fused FLOPs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import vatt.models as vm
from vatt.models.layers import (
    DropToken,
    MultiHeadAttention,
    SpatioTemporalEmbeddings,
    TemporalEmbeddings,
    TransformerEncoder,
    embed_patches,
    patch_tokens,
)

to_numpy = keras.ops.convert_to_numpy


def _attention(dropout_rate: float, scale_scores: bool = True) -> MultiHeadAttention:
    layer = MultiHeadAttention(
        d_model=8, num_heads=2, d_kv=4, dropout_rate=dropout_rate, scale_scores=scale_scores
    )
    layer.build()
    rng = np.random.default_rng(0)
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.5)
    return layer


def _inputs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 6, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0], [1] * 6, [1, 0, 1, 0, 1, 0]], "float32")
    bias = rng.normal(size=(1, 2, 6, 6)).astype("float32")
    return x, mask, bias


@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_and_explicit_attention_agree_with_mask_and_bias(with_bias):
    # A dropout rate so small that nothing is dropped takes the explicit (scores) path in
    # training; inference takes the fused path: both compute the same attention.
    layer = _attention(dropout_rate=1e-9, scale_scores=not with_bias)
    x, mask, bias = _inputs()
    bias = bias if with_bias else None
    explicit = layer(x, attention_mask=mask, attention_bias=bias, training=True)
    fused = layer(x, attention_mask=mask, attention_bias=bias, training=False)
    np.testing.assert_allclose(to_numpy(fused), to_numpy(explicit), rtol=1e-5, atol=1e-5)


def test_zero_attention_dropout_trains_through_the_fused_path():
    layer = _attention(dropout_rate=0.0)
    x, mask, _ = _inputs()
    np.testing.assert_array_equal(
        to_numpy(layer(x, attention_mask=mask, training=True)),
        to_numpy(layer(x, attention_mask=mask, training=False)),
    )


def test_a_row_with_no_key_to_attend_to_attends_to_every_key():
    layer = _attention(dropout_rate=0.0)
    x, _, _ = _inputs()
    none = np.zeros((3, 6), "float32")
    out = to_numpy(layer(x, attention_mask=none))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, to_numpy(layer(x)), rtol=1e-5, atol=1e-6)


def test_encoder_routes_attention_dropout_to_the_probabilities_only():
    encoder = TransformerEncoder(
        2, d_model=8, num_heads=2, d_kv=4, d_ff=16, dropout_rate=0.2, attention_dropout_rate=0.3
    )
    layer = encoder.encoder_layers[0]
    assert layer.mha.dropout_rate == 0.3
    assert layer.dropout.rate == layer.feed_forward.dropout.rate == 0.2
    assert encoder.get_config()["attention_dropout_rate"] == 0.3


@pytest.mark.parametrize(
    ("rate", "max_tokens", "multiple", "kept"),
    [
        (0.5, 1568, 64, 767),  # ViT-3D at 32x224^2: 768 tokens with the agg token, not 785
        (0.49, 1568, 64, 767),
        (0.5, 1200, 64, 575),  # WaT at 3.2 s of 48 kHz: 576 tokens, not 601
        (0.5, 1568, 1, 784),  # the original's count
        (0.5, 8, 64, 4),  # no multiple of 64 fits: not rounded
    ],
)
def test_drop_token_rounds_the_sequence_down_to_a_multiple(rate, max_tokens, multiple, kept):
    layer = DropToken(rate, max_tokens, sequence_multiple=multiple, extra_tokens=1)
    assert layer.num_kept == kept
    tokens = np.zeros((1, max_tokens, 2), "float32")
    assert layer(tokens, training=True).shape == (1, kept, 2)


def test_drop_token_rejects_a_bad_multiple():
    with pytest.raises(ValueError, match="sequence_multiple must be >= 1"):
        DropToken(0.5, 16, sequence_multiple=0)


def test_backbone_configs_default_to_fused_friendly_training():
    for arch in ("vit_base", "wat_base"):
        backbone = vm.get_config(arch).backbone
        assert backbone.attention_dropout_rate == 0.0
        assert backbone.sequence_multiple == 64
    with pytest.raises(ValueError, match="attention_dropout_rate must be in"):
        vm.build("vit_base", **{**vm.tiny_overrides("vit_base"), "backbone": {
            **vm.tiny_overrides("vit_base")["backbone"], "attention_dropout_rate": 1.0}})  # fmt: skip


def test_fused_attention_primitive_is_counted_from_its_shapes():
    jax = pytest.importorskip("jax")
    from jax.extend.core import Primitive

    from vatt.models.flops import _jaxpr_flops

    # A stand-in for cuDNN's fused kernel, which only exists on a GPU: same name, same operands.
    fused = Primitive("dot_product_attention_fwd")
    fused.def_abstract_eval(lambda q, k, v, **params: jax.core.ShapedArray(q.shape, q.dtype))
    batch, length, heads, depth = 2, 64, 3, 8
    q = jax.ShapeDtypeStruct((batch, length, heads, depth), "float32")
    jaxpr = jax.make_jaxpr(lambda q, k, v: fused.bind(q, k, v, layout=0))(q, q, q).jaxpr

    def explicit(q, k, v):
        scores = jax.numpy.einsum("btnh,bsnh->bnts", q, k)
        return jax.numpy.einsum("bnts,bsnh->btnh", scores, v)

    expected = _jaxpr_flops(jax.make_jaxpr(explicit)(q, q, q).jaxpr)
    assert _jaxpr_flops(jaxpr) == expected == 2 * 2 * batch * heads * length * length * depth


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (keras.layers.Conv3D(6, (2, 4, 4), strides=(2, 4, 4)), (2, 4, 8, 12, 3)),
        (keras.layers.Conv1D(5, 8, strides=8), (3, 32, 1)),
        (keras.layers.Conv1D(5, 8, strides=4), (3, 32, 1)),  # overlapping: the convolution
    ],
)
def test_patch_embedding_as_one_product_equals_the_convolution(layer, shape):
    inputs = np.random.default_rng(3).normal(size=shape).astype("float32")
    layer.build(shape)
    rng = np.random.default_rng(4)
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    np.testing.assert_allclose(
        to_numpy(embed_patches(layer, inputs)), to_numpy(layer(inputs)), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    ("make_layer", "shape", "embeddings"),
    [
        (lambda: keras.layers.Conv3D(8, (2, 4, 4), strides=(2, 4, 4)), (2, 4, 8, 12, 3), (2, 2, 3)),
        (lambda: keras.layers.Conv1D(8, 8, strides=8), (3, 64, 1), (8,)),
        (lambda: keras.layers.Conv1D(8, 8, strides=4), (3, 64, 1), (15,)),  # overlapping
    ],
)
@pytest.mark.parametrize("with_projection", [False, True])
def test_droptoken_before_the_patch_embedding_gives_the_original_orders_tokens(
    make_layer, shape, embeddings, with_projection
):
    """patch_tokens == drop_token(flatten(positions(projection(conv(x))))) for one permutation."""
    layer = make_layer()
    inputs = np.random.default_rng(3).normal(size=shape).astype("float32")
    layer.build(shape)
    rng = np.random.default_rng(4)
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    if len(embeddings) == 3:
        positions = SpatioTemporalEmbeddings(8, *embeddings, dropout_rate=0.0)
    else:
        positions = TemporalEmbeddings(8, *embeddings, dropout_rate=0.0)
    projection = None
    if with_projection:
        projection = keras.layers.Dense(8, activation="gelu")
        projection.build((None, 8))
    num_tokens = int(np.prod(embeddings))
    drop_token, same_draws = (DropToken(0.5, num_tokens, seed=11) for _ in range(2))
    got = patch_tokens(layer, inputs, positions, drop_token, projection, training=True)
    grid = layer(inputs)
    if projection is not None:
        grid = projection(grid)
    grid = keras.ops.reshape(positions(grid, training=True), (shape[0], num_tokens, 8))
    original = same_draws(grid, training=True)
    assert tuple(got.shape) == (shape[0], num_tokens // 2, 8)
    np.testing.assert_allclose(to_numpy(got), to_numpy(original), rtol=1e-4, atol=1e-4)
    # At inference every token passes, in grid order.
    np.testing.assert_allclose(
        to_numpy(patch_tokens(layer, inputs, positions, drop_token, projection)),
        to_numpy(grid),
        rtol=1e-4,
        atol=1e-4,
    )
