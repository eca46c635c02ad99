"""I3D and ResNet-2D: strides, padding, BatchNorm settings, init, checkpoint paths, errors."""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
import pytest

import vatt.models as vm
from vatt.models.cnn import (
    I3D,
    BatchNormSettings,
    I3DConfig,
    ResNet2D,
    ResNet2DConfig,
)
from vatt.models.cnn.i3d import Unit3D
from vatt.models.cnn.resnet2d import BottleneckBlock, ConvFixedPadding

TINY_RESNET = ResNet2DConfig(blocks_per_group=(1, 1, 1, 1))


@functools.cache
def i3d_classifier() -> keras.Model:
    """The one full-size I3D of this file (it has no size knob); building it takes seconds."""
    return vm.build("i3d", num_classes=7)


def to_numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def test_i3d_strides_8_in_time_and_32_in_space_rounding_up():
    # 9 frames -> 5 -> 3 -> 2: only conv1a, pool4a and pool5a stride time (a temporal stride
    # in pool2a or pool3a would give 1); 40 -> 2 and 72 -> 3 rows/columns of cells.
    video = np.random.default_rng(0).uniform(-1, 1, (1, 9, 40, 72, 3)).astype("float32")
    outputs = i3d_classifier().backbone(video)
    assert tuple(outputs["features"].shape) == (1, 2 * 2 * 3, 1024)
    np.testing.assert_allclose(
        to_numpy(outputs["features_pooled"]), to_numpy(outputs["features"]).mean(axis=1), rtol=1e-5
    )


def test_i3d_ignores_width_multiplier_like_the_original():
    with keras.StatelessScope(initialize_variables=False):  # shapes only, nothing initialised
        doubled = I3D(I3DConfig(width_multiplier=2))
        shapes = [tuple(w.shape) for w in doubled.weights]
    keras.backend.clear_session(free_memory=False)  # drops the pending initialisations
    assert shapes == [tuple(w.shape) for w in i3d_classifier().backbone.weights]


def test_unit3d_normalises_with_epsilon_1e5_and_updates_moving_stats_with_momentum_09():
    unit = Unit3D(3, 4, 3, BatchNormSettings())
    unit.build()  # creates the conv and BN weights, as a parent layer would
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 5, 3)).astype("float32")
    conv = to_numpy(unit.conv3d(x)).astype("float64")
    mean, var = conv.mean(axis=(0, 1, 2, 3)), conv.var(axis=(0, 1, 2, 3))
    out = to_numpy(unit(x, training=True))
    np.testing.assert_allclose(out, np.maximum((conv - mean) / np.sqrt(var + 1e-5), 0), atol=1e-5)
    np.testing.assert_allclose(to_numpy(unit.bn.moving_mean), 0.1 * mean, atol=1e-6)
    np.testing.assert_allclose(to_numpy(unit.bn.moving_variance), 0.9 + 0.1 * var, rtol=1e-5)


def test_batch_norm_is_cross_replica_on_tensorflow_only():
    bn = BatchNormSettings().layer("bn")
    assert (bn.momentum, bn.epsilon, bn.scale) == (0.9, 1e-5, True)
    assert bn.synchronized == (keras.backend.backend() == "tensorflow")


def test_strided_conv_pads_symmetrically_like_the_original():
    conv = ConvFixedPadding(1, 2, 7, 2)
    conv.build()
    x = np.random.default_rng(2).normal(size=(1, 8, 8, 1)).astype("float32")
    kernel = to_numpy(conv.conv2d.kernel)  # (7, 7, 1, 2)
    padded = np.pad(x[0, :, :, 0], 3)  # TF "same" would pad 2 before and 3 after
    expected = np.zeros((4, 4, 2))
    for i in range(4):
        for j in range(4):
            window = padded[2 * i : 2 * i + 7, 2 * j : 2 * j + 7]
            expected[i, j] = np.einsum("hw,hwo->o", window, kernel[:, :, 0, :])
    np.testing.assert_allclose(to_numpy(conv(x))[0], expected, atol=1e-5)


def test_identity_bottleneck_starts_as_the_identity():
    block = BottleneckBlock(64, 16, 1, BatchNormSettings(), use_projection=False)
    x = np.random.default_rng(3).uniform(0, 2, (2, 5, 5, 64)).astype("float32")
    np.testing.assert_array_equal(to_numpy(block(x, training=False)), x)  # last BN gamma is 0


def test_resnet_strides_32_rounding_up_and_pools_the_grid():
    spectrogram = np.random.default_rng(4).normal(size=(2, 50, 33, 1)).astype("float32")
    outputs = ResNet2D(TINY_RESNET)(spectrogram)
    assert tuple(outputs["features"].shape) == (2, 2 * 2, 2048)
    np.testing.assert_allclose(
        to_numpy(outputs["features_pooled"]), to_numpy(outputs["features"]).mean(axis=1), rtol=1e-5
    )


def test_checkpoint_variables_use_the_official_paths_for_every_weight():
    i3d, resnet = i3d_classifier().backbone, ResNet2D(TINY_RESNET)
    for model in (i3d, resnet):
        mapping = model.checkpoint_variables("P")
        assert sorted(id(v) for v in mapping.values()) == sorted(id(w) for w in model.weights)
    i3d_paths = i3d.checkpoint_variables("P")
    assert tuple(i3d_paths["P/conv3d_1a_7x7/conv3d/kernel"].shape) == (7, 7, 7, 3, 64)
    assert tuple(i3d_paths["P/mixed_5c/unit3d_b3_1/bn/moving_variance"].shape) == (128,)
    resnet_paths = resnet.checkpoint_variables("P")
    assert tuple(resnet_paths["P/initial_conv_relu_max_pool/0/conv2d/kernel"].shape) == (
        7,
        7,
        1,
        64,
    )
    assert "P/initial_conv_relu_max_pool/2/bn/gamma" in resnet_paths
    group_4 = "P/block_groups/3/layers/0"
    assert tuple(resnet_paths[f"{group_4}/projection_layers/0/conv2d/kernel"].shape) == (
        1, 1, 1024, 2048,
    )  # fmt: skip
    assert tuple(resnet_paths[f"{group_4}/conv_relu_dropblock_layers/3/conv2d/kernel"].shape) == (
        3, 3, 512, 512,
    )  # fmt: skip
    assert f"{group_4}/conv_relu_dropblock_layers/7/bn/moving_mean" in resnet_paths


def test_classifier_heads_follow_the_video_and_audio_initialisation():
    i3d = i3d_classifier()
    assert (i3d.config.cls_dropout_rate, i3d.input_key) == (0.5, "video")
    np.testing.assert_array_equal(to_numpy(i3d.cls.bias), np.zeros(7))
    resnet = vm.build("resnet2d_50", backbone={"blocks_per_group": [1, 1, 1, 1]}, num_classes=9)
    assert (resnet.config.cls_dropout_rate, resnet.input_key) == (0.0, "audio_spectrogram")
    np.testing.assert_allclose(to_numpy(resnet.cls.bias), np.full(9, -math.log(8)), rtol=1e-6)
    logits = resnet({"audio_spectrogram": np.zeros((3, 32, 16, 1), "float32")})["logits"]
    assert tuple(logits.shape) == (3, 9)


def test_resnet2d_101_differs_from_resnet2d_50_only_in_the_third_group():
    assert vm.get_config("resnet2d_101").backbone.blocks_per_group == (3, 4, 23, 3)
    assert vm.get_config("resnet2d_50").backbone.blocks_per_group == (3, 4, 6, 3)
    config = vm.get_config("resnet2d_101")
    assert type(config).from_yaml(config.to_yaml()) == config


def test_backbones_survive_keras_serialization():
    resnet = ResNet2D(TINY_RESNET)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(resnet))
    assert clone.config == TINY_RESNET
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in resnet.weights]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ResNet2D(ResNet2DConfig(blocks_per_group=(3, 4, 6))), "4 positive block counts"),
        (lambda: ResNet2D(ResNet2DConfig(width_multiplier=0)), "width_multiplier"),
        (lambda: BatchNormSettings(momentum=1.0), "momentum"),
        (lambda: BatchNormSettings(epsilon=0.0), "epsilon"),
        (lambda: i3d_classifier().backbone(np.zeros((1, 16, 16, 3))), r"\(B, T, H, W, 3\)"),
        (lambda: ResNet2D(TINY_RESNET)(np.zeros((1, 8, 8, 3), "float32")), r"\(B, H, W, 1\)"),
        (lambda: i3d_classifier()({"audio": np.zeros((1, 8))}), "video"),
    ],
)
def test_bad_configs_and_inputs_are_rejected_with_the_reason(build, message):
    with pytest.raises((ValueError, KeyError), match=message):
        build()
