"""Patch tokens: the patch embedding as one matrix product, positions, and DropToken first.

A convolution whose strides equal its kernel size (ViT-3D's ``voxel_to_patch``, WaT's
``wave_to_patch``) multiplies each non-overlapping patch by the same matrix. Cutting the input
into patches and doing that one product gives the same numbers, and accelerators run it as a
dense GEMM instead of a convolution over 3 input channels, for which convolution kernels are
poorly tiled. Everything between the patches and the Transformer (that product, an optional
projection, the positional embeddings) acts on each token alone, so DropToken can choose its
tokens first: in training only the kept patches are embedded.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def cut_patches(conv: keras.layers.Layer, inputs):
    """The patches ``(B, *grid, prod(kernel) * C)`` that ``conv`` multiplies, or None.

    None unless ``conv`` (a built channels-last ``Conv1D``/``Conv2D``/``Conv3D``) has strides
    equal to its kernel size, ``valid`` padding, no dilation or groups, and every spatial size
    of ``inputs`` ``(B, *spatial, C)`` is a multiple of the kernel size.
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
        return None
    channels = inputs.shape[-1]
    grid = tuple(size // k for size, k in zip(spatial, kernel_size, strict=True))
    rank = len(kernel_size)
    x = ops.cast(inputs, conv.compute_dtype)
    # (B, g1, k1, g2, k2, ..., C) -> (B, g1, g2, ..., k1, k2, ..., C) -> (B, *grid, prod(k) * C)
    x = ops.reshape(
        x, (-1, *(d for pair in zip(grid, kernel_size, strict=True) for d in pair), channels)
    )
    order = (0, *range(1, 2 * rank, 2), *range(2, 2 * rank + 1, 2), 2 * rank + 1)
    return ops.reshape(ops.transpose(x, order), (-1, *grid, math.prod(kernel_size) * channels))


def project_patches(conv: keras.layers.Layer, patches):
    """``conv``'s kernel and bias applied to patches from :func:`cut_patches` (any leading shape)."""
    kernel = ops.reshape(ops.cast(conv.kernel, patches.dtype), (-1, conv.filters))
    outputs = ops.matmul(patches, kernel)
    if conv.use_bias:
        outputs = outputs + ops.cast(conv.bias, patches.dtype)
    return outputs


def embed_patches(conv: keras.layers.Layer, inputs):
    """``conv(inputs)``, computed as one matrix product when :func:`cut_patches` applies.

    Args:
        conv: a built ``Conv1D``/``Conv2D``/``Conv3D``.
        inputs: ``(B, *spatial, C)``.

    Returns:
        ``(B, *grid, filters)``, as ``conv(inputs)``.
    """
    patches = cut_patches(conv, inputs)
    return conv(inputs) if patches is None else project_patches(conv, patches)


def patch_tokens(conv, inputs, embeddings, drop_token=None, projection=None, training=False):
    """The Transformer's input tokens ``(B, N, d)`` from raw ``inputs``, before the agg token.

    Computes ``drop_token(flatten(embeddings(projection(conv(inputs)))))``, the order of the
    original, but with DropToken's choice applied first: when it samples (training), only the
    kept patches are cut out, multiplied and given their positions. Each kept token gets the
    same numbers as in the original order; only the positional dropout's random draws differ.

    Args:
        conv: the patch convolution (see :func:`embed_patches`).
        inputs: ``(B, *spatial, C)``.
        embeddings: a positional layer with ``positions(grid)`` and ``add_positions``
            (:mod:`vatt.models.layers.embeddings`).
        drop_token: an optional :class:`~vatt.models.layers.DropToken`.
        projection: an optional per-token layer between the patches and the positions (UT's
            ``pre_tx_projection``).
        training: enables DropToken and the positional dropout.
    """
    patches = cut_patches(conv, inputs)
    grid_values = conv(inputs) if patches is None else patches  # (B, *grid, P or d)
    grid = tuple(grid_values.shape[1:-1])
    num_tokens = math.prod(grid)
    values = ops.reshape(grid_values, (-1, num_tokens, grid_values.shape[-1]))
    positional = embeddings.positions(grid)
    positional = ops.reshape(positional, (num_tokens, positional.shape[-1]))
    kept = None if drop_token is None else drop_token.kept_indices(num_tokens, training)
    if kept is not None:
        values = ops.take(values, kept, axis=1)
        positional = ops.take(positional, kept, axis=0)
    tokens = values if patches is None else project_patches(conv, values)
    if projection is not None:
        tokens = projection(tokens)
    return embeddings.add_positions(tokens, positional, training=training)
