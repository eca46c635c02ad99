"""Checkpoint prefixes, listing and model-only restore; the progress line."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import vatt.train
from vatt.train.checkpoints import CheckpointError, ModelWeights, checkpoint_prefix
from vatt.train.progress import format_duration, progress_line


def _dense(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Dense(3)])
    model.build((None, 2))
    return model


@pytest.fixture
def run_dir(tmp_path):
    """A run in a folder whose name has a space, with checkpoints 2, 10 and 4 of (model,
    optimizer, step)."""
    model = _dense(0)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=ModelWeights(model), optimizer=optimizer, step=step)
    run = tmp_path / "my run"
    manager = tf.train.CheckpointManager(
        checkpoint, str(run), max_to_keep=5, checkpoint_name="ckpt"
    )
    for number in (2, 10, 4):
        model.layers[0].kernel.assign(np.full((2, 3), number, np.float32))
        manager.save(checkpoint_number=number)
    return run


def test_list_checkpoints_is_sorted_by_step(run_dir):
    (run_dir / "ckpt-notanumber.index").write_text("")
    listed = vatt.train.list_checkpoints(run_dir)
    assert listed == [(n, f"{run_dir}/ckpt-{n}") for n in (2, 4, 10)]


def test_list_checkpoints_takes_the_paths_users_type(run_dir, in_tmp_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(in_tmp_dir))
    expected = [(n, f"{run_dir}/ckpt-{n}") for n in (2, 4, 10)]
    for given in ("my run", "my run/", "./my run//", "~/my run", f"{run_dir}/", run_dir):
        assert vatt.train.list_checkpoints(given) == expected, given
    monkeypatch.chdir(run_dir)
    assert vatt.train.list_checkpoints(".") == expected
    assert vatt.train.list_checkpoints("../my run") == expected


def test_list_checkpoints_leaves_out_incomplete_checkpoints(run_dir):
    (run_dir / "ckpt-2.data-00000-of-00001").unlink()  # being deleted by rotation
    (run_dir / "ckpt-4.index").write_bytes(b"")  # index being written
    for name in ("ckpt-6.index", "ckpt-6.data-00000-of-00002"):  # a shard is missing
        (run_dir / name).write_bytes(b"x")
    (run_dir / "ckpt-8.index").write_bytes(b"x")  # no data file yet
    assert vatt.train.list_checkpoints(run_dir) == [(10, f"{run_dir}/ckpt-10")]
    (run_dir / "ckpt-6.data-00001-of-00002").write_bytes(b"x")
    assert [step for step, _ in vatt.train.list_checkpoints(run_dir)] == [6, 10]


def test_restore_model_weights_reads_the_model_only(run_dir):
    model = _dense(1)
    prefix = vatt.train.restore_model_weights(model, run_dir / "ckpt-4")
    assert prefix == f"{run_dir}/ckpt-4"
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), np.full((2, 3), 4.0))
    # A directory means its latest checkpoint (the highest step).
    assert vatt.train.restore_model_weights(model, run_dir).endswith("ckpt-10")


def test_a_file_of_a_checkpoint_or_a_relative_prefix_names_the_checkpoint(run_dir, in_tmp_dir):
    expected = f"{run_dir}/ckpt-4"
    for given in (
        "my run/ckpt-4",
        "my run/ckpt-4.index",
        "./my run/ckpt-4.data-00000-of-00001",
        f"{run_dir}/ckpt-4.index",
    ):
        assert checkpoint_prefix(given) == expected, given
    assert checkpoint_prefix("my run/") == f"{run_dir}/ckpt-10"


def test_missing_checkpoint_and_empty_directory_are_clear_errors(run_dir, tmp_path_factory):
    with pytest.raises(
        CheckpointError,
        match=r"no checkpoint at .*ckpt-7 \(ckpt-7.index does not exist, nor ckpt-7.weights.h5 "
        r"with ckpt-7.train.npz\); .* holds ckpt-2, "
        r"ckpt-4, ckpt-10; pass a checkpoint prefix",
    ):
        checkpoint_prefix(run_dir / "ckpt-7")
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(CheckpointError, match="holds no complete checkpoint"):
        checkpoint_prefix(empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vatt.train.list_checkpoints(empty / "nope")


def test_checkpoint_step_reads_the_name(run_dir):
    assert vatt.train.checkpoints.checkpoint_step(run_dir / "ckpt-10") == 10
    with pytest.raises(CheckpointError, match="is not named ckpt-<step>; .* rename"):
        vatt.train.checkpoints.checkpoint_step(run_dir / "model-10")


def test_an_unreadable_checkpoint_is_a_checkpoint_error(run_dir):
    (run_dir / "ckpt-10.index").write_bytes(b"not an index")
    with pytest.raises(CheckpointError, match=r"ckpt-10 cannot be read \(.*\); pass another"):
        vatt.train.restore_model_weights(_dense(1), run_dir / "ckpt-10")


@pytest.mark.parametrize("layers", [[3, 1], [4]])
def test_restoring_into_another_model_names_the_mismatch(run_dir, layers):
    other = keras.Sequential([keras.layers.Dense(units) for units in layers])
    other.build((None, 2))
    with pytest.raises(CheckpointError, match="does not hold the weights of this model"):
        vatt.train.restore_model_weights(other, run_dir / "ckpt-4")


class Stack(keras.Model):
    """Sub-layers held in a list, which Keras 3 keeps out of tf.train.Checkpoint's graph."""

    def __init__(self):
        super().__init__()
        self.blocks = [keras.layers.Dense(2), keras.layers.Dense(2)]

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_model_weights_held_in_lists_are_saved_and_restored(tmp_path):
    keras.utils.set_random_seed(0)
    saved, restored = Stack(), Stack()
    saved(np.zeros((1, 2), np.float32))
    restored(np.zeros((1, 2), np.float32))
    tf.train.Checkpoint(model=ModelWeights(saved)).write(str(tmp_path / "ckpt-1"))
    vatt.train.restore_model_weights(restored, tmp_path / "ckpt-1")
    for a, b in zip(saved.weights, restored.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_progress_line_shows_what_a_practitioner_watches():
    line = progress_line(
        step=1200,
        total_steps=500000,
        losses={"vid_txt": 3.5, "vid_aud": 2.9, "total": 3.2},
        learning_rate=2.4e-5,
        examples_per_second=312.4,
        seconds_per_step=0.05,
        mfu=0.412,
    )
    assert line == (
        "step 1200/500000 | loss 3.2000 (vid_txt 3.5000 vid_aud 2.9000) | lr 2.400e-05 | "
        "312.4 clips/s | MFU 41.2% | ETA 6h55m"
    )
    assert [format_duration(s) for s in (9, 75, 3725, float("inf"))] == [
        "9s",
        "1m15s",
        "1h02m",
        "?",
    ]
