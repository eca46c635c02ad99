"""Patch embedding as one matrix product: what a non-overlapping convolution computes."""

from __future__ import annotations

import math

import keras
from keras import ops


def embed_patches(conv: keras.layers.Layer, inputs):
    """``conv(inputs)`` for a channels-last convolution whose strides equal its kernel size.

    Such a convolution (ViT-3D's ``voxel_to_patch``, WaT's ``wave_to_patch``) multiplies each
    non-overlapping patch by the same matrix. Cutting the input into patches and doing that one
    product gives the same numbers, and accelerators run it as a dense GEMM instead of a
    convolution over 3 input channels, for which convolution kernels are poorly tiled.
    Convolutions with any other geometry are simply called.

    Args:
        conv: a built ``Conv1D``/``Conv2D``/``Conv3D`` (``padding="valid"``, no dilation).
        inputs: ``(B, *spatial, C)``; each spatial size a multiple of the kernel size.

    Returns:
        ``(B, *spatial / kernel, filters)``, as ``conv(inputs)``.
    """
    kernel_size = tuple(conv.kernel_size)
    spatial = tuple(inputs.shape[1:-1])
    fits = (
        tuple(conv.strides) == kernel_size
        and conv.padding == "valid"
        and set(conv.dilation_rate) == {1}
        and conv.groups == 1
        and None not in spatial
        and all(size % k == 0 for size, k in zip(spatial, kernel_size, strict=True))
    )
    if not fits:
        return conv(inputs)
    channels = inputs.shape[-1]
    grid = tuple(size // k for size, k in zip(spatial, kernel_size, strict=True))
    rank = len(kernel_size)
    x = ops.cast(inputs, conv.compute_dtype)
    # (B, g1, k1, g2, k2, ..., C) -> (B, g1, g2, ..., k1, k2, ..., C) -> (B, *grid, prod(k) * C)
    x = ops.reshape(
        x, (-1, *(d for pair in zip(grid, kernel_size, strict=True) for d in pair), channels)
    )
    order = (0, *range(1, 2 * rank, 2), *range(2, 2 * rank + 1, 2), 2 * rank + 1)
    x = ops.reshape(ops.transpose(x, order), (-1, *grid, math.prod(kernel_size) * channels))
    kernel = ops.reshape(ops.cast(conv.kernel, x.dtype), (-1, conv.filters))
    outputs = ops.matmul(x, kernel)
    if conv.use_bias:
        outputs = outputs + ops.cast(conv.bias, x.dtype)
    return outputs
