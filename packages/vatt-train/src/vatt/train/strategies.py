"""The distribution of a run: a tf.distribute strategy on TensorFlow, a device mesh on JAX.

Both are named by ``--strategy_type`` (``config.strategy.type``); each backend has its own names
(:data:`vatt.train.choices.STRATEGIES_BY_BACKEND`) and refuses the other's in one line.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import tensorflow as tf

from vatt.core.config import ConfigError
from vatt.train.choices import MULTI_PROCESS_FLAGS, strategy_problem

if TYPE_CHECKING:
    from jax.sharding import Mesh


def create_strategy(strategy_type: str, tpu: str = "") -> tf.distribute.Strategy:
    """Build the tf.distribute strategy named ``strategy_type`` (TensorFlow backend).

    * ``one_device``: the first GPU, else the CPU.
    * ``mirrored``: every local GPU (the CPU when there is none, or every logical CPU device
      when several are configured and no GPU exists).
    * ``multi_worker_mirrored``: workers and this task's index come from ``TF_CONFIG``.
    * ``tpu``: the TPU at address ``tpu`` (``""`` or ``"local"`` for a TPU VM's own chips).
    """
    problem = strategy_problem(strategy_type, "tensorflow")
    if problem:
        raise ConfigError(problem)
    if strategy_type == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if strategy_type == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if strategy_type == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "local")
    if tpu not in ("", "local"):
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def create_mesh(strategy_type: str) -> Mesh:
    """The data-parallel device mesh named ``strategy_type`` (JAX backend).

    * ``one_device``: the first local device.
    * ``data_parallel`` (or ``mirrored``): every local device.
    * ``multi_process``: every device of every process. Joins the job first
      (``jax.distributed.initialize``) with the coordinator's ``host:port``, the number of
      processes and this process's index from the variables of
      :data:`vatt.train.choices.MULTI_PROCESS_FLAGS` (or the cluster's own), unless it has
      joined already.
    """
    import jax

    from vatt.train.jax_step import data_parallel_mesh

    problem = strategy_problem(strategy_type, "jax")
    if problem:
        raise ConfigError(problem)
    if strategy_type == "one_device":
        return data_parallel_mesh(jax.local_devices()[:1])
    if strategy_type in ("data_parallel", "mirrored"):
        return data_parallel_mesh(jax.local_devices())
    if not jax.distributed.is_initialized():
        _initialize_distributed()
    return data_parallel_mesh(jax.devices())


def _initialize_distributed() -> None:
    import jax

    variables = MULTI_PROCESS_FLAGS.values()
    address, processes, index = (os.environ.get(name, "") for name in variables)
    try:
        numbers = [int(value) if value else None for value in (processes, index)]
    except ValueError:
        raise ConfigError(
            f"JAX_NUM_PROCESSES={processes!r} and JAX_PROCESS_ID={index!r} must be integers"
        ) from None
    try:
        jax.distributed.initialize(address or None, *numbers)
    except (ValueError, RuntimeError) as error:
        raise ConfigError(
            f"strategy multi_process cannot join its job ({' '.join(str(error).split())[:300]}); "
            "pass --coordinator_address HOST:PORT --num_processes N --process_id I (or set "
            f"{', '.join(variables)}), the same address and count on every process"
        ) from None
