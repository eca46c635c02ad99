"""Shared building blocks against brute-force NumPy/SciPy references and their invariants."""

import keras
import numpy as np
import pytest
from backend_helpers import to_numpy
from scipy.interpolate import RBFInterpolator
from scipy.special import erf

from vatt.models.layers import (
    DenseActivationDense,
    DropToken,
    FeedForward,
    MultiHeadAttention,
    SpatioTemporalEmbeddings,
    SpectroTemporalEmbeddings,
    TemporalEmbeddings,
    TransformerEncoder,
    resize_positional_table,
    spline_resampling_matrix,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _layer_norm(x, gamma, beta, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _randomise(layer, seed=0):
    rng = _rng(seed)
    for variable in layer.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))


@pytest.mark.parametrize(("rows", "target"), [(3, 5), (8, 12), (14, 7), (6, 4), (24, 32)])
def test_spline_matches_scipy_cubic_polyharmonic_spline(rows, target):
    table = _rng(rows).normal(size=(rows, 5))
    knots = (np.arange(rows) / rows)[:, None]
    queries = (np.arange(target) / target)[:, None]
    expected = RBFInterpolator(knots, table, kernel="cubic", degree=1)(queries)
    np.testing.assert_allclose(spline_resampling_matrix(rows, target) @ table, expected, atol=1e-9)
    float32_table = keras.ops.convert_to_tensor(table.astype("float32"))
    resized = np.asarray(resize_positional_table(float32_table, target))
    np.testing.assert_allclose(resized, expected, rtol=1e-5, atol=1e-5)


def test_spline_interpolates_knots_and_reproduces_affine_tables():
    table = _rng().normal(size=(7, 3))
    matrix = spline_resampling_matrix(7, 14)
    # Query j/14 with even j is knot j/2 of 7: the spline passes through the table rows.
    np.testing.assert_allclose((matrix @ table)[::2], table, atol=1e-9)
    positions = np.arange(7)[:, None] / 7
    affine = 2.0 * positions + np.array([[1.0, -3.0, 0.5]])
    queries = np.arange(10)[:, None] / 10
    np.testing.assert_allclose(
        spline_resampling_matrix(7, 10) @ affine, 2.0 * queries + affine[0], atol=1e-9
    )


def test_spline_stays_exact_at_the_full_wat_table_size():
    # 1200 rows (3.2 s of 48 kHz audio / 128): TF-Addons' float32 dense solve broke down here.
    matrix = spline_resampling_matrix(1200, 2400)
    np.testing.assert_allclose(matrix[::2], np.eye(1200), atol=1e-10)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-10)  # constants are kept


def test_spline_keeps_a_table_of_the_right_size_and_rejects_single_rows():
    table = keras.ops.ones((4, 2))
    assert resize_positional_table(table, 4) is table
    with pytest.raises(ValueError, match="at least 2 rows"):
        spline_resampling_matrix(1, 3)


def test_temporal_embeddings_add_layer_normed_rows_and_resample():
    layer = TemporalEmbeddings(hidden_size=6, max_temporal_buckets=5)
    _randomise(layer)
    table = np.asarray(layer.temporal_position_embeddings.embeddings)
    gamma, beta = (np.asarray(v) for v in layer.layernorm.weights)
    inputs = _rng(1).normal(size=(2, 5, 6)).astype("float32")
    expected = inputs + _layer_norm(table, gamma, beta)[None]
    np.testing.assert_allclose(to_numpy(layer(inputs)), expected, rtol=1e-5, atol=1e-5)
    resized = spline_resampling_matrix(5, 8) @ table
    out = to_numpy(layer(np.zeros((1, 8, 6), "float32")))
    np.testing.assert_allclose(out[0], _layer_norm(resized, gamma, beta), rtol=1e-4, atol=1e-4)


def test_spatio_temporal_embeddings_sum_t_h_w_rows_in_t_major_grid():
    layer = SpatioTemporalEmbeddings(
        4, max_temporal_buckets=2, max_vertical_buckets=3, max_horizontal_buckets=5
    )
    _randomise(layer)
    t, v, h = (
        np.asarray(e.embeddings)
        for e in (
            layer.temporal_position_embeddings,
            layer.vertical_position_embeddings,
            layer.horizontal_position_embeddings,
        )
    )
    gamma, beta = (np.asarray(w) for w in layer.layernorm.weights)
    out = to_numpy(layer(np.zeros((1, 2, 3, 5, 4), "float32")))[0]
    for ti, hi, wi in [(0, 0, 0), (1, 2, 4), (1, 0, 3), (0, 2, 1)]:
        expected = _layer_norm(t[ti] + v[hi] + h[wi], gamma, beta)
        np.testing.assert_allclose(out[ti, hi, wi], expected, rtol=1e-5, atol=1e-5)


def test_spectro_temporal_embeddings_use_the_spectral_major_id_quirk():
    layer = SpectroTemporalEmbeddings(4, max_temporal_buckets=3, max_spectoral_buckets=4)
    _randomise(layer)
    t = np.asarray(layer.temporal_position_embeddings.embeddings)
    s = np.asarray(layer.spectoral_position_embeddings.embeddings)
    gamma, beta = (np.asarray(w) for w in layer.layernorm.weights)
    out = to_numpy(layer(np.zeros((1, 3, 4, 4), "float32")))[0].reshape(12, 4)
    for k in range(12):  # flat token k = t_i * 4 + s_i, but it gets ids (k mod 3, k div 3)
        expected = _layer_norm(t[k % 3] + s[k // 3], gamma, beta)
        np.testing.assert_allclose(out[k], expected, rtol=1e-5, atol=1e-5)
    temporal_ids, spectral_ids = SpectroTemporalEmbeddings.position_ids(3, 4)
    assert temporal_ids.tolist() == [0, 1, 2] * 4
    assert spectral_ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_drop_token_keeps_rate_times_max_tokens_with_one_permutation_per_batch():
    layer = DropToken(rate=0.5, max_tokens=12, seed=3)
    tokens = (
        np.arange(10, dtype="float32")[None, :, None] + np.array([0.0, 100.0, 200.0])[:, None, None]
    )
    kept = to_numpy(layer(tokens, training=True))[..., 0]  # (3, 6)
    assert kept.shape == (3, 6)  # int(0.5 * 12), not int(0.5 * 10)
    positions = kept - np.array([0.0, 100.0, 200.0])[:, None]
    assert len(set(positions[0].tolist())) == 6
    np.testing.assert_array_equal(positions, np.broadcast_to(positions[0], positions.shape))
    np.testing.assert_array_equal(to_numpy(layer(tokens, training=False)), tokens)
    np.testing.assert_array_equal(
        to_numpy(DropToken(0.5, 12, enabled=False)(tokens, training=True)), tokens
    )
    few = to_numpy(DropToken(0.9, 20, seed=1)(tokens, training=True))
    assert sorted(few[0, :, 0].tolist()) == list(range(10))  # fewer tokens than kept: all, shuffled


def test_drop_token_rejects_rates_that_keep_nothing():
    with pytest.raises(ValueError, match="keep no token"):
        DropToken(rate=0.1, max_tokens=5)
    with pytest.raises(ValueError, match=r"rate must be in \(0, 1\]"):
        DropToken(rate=1.5, max_tokens=5)


def test_multi_head_attention_matches_numpy_with_padding_mask():
    layer = MultiHeadAttention(d_model=6, num_heads=2, d_kv=4, dropout_rate=0.0)
    layer.build()
    _randomise(layer)
    x = _rng(2).normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
    weights = {attr: [np.asarray(w) for w in getattr(layer, attr).weights] for attr in "qkvo"}

    def project(attr, value):
        kernel, bias = weights[attr]
        return value @ kernel + bias

    def heads(value):  # head h owns columns h*4 ... h*4+3
        return value.reshape(2, 5, 2, 4).transpose(0, 2, 1, 3)

    q, k, v = (heads(project(a, x)) for a in "qkv")
    scores = q @ k.transpose(0, 1, 3, 2) / 2.0 + (1 - mask)[:, None, None, :] * -1e9
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(2, 5, 8)
    expected = project("o", context)
    np.testing.assert_allclose(
        to_numpy(layer(x, attention_mask=mask)), expected, rtol=1e-4, atol=1e-5
    )


def test_gelu_mlp_is_the_exact_erf_gelu():
    mlp = DenseActivationDense(d_model=3, d_ff=5, activation="gelu", dropout_rate=0.0)
    mlp.build()
    _randomise(mlp)
    x = _rng(4).normal(size=(1, 2, 3)).astype("float32") * 3
    (wi, bi), (wo, bo) = ([np.asarray(w) for w in d.weights] for d in (mlp.wi, mlp.wo))
    hidden = x @ wi + bi
    expected = (0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))) @ wo + bo
    np.testing.assert_allclose(to_numpy(mlp(x)), expected, rtol=1e-5, atol=1e-5)


def test_post_norm_encoder_normalises_after_each_residual_and_has_no_final_norm():
    encoder = TransformerEncoder(
        1, d_model=4, num_heads=1, d_kv=4, d_ff=8, dropout_rate=0.0, pre_norm=False
    )
    encoder.build()
    layer = encoder.encoder_layers[0]
    x = _rng(5).normal(size=(1, 3, 4)).astype("float32")
    hidden = to_numpy(layer.layer_norm(x + to_numpy(layer.mha(x))))
    ff = layer.feed_forward
    expected = to_numpy(ff.layer_norm(hidden + to_numpy(ff.mlp(hidden))))
    np.testing.assert_allclose(to_numpy(encoder(x)), expected, rtol=1e-5, atol=1e-5)
    assert not any(
        key.startswith("tx/final_layer_norm") for key in encoder.checkpoint_variables("tx")
    )


def test_encoder_checkpoint_paths_follow_the_original_attribute_names():
    encoder = TransformerEncoder(2, d_model=4, num_heads=1, d_kv=4, d_ff=8)
    encoder.build()
    paths = encoder.checkpoint_variables("tx")
    assert len(paths) == len(encoder.weights) == 2 * 16 + 2
    assert {
        "tx/layers/1/mha/o/bias",
        "tx/layers/0/feed_forward/mlp/wi/kernel",
        "tx/layers/0/feed_forward/layer_norm/gamma",
        "tx/final_layer_norm/beta",
    } <= set(paths)
    assert paths["tx/layers/1/feed_forward/mlp/wo/kernel"].shape == (8, 4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TemporalEmbeddings(6, max_temporal_buckets=5, dropout_rate=0.2),
        lambda: SpatioTemporalEmbeddings(
            4, max_temporal_buckets=2, max_vertical_buckets=3, max_horizontal_buckets=5
        ),
        lambda: SpectroTemporalEmbeddings(4, max_temporal_buckets=3, max_spectoral_buckets=4),
        lambda: DropToken(0.5, max_tokens=8, seed=3, sequence_multiple=4, extra_tokens=1),
        lambda: MultiHeadAttention(6, 2, d_kv=4, use_bias=False, kernel_initializer="he_normal"),
        lambda: DenseActivationDense(3, 5, activation="geglu", dropout_rate=0.3),
        lambda: FeedForward(3, 5, "relu", dropout_rate=0.2, pre_norm=False),
        lambda: TransformerEncoder(
            2, 4, 1, 4, 8, "relu", attention_dropout_rate=0.2, pre_norm=False
        ),
    ],
    ids=lambda make: make.__code__.co_names[0],
)
def test_layers_rebuild_from_their_config_with_the_same_weights(make):
    layer = make()
    if not layer.built:
        layer.build()
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    if not rebuilt.built:
        rebuilt.build()
    assert rebuilt.get_config() == config
    assert [(w.path, w.shape) for w in rebuilt.weights] == [
        (w.path, w.shape) for w in layer.weights
    ]


def test_a_layer_keeps_every_constructor_argument_defaults_included():
    block = FeedForward(3, 5, "relu", dropout_rate=0.2, pre_norm=False, name="ff")
    expected = dict(d_model=3, d_ff=5, activation="relu", use_bias=True, dropout_rate=0.2)
    assert block.mlp.arguments() == expected
    assert block.arguments() == {**expected, "layer_norm_epsilon": 1e-6, "pre_norm": False}
    assert block.pre_norm is False and block.layer_norm.epsilon == 1e-6 and block.name == "ff"


def test_encoder_passes_its_arguments_to_every_layer_and_rejects_unknown_ones():
    encoder = TransformerEncoder(3, 8, 2, d_kv=4, d_ff=16, use_bias=False, dtype="float32")
    assert encoder.num_layers == 3 and encoder.d_model == 8 and not encoder.use_bias
    assert all(
        layer.arguments() == encoder.encoder_layers[0].arguments()
        for layer in encoder.encoder_layers
    )
    assert encoder.get_config()["d_ff"] == 16 and encoder.get_config()["num_heads"] == 2
    with pytest.raises(ValueError, match="num_layers must be at least 1"):
        TransformerEncoder(0, 8, 2, 4, 16)
    with pytest.raises(ValueError, match="d_ffn"):
        TransformerEncoder(1, 8, 2, d_kv=4, d_ffn=16)
