"""Video and audio classifiers: shapes, DropToken, heads, configs and clear errors on bad input."""

import math

import numpy as np
import pytest
from backend_helpers import to_numpy

import vatt.models
from vatt.core.config import ConfigError
from vatt.models.backbones import SpTConfig, ViT3D, ViTConfig, WaTConfig
from vatt.models.classifiers import VideoClassifier, VideoClassifierConfig

INPUTS = {
    "vit_base": ("video", (2, 4, 16, 16, 3)),
    "wat_base": ("audio", (2, 1024)),
    "spt_base": ("audio_spectrogram", (2, 38, 21, 1)),  # 2 x 4 patches, spare frames/bins dropped
}


def _tiny(arch, **overrides):
    return vatt.models.build(arch, **{**vatt.models.tiny_overrides(arch), **overrides})


def _batch(arch, shape=None):
    key, default = INPUTS[arch]
    return {key: np.random.default_rng(0).uniform(-1, 1, shape or default).astype("float32")}


@pytest.mark.parametrize(
    ("arch", "tokens", "kept"),
    [("vit_base", 8, 4), ("wat_base", 8, 4), ("spt_base", 8, 8)],
)
def test_tiny_classifiers_return_logits_and_pooled_features(arch, tokens, kept):
    model = _tiny(arch)
    outputs = model(_batch(arch))
    assert set(outputs) == {"logits", "features_pooled"}
    assert outputs["logits"].shape == (2, 5) and outputs["features_pooled"].shape == (2, 32)
    assert np.all(np.isfinite(to_numpy(outputs["logits"])))
    backbone = model.backbone(_batch(arch)[INPUTS[arch][0]], training=True)
    assert backbone["features"].shape == (2, kept, 32)  # DropToken: int(0.5 * max buckets)
    assert model.backbone(_batch(arch)[INPUTS[arch][0]])["features"].shape == (2, tokens, 32)


def test_every_classifier_arch_is_registered_as_a_tower():
    assert set(vatt.models.list_archs(tower="video")) == {
        "vit_base", "vit_medium", "vit_large", "vit_xlarge", "i3d",
    }  # fmt: skip
    assert set(vatt.models.list_archs(tower="audio")) == {
        "wat_base", "wat_medium", "wat_large", "spt_base", "spt_medium", "spt_large",
        "resnet2d_50", "resnet2d_101",
    }  # fmt: skip


@pytest.mark.parametrize("arch", ["i3d", "spt_base", "resnet2d_50"])
def test_each_classifier_config_class_survives_keras_serialisation(arch):
    model = _tiny(arch)
    clone = type(model).from_config(model.get_config())
    assert type(clone.config) is type(model.config) and clone.config == model.config
    assert clone.input_key == model.input_key


def test_named_sizes_match_the_original_configs():
    assert vatt.models.get_config("vit_medium").backbone.d_model == 1024
    assert vatt.models.get_config("vit_large").backbone.num_layers == 24
    assert vatt.models.get_config("wat_medium").backbone.num_heads == 16
    xlarge = vatt.models.get_config("vit_xlarge").backbone
    assert (xlarge.d_model, xlarge.num_layers, xlarge.num_heads) == (1536, 24, 24)
    assert vatt.models.get_config("wat_large").backbone.num_layers == 24
    assert vatt.models.get_config("spt_large").backbone.num_layers == 24
    spt = vatt.models.get_config("spt_base").backbone
    assert (spt.use_bias, spt.max_temporal_buckets, spt.max_spectoral_buckets) == (False, 9, 16)


def test_backbone_parameter_count_of_a_tiny_vit_follows_the_formula():
    config = ViTConfig(**vatt.models.tiny_overrides("vit_base")["backbone"])
    d, layer = 32, 4 * (32 * 32 + 32) + 2 * 2 * 32 + (32 * 64 + 64) + (64 * 32 + 32)
    expected = (2 * 8 * 8 * 3 * d + d) + (2 + 2 + 2) * d + 2 * d + d + 2 * layer + 2 * d
    assert ViT3D(config).count_params() == expected


def test_audio_classifier_bias_starts_at_minus_log_classes_minus_one():
    model = _tiny("wat_base", num_classes=527)
    np.testing.assert_allclose(np.asarray(model.cls.bias), -math.log(526), rtol=1e-6)
    video = _tiny("vit_base")
    np.testing.assert_array_equal(np.asarray(video.cls.bias), 0.0)


def test_frozen_backbone_leaves_only_the_classifier_trainable():
    model = _tiny("vit_base", freeze_backbone=True)
    assert {id(w) for w in model.trainable_weights} == {id(model.cls.kernel), id(model.cls.bias)}


def test_missing_modality_key_names_the_expected_key():
    model = _tiny("wat_base")
    with pytest.raises(KeyError, match=r"'audio'.*got \['video'\]"):
        model(_batch("vit_base"))


@pytest.mark.parametrize(
    ("arch", "shape", "message"),
    [
        ("vit_base", (2, 16, 16, 3), r"expects video of shape \(B, T, H, W, 3\).*rank 4"),
        ("vit_base", (1, 5, 16, 16, 3), "number of frames 5 is not divisible by the patch size 2"),
        ("vit_base", (1, 4, 16, 20, 3), "width 20 is not divisible by the patch size 8"),
        ("vit_base", (1, 4, 16, 16, 1), "must have 3 channels"),
        ("wat_base", (1, 1000), "1000 samples does not tile into windows of 128"),
        ("wat_base", (1, 4, 256, 1), "rank 4"),
        ("spt_base", (1, 8, 21, 1), "smaller than one patch"),
    ],
)
def test_bad_inputs_are_rejected_with_what_was_expected(arch, shape, message):
    model = _tiny(arch)
    with pytest.raises(ValueError, match=message):
        model(_batch(arch, shape))


def test_integer_inputs_are_rejected_instead_of_being_mis_scaled():
    model = _tiny("vit_base")
    frames = np.zeros((1, 4, 16, 16, 3), "uint8")
    with pytest.raises(TypeError, match=r"expects float video.*\[-1, 1\].*got dtype uint8"):
        model({"video": frames})


def test_unknown_arch_and_unknown_override_are_errors_listing_the_choices():
    with pytest.raises(KeyError, match="unknown arch 'vit_huge'.*vit_base"):
        vatt.models.build("vit_huge")
    with pytest.raises(ConfigError, match="backbone has no key 'd_modle'.*d_model"):
        vatt.models.build("vit_base", backbone={"d_modle": 32})
    with pytest.raises(ConfigError, match="activation 'tanh' is not one of"):
        vatt.models.build(
            "wat_base",
            **{**vatt.models.tiny_overrides("wat_base"), "backbone": {"activation": "tanh"}},
        )


def test_override_of_the_wrong_type_names_the_field_and_the_expected_type():
    with pytest.raises(ConfigError, match=r"backbone\.d_model: .*'x32'.*Integer"):
        vatt.models.get_config("vit_base", backbone={"d_model": "x32"})
    with pytest.raises(ConfigError, match=r"num_classes: .*True.*Integer"):
        vatt.models.get_config("wat_base", num_classes=True)
    assert vatt.models.get_config("wat_base", cls_dropout_rate=0).cls_dropout_rate == 0.0


def test_config_yaml_round_trip(tmp_path):
    config = vatt.models.get_config("spt_medium", num_classes=50)
    path = tmp_path / "spt.yaml"
    config.to_yaml(path)
    restored = type(config).from_yaml(path)
    assert restored == config and isinstance(restored.backbone, SpTConfig)
    assert type(config).from_yaml(config.to_yaml()) == config  # YAML text works too
    assert isinstance(vatt.models.get_config("wat_base").backbone, WaTConfig)


def test_weights_file_and_keras_config_round_trip(tmp_path):
    model = _tiny("vit_base")
    batch = _batch("vit_base")
    expected = to_numpy(model(batch)["logits"])
    model.save_weights(tmp_path / "vit.weights.h5")
    clone = VideoClassifier.from_config(model.get_config())
    assert isinstance(clone.config, VideoClassifierConfig) and clone.config == model.config
    assert not np.allclose(to_numpy(clone(batch)["logits"]), expected)
    clone.load_weights(tmp_path / "vit.weights.h5")
    np.testing.assert_allclose(to_numpy(clone(batch)["logits"]), expected, rtol=1e-6)
