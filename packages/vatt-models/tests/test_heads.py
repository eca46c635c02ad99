"""FAC head: the va -> vat chain against numpy, BatchNorm behaviour, mapping, validation."""

import keras
import numpy as np
import pytest
from backend_helpers import to_numpy

from vatt.models.cnn.batch_norm import BatchNormSettings
from vatt.models.heads import FACHead, FACHeadConfig

DIMS = {"video": 6, "audio": 5, "text": 4}


def _head(**config):
    keras.utils.set_random_seed(0)
    head = FACHead(
        DIMS["video"], DIMS["audio"], DIMS["text"], FACHeadConfig(va_dim=8, vat_dim=3, **config)
    )
    rng = np.random.default_rng(0)
    for bn in (head.hid_to_va_pre_bn, head.hid_to_va_bn, head.va_to_vat_bn):
        for name in ("gamma", "beta", "moving_mean"):
            variable = getattr(bn, name)
            variable.assign(rng.normal(size=variable.shape).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.5, 1.5, bn.moving_variance.shape).astype("float32"))
    for dense in (head.aud_to_va, head.txt_to_vat):
        dense.bias.assign(rng.normal(size=dense.bias.shape).astype("float32"))
    return head


def _features(batch=4, text_rows=8):
    rng = np.random.default_rng(1)
    return {
        "video": rng.normal(size=(batch, DIMS["video"])).astype("float32"),
        "audio": rng.normal(size=(batch, DIMS["audio"])).astype("float32"),
        "text": rng.normal(size=(text_rows, DIMS["text"])).astype("float32"),
    }


def _bn(x, bn):
    mean, var = np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)
    return (x - mean) / np.sqrt(var + 1e-5) * np.asarray(bn.gamma) + np.asarray(bn.beta)


def test_inference_matches_numpy():
    head = _head()
    features = _features()
    out = head(features, training=False)
    k = {
        name: np.asarray(getattr(head, name).kernel)
        for name in ("vid_to_hid", "hid_to_va_dense", "va_to_vat_dense", "aud_to_va", "txt_to_vat")
    }
    hidden = np.maximum(_bn(features["video"] @ k["vid_to_hid"], head.hid_to_va_pre_bn), 0)
    va = _bn(hidden @ k["hid_to_va_dense"], head.hid_to_va_bn)
    vat = _bn(np.maximum(va, 0) @ k["va_to_vat_dense"], head.va_to_vat_bn)
    audio = features["audio"] @ k["aud_to_va"] + np.asarray(head.aud_to_va.bias)
    text = features["text"] @ k["txt_to_vat"] + np.asarray(head.txt_to_vat.bias)
    for got, expected in (
        (out["video"]["toaud"], va),
        (out["video"]["totxt"], vat),
        (out["audio"]["tovid"], audio),
        (out["text"]["tovid"], text),
    ):
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-5, atol=1e-5)
    assert tuple(out["text"]["tovid"].shape) == (8, 3)


def test_training_uses_batch_statistics_and_momentum_0_9():
    head = _head()
    head.hid_to_va_bn.gamma.assign(np.ones(8, "float32"))
    head.hid_to_va_bn.beta.assign(np.zeros(8, "float32"))
    old_mean = np.asarray(head.hid_to_va_bn.moving_mean).copy()
    features = _features(batch=16)
    pre_bn_input = to_numpy(
        head.hid_to_va_dense(
            keras.ops.relu(head.hid_to_va_pre_bn(head.vid_to_hid(features["video"]), training=True))
        )
    )
    va = to_numpy(head(features, training=True)["video"]["toaud"])
    np.testing.assert_allclose(va.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(
        va.var(0), pre_bn_input.var(0) / (pre_bn_input.var(0) + 1e-5), rtol=1e-3
    )
    np.testing.assert_allclose(
        head.hid_to_va_bn.moving_mean,
        0.9 * old_mean + 0.1 * pre_bn_input.mean(0),
        rtol=1e-4,
        atol=1e-5,
    )


def test_missing_modalities_are_absent_from_the_outputs():
    head = _head()
    out = head({"video": _features()["video"], "audio": _features()["audio"]})
    assert set(out) == {"video", "audio"}


def test_batch_norm_settings_are_the_originals():
    head = _head()
    for bn in (head.hid_to_va_pre_bn, head.hid_to_va_bn, head.va_to_vat_bn):
        assert (bn.momentum, bn.epsilon, bn.scale) == (0.9, 1e-5, True)
        assert bn.synchronized == (keras.backend.backend() == "tensorflow")


def test_checkpoint_paths_are_the_official_ones():
    head = _head()
    mapped = head.checkpoint_variables("H")
    bn = ("gamma", "beta", "moving_mean", "moving_variance")
    expected = {
        "H/vid_to_hid/kernel",
        "H/hid_to_va/dense/kernel",
        "H/va_to_vat/dense/kernel",
        "H/aud_to_va/kernel",
        "H/aud_to_va/bias",
        "H/txt_to_vat/kernel",
        "H/txt_to_vat/bias",
    }
    expected |= {
        f"H/{block}/{leaf}"
        for block in ("hid_to_va/pre_bn", "hid_to_va/bn", "va_to_vat/bn")
        for leaf in bn
    }
    assert set(mapped) == expected
    assert sorted(id(v) for v in mapped.values()) == sorted(id(w) for w in head.weights)


def test_full_size_parameter_count():
    # Spec §1.9: 1,445,120 trainable for a 1024-d video and 768-d audio / 512-d text (MBS).
    head = FACHead(1024, 768, 512, FACHeadConfig())
    trainable = sum(int(np.prod(w.shape)) for w in head.trainable_weights)
    assert trainable == 1_445_120
    assert sum(int(np.prod(w.shape)) for w in head.non_trainable_weights) == 2_560


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="va_dim must be positive"):
        FACHeadConfig(va_dim=0)
    with pytest.raises(ValueError, match="momentum"):
        FACHeadConfig(batch_norm=BatchNormSettings(momentum=1.5))
