"""The named choices of a run shared by the config and the ``vatt-train`` command line.

Kept free of TensorFlow so that ``vatt-train --help`` starts at once.
"""

#: What a run does: ``vatt-train pretrain`` or ``vatt-train finetune`` (``config.mode``).
MODES = ("pretrain", "finetune")

#: The strategies of ``--strategy_type`` (``config.strategy.type``) on each Keras backend. On
#: TensorFlow they are the original's tf.distribute strategies. On JAX: ``one_device`` (a mesh of
#: the first device), ``data_parallel`` (every local device; ``mirrored`` is the same, so that
#: configs written for TensorFlow run unchanged) and ``multi_process`` (every device of every
#: process, after ``jax.distributed.initialize``).
STRATEGIES_BY_BACKEND = {
    "tensorflow": ("one_device", "mirrored", "multi_worker_mirrored", "tpu"),
    "jax": ("one_device", "data_parallel", "mirrored", "multi_process"),
}
#: Every strategy name of any backend.
STRATEGY_TYPES = tuple(
    dict.fromkeys(name for names in STRATEGIES_BY_BACKEND.values() for name in names)
)


def strategy_problem(strategy_type: str, backend: str) -> str | None:
    """Why ``strategy_type`` cannot run on the Keras ``backend`` (one line), or None if it can."""
    valid = STRATEGIES_BY_BACKEND.get(backend)
    if valid is None:
        return (
            f"vatt-train trains on the Keras backends {', '.join(STRATEGIES_BY_BACKEND)}, not "
            f"{backend!r}; set KERAS_BACKEND to one of them"
        )
    if strategy_type in valid:
        return None
    others = [b for b, names in STRATEGIES_BY_BACKEND.items() if strategy_type in names]
    where = f"a {others[0]} strategy" if others else "not a strategy"
    return (
        f"strategy.type={strategy_type!r} is {where}; on the {backend} backend use one of "
        f"{', '.join(valid)}"
    )


#: ``multi_process`` (JAX): how a process joins its job, each a ``vatt-train`` flag and the
#: environment variable that the flag sets; unset ones are left to JAX's detection of the cluster
#: (SLURM, Open MPI, Cloud TPU, Kubernetes...).
MULTI_PROCESS_FLAGS = {
    "coordinator_address": "JAX_COORDINATOR_ADDRESS",  # HOST:PORT of process 0
    "num_processes": "JAX_NUM_PROCESSES",
    "process_id": "JAX_PROCESS_ID",  # 0 to num_processes - 1
}
