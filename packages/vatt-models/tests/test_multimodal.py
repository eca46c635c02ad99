"""Pre-training models: the output contract, gradients, configs, serialisation."""

import keras
import numpy as np
import pytest
from backend_helpers import to_numpy, trainable_gradients

from vatt.models.multimodal import MultimodalConfig, PretrainingModel, UnifiedFACConfig
from vatt.models.registry import build, get_config, tiny_overrides

B, K, L = 2, 2, 16


def _batch(video_width=48, seed=0):
    rng = np.random.default_rng(seed)
    text = np.zeros((B, K, L), "int32")
    text[..., :6] = rng.integers(1, 1000, (B, K, 6))
    return {
        "video": rng.uniform(-1, 1, (B, 6, 32, video_width, 3)).astype("float32"),
        "audio": rng.normal(0, 0.1, (B, 1024)).astype("float32"),
        "text": text,
        "label": np.eye(3, dtype="float32")[:B],  # other batch keys are ignored
    }


def _tiny(arch, **overrides):
    keras.utils.set_random_seed(0)
    return build(arch, **{**tiny_overrides(arch), **overrides})


def _shapes(tree):
    return {k: _shapes(v) if isinstance(v, dict) else tuple(v.shape) for k, v in tree.items()}


@pytest.mark.parametrize("arch", ["tx_fac", "tx_fac_bbs", "tx_fac_mbs", "tx_fac_lbs", "ut_fac"])
def test_outputs_follow_the_contract(arch):
    model = _tiny(arch)
    outputs = model(_batch(video_width=32 if arch == "ut_fac" else 48))
    d = 48 if arch == "ut_fac" else 32
    video_tokens = 48 if arch == "ut_fac" else 72
    assert _shapes(outputs) == {
        "backbone": {
            "video": {"features_pooled": (B, d), "features": (B, video_tokens, d)},
            "audio": {"features_pooled": (B, d), "features": (B, 8, d)},
            "text": {
                "features_pooled": (B * K, d),
                "features": (B * K, L, d),
                "attention_mask": (B * K, L),
            },
        },
        "head": {
            "video": {"toaud": (B, 20), "totxt": (B, 12)},
            "audio": {"tovid": (B, 20)},
            "text": {"tovid": (B * K, 12)},
        },
    }


def test_mmv_fac_reads_the_spectrogram_and_maps_every_weight():
    model = _tiny("mmv_fac")
    batch = _batch(video_width=32)
    spectrogram = np.random.default_rng(0).normal(size=(B, 32, 20, 1)).astype("float32")
    outputs = model({**batch, "audio_spectrogram": spectrogram})
    shapes = _shapes(outputs)
    assert shapes["backbone"]["video"]["features_pooled"] == (B, 1024)  # I3D mixed_5c
    assert shapes["backbone"]["audio"]["features_pooled"] == (B, 2048)  # ResNet-50
    assert shapes["backbone"]["text"]["features_pooled"] == (B * K, 32)  # max-pooled linear
    assert shapes["head"] == {
        "video": {"toaud": (B, 20), "totxt": (B, 12)},
        "audio": {"tovid": (B, 20)},
        "text": {"tovid": (B * K, 12)},
    }
    mapped = model.checkpoint_variables()
    assert sorted(id(v) for v in mapped.values()) == sorted(id(w) for w in model.weights)
    assert all(key.startswith("model/layer_with_weights-0/_") for key in mapped)


def test_variants_pick_the_original_backbones():
    picks = {
        arch: (
            get_config(arch).video_backbone,
            get_config(arch).audio_backbone,
            get_config(arch).text_backbone,
        )
        for arch in ("tx_fac", "tx_fac_mbs", "tx_fac_bbs", "tx_fac_lbs")
    }
    assert picks == {
        "tx_fac": ("vit_medium", "wat_base", "t5_small"),
        "tx_fac_mbs": ("vit_medium", "wat_base", "t5_small"),
        "tx_fac_bbs": ("vit_base", "wat_base", "t5_small"),
        "tx_fac_lbs": ("vit_large", "wat_base", "t5_small"),
    }
    mmv = get_config("mmv_fac")
    assert (mmv.video_backbone, mmv.audio_backbone, mmv.text_backbone) == (
        "i3d",
        "resnet2d_50",
        "linear",
    )
    config = get_config("ut_fac")
    assert config.unified_backbone == "ut_medium"
    assert (config.head.va_dim, config.head.vat_dim) == (512, 256)
    assert config.backbone_config().d_model == 1024


def _head_loss(outputs):
    head = outputs["head"]
    return sum(keras.ops.sum(keras.ops.square(x)) for s in head.values() for x in s.values())


@pytest.mark.parametrize("arch", ["tx_fac", "ut_fac"])
def test_backward_reaches_every_trainable_weight(arch):
    model = _tiny(arch)
    batch = _batch(video_width=32 if arch == "ut_fac" else 48)
    grads = trainable_gradients(model, batch, _head_loss)
    for weight, grad in zip(model.trainable_variables, grads, strict=True):
        assert grad is not None, weight.path
        assert float(np.abs(keras.ops.convert_to_numpy(grad)).max()) > 0, weight.path
    frozen = [w.path for w in model.non_trainable_weights if "embedding" in w.path]
    assert len(frozen) == 1  # the word-vector table


def test_missing_text_gives_no_text_outputs_and_spectrogram_audio_is_read():
    model = _tiny(
        "tx_fac",
        audio_backbone="spt_base",
        audio_model_kwargs={
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 64,
            "num_layers": 2,
            "num_heads": 4,
            "max_temporal_buckets": 2,
            "max_spectoral_buckets": 4,
        },
    )
    batch = _batch()
    spectrogram = np.random.default_rng(0).normal(size=(B, 32, 20, 1)).astype("float32")
    outputs = model({"video": batch["video"], "audio_spectrogram": spectrogram})
    assert set(outputs["backbone"]) == set(outputs["head"]) == {"video", "audio"}
    assert tuple(outputs["head"]["audio"]["tovid"].shape) == (B, 20)
    with pytest.raises(KeyError, match="audio_spectrogram"):
        model({"audio": batch["audio"]})


def test_weights_and_keras_serialisation_round_trip(tmp_path):
    model = _tiny("ut_fac")
    batch = _batch(video_width=32)
    expected = to_numpy(model(batch)["head"])
    model.save_weights(tmp_path / "ut.weights.h5")
    clone = PretrainingModel.from_config(model.get_config())
    clone.load_weights(tmp_path / "ut.weights.h5")
    got = to_numpy(clone(batch)["head"])
    for modality, spaces in expected.items():
        for space, value in spaces.items():
            np.testing.assert_allclose(got[modality][space], value, atol=1e-6)


def test_config_yaml_round_trip_and_validation(tmp_path):
    config = get_config("tx_fac_bbs", **tiny_overrides("tx_fac_bbs"))
    path = tmp_path / "model.yaml"
    config.to_yaml(path)
    assert MultimodalConfig.from_yaml(path) == config
    ut = get_config("ut_fac", **tiny_overrides("ut_fac"))
    ut.to_yaml(tmp_path / "ut.yaml")
    assert UnifiedFACConfig.from_yaml(tmp_path / "ut.yaml") == ut
    with pytest.raises(ValueError, match="unknown video backbone 'vit_huge'"):
        get_config("tx_fac", video_backbone="vit_huge")
    with pytest.raises(KeyError, match="ViTConfig has no field 'depth'"):
        get_config("tx_fac", video_model_kwargs={"depth": 3})
    with pytest.raises(ValueError, match="unknown unified backbone"):
        get_config("ut_fac", unified_backbone="ut_small")
    with pytest.raises(KeyError, match="head has no field 'd_model'"):
        get_config("ut_fac", head={"d_model": 3})
