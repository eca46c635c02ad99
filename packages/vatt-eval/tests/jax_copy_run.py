"""Rewrite a run's latest checkpoint as vatt-train's JAX path saves it (a subprocess of
test_run_directory.py, on the JAX backend).

    python jax_copy_run.py SOURCE_RUN TARGET_RUN   # TARGET_RUN/config.yaml exists
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402

import vatt.train  # noqa: E402
from vatt.train.jax_checkpoints import JaxCheckpointer  # noqa: E402

if __name__ == "__main__":
    source, target = sys.argv[1:]
    model = vatt.train.build_model(vatt.train.load_run_config(target))
    step, prefix = vatt.train.list_checkpoints(source)[-1]
    vatt.train.restore_model_weights(model, prefix)  # a TF checkpoint, read on JAX
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    JaxCheckpointer(target, max_to_keep=2).save(step, model, optimizer, {"step": step})
