"""The checkpoint watcher against a trainer that writes checkpoints and rotates old ones away."""

import json
import pathlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from vatt.eval import checkpoint_step
from vatt.eval.results import read_results
from vatt.eval.watch import watch_run
from vatt.train import list_checkpoints

# A stand-in trainer, in its own process: every 0.2 s it publishes the next
# checkpoint as tf.train.CheckpointManager(max_to_keep=2) does on disk (data and index files,
# then the `checkpoint` state file replaced atomically) and deletes the oldest one. The checkpoint
# files are real ones, written beforehand by TensorFlow, so the process starts without importing
# TensorFlow.
TRAINER = textwrap.dedent(
    """
    import os, pathlib, shutil, sys, time

    staging, run_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    kept = []
    for step in [int(s) for s in sys.argv[3:]]:
        name = f"ckpt-{step}"
        for source in sorted(staging.glob(name + ".*"), key=lambda p: p.suffix == ".index"):
            shutil.copy(source, run_dir / source.name)
        kept.append(name)
        for old in kept[:-2]:
            for path in run_dir.glob(old + ".*"):
                path.unlink()
        kept = kept[-2:]
        state = f'model_checkpoint_path: "{kept[-1]}"\\n' + "".join(
            f'all_model_checkpoint_paths: "{k}"\\n' for k in kept
        )
        (run_dir / "checkpoint.tmp").write_text(state)
        os.replace(run_dir / "checkpoint.tmp", run_dir / "checkpoint")
        time.sleep(0.2)
    """
)


def _write_checkpoints(directory, steps):
    """Real checkpoints ckpt-N holding step N and a kernel filled with N."""
    step, kernel = tf.Variable(0, dtype=tf.int64), tf.Variable(tf.zeros([4, 3]))
    checkpoint = tf.train.Checkpoint(step=step, kernel=kernel)
    for n in steps:
        step.assign(n)
        kernel.assign(tf.fill([4, 3], float(n)))
        checkpoint.write(str(directory / f"ckpt-{n}"))


def _restored_values(prefix):
    """Metric function: restore the checkpoint and report what it holds."""
    step, kernel = tf.Variable(0, dtype=tf.int64), tf.Variable(tf.zeros([4, 3]))
    tf.train.Checkpoint(step=step, kernel=kernel).read(prefix).assert_existing_objects_matched()
    time.sleep(1.0)  # slower than the trainer, so rotation deletes some checkpoints meanwhile
    return {"restored_step": float(step.numpy()), "kernel_mean": float(kernel.numpy().mean())}


def test_watch_follows_a_rotating_trainer_until_the_final_step(tmp_path):
    steps = [10, 20, 30, 40, 50, 60]
    staging, run_dir = tmp_path / "staging", tmp_path / "run"
    staging.mkdir()
    run_dir.mkdir()
    _write_checkpoints(staging, steps)
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER, str(staging), str(run_dir), *map(str, steps)]
    )
    try:
        evaluated = watch_run(run_dir, _restored_values, final_step=60, interval=0.1, timeout=30.0)
    finally:
        assert trainer.wait(timeout=30) == 0
    assert evaluated[-1] == 60
    assert evaluated == sorted(set(evaluated)) and set(evaluated) <= set(steps)
    assert len(evaluated) < len(steps)  # evaluating is slower than training: some rotated away
    for step in evaluated:
        payload = read_results(run_dir, step)
        assert payload["step"] == step
        assert payload["checkpoint"] == str(run_dir / f"ckpt-{step}")
        assert payload["metrics"] == {"restored_step": step, "kernel_mean": step}
    # Only the results of evaluated checkpoints exist, and the scalars went to TensorBoard.
    written = sorted(p.name for p in (run_dir / "eval").glob("results-*.json"))
    assert written == sorted(f"results-{s}.json" for s in evaluated)
    assert list((run_dir / "eval").glob("events.out.tfevents.*"))


def _save_checkpoints(run_dir, steps, max_to_keep=10):
    step = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(step=step), str(run_dir), max_to_keep=max_to_keep
    )
    for n in steps:
        step.assign(n)
        manager.save(checkpoint_number=n)


def _delete_checkpoint(prefix):
    for path in pathlib.Path(prefix).parent.glob(pathlib.Path(prefix).name + ".*"):
        path.unlink()


def test_checkpoints_deleted_before_or_during_evaluation_are_skipped(tmp_path):
    _save_checkpoints(tmp_path, [1, 2, 3, 4])
    _delete_checkpoint(tmp_path / "ckpt-2")  # rotated away while the watcher waited
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1, 3, 4]

    calls = []

    def metric_fn(prefix):
        calls.append(checkpoint_step(prefix))
        if prefix.endswith("ckpt-3"):
            _delete_checkpoint(prefix)  # rotated away in the middle of the evaluation
        step = tf.Variable(0, dtype=tf.int64)
        tf.train.Checkpoint(step=step).read(prefix).assert_existing_objects_matched()
        return {"step_value": float(step.numpy())}

    assert watch_run(tmp_path, metric_fn, final_step=4, interval=0.05, timeout=5.0) == [1, 4]
    assert calls == [1, 3, 4]
    assert json.loads((tmp_path / "eval" / "results-4.json").read_text())["metrics"] == {
        "step_value": 4.0
    }


def test_a_failure_on_an_existing_checkpoint_is_not_hidden(tmp_path):
    _save_checkpoints(tmp_path, [1])

    def metric_fn(prefix):
        raise FileNotFoundError("a dataset file is missing")

    with pytest.raises(FileNotFoundError, match="dataset file"):
        watch_run(tmp_path, metric_fn, interval=0.05, timeout=1.0)


def test_watch_stops_at_the_timeout_without_checkpoints(tmp_path):
    start = time.monotonic()
    assert watch_run(tmp_path, lambda prefix: {}, interval=0.05, timeout=0.3) == []
    assert 0.3 <= time.monotonic() - start < 5.0


def test_watch_evaluates_existing_checkpoints_once_each_and_in_order(tmp_path):
    _save_checkpoints(tmp_path, [5, 15, 25])
    calls = []
    evaluated = watch_run(
        tmp_path,
        lambda prefix: calls.append(prefix) or {"x": np.float64(1.0)},
        interval=0.05,
        timeout=0.3,
    )
    assert evaluated == [5, 15, 25]
    assert calls == [str(tmp_path / f"ckpt-{s}") for s in (5, 15, 25)]


def test_watch_rejects_a_missing_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        watch_run(tmp_path / "nope", lambda prefix: {}, timeout=0.1)


def test_watch_takes_a_relative_run_directory(in_tmp_dir):
    run_dir = in_tmp_dir / "runs" / "my run"
    run_dir.mkdir(parents=True)
    _save_checkpoints(run_dir, [5, 15])
    for given in ("runs/my run", "runs/my run/"):
        calls = []

        def metric_fn(prefix, calls=calls):
            calls.append(prefix)
            return {"x": 1.0}

        evaluated = watch_run(
            given,
            metric_fn,
            final_step=15,
            interval=0.05,
            timeout=5.0,
        )
        assert evaluated == [5, 15]
        assert calls == [str(run_dir / f"ckpt-{s}") for s in (5, 15)]
        assert read_results(run_dir, 15)["checkpoint"] == str(run_dir / "ckpt-15")
