"""Training FLOPs against hand-computed values on tiny configs, and the MFU helper."""

from __future__ import annotations

import functools

import keras
import pytest

import vatt.models as vm
from vatt.models.flops import estimate_flops, mfu

# The tiny ViT: d 32, 2 layers, 4 heads of 8, d_ff 64, (2, 8, 8) patches, 2x2x2 position
# buckets, 5 classes. A (4, 16, 16) clip has 8 patches; DropToken keeps int(0.5 * 8) = 4.
D, LAYERS, HEADS, D_KV, D_FF, CLASSES = 32, 2, 4, 8, 64, 5
PATCH_VOLUME = 2 * 8 * 8 * 3
VIDEO = {"video": (2, 4, 16, 16, 3)}


def vit_forward_flops(tokens: int) -> int:
    """Forward FLOPs of one example through the tiny ViT classifier, by hand."""
    patch_embedding = 2 * (tokens - 1) * PATCH_VOLUME * D  # the kept patches: DropToken first
    projections = 4 * 2 * tokens * D * HEADS * D_KV  # q, k, v, o
    attention = 2 * (2 * HEADS * tokens * tokens * D_KV)  # QK^T and PV
    feed_forward = 2 * (2 * tokens * D * D_FF)  # wi, wo
    head = 2 * D * CLASSES
    return patch_embedding + LAYERS * (projections + attention + feed_forward) + head


@functools.cache
def tiny_vit(drop_token: bool) -> keras.Model:
    overrides = vm.tiny_overrides("vit_base")
    overrides["backbone"] = {**overrides["backbone"], "random_patch_sampling": drop_token}
    return vm.build("vit_base", **overrides)


def test_vit_with_droptoken_counts_the_kept_tokens_and_the_agg_token():
    assert vit_forward_flops(4 + 1) == 268_864
    assert estimate_flops(tiny_vit(True), VIDEO) == 3 * 268_864


def test_vit_without_droptoken_pays_the_quadratic_attention_on_every_token():
    assert estimate_flops(tiny_vit(False), VIDEO) == 3 * vit_forward_flops(8 + 1)


def test_flops_are_per_example():
    assert estimate_flops(tiny_vit(False), {"video": (4, 4, 16, 16, 3)}) == estimate_flops(
        tiny_vit(False), VIDEO
    )


def test_backbone_with_a_single_tensor_input():
    # Conv2D(4, 3x3, same) on 6x6x2 then Dense(3) on 6*6*4 features, by hand.
    model = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, padding="same"), keras.layers.Flatten(),
         keras.layers.Dense(3)]
    )  # fmt: skip
    forward = 2 * 6 * 6 * 4 * (3 * 3 * 2) + 2 * (6 * 6 * 4) * 3
    assert estimate_flops(model, (5, 6, 6, 2)) == 3 * forward


def test_mfu_is_achieved_over_peak_flops():
    assert mfu(1e9, 500.0, peak_tflops=1.0) == pytest.approx(0.5)
    assert mfu(3 * 367_168, 1e6, peak_tflops=1e-3) == pytest.approx(3 * 367_168 * 1e6 / 1e9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: estimate_flops(tiny_vit(True), {"video": (2, None, 16, 16, 3)}), "fully static"),
        (lambda: estimate_flops(tiny_vit(True), {"video": VIDEO["video"], "audio": (3, 8)}),
         "same batch size"),
        (lambda: estimate_flops(tiny_vit(True), {}), "empty"),
        (lambda: mfu(1.0, 1.0, peak_tflops=0.0), "peak_tflops"),
    ],
)  # fmt: skip
def test_bad_arguments_are_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
