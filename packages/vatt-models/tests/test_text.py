"""Text backbones: T5 bucket rule, norms, masking, the linear tower, mapping, validation."""

import math
import pathlib

import keras
import numpy as np
import pytest
from backend_helpers import to_numpy

from vatt.core.config import ConfigError
from vatt.models.checkpoints import load_official_checkpoint
from vatt.models.registry import build, get_config, tiny_overrides
from vatt.models.text import (
    PRETRAIN_TEXT_PREFIX,
    TextBackbone,
    TextConfig,
    load_word_embeddings,
)
from vatt.models.text.t5 import RMSNorm, relative_position_buckets

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "tx_fac_tiny"
TEXT_ARCHS = ("t5_small", "t5_base", "bert_small", "bert_base", "linear")


def _tiny(arch, **overrides):
    keras.utils.set_random_seed(0)
    return build(arch, **{**tiny_overrides(arch), "dropout_rate": 0.0, **overrides})


def _ids(lengths, width=16, vocab=1000, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), width), dtype="int32")
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, vocab, n)
    return ids


def _bucket_reference(query, key, num_buckets=32, max_distance=64):
    n = query - key
    half = num_buckets // 2
    max_exact = half // 2
    bucket = half if n < 0 else 0
    a = abs(n)
    if a < max_exact:
        return bucket + a
    scaled = np.float32(math.log(np.float32(a) / np.float32(max_exact)))
    scaled = np.float32(
        scaled / np.float32(math.log(max_distance / max_exact)) * (half - max_exact)
    )
    return bucket + min(max_exact + int(scaled), half - 1)


def test_relative_buckets_match_the_rule_for_every_pair():
    length = 140  # distances beyond max_distance 64 in both directions
    got = np.asarray(relative_position_buckets(length))
    expected = np.array([[_bucket_reference(q, k) for k in range(length)] for q in range(length)])
    np.testing.assert_array_equal(got, expected)
    # Spot values: exact near the diagonal, 16 offset for keys after the query, 15 cap at 64+.
    assert got[0, 0] == 0 and got[5, 0] == 5 and got[0, 5] == 21
    assert got[64, 0] == 15 and got[139, 0] == 15 and got[0, 139] == 31
    assert got[16, 0] == 10 and got[32, 0] == 13  # 8 + trunc(log2(2)/3*8), 8 + trunc(16/3)


def test_t5_loaded_alone_from_a_pretraining_checkpoint_matches_the_original():
    model = _tiny("t5_small")
    load_official_checkpoint(model, FIXTURE, prefix=PRETRAIN_TEXT_PREFIX)
    reference = np.load(FIXTURE / "inputs_outputs.npz")
    out = to_numpy(model(reference["inputs.text"]))
    for key in ("features_pooled", "features"):
        expected = reference[f"outputs.text.{key}"]
        np.testing.assert_allclose(out[key], expected, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_array_equal(out["attention_mask"], reference["outputs.text.attention_mask"])


def test_rms_norm_matches_numpy():
    x = np.random.default_rng(1).normal(size=(3, 5, 6)).astype("float32")
    layer = RMSNorm(6, epsilon=1e-6)
    weight = np.linspace(0.5, 1.5, 6).astype("float32")
    layer.weight.assign(weight)
    expected = x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-6) * weight
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["t5_small", "bert_base", "bert_small"])
def test_padding_is_masked(arch):
    # Changing the vector of the pad id must not change anything a real token sees.
    model = _tiny(arch)
    ids = _ids([10, 4])
    before = to_numpy(model(ids))
    table = np.asarray(model.embedding.embeddings).copy()
    table[0] += 3.0
    model.set_word_embeddings(table)
    after = to_numpy(model(ids))
    np.testing.assert_allclose(after["features_pooled"], before["features_pooled"], atol=1e-5)
    real = ids[1] != 0
    offset = 1 if arch == "bert_small" else 0  # bert_small's features start at the T5 agg
    np.testing.assert_allclose(
        after["features"][1, offset:][real],
        before["features"][1, offset:][real],
        atol=1e-5,
    )


def test_t5_is_invariant_to_trailing_padding_length():
    # Relative positions do not depend on the sequence length, so extra pads change nothing.
    model = _tiny("t5_small")
    short = _ids([7, 3], width=12)
    long = np.concatenate([short, np.zeros((2, 9), "int32")], axis=1)
    np.testing.assert_allclose(
        to_numpy(model(long)["features_pooled"]),
        to_numpy(model(short)["features_pooled"]),
        atol=1e-5,
    )


def test_batch_of_captions_is_flattened():
    model = _tiny("t5_small")
    ids = np.stack([_ids([5, 9, 2], seed=1), _ids([1, 16, 8], seed=2)])  # (B=2, K=3, L=16)
    out = to_numpy(model(ids))
    assert tuple(out["features_pooled"].shape) == (6, 32)
    assert tuple(out["features"].shape) == (6, 16, 32)
    np.testing.assert_array_equal(out["attention_mask"], (ids.reshape(6, 16) != 0).astype(int))
    np.testing.assert_allclose(
        out["features_pooled"][3:], to_numpy(model(ids[1])["features_pooled"]), atol=1e-5
    )


def test_bert_small_keeps_the_double_agg_token_quirk():
    model = _tiny("bert_small")
    out = model(_ids([4, 16]))
    assert tuple(out["features"].shape) == (2, 17, 32)  # T5-style agg + 16 words
    assert not model.base_lm.tx.pre_norm  # post-norm, as the original BertSmall


def test_linear_tower_matches_numpy():
    model = _tiny("linear")
    ids = _ids([3, 12])
    out = to_numpy(model(ids))
    table = np.asarray(model.embedding.embeddings)
    kernel = np.asarray(model.base_lm.conv1d.kernel)[0]
    bias = np.asarray(model.base_lm.conv1d.bias)
    hidden = np.maximum(table[ids] @ kernel + bias, 0.0)
    np.testing.assert_allclose(out["features"], hidden, rtol=1e-5, atol=1e-6)
    # MMV pools with a max over every position, padding included.
    np.testing.assert_allclose(out["features_pooled"], hidden.max(axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", TEXT_ARCHS)
def test_checkpoint_mapping_covers_every_weight_once(arch):
    model = _tiny(arch)
    mapped = model.checkpoint_variables("p")
    assert sorted(id(v) for v in mapped.values()) == sorted(id(w) for w in model.weights)
    assert "p/embedding/embeddings" in mapped


def test_word_table_is_frozen_unless_configured():
    frozen = _tiny("t5_small")
    assert id(frozen.embedding.embeddings) not in {id(w) for w in frozen.trainable_weights}
    assert len(frozen.trainable_weights) == 22
    trainable = _tiny("t5_small", trainable_embeddings=True)
    assert id(trainable.embedding.embeddings) in {id(w) for w in trainable.trainable_weights}


def test_weights_round_trip(tmp_path):
    model = _tiny("t5_small")
    ids = _ids([6, 2])
    model(ids)
    model.save_weights(tmp_path / "t5.weights.h5")
    keras.utils.set_random_seed(1)
    other = TextBackbone.from_config(model.get_config())
    other.load_weights(tmp_path / "t5.weights.h5")
    np.testing.assert_allclose(
        to_numpy(other(ids)["features"]), to_numpy(model(ids)["features"]), atol=1e-6
    )


def test_configs_follow_the_original():
    t5 = get_config("t5_small")
    assert (t5.d_model, t5.num_layers, t5.num_heads, t5.d_ff, t5.d_pre_proj) == (
        512,
        6,
        8,
        2048,
        512,
    )
    assert (t5.vocab_size, t5.d_embedding, t5.max_relative_distance) == (65536, 300, 64)
    assert not t5.trainable_embeddings
    assert get_config("bert_base").pre_norm and not get_config("bert_base").use_agg_token
    assert get_config("bert_small").use_agg_token and not get_config("bert_small").pre_norm
    linear = get_config("linear")
    assert (linear.d_model, linear.d_pre_proj, linear.use_agg_token) == (2048, None, False)


def test_bad_configs_and_inputs_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="text encoder 'gpt'"):
        TextConfig(encoder="gpt")
    with pytest.raises(ValueError, match="d_pre_proj 64 must equal d_model 512"):
        get_config("t5_small", d_pre_proj=64)
    with pytest.raises(ConfigError, match="TextConfig has no key 'depth'"):
        get_config("t5_small", depth=3)
    model = _tiny("t5_small")
    with pytest.raises(ValueError, match=r"\[N, L\] or \[B, K, L\]"):
        model(np.ones((16,), "int32"))
    with pytest.raises(ValueError, match=r"\(1000, 24\)"):
        model.set_word_embeddings(np.zeros((10, 24)))


def test_word_embeddings_are_read_from_npy_only(tmp_path):
    table = np.arange(12, dtype="float32").reshape(4, 3)
    np.save(tmp_path / "w2v.npy", table)
    np.testing.assert_array_equal(load_word_embeddings(tmp_path / "w2v.npy"), table)
    (tmp_path / "w2v.pkl").write_bytes(b"not read")
    with pytest.raises(ValueError, match=r"\.npy"):
        load_word_embeddings(tmp_path / "w2v.pkl")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_word_embeddings(tmp_path / "missing.npy")
    model = TextBackbone(
        TextConfig(
            vocab_size=4,
            d_embedding=3,
            d_pre_proj=8,
            d_model=8,
            d_kv=4,
            d_ff=8,
            num_layers=1,
            num_heads=2,
        )
    )
    model.set_word_embeddings(load_word_embeddings(tmp_path / "w2v.npy"))
    np.testing.assert_array_equal(model.embedding.embeddings, table)
