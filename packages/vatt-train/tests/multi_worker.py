"""One worker of the multi-worker test (run as a script with TF_CONFIG set).

Usage: ``python multi_worker.py RUN_WITH_CONFIG EXAMPLES.npz MODEL_DIR HISTORY.json``. Trains the
config of ``RUN_WITH_CONFIG/config.yaml`` with MultiWorkerMirroredStrategy on the examples, each
worker reading every other example, and writes the loss history it saw.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vatt.train  # noqa: E402


def main(config_dir: str, examples_path: str, model_dir: str, history_path: str) -> None:
    config = vatt.train.load_run_config(config_dir)
    config = vatt.train.apply_overrides(config, {"strategy.type": "multi_worker_mirrored"})
    with np.load(examples_path) as loaded:
        examples = {key: loaded[key] for key in loaded.files}
    batch_size = config.train.global_batch_size

    def dataset_fn(context):
        ds = tf.data.Dataset.from_tensor_slices(examples)
        ds = ds.shard(context.num_input_pipelines, context.input_pipeline_id)
        return ds.batch(
            context.get_per_replica_batch_size(batch_size), drop_remainder=True
        ).repeat()

    result = vatt.train.train(config, model_dir, dataset_fn=dataset_fn)
    with open(history_path, "w") as out:
        json.dump(result.history, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
