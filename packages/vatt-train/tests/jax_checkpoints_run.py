"""The JAX side of test_jax_checkpoints.py, run in a subprocess with KERAS_BACKEND=jax.

    python jax_checkpoints_run.py save WORKDIR     # 2 steps, ckpt-2, then step 3
    python jax_checkpoints_run.py resume WORKDIR   # a fresh process: restore ckpt-2, step 3
    python jax_checkpoints_run.py loop RUN FIRST LAST  # save FIRST..LAST (LAST 0: until killed)
    python jax_checkpoints_run.py across TF_RUN JAX_RUN  # weights between the backends

Each writes what it found as JSON or .npz into its directory; the test compares.
"""

import json
import os
import pathlib
import sys

if __name__ == "__main__":  # the test imports Small on TensorFlow
    os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import vatt.models  # noqa: E402
import vatt.train  # noqa: E402
from vatt.train.errors import CheckpointError  # noqa: E402
from vatt.train.jax_checkpoints import JaxCheckpointer  # noqa: E402
from vatt.train.jax_step import JaxTrainStep  # noqa: E402


class Small(keras.Model):
    """Every kind of state: weights, BatchNorm statistics, a Dropout's seed generator."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.hidden = keras.layers.Dense(width)
        self.norm = keras.layers.BatchNormalization()
        self.dropout = keras.layers.Dropout(0.5)
        self.out = keras.layers.Dense(1)

    def call(self, batch, training=False):
        x = self.norm(self.hidden(batch["x"]), training=training)
        return self.out(self.dropout(x, training=training))[:, 0]


def small(seed: int, width: int = 8):
    keras.utils.set_random_seed(seed)
    batch = {
        "x": np.linspace(-1, 1, 16, dtype="float32").reshape(8, 2),
        "y": np.arange(8, dtype="float32"),
    }
    model = Small(width)
    model(batch)
    optimizer = keras.optimizers.Adam(0.1)
    step = JaxTrainStep(
        model,
        optimizer,
        lambda outputs, batch: {"total": keras.ops.mean((outputs - batch["y"]) ** 2)},
        ["total"],
    )
    return model, optimizer, step, step.shard_batch(batch)


def every_variable(model, optimizer) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in [*model.variables, *optimizer.variables]]


def save(workdir: pathlib.Path) -> None:
    model, optimizer, step, batch = small(0)
    state = step.initial_state()
    losses = []
    for _ in range(2):
        state, out = step(state, batch)
        losses.append(float(out.terms[0]))
    step.write_back(state)
    prefix = JaxCheckpointer(workdir / "run", max_to_keep=2).save(
        2, model, optimizer, {"step": 2, "skipped_steps": 1}
    )
    np.savez(workdir / "saved.npz", *every_variable(model, optimizer))
    state, out = step(state, batch)
    result = {"prefix": prefix, "losses": losses, "step3_loss": float(out.terms[0])}
    (workdir / "save.json").write_text(json.dumps(result))


def resume(workdir: pathlib.Path) -> None:
    model, optimizer, step, batch = small(1)  # other initial weights and seed
    initial = every_variable(model, optimizer)
    checkpointer = JaxCheckpointer("run", max_to_keep=2)  # relative to the working directory
    counters = checkpointer.restore("run/ckpt-2", model, optimizer)
    with np.load(workdir / "saved.npz") as saved:
        expected = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    restored = every_variable(model, optimizer)
    state, out = step(step.initial_state(), batch)
    errors = {}
    other, other_optimizer, _, _ = small(2, width=4)
    for name, path in (("other_model", "run/ckpt-2"), ("missing", "run/ckpt-7")):
        try:
            checkpointer.restore(path, other, other_optimizer)
        except CheckpointError as error:
            errors[name] = str(error)
    result = {
        "counters": counters,
        "changed": sum(not np.array_equal(a, b) for a, b in zip(initial, restored, strict=True)),
        "identical": [np.array_equal(a, b) for a, b in zip(restored, expected, strict=True)],
        "paths": [v.path for v in [*model.variables, *optimizer.variables]],
        "step3_loss": float(out.terms[0]),
        "errors": errors,
    }
    (workdir / "resume.json").write_text(json.dumps(result))


def loop(run: str, first: int, last: int) -> None:
    """Save checkpoints FIRST, FIRST+1, ... (keeping 3) in which every variable and counter equals
    the step; LAST = 0 goes on until the process is killed."""
    model, optimizer, _, _ = small(0)
    checkpointer = JaxCheckpointer(run, max_to_keep=3)
    number = first
    while last == 0 or number <= last:
        for variable in [*model.variables, *optimizer.variables]:
            variable.assign(np.full(variable.shape, number, variable.dtype))
        checkpointer.save(number, model, optimizer, {"step": number, "skipped_steps": number})
        number += 1


def pretraining_model(run: pathlib.Path, batch):
    model = vatt.train.build_model(vatt.train.load_run_config(run))
    model(batch)
    return model


def outputs(model, batch) -> dict[str, np.ndarray]:
    flat = keras.tree.flatten_with_path(model(batch, training=False))
    return {"/".join(map(str, path)): np.asarray(value) for path, value in flat}


def across(tf_run: pathlib.Path, jax_run: pathlib.Path) -> None:
    """Save the model of JAX_RUN/config.yaml as JAX_RUN/ckpt-5 (for the TF side to read), then
    read TF_RUN's TF checkpoint into the same model and into a classifier's backbone."""
    batch = dict(np.load(tf_run / "batch.npz"))
    keras.utils.set_random_seed(5)
    model = pretraining_model(jax_run, batch)
    optimizer = vatt.train.build_optimizer(vatt.train.load_run_config(jax_run))
    optimizer.build(model.trainable_variables)
    JaxCheckpointer(jax_run, max_to_keep=2).save(5, model, optimizer, {"step": 5})
    np.savez(jax_run / "jax_outputs.npz", **outputs(model, batch))

    prefix = vatt.train.restore_model_weights(model, tf_run)
    classifier = vatt.models.build("vit_base", backbone=model.config.video.to_dict(), num_classes=3)
    classifier({"video": batch["video"]})
    loaded = vatt.train.initialize_from_pretrained(classifier, tf_run)
    features = classifier.backbone(batch["video"], training=False)["features_pooled"]
    try:
        JaxCheckpointer(tf_run, max_to_keep=2).restore(prefix, model, optimizer)
        resume_error = ""
    except CheckpointError as error:
        resume_error = str(error)
    np.savez(tf_run / "read_outputs.npz", **outputs(model, batch), classifier=np.asarray(features))
    result = {"prefix": prefix, "loaded": len(loaded), "resume_error": resume_error}
    (tf_run / "read.json").write_text(json.dumps(result))


if __name__ == "__main__":
    command, path, *rest = sys.argv[1:]
    if command == "loop":
        loop(path, int(rest[0]), int(rest[1]))
    elif command == "across":
        across(pathlib.Path(path), pathlib.Path(rest[0]))
    else:
        {"save": save, "resume": resume}[command](pathlib.Path(path))
