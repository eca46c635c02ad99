"""ResNet-2D audio backbone (bottleneck ResNet-50/101), the MMV audio tower of VATT.

The original copies SimCLR-v2's TF2 ResNet: strided convolutions pad explicitly and
symmetrically ("fixed padding") instead of TensorFlow's asymmetric "same"; a bottleneck strides
on its 3x3 convolution (ResNet v1.5); the last BatchNorm of each block starts with gamma = 0, so
every block starts as the identity. DropBlock exists there but is off in every VATT config, so
it is not implemented here.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.cnn.batch_norm import BatchNormSettings, CNNBackboneConfig
from vatt.models.registry import ConfiguredLayer

#: Bottleneck blocks in each of the four groups, by network depth.
BLOCKS_PER_GROUP = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
GROUP_FILTERS = (64, 128, 256, 512)  # bottleneck width; a block outputs 4x this
GROUP_STRIDES = (1, 2, 2, 2)


@dataclasses.dataclass
class ResNet2DConfig(CNNBackboneConfig):
    """ResNet-2D hyper-parameters; defaults are ``resnet2d_50`` on a 1-channel spectrogram."""

    blocks_per_group: tuple[int, int, int, int] = BLOCKS_PER_GROUP[50]
    width_multiplier: int = 1
    input_channels: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        blocks = tuple(self.blocks_per_group)
        if len(blocks) != 4 or any(not isinstance(b, int) or b < 1 for b in blocks):
            raise ValueError(
                f"blocks_per_group must be 4 positive block counts, got {self.blocks_per_group} "
                f"(ResNet-50: {BLOCKS_PER_GROUP[50]}, ResNet-101: {BLOCKS_PER_GROUP[101]})"
            )
        for field in ("width_multiplier", "input_channels"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")

    @property
    def output_dim(self) -> int:
        """Width of ``features_pooled``: 4 x 512 x width_multiplier."""
        return 4 * GROUP_FILTERS[-1] * self.width_multiplier

    def build_layer(self, **kwargs) -> ResNet2D:
        """The :class:`ResNet2D` backbone of this config."""
        return ResNet2D(self, **kwargs)


class ConvFixedPadding(keras.layers.Layer):
    """Conv2D without bias; a strided conv pads ``(k - 1) // 2`` before and the rest after."""

    def __init__(
        self, in_channels: int, filters: int, kernel_size: int, strides: int = 1, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.pad = None
        if strides > 1 and kernel_size > 1:
            before = (kernel_size - 1) // 2
            after = kernel_size - 1 - before
            self.pad = keras.layers.ZeroPadding2D(((before, after), (before, after)))
        self.conv2d = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same" if strides == 1 else "valid",
            use_bias=False,
            name="conv2d",
        )

    def build(self, input_shape=None):
        self.conv2d.build((None, None, None, self.in_channels))

    def call(self, inputs):
        return self.conv2d(inputs if self.pad is None else self.pad(inputs))


class BottleneckBlock(keras.layers.Layer):
    """1x1 -> 3x3 (strided) -> 1x1 (4x filters), each with BN, plus an identity or projection."""

    def __init__(
        self,
        in_channels: int,
        filters: int,
        strides: int,
        batch_norm: BatchNormSettings,
        use_projection: bool,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        out_channels = 4 * filters
        self.projection = None
        self.projection_bn = None
        if use_projection:
            self.projection = ConvFixedPadding(
                in_channels, out_channels, 1, strides, name="projection"
            )
            self.projection_bn = batch_norm.layer("projection_bn")
        elif in_channels != out_channels:
            raise ValueError(
                f"an identity shortcut needs in_channels == 4 * filters, got {in_channels} "
                f"and {out_channels}; use a projection"
            )
        self.conv_1 = ConvFixedPadding(in_channels, filters, 1, name="conv_1")
        self.bn_1 = batch_norm.layer("bn_1")
        self.conv_2 = ConvFixedPadding(filters, filters, 3, strides, name="conv_2")
        self.bn_2 = batch_norm.layer("bn_2")
        self.conv_3 = ConvFixedPadding(filters, out_channels, 1, name="conv_3")
        self.bn_3 = batch_norm.layer("bn_3", zero_init=True)

    def build(self, input_shape=None):
        if self.projection is not None:
            self.projection.build()
            self.projection_bn.build((None, None, None, self.projection.conv2d.filters))
        for conv, bn in (
            (self.conv_1, self.bn_1),
            (self.conv_2, self.bn_2),
            (self.conv_3, self.bn_3),
        ):
            conv.build()
            bn.build((None, None, None, conv.conv2d.filters))

    def call(self, inputs, training=False):
        shortcut = inputs
        if self.projection is not None:
            shortcut = self.projection_bn(self.projection(inputs), training=training)
        x = ops.relu(self.bn_1(self.conv_1(inputs), training=training))
        x = ops.relu(self.bn_2(self.conv_2(x), training=training))
        x = self.bn_3(self.conv_3(x), training=training)
        return ops.relu(x + shortcut)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Original list layout: convs at 0/3/6 and BNs at 1/4/7 (DropBlocks sit at 2/5/8)."""
        found = {}
        main_path = ((self.conv_1, self.bn_1), (self.conv_2, self.bn_2), (self.conv_3, self.bn_3))
        for index, (conv, bn) in enumerate(main_path):
            path = f"{prefix}/conv_relu_dropblock_layers"
            found.update(keras_layer_variables(conv.conv2d, f"{path}/{3 * index}/conv2d"))
            found.update(keras_layer_variables(bn, f"{path}/{3 * index + 1}/bn"))
        if self.projection is not None:
            path = f"{prefix}/projection_layers"
            found.update(keras_layer_variables(self.projection.conv2d, f"{path}/0/conv2d"))
            found.update(keras_layer_variables(self.projection_bn, f"{path}/1/bn"))
        return found


@keras.saving.register_keras_serializable(package="vatt")
class ResNet2D(ConfiguredLayer, keras.layers.Layer):
    """Bottleneck ResNet on 2-D inputs ``(B, H, W, C)``, e.g. a log-mel spectrogram ``(B, F, M, 1)``.

    The total stride is 32 (two in the stem conv, two in its max-pool, two in each of the last
    three groups; each rounds up). Returns ``{"features_pooled": (B, D), "features": (B, N, D)}``
    with D = 2048 x width: the last block's grid averaged, and flattened row-major (N = H' * W').
    """

    config_class = ResNet2DConfig
    input_key = "audio_spectrogram"

    def __init__(self, config: ResNet2DConfig | None = None, name: str = "resnet2d", **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = config or ResNet2DConfig()
        width = self.config.width_multiplier
        bn = self.config.batch_norm()
        channels = 64 * width
        self.stem_conv = ConvFixedPadding(
            self.config.input_channels, channels, 7, 2, name="stem_conv"
        )
        self.stem_bn = bn.layer("stem_bn")
        self.stem_pool = keras.layers.MaxPooling2D(3, strides=2, padding="same")
        self.block_groups = []
        for group, (blocks, filters, strides) in enumerate(
            zip(self.config.blocks_per_group, GROUP_FILTERS, GROUP_STRIDES, strict=True)
        ):
            group_blocks = []
            for block in range(blocks):
                group_blocks.append(
                    BottleneckBlock(
                        channels,
                        filters * width,
                        strides if block == 0 else 1,
                        bn,
                        use_projection=block == 0,
                        name=f"group_{group + 1}_block_{block + 1}",
                    )
                )
                channels = 4 * filters * width
            self.block_groups.append(group_blocks)
        self.flatten_grid = keras.layers.Reshape((-1, self.config.output_dim))
        self.build()

    def build(self, input_shape=None):
        # Every weight is created here, inside nested name scopes ("resnet2d/group_1_block_1/
        # conv_1/conv2d/kernel"), so the backbone is complete once constructed.
        self.stem_conv.build()
        self.stem_bn.build((None, None, None, self.stem_conv.conv2d.filters))
        for group in self.block_groups:
            for block in group:
                block.build()

    def call(self, inputs, training=False):
        if len(inputs.shape) != 4 or inputs.shape[-1] != self.config.input_channels:
            raise ValueError(
                f"ResNet-2D expects inputs of shape (B, H, W, {self.config.input_channels}), e.g. a "
                f"spectrogram (B, F, M, 1); got {tuple(inputs.shape)}"
            )
        x = ops.relu(self.stem_bn(self.stem_conv(inputs), training=training))
        x = self.stem_pool(x)
        for group in self.block_groups:
            for block in group:
                x = block(x, training=training)
        # x: (B, ceil(H/32), ceil(W/32), 2048 * width)
        return {"features_pooled": ops.mean(x, axis=(1, 2)), "features": self.flatten_grid(x)}

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths (spec §7.2 D): ``initial_conv_relu_max_pool/...``, ``block_groups/...``."""
        stem = f"{prefix}/initial_conv_relu_max_pool"
        found = {
            **keras_layer_variables(self.stem_conv.conv2d, f"{stem}/0/conv2d"),
            **keras_layer_variables(self.stem_bn, f"{stem}/2/bn"),
        }
        for g, group in enumerate(self.block_groups):
            for b, block in enumerate(group):
                found.update(block.checkpoint_variables(f"{prefix}/block_groups/{g}/layers/{b}"))
        return found
