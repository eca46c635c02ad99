"""The tf.distribute strategy of a run, by the names of the original's ``--strategy_type``."""

from __future__ import annotations

import tensorflow as tf

from vatt.train.choices import STRATEGY_TYPES


def create_strategy(strategy_type: str, tpu: str = "") -> tf.distribute.Strategy:
    """Build the strategy named ``strategy_type``.

    * ``one_device``: the first GPU, else the CPU.
    * ``mirrored``: every local GPU (the CPU when there is none, or every logical CPU device
      when several are configured and no GPU exists).
    * ``multi_worker_mirrored``: workers and this task's index come from ``TF_CONFIG``.
    * ``tpu``: the TPU at address ``tpu`` (``""`` or ``"local"`` for a TPU VM's own chips).
    """
    if strategy_type == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if strategy_type == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if strategy_type == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if strategy_type == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "local")
        if tpu not in ("", "local"):
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(
        f"unknown strategy_type {strategy_type!r}; valid types: {', '.join(STRATEGY_TYPES)}"
    )
