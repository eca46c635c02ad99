"""Runs vatt.train.jax_step on the JAX backend (a subprocess of test_jax_step.py).

    python jax_step_run.py WORKDIR DEVICES [--nan]

Builds tiny tx_fac from WORKDIR/init.weights.h5 (written on the first call), runs 3 steps on the
fixed batch WORKDIR/batch.npz over DEVICES CPU devices and writes WORKDIR/result-DEVICES.json:
each step's terms, gradient norm, finiteness and flag counts, and the first step's gradients'
per-variable norms.
"""

import json
import os
import pathlib
import sys

if __name__ == "__main__":  # imported by the TensorFlow test for tiny_model: leave its backend
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import vatt.losses  # noqa: E402
import vatt.models  # noqa: E402
from vatt.train.jax_step import JaxTrainStep, data_parallel_mesh  # noqa: E402

TERMS = ["vid_txt", "vid_aud", "total"]


def tiny_model() -> keras.Model:
    """Tiny tx_fac that draws no random number in training (no dropout, no DropToken)."""
    tiny = vatt.models.tiny_overrides("tx_fac")
    tiny["text"] = {**tiny["text"], "dropout_rate": 0.0}
    for tower in ("video", "audio"):
        tiny[tower] = {
            **tiny[tower],
            "dropout_rate": 0.0,
            "positional_dropout_rate": 0.0,
            "random_patch_sampling": False,
        }
    return vatt.models.build("tx_fac", **tiny)


def main() -> None:
    workdir, devices = pathlib.Path(sys.argv[1]), int(sys.argv[2])
    batch = dict(np.load(workdir / "batch.npz"))
    if "--nan" in sys.argv:
        batch["video"][0, 0, 0, 0, 0] = np.nan
    keras.utils.set_random_seed(0)
    model = tiny_model()
    model(batch)
    weights = workdir / "init.weights.h5"
    if weights.exists():
        model.load_weights(str(weights))
    else:
        model.save_weights(str(weights))
    optimizer = keras.optimizers.SGD(1e-2, momentum=0.9)
    step = JaxTrainStep(
        model,
        optimizer,
        lambda outputs, batch: vatt.losses.pretrain_objective(outputs, batch),
        TERMS,
        clip_groups=[(model.trainable_variables, 5.0)],
        count_keys=["video_short", "audio_short"],
        mesh=data_parallel_mesh(jax.devices()[:devices]),
    )
    state = step.initial_state()
    first = [np.asarray(v) for v in state[0]]
    steps = []
    for _ in range(3):
        state, out = step(state, step.shard_batch(batch))
        steps.append(
            {
                "terms": np.asarray(out.terms).tolist(),
                "gradient_norm": float(out.gradient_norm),
                "finite": bool(out.finite),
                "counts": np.asarray(out.counts).tolist(),
            }
        )
    changed = max(
        float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(state[0], first, strict=True)
    )
    result = {"steps": steps, "num_devices": step.num_devices, "max_weight_change": changed}
    (workdir / f"result-{devices}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
