"""Pre-training models: the output contract, gradients, configs, serialisation."""

import keras
import numpy as np
import pytest
from backend_helpers import to_numpy, trainable_gradients

from vatt.core.config import ConfigError
from vatt.models.backbones import ViTConfig
from vatt.models.cnn import I3DConfig
from vatt.models.multimodal import MultimodalConfig, PretrainingModel, UnifiedFACConfig
from vatt.models.registry import build, get_config, list_archs, tiny_overrides, tower_config

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
    assert config.unified.d_model == 1024


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
        audio={
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
    with pytest.raises(ConfigError, match="video has no key 'depth'; valid keys: .*d_model"):
        get_config("tx_fac", video={"depth": 3})
    with pytest.raises(ConfigError, match="unknown unified tower 'ut_small'; valid .*ut_medium"):
        get_config("ut_fac", unified_backbone="ut_small")
    with pytest.raises(ConfigError, match="head has no key 'd_model'"):
        get_config("ut_fac", head={"d_model": 3})
    with pytest.raises(ValueError, match="video is a ViTConfig but video_backbone='i3d' takes"):
        MultimodalConfig(video_backbone="i3d", video=ViTConfig())


def test_mmv_fac_round_trips_through_yaml_with_its_cnn_towers(tmp_path):
    config = get_config("mmv_fac", **tiny_overrides("mmv_fac"))
    config.to_yaml(tmp_path / "mmv.yaml")
    loaded = MultimodalConfig.from_yaml(tmp_path / "mmv.yaml")
    assert loaded == config and isinstance(loaded.video, I3DConfig)


@pytest.mark.parametrize("tower", ["video", "audio", "text"])
def test_unknown_tower_name_lists_the_valid_towers(tower):
    expected = {"video": "vit_base", "audio": "spt_base", "text": "t5_small"}[tower]
    with pytest.raises(ConfigError, match=f"unknown {tower} tower 'nope'; valid .*{expected}"):
        get_config("tx_fac", **{f"{tower}_backbone": "nope"})
    assert expected in list_archs(tower=tower)
    assert "tx_fac" not in list_archs(tower=tower)
    with pytest.raises(ValueError, match=f"unknown {tower} tower 'tx_fac'"):
        tower_config("tx_fac", tower)


def test_a_tower_config_is_the_backbone_config_of_its_arch():
    assert tower_config("vit_base", "video") == get_config("vit_base").backbone
    assert tower_config("t5_small", "text") == get_config("t5_small")
    assert tower_config("ut_base", "unified") == get_config("ut_base")
    with pytest.raises(ValueError, match="tower 'image' is not one of video, audio, text"):
        tower_config("vit_base", "image")


def test_switching_a_tower_by_name_gives_that_towers_defaults():
    for name in ("vit_base", "vit_large", "i3d"):
        config = get_config("tx_fac", video_backbone=name)
        assert config.video == tower_config(name, "video") == get_config(name).backbone
    # the tower's own overrides apply over the new defaults
    config = get_config("tx_fac", video_backbone="vit_base", video={"num_layers": 2})
    assert (config.video.d_model, config.video.num_layers) == (768, 2)
    config = get_config("tx_fac", audio_backbone="resnet2d_101", text_backbone="bert_base")
    assert config.audio == get_config("resnet2d_101").backbone
    assert config.text == get_config("bert_base")
    assert get_config("ut_fac", unified_backbone="ut_large").unified == get_config("ut_large")


def test_drop_token_rate_has_one_path_standalone_and_in_a_pretraining_model():
    standalone = get_config("vit_base", **{"backbone.patch_sampling_rate": 0.25}).backbone
    tower = get_config("tx_fac_bbs", **{"video.patch_sampling_rate": 0.25}).video
    assert isinstance(tower, ViTConfig) and standalone == tower
    assert standalone.patch_sampling_rate == tower.patch_sampling_rate == 0.25
    for arch, key in (("vit_base", "backbone"), ("tx_fac", "video"), ("ut_fac", "unified")):
        with pytest.raises(ConfigError, match=r"patch_sampling_rate must be in \(0, 1\]"):
            get_config(arch, **{f"{key}.patch_sampling_rate": 1.5})
        config = get_config(arch, **{f"{key}.patch_sampling_rate": 1.0})  # keeps every token
        assert getattr(config, key).patch_sampling_rate == 1.0


def test_the_original_model_kwargs_keys_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="video_model_kwargs is deprecated; use .*video"):
        config = get_config("tx_fac", video_model_kwargs={"patch_sampling_rate": 0.25})
    assert config.video.patch_sampling_rate == 0.25
    with pytest.warns(DeprecationWarning, match="unified_model_kwargs is deprecated"):
        config = get_config("ut_fac", unified_model_kwargs={"num_layers": 2})
    assert config.unified.num_layers == 2
