"""Two logical CPU devices (so MirroredStrategy has two replicas) and shared tiny-run helpers.

The helper modules of this folder (``train_helpers``) are importable by the tests.
"""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import tensorflow as tf  # noqa: E402

# Must run before TensorFlow initialises its devices, i.e. before any test touches a tensor.
_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import vatt.models  # noqa: E402
from vatt.data.synthetic import write_synthetic_dataset  # noqa: E402

# Synthetic clips are cut to 4 frames of 32x32 and 0.08 s of 48 kHz audio: a 2x4x4 video grid
# and 30 audio patches, which the tiny towers' positional tables match exactly.
NUM_FRAMES, FRAME_SIZE, AUDIO_SECONDS, AUDIO_TOKENS = 4, 32, 0.08, 30
VIDEO_GRID = {"max_temporal_buckets": 2, "max_vertical_buckets": 4, "max_horizontal_buckets": 4}
# No dropout and no DropToken, so that runs with different replica counts are comparable.
DETERMINISTIC = {"dropout_rate": 0.0}
# The raw-signal towers also drop after their positional embeddings (the original's fixed 0.1).
DETERMINISTIC_TOWER = {
    **DETERMINISTIC,
    "positional_dropout_rate": 0.0,
    "random_patch_sampling": False,
}


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """16 train clips in 2 shards (one per worker of the multi-worker test), 12 test clips."""
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(out, num_clips=16, num_test_clips=12, num_shards=2)
    return out


def _video_data(data_dir) -> dict:
    return {
        "data_dir": str(data_dir),
        "num_frames": NUM_FRAMES,
        "frame_size": FRAME_SIZE,
        "min_resize": FRAME_SIZE,
        "audio_seconds": AUDIO_SECONDS,
        "seed": 0,
    }


@pytest.fixture(scope="session")
def pretrain_overrides(synthetic_dir) -> dict:
    """A tiny tx_fac on the synthetic clips: 8 steps of 8 clips, one per call (so that the
    history holds every step), saved every 4."""
    tiny = vatt.models.tiny_overrides("tx_fac")
    return {
        "model": {
            **tiny,
            "video": {
                **tiny["video"],
                **VIDEO_GRID,
                **DETERMINISTIC_TOWER,
            },
            "audio": {
                **tiny["audio"],
                **DETERMINISTIC_TOWER,
                "max_temporal_buckets": AUDIO_TOKENS,
            },
            "text": {**tiny["text"], **DETERMINISTIC},
        },
        "data": {"train": {**_video_data(synthetic_dir), "datasets": ["synthetic"]}},
        "train": {
            "total_steps": 8,
            "global_batch_size": 8,
            "iterations_per_loop": 1,
            "save_checkpoint_freq": 4,
        },
        # SGD with a small step: at initialisation the FAC head's BatchNorms see 8 nearly equal
        # pooled features, which makes the loss very sharp (Adam's sign-like first steps, or a
        # larger rate, make it jump by tens of percent from step to step).
        "optimizer": {"name": "momentum"},
        "schedule": {"name": "constant", "learning_rate": 1e-3},
        "strategy": {"type": "one_device"},
    }


@pytest.fixture(scope="session")
def finetune_overrides(synthetic_dir) -> dict:
    """A tiny vit_base classifier on the synthetic clips (12 classes)."""
    tiny = vatt.models.tiny_overrides("vit_base")
    tiny.pop("num_classes")  # the classifier follows the dataset
    return {
        "model": tiny,
        "data": {"train": {**_video_data(synthetic_dir), "name": "synthetic"}},
        "train": {
            "total_steps": 10,
            "global_batch_size": 4,
            "iterations_per_loop": 2,
            "save_checkpoint_freq": 2,
        },
        "schedule": {"name": "constant", "learning_rate": 1e-2},
        "strategy": {"type": "one_device"},
    }


def array_dataset_fn(arrays: dict, global_batch_size: int):
    """A deterministic ``dataset_fn`` over in-memory examples: every global batch holds the same
    examples whatever the number of replicas or workers (sharded by example across workers)."""

    def dataset_fn(context):
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        if context.num_input_pipelines > 1:
            ds = ds.shard(context.num_input_pipelines, context.input_pipeline_id)
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        return ds.batch(per_replica, drop_remainder=True).repeat()

    return dataset_fn


@pytest.fixture(scope="session")
def make_array_dataset_fn():
    return array_dataset_fn


def to_numpy(batch) -> dict:
    return {key: np.asarray(value) for key, value in batch.items()}


@pytest.fixture(scope="session")
def batch_to_numpy():
    return to_numpy


@pytest.fixture(scope="session")
def two_replicas():
    """Two replicas on the two logical CPUs. Several tf.functions with collective ops over the
    same devices in one process can mismatch their collective instances (TensorFlow aborts with
    "Shape mismatch in the collective instance"); reducing through one device avoids collectives.
    A training job has one strategy and one train function per process, and the multi-worker
    test covers the collective implementation."""
    return tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
