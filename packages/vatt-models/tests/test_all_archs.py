"""Registry-driven checks of EVERY arch at its tiny size (timm's test_models pattern).

For each name in ``list_archs()``, a forward pass with finite outputs that follow contract 2.
For each distinct tiny model, a backward pass in which every trainable weight gets a finite
gradient, a ``.weights.h5`` round trip into a fresh instance that reproduces the outputs
exactly, and a mixed-bfloat16 build and forward pass. Archs that differ only in size (vit_base,
vit_medium, vit_large...) share their tiny config, hence the same tiny model: those heavier
checks run once per distinct (config class, tiny config). Backend-agnostic: the same tests run
under ``KERAS_BACKEND=jax``.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from backend_helpers import trainable_gradients

import vatt.models as vm
from vatt.models.text import TextConfig

ARCHS = vm.list_archs()


def _tiny_config_key(arch: str) -> str:
    config = vm.get_config(arch, **vm.tiny_overrides(arch))
    return f"{type(config).__qualname__}\n{config.to_yaml()}"


#: The first arch (alphabetically) of each group of archs with identical tiny configs.
DISTINCT_ARCHS = sorted({_tiny_config_key(a): a for a in reversed(ARCHS)}.values())
BATCH = 2
# One synthetic batch (contract 1) that every tiny config accepts: 2x2x2 ViT patches, 8 WaT
# patches, 2x4 SpT patches, 2 captions of 8 word ids (0 = padding) in a 1000-word vocabulary.
SHAPES = {
    "video": (BATCH, 4, 16, 16, 3),
    "audio": (BATCH, 1024),
    "audio_spectrogram": (BATCH, 32, 20, 1),
    "text": (BATCH, 2, 8),
}


def synthetic_batch(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch = {
        key: rng.uniform(-1.0, 1.0, shape).astype("float32")
        for key, shape in SHAPES.items()
        if key != "text"
    }
    text = rng.integers(1, 1000, SHAPES["text"]).astype("int32")
    text[..., 6:] = 0  # padded tail
    batch["text"] = text
    return batch


def model_inputs(arch: str, batch: dict[str, np.ndarray]):
    """Text backbones take the word ids alone; every other arch takes the batch dict."""
    if isinstance(vm.get_config(arch), TextConfig):
        return batch["text"]
    return batch


@functools.cache
def tiny_model(arch: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    return vm.build(arch, **vm.tiny_overrides(arch))


def float_leaves(outputs) -> list:
    """Every floating-point tensor of a (nested) output dict, in a fixed order."""
    if isinstance(outputs, dict):
        return [leaf for key in sorted(outputs) for leaf in float_leaves(outputs[key])]
    dtype = keras.backend.standardize_dtype(outputs.dtype)
    return [outputs] if "float" in dtype else []


def scalar_loss(outputs):
    """A loss that depends on every output: sum of the mean squares of the float leaves."""
    return sum(
        keras.ops.mean(keras.ops.square(keras.ops.cast(x, "float32")))
        for x in float_leaves(outputs)
    )


def test_every_contract_arch_is_registered():
    # Contract 2 of ARCHITECTURE.md names these; `import vatt.models` alone must register them.
    expected = {
        "tx_fac", "tx_fac_bbs", "tx_fac_mbs", "tx_fac_lbs", "ut_fac", "mmv_fac",
        "vit_base", "vit_medium", "vit_large", "wat_base", "wat_medium", "spt_base",
        "spt_medium", "i3d", "resnet2d_50", "linear", "t5_small", "t5_base",
        "bert_small", "bert_base",
    }  # fmt: skip
    assert expected <= set(ARCHS), f"not registered: {sorted(expected - set(ARCHS))}"


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_outputs_are_finite_and_follow_the_contract(arch):
    model = tiny_model(arch)
    outputs = model(model_inputs(arch, synthetic_batch()), training=False)
    leaves = float_leaves(outputs)
    assert leaves, f"{arch} returned no float output"
    for leaf in leaves:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(leaf))), arch
    if "logits" in outputs:  # classifier contract
        assert set(outputs) == {"logits", "features_pooled"}
        assert tuple(outputs["logits"].shape) == (
            BATCH,
            vm.get_config(arch, **vm.tiny_overrides(arch)).num_classes,
        )
    elif "features_pooled" in outputs:  # backbone contract
        assert tuple(outputs["features_pooled"].shape)[0] in (BATCH, BATCH * SHAPES["text"][1])
        assert len(outputs["features"].shape) == 3


@pytest.mark.parametrize("arch", DISTINCT_ARCHS)
def test_every_trainable_weight_gets_a_finite_gradient(arch):
    model = tiny_model(arch)
    grads = trainable_gradients(model, model_inputs(arch, synthetic_batch()), scalar_loss)
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads, strict=True):
        assert grad is not None, f"{arch}: no gradient for {variable.path}"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(grad))), f"{arch}: {variable.path}"


@pytest.mark.parametrize("arch", DISTINCT_ARCHS)
def test_weights_h5_round_trip_reproduces_outputs(arch, tmp_path):
    inputs = model_inputs(arch, synthetic_batch())
    model = tiny_model(arch)
    path = tmp_path / f"{arch}.weights.h5"
    model.save_weights(path)
    keras.utils.set_random_seed(1)  # a differently initialised copy
    restored = vm.build(arch, **vm.tiny_overrides(arch))
    restored.load_weights(path)
    expected = float_leaves(model(inputs, training=False))
    actual = float_leaves(restored(inputs, training=False))
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want)
        )


@pytest.mark.parametrize("arch", DISTINCT_ARCHS)
def test_mixed_bfloat16_builds_and_runs(arch):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = vm.build(arch, **vm.tiny_overrides(arch))
        outputs = model(model_inputs(arch, synthetic_batch()), training=True)
    finally:
        keras.config.set_dtype_policy(previous)
    assert all(v.dtype == "float32" for v in model.weights), f"{arch}: weights must stay float32"
    leaves = float_leaves(outputs)
    assert any(keras.backend.standardize_dtype(x.dtype) == "bfloat16" for x in leaves), arch
    for leaf in leaves:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(leaf, "float32")))), (
            arch
        )
