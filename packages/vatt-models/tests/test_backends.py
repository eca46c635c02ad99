"""Weights saved as ``.weights.h5`` on this backend load on another (TF <-> JAX, torch -> TF).

The models are built, saved and run here; a subprocess with the other ``KERAS_BACKEND``
rebuilds them, loads the files and runs the same batch. Outputs must agree to 1e-5 of their
scale. One model per family travels: the VATT pre-training model (ViT, WaT, T5 and the FAC
head's BatchNorms), the modality-agnostic UT model, and a CNN (Conv2D, BatchNorm statistics);
every other arch is built from the same layer types.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np

import vatt.models as vm
from vatt.models.text import TextConfig

OTHER_BACKEND = {"tensorflow": "jax", "jax": "tensorflow", "torch": "tensorflow"}
TOLERANCE = 1e-5
ARCHS = ("tx_fac_bbs", "ut_fac", "resnet2d_50")

# Runs under the other backend: rebuild, load, forward, save the float outputs.
RELOAD_SCRIPT = r"""
import sys
import numpy as np
import keras
import vatt.models as vm
from vatt.models.text import TextConfig

folder, archs = sys.argv[1], sys.argv[2:]
batch = dict(np.load(f"{folder}/inputs.npz"))

def forward(model, inputs):
    if keras.backend.backend() != "jax":
        return model(inputs, training=False)
    import jax  # one compiled program instead of hundreds of op-by-op compilations

    def run(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    values = lambda variables: [v.value for v in variables]
    return jax.jit(run)(values(model.trainable_variables), values(model.non_trainable_variables), inputs)

def leaves(outputs):
    if isinstance(outputs, dict):
        return [x for key in sorted(outputs) for x in leaves(outputs[key])]
    return [outputs] if "float" in keras.backend.standardize_dtype(outputs.dtype) else []

results = {}
for arch in archs:
    if keras.backend.backend() == "jax":
        # Shapes only, every value comes from the file: JAX compiles each random initialiser
        # on the CPU, which would dominate this test.
        with keras.StatelessScope(initialize_variables=False):
            model = vm.build(arch, **vm.tiny_overrides(arch))
        keras.backend.clear_session(free_memory=False)
    else:
        model = vm.build(arch, **vm.tiny_overrides(arch))
    model.load_weights(f"{folder}/{arch}.weights.h5")
    text_only = isinstance(vm.get_config(arch), TextConfig)
    outputs = forward(model, batch["text"] if text_only else batch)
    for i, leaf in enumerate(leaves(outputs)):
        results[f"{arch}/{i}"] = keras.ops.convert_to_numpy(leaf)
np.savez(f"{folder}/reloaded.npz", **results)
"""


def synthetic_batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    text = rng.integers(1, 1000, (2, 2, 8)).astype("int32")
    text[..., 6:] = 0
    return {
        "video": rng.uniform(-1, 1, (2, 4, 16, 16, 3)).astype("float32"),
        "audio": rng.uniform(-1, 1, (2, 1024)).astype("float32"),
        "audio_spectrogram": rng.normal(size=(2, 32, 20, 1)).astype("float32"),
        "text": text,
    }


def float_leaves(outputs) -> list[np.ndarray]:
    if isinstance(outputs, dict):
        return [x for key in sorted(outputs) for x in float_leaves(outputs[key])]
    dtype = keras.backend.standardize_dtype(outputs.dtype)
    return [keras.ops.convert_to_numpy(outputs)] if "float" in dtype else []


def test_weights_h5_files_load_on_the_other_backend_with_the_same_outputs(tmp_path):
    archs = list(ARCHS)
    batch = synthetic_batch()
    np.savez(tmp_path / "inputs.npz", **batch)
    expected = {}
    for arch in archs:
        keras.utils.set_random_seed(0)
        model = vm.build(arch, **vm.tiny_overrides(arch))
        model.save_weights(tmp_path / f"{arch}.weights.h5")
        text_only = isinstance(vm.get_config(arch), TextConfig)
        outputs = model(batch["text"] if text_only else batch, training=False)
        for i, leaf in enumerate(float_leaves(outputs)):
            expected[f"{arch}/{i}"] = leaf

    other = OTHER_BACKEND[keras.backend.backend()]
    env = {**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(tmp_path), *archs],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"reloading on {other} failed:\n{result.stderr[-4000:]}"

    reloaded = dict(np.load(tmp_path / "reloaded.npz"))
    assert sorted(reloaded) == sorted(expected)
    for key, want in expected.items():
        error = np.max(np.abs(reloaded[key] - want)) / max(np.max(np.abs(want)), 1e-12)
        assert error <= TOLERANCE, f"{key} on {other}: relative error {error:.2e}"
