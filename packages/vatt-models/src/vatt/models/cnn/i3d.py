"""Inception-I3D video backbone (Carreira & Zisserman, 2017), the MMV video tower of VATT.

Layer names are the attribute names of the original VATT code (``conv3d_1a_7x7``,
``mixed_4b/unit3d_b1_1/conv3d`` ...), so :meth:`I3D.checkpoint_variables` maps every weight to
its official checkpoint key (spec §7.2 D) by name.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import keras
from keras import ops

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.cnn.batch_norm import BatchNormSettings, CNNBackboneConfig
from vatt.models.registry import ConfiguredLayer


class InceptionFilters(NamedTuple):
    """Output channels of the four branches of one Inception block."""

    branch_0: int  # 1x1x1
    branch_1: tuple[int, int]  # 1x1x1 reduce, then 3x3x3
    branch_2: tuple[int, int]  # 1x1x1 reduce, then 3x3x3
    branch_3: int  # 3x3x3 max-pool, then 1x1x1

    @property
    def out_channels(self) -> int:
        return self.branch_0 + self.branch_1[1] + self.branch_2[1] + self.branch_3


#: The standard Inception-v1 filter maps, inflated to 3-D.
INCEPTION_FILTERS = {
    "mixed_3b": InceptionFilters(64, (96, 128), (16, 32), 32),
    "mixed_3c": InceptionFilters(128, (128, 192), (32, 96), 64),
    "mixed_4b": InceptionFilters(192, (96, 208), (16, 48), 64),
    "mixed_4c": InceptionFilters(160, (112, 224), (24, 64), 64),
    "mixed_4d": InceptionFilters(128, (128, 256), (24, 64), 64),
    "mixed_4e": InceptionFilters(112, (144, 288), (32, 64), 64),
    "mixed_4f": InceptionFilters(256, (160, 320), (32, 128), 128),
    "mixed_5b": InceptionFilters(256, (160, 320), (32, 128), 128),
    "mixed_5c": InceptionFilters(384, (192, 384), (48, 128), 128),
}

#: (pool size, strides) of the four max-pools between stages.
MAX_POOLS = {
    "maxpool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "maxpool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "maxpool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "maxpool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}


@dataclasses.dataclass
class I3DConfig(CNNBackboneConfig):
    """I3D hyper-parameters (original names; BatchNorm as in the VATT MMV config).

    ``width_multiplier`` is accepted and ignored, exactly as by the original VATT I3D: the MMV
    config passes 2, which never changed the network. It is kept so that configs written for
    the original load unchanged; the network is always the published I3D.
    """

    width_multiplier: int = 1

    @property
    def output_dim(self) -> int:
        """Width of ``features_pooled``: the channels of mixed_5c."""
        return INCEPTION_FILTERS["mixed_5c"].out_channels

    def build_layer(self, **kwargs) -> I3D:
        """The :class:`I3D` backbone of this config."""
        return I3D(self, **kwargs)


class Unit3D(keras.layers.Layer):
    """Conv3D ("same", no bias) -> BatchNorm -> ReLU, on ``in_channels`` input channels."""

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel_size: int,
        batch_norm: BatchNormSettings,
        strides: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.filters = filters
        self.conv3d = keras.layers.Conv3D(
            filters, kernel_size, strides=strides, padding="same", use_bias=False, name="conv3d"
        )
        self.bn = batch_norm.layer("bn")

    def build(self, input_shape=None):
        self.conv3d.build((None, None, None, None, self.in_channels))
        self.bn.build((None, None, None, None, self.filters))

    def call(self, inputs, training=False):
        return ops.relu(self.bn(self.conv3d(inputs), training=training))

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """``{prefix}/conv3d/kernel`` and ``{prefix}/bn/*``."""
        return {
            **keras_layer_variables(self.conv3d, f"{prefix}/conv3d"),
            **keras_layer_variables(self.bn, f"{prefix}/bn"),
        }


class InceptionBlock3D(keras.layers.Layer):
    """Four parallel branches (1x1x1 / 3x3x3 / 3x3x3 / pool + 1x1x1) joined on channels."""

    UNITS = (
        "unit3d_b0_0",
        "unit3d_b1_0",
        "unit3d_b1_1",
        "unit3d_b2_0",
        "unit3d_b2_1",
        "unit3d_b3_1",
    )

    def __init__(
        self,
        in_channels: int,
        filters: InceptionFilters,
        batch_norm: BatchNormSettings,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        bn, c_in = batch_norm, in_channels
        self.unit3d_b0_0 = Unit3D(c_in, filters.branch_0, 1, bn, name="unit3d_b0_0")
        self.unit3d_b1_0 = Unit3D(c_in, filters.branch_1[0], 1, bn, name="unit3d_b1_0")
        self.unit3d_b1_1 = Unit3D(
            filters.branch_1[0], filters.branch_1[1], 3, bn, name="unit3d_b1_1"
        )
        self.unit3d_b2_0 = Unit3D(c_in, filters.branch_2[0], 1, bn, name="unit3d_b2_0")
        self.unit3d_b2_1 = Unit3D(
            filters.branch_2[0], filters.branch_2[1], 3, bn, name="unit3d_b2_1"
        )
        self.max3d_b3_0 = keras.layers.MaxPooling3D(3, strides=1, padding="same")
        self.unit3d_b3_1 = Unit3D(c_in, filters.branch_3, 1, bn, name="unit3d_b3_1")

    def build(self, input_shape=None):
        for unit in self.UNITS:
            getattr(self, unit).build()

    def call(self, inputs, training=False):
        branch_0 = self.unit3d_b0_0(inputs, training=training)
        branch_1 = self.unit3d_b1_1(self.unit3d_b1_0(inputs, training=training), training=training)
        branch_2 = self.unit3d_b2_1(self.unit3d_b2_0(inputs, training=training), training=training)
        branch_3 = self.unit3d_b3_1(self.max3d_b3_0(inputs), training=training)
        return ops.concatenate([branch_0, branch_1, branch_2, branch_3], axis=-1)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """``{prefix}/unit3d_bX_Y/...`` for the six units."""
        found = {}
        for unit in self.UNITS:
            found.update(getattr(self, unit).checkpoint_variables(f"{prefix}/{unit}"))
        return found


@keras.saving.register_keras_serializable(package="vatt")
class I3D(ConfiguredLayer, keras.layers.Layer):
    """Inception-I3D backbone on video ``(B, T, H, W, 3)`` in [-1, 1].

    The total stride is 8 in time and 32 in space ("same" padding rounds up), so a 32x224x224
    clip gives a 4x7x7 grid. Returns ``{"features_pooled": (B, 1024), "features": (B, N, 1024)}``:
    the mixed_5c grid averaged over T, H, W, and flattened t-major (N = T' * H' * W').
    """

    config_class = I3DConfig
    input_key = "video"
    STAGES = (
        "conv3d_1a_7x7",
        "maxpool3d_2a_3x3",
        "conv3d_2b_1x1",
        "conv3d_2c_3x3",
        "maxpool3d_3a_3x3",
        "mixed_3b",
        "mixed_3c",
        "maxpool3d_4a_3x3",
        "mixed_4b",
        "mixed_4c",
        "mixed_4d",
        "mixed_4e",
        "mixed_4f",
        "maxpool3d_5a_2x2",
        "mixed_5b",
        "mixed_5c",
    )

    def __init__(self, config: I3DConfig | None = None, name: str = "i3d", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.config = config or I3DConfig()
        bn = self.config.batch_norm()
        self.conv3d_1a_7x7 = Unit3D(3, 64, 7, bn, strides=2, name="conv3d_1a_7x7")
        self.conv3d_2b_1x1 = Unit3D(64, 64, 1, bn, name="conv3d_2b_1x1")
        self.conv3d_2c_3x3 = Unit3D(64, 192, 3, bn, name="conv3d_2c_3x3")
        for pool_name, (pool_size, strides) in MAX_POOLS.items():
            pool = keras.layers.MaxPooling3D(pool_size, strides, padding="same", name=pool_name)
            setattr(self, pool_name, pool)
        channels = self.conv3d_2c_3x3.filters
        for block_name, filters in INCEPTION_FILTERS.items():
            setattr(self, block_name, InceptionBlock3D(channels, filters, bn, name=block_name))
            channels = filters.out_channels
        self.flatten_grid = keras.layers.Reshape((-1, self.config.output_dim))
        self.build()

    def build(self, input_shape=None):
        # Every weight is created here, inside nested name scopes ("i3d/mixed_4b/unit3d_b1_1/
        # conv3d/kernel"), so the backbone is complete once constructed.
        for stage_name in self.STAGES:
            if stage_name not in MAX_POOLS:
                getattr(self, stage_name).build()

    def call(self, inputs, training=False):
        if len(inputs.shape) != 5 or inputs.shape[-1] != 3:
            raise ValueError(
                f"I3D expects video of shape (B, T, H, W, 3), got {tuple(inputs.shape)}"
            )
        x = inputs
        for stage_name in self.STAGES:
            stage = getattr(self, stage_name)
            x = stage(x) if stage_name in MAX_POOLS else stage(x, training=training)
        # x: (B, ceil(T/8), ceil(H/32), ceil(W/32), 1024)
        return {"features_pooled": ops.mean(x, axis=(1, 2, 3)), "features": self.flatten_grid(x)}

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths (spec §7.2 D): ``{prefix}/<unit>/conv3d/kernel``, ``.../bn/*``."""
        found = {}
        for stage_name in self.STAGES:
            if stage_name not in MAX_POOLS:
                found.update(
                    getattr(self, stage_name).checkpoint_variables(f"{prefix}/{stage_name}")
                )
        return found
