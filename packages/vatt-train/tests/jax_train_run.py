"""Tiny pretraining runs on the JAX backend (a subprocess of test_jax_training.py).

    python jax_train_run.py WORKDIR devices
        WORKDIR/one (strategy one_device), WORKDIR/two (data_parallel over 2 CPU devices) and
        WORKDIR/nan (one_device, the audio of the 3rd batch NaN); writes WORKDIR/devices.json:
        the histories of both runs and the NonFiniteLossError of the third.
    python jax_train_run.py WORKDIR process
        one process of a multi_process run into WORKDIR/multi (JAX_COORDINATOR_ADDRESS,
        JAX_NUM_PROCESSES, JAX_PROCESS_ID set by the test, one CPU device each); writes
        WORKDIR/process-<id>.json: its history.
    python jax_train_run.py WORKDIR resume
        one_device into WORKDIR/resumed, a checkpoint every 2 steps and each batch delayed by
        0.3 s (the test kills it with SIGKILL mid-run, then runs it again); writes
        WORKDIR/resume.json: the history, the checkpoint restored from and the step reached.

WORKDIR/overrides.json holds the config overrides and WORKDIR/examples.npz the 8 clips of every
global batch; each process reads its share of them (every other clip with two processes).
"""

import json
import os
import pathlib
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two CPU devices for the devices runs, one per process for the multi-process run.
DEVICES = 1 if sys.argv[2:3] == ["process"] else 2
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={DEVICES}"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vatt.train  # noqa: E402
from conftest import array_dataset_fn  # noqa: E402


def _config(workdir: pathlib.Path, strategy: str):
    overrides = json.loads((workdir / "overrides.json").read_text())
    config = vatt.train.resolve_config("pretrain", "tx_fac", params_override=overrides)
    return vatt.train.apply_overrides(config, {"strategy.type": strategy})


def _examples(workdir: pathlib.Path) -> dict:
    with np.load(workdir / "examples.npz") as loaded:
        return {key: loaded[key] for key in loaded.files}


def _poisoned(dataset_fn):
    def poisoned(context):
        def poison(index, batch):
            nan_if_third = tf.where(index == 2, float("nan"), 1.0)
            return {**batch, "audio": batch["audio"] * nan_if_third}

        return dataset_fn(context).enumerate().map(poison)

    return poisoned


def _slow(dataset_fn, seconds: float = 0.3):
    """``dataset_fn`` whose batches each take ``seconds`` more to arrive."""

    def pause():
        time.sleep(seconds)
        return np.int32(0)

    def slow(context):
        def delay(batch):
            with tf.control_dependencies([tf.numpy_function(pause, [], tf.int32)]):
                return {key: tf.identity(value) for key, value in batch.items()}

        return dataset_fn(context).map(delay)

    return slow


def main(workdir: str, mode: str) -> None:
    workdir = pathlib.Path(workdir)
    dataset_fn = array_dataset_fn(_examples(workdir), 8)
    if mode == "process":
        config = _config(workdir, "multi_process")
        result = vatt.train.train(config, workdir / "multi", dataset_fn=dataset_fn)
        index = os.environ["JAX_PROCESS_ID"]
        (workdir / f"process-{index}.json").write_text(json.dumps(result.history))
        return
    if mode == "resume":
        config = vatt.train.apply_overrides(
            _config(workdir, "one_device"), {"train.save_checkpoint_freq": 2}
        )
        result = vatt.train.train(config, workdir / "resumed", dataset_fn=_slow(dataset_fn))
        summary = {"history": result.history, "restored_from": result.restored_from}
        (workdir / "resume.json").write_text(json.dumps({**summary, "step": result.step}))
        return
    out = {}
    for name, strategy in (("one", "one_device"), ("two", "data_parallel")):
        result = vatt.train.train(_config(workdir, strategy), workdir / name, dataset_fn=dataset_fn)
        out[name] = {"history": result.history, "step": result.step}
    try:
        vatt.train.train(
            _config(workdir, "one_device"), workdir / "nan", dataset_fn=_poisoned(dataset_fn)
        )
    except vatt.train.NonFiniteLossError as error:
        out["nan"] = {"message": str(error), "step": error.step}
    (workdir / "devices.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
