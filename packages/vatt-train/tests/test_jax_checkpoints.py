"""Checkpoints of the JAX path (vatt.train.jax_checkpoints) and their reading on both backends.

The JAX side runs in subprocesses (jax_checkpoints_run.py): this suite runs on TensorFlow.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from jax_checkpoints_run import Small

import vatt.models
import vatt.train
from vatt.train.checkpoints import ModelWeights
from vatt.train.export import main as export_main

SCRIPT = os.path.join(os.path.dirname(__file__), "jax_checkpoints_run.py")
JAX_ENV = {**os.environ, "KERAS_BACKEND": "jax"}


def _jax(*args, cwd) -> None:
    result = subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=JAX_ENV,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """Two steps, save, a third step; then, in a new process, restore and the third step."""
    workdir = tmp_path_factory.mktemp("round_trip")
    _jax("save", workdir, cwd=workdir)
    _jax("resume", workdir, cwd=workdir)
    saved = json.loads((workdir / "save.json").read_text())
    resumed = json.loads((workdir / "resume.json").read_text())
    return workdir, saved, resumed


@pytest.mark.slow
def test_a_restored_run_has_identical_variables_and_the_same_next_loss(round_trip):
    workdir, saved, resumed = round_trip
    assert resumed["counters"] == {"step": 2, "skipped_steps": 1}
    # Every variable of the model (weights, BatchNorm statistics, the dropout's seed) and of the
    # optimizer (iterations, moments) equals the saved one, though the new process started
    # from other values everywhere but the learning rate (the config's, not saved).
    assert all(resumed["identical"])
    assert resumed["changed"] == len(resumed["identical"]) - 1
    for kind in ("moving_variance", "seed_generator_state", "iteration", "momentum", "velocity"):
        assert any(kind in path for path in resumed["paths"]), kind
    # Dropout draws the same mask from the restored seed: the very same loss.
    assert resumed["step3_loss"] == saved["step3_loss"]
    assert sorted(os.listdir(workdir / "run")) == ["ckpt-2.train.npz", "ckpt-2.weights.h5"]
    assert vatt.train.list_checkpoints(workdir / "run") == [(2, saved["prefix"])]


@pytest.mark.slow
def test_restoring_a_mismatch_or_a_missing_checkpoint_is_a_clear_error(round_trip):
    _, _, resumed = round_trip
    assert "ckpt-2 does not fit this model and optimizer" in resumed["errors"]["other_model"]
    assert "shapes differ" in resumed["errors"]["other_model"]
    assert resumed["errors"]["missing"].startswith("no complete JAX checkpoint at ")
    assert "/run/ckpt-7" in resumed["errors"]["missing"]


@pytest.mark.slow
def test_the_training_state_file_reads_without_pickle(round_trip):
    workdir, _, _ = round_trip
    with np.load(workdir / "run" / "ckpt-2.train.npz", allow_pickle=False) as state:
        assert int(state["counters/step"]) == 2
        assert int(state["counters/skipped_steps"]) == 1
        assert {key.split("/")[0] for key in state.files} == {"counters", "model", "optimizer"}


def _check_checkpoints(run) -> list[int]:
    """Every listed checkpoint holds one step's values only (the loop writes step N as N)."""
    listed = vatt.train.list_checkpoints(run)
    model = Small()
    model({"x": np.zeros((2, 2), "float32")})
    for step, prefix in listed:
        vatt.train.restore_model_weights(model, prefix)
        for weight in model.weights:
            np.testing.assert_array_equal(weight.numpy(), step)
        with np.load(prefix + ".train.npz", allow_pickle=False) as state:
            for key in state.files:
                np.testing.assert_array_equal(state[key], step, err_msg=key)
    return [step for step, _ in listed]


@pytest.mark.slow
def test_rotation_keeps_the_newest_checkpoints(tmp_path):
    _jax("loop", "run", 1, 6, cwd=tmp_path)
    assert _check_checkpoints(tmp_path / "run") == [4, 5, 6]
    assert len(os.listdir(tmp_path / "run")) == 6  # no temporary file left


def _newest(run) -> int:
    return max((int(p.name.split(".")[0][5:]) for p in run.glob("ckpt-*.train.npz")), default=0)


@pytest.mark.slow
def test_a_save_killed_at_any_moment_leaves_only_complete_checkpoints(tmp_path):
    """kill -9 a process that does nothing but save, three times at random moments; each
    restart goes on from the last listed checkpoint."""
    run, rng, first = tmp_path / "run", random.Random(0), 1
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, SCRIPT, "loop", str(run), str(first), "0"],
            env=JAX_ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while _newest(run) < first + 2:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
        steps = _check_checkpoints(run)
        assert steps and steps[-1] >= first + 2
        first = steps[-1] + 1
    _jax("loop", "run", first, first, cwd=tmp_path)  # a save after the kills cleans up
    assert _check_checkpoints(run)[-1] == first
    assert not [name for name in os.listdir(run) if name.startswith(".")]


@pytest.mark.slow
def test_half_written_checkpoints_are_not_listed_and_the_next_save_removes_them(tmp_path):
    _jax("loop", "run", 1, 1, cwd=tmp_path)
    run = tmp_path / "run"
    leftovers = [
        ".ckpt-2.partial.weights.h5",  # killed while writing
        ".ckpt-2.partial.train.npz",
        "ckpt-3.weights.h5",  # killed between the two renames
    ]
    for name in leftovers:
        (run / name).write_bytes(b"partial")
    (run / "ckpt-4.train.npz").write_bytes(b"x")  # no weights: never complete
    assert _check_checkpoints(run) == [1]
    with pytest.raises(vatt.train.CheckpointError, match="no checkpoint at .*ckpt-3"):
        vatt.train.checkpoints.checkpoint_prefix(run / "ckpt-3")
    _jax("loop", "run", 5, 5, cwd=tmp_path)
    assert _check_checkpoints(run) == [1, 5]
    assert not set(leftovers) & set(os.listdir(run))


def _tiny_pretraining_config():
    tiny = vatt.models.tiny_overrides("tx_fac")
    for tower in ("video", "audio", "text"):
        tiny[tower] = {**tiny[tower], "dropout_rate": 0.0}
    for tower in ("video", "audio"):
        tiny[tower]["random_patch_sampling"] = False
    return vatt.train.resolve_config("pretrain", "tx_fac", params_override={"model": tiny})


def _outputs(model, batch) -> dict[str, np.ndarray]:
    flat = keras.tree.flatten_with_path(model(batch, training=False))
    return {"/".join(map(str, path)): np.asarray(value) for path, value in flat}


def _assert_outputs_close(actual, expected):
    assert actual.keys() == expected.keys()
    for key in expected:  # float32 on two backends: different kernels sum in different orders
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.fixture(scope="module")
def across(tmp_path_factory):
    """A TF pretraining run (ckpt-3 as the TF path saves it) and a JAX one (ckpt-5), of the same
    tiny tx_fac with different weights; the JAX process reads the TF run."""
    root = tmp_path_factory.mktemp("across")
    tf_run, jax_run = root / "tf run", root / "jax run"
    config = _tiny_pretraining_config()
    rng = np.random.default_rng(0)
    batch = {
        "video": rng.uniform(-1, 1, (2, 4, 32, 48, 3)).astype("float32"),
        "audio": rng.uniform(-1, 1, (2, 8 * 128)).astype("float32"),
        "text": rng.integers(1, 1000, (2, 2, 8)).astype("int32"),
    }
    for run in (tf_run, jax_run):
        vatt.train.save_config(config, run)
    np.savez(tf_run / "batch.npz", **batch)
    keras.utils.set_random_seed(3)
    model = vatt.train.build_model(config)
    model(batch)
    optimizer = vatt.train.build_optimizer(config)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(
        model=ModelWeights(model), optimizer=optimizer, step=tf.Variable(3, dtype=tf.int64)
    )
    tf.train.CheckpointManager(checkpoint, str(tf_run), 2, checkpoint_name="ckpt").save(3)
    _jax("across", tf_run, jax_run, cwd=root)
    return tf_run, jax_run, batch, _outputs(model, batch)


@pytest.mark.slow
def test_a_tf_checkpoint_loads_into_a_jax_model_and_classifier(across):
    tf_run, _, _, tf_outputs = across
    read = json.loads((tf_run / "read.json").read_text())
    assert read["prefix"] == str(tf_run / "ckpt-3")
    with np.load(tf_run / "read_outputs.npz") as loaded:
        jax_outputs = dict(loaded)
    features = jax_outputs.pop("classifier")
    _assert_outputs_close(jax_outputs, tf_outputs)
    assert read["loaded"] > 0
    np.testing.assert_allclose(
        features, tf_outputs["backbone/video/features_pooled"], rtol=1e-4, atol=1e-5
    )
    assert (
        "written by the TensorFlow path; resume that run with KERAS_BACKEND=tensorflow"
        in (read["resume_error"])
    )


@pytest.mark.slow
def test_a_jax_checkpoint_loads_into_a_tf_model_and_classifier(across):
    _, jax_run, batch, tf_outputs = across
    with np.load(jax_run / "jax_outputs.npz") as saved:
        jax_outputs = dict(saved)
    model = vatt.train.build_model(vatt.train.load_run_config(jax_run))
    model(batch)
    assert vatt.train.restore_model_weights(model, jax_run) == str(jax_run / "ckpt-5")
    _assert_outputs_close(_outputs(model, batch), jax_outputs)
    key = "backbone/video/features_pooled"
    assert np.max(np.abs(jax_outputs[key] - tf_outputs[key])) > 1e-3  # other weights than TF's

    classifier = vatt.models.build("vit_base", backbone=model.config.video.to_dict(), num_classes=3)
    classifier({"video": batch["video"]})
    loaded = vatt.train.initialize_from_pretrained(classifier, jax_run / "ckpt-5.weights.h5")
    assert len(loaded) == len(classifier.backbone.weights)
    features = classifier.backbone(batch["video"], training=False)["features_pooled"]
    np.testing.assert_allclose(features, jax_outputs[key], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_export_writes_a_jax_runs_model(across, monkeypatch, capsys):
    _, jax_run, batch, _ = across
    monkeypatch.chdir(jax_run.parent)
    assert export_main(["jax run", "exported.weights.h5"]) == 0
    assert "from " + str(jax_run / "ckpt-5") in capsys.readouterr().out
    config = vatt.models.get_config("tx_fac").from_yaml("exported.config.yaml")
    model = vatt.models.build("tx_fac", config)
    model(batch)
    model.load_weights("exported.weights.h5")
    with np.load(jax_run / "jax_outputs.npz") as saved:
        _assert_outputs_close(_outputs(model, batch), dict(saved))
