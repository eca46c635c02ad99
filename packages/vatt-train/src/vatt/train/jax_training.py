"""The training loop on the JAX backend: tf.data on the host, the compiled step on a device mesh.

:func:`vatt.train.train` calls :func:`train` when Keras runs on JAX; it writes the same run
directory, reports the same scalars and console lines and follows the same checkpoint cadence and
non-finite policy as the ``tf.distribute`` loop (the pieces they share live in
:mod:`vatt.train.training`). What differs:

* distribution: the mesh that ``strategy.type`` names (:func:`vatt.train.strategies.create_mesh`);
  the global batch is sharded over it, the parameters are replicated, and the one jitted step
  (:class:`vatt.train.jax_step.JaxTrainStep`) sees the whole global batch, so the contrastive
  negatives are every device's clips;
* input: each process reads its shard of the data (``tf.distribute.InputContext`` with one input
  pipeline per process, ``global_batch_size / process_count`` clips per batch) on the host CPU,
  and :func:`prefetch_to_device` puts the next batches on the devices while a step runs;
* the steps of a loop are dispatched without waiting; their outputs (loss terms, finiteness,
  short-clip counts) are read once at the end of the loop. With ``non_finite_loss=stop`` the run
  stops there, at the first non-finite step, and saves nothing more: the last checkpoint holds the
  state before it;
* checkpoints: :class:`vatt.train.jax_checkpoints.JaxCheckpointer` (``RUN/ckpt-N.weights.h5`` and
  ``RUN/ckpt-N.train.npz``).
"""

from __future__ import annotations

import collections
import logging
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import keras
import numpy as np
import tensorflow as tf

import vatt.data
from vatt.core.config import ConfigError
from vatt.train import precision
from vatt.train.clipping import clip_groups
from vatt.train.config import ExperimentConfig, save_config
from vatt.train.inputs import DatasetFn, batch_preparation, train_dataset_fn
from vatt.train.jax_checkpoints import JaxCheckpointer
from vatt.train.jax_step import JaxTrainStep
from vatt.train.objective import build_objective, objective_terms
from vatt.train.schedules import build_optimizer
from vatt.train.steps import GRADIENT_TERM, NonFiniteLossError
from vatt.train.strategies import create_mesh
from vatt.train.training import (
    LoopReporter,
    TrainResult,
    initialize_finetuning,
    loop_length,
    open_input,
    save_due,
    start_checkpoint,
    training_flops_per_example,
)

logger = logging.getLogger("vatt.train")


def prefetch_to_device(
    batches: Iterable[Any], put: Callable[[Any], Any], size: int = 2
) -> Iterator[Any]:
    """``put(batch)`` of each of ``batches``, ``size`` batches ahead of the consumer.

    ``put`` (e.g. :meth:`JaxTrainStep.shard_batch`) starts an asynchronous copy to the devices;
    with ``size=2`` the next batch is on its way while the current step runs (double
    buffering), so a step does not wait for its input to be copied."""
    queue: collections.deque = collections.deque()
    for batch in batches:
        queue.append(put(batch))
        if len(queue) >= size:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


def train(
    config: ExperimentConfig, model_dir: str, *, dataset_fn: DatasetFn | None = None
) -> TrainResult:
    """Train ``config`` into ``model_dir`` on the JAX backend (see :func:`vatt.train.train`, which
    has checked the config and the run directory and calls this)."""
    mesh = create_mesh(config.strategy.type)
    processes, chief = jax.process_count(), jax.process_index() == 0
    devices = mesh.devices.size
    logger.info(
        "JAX mesh of %d %s devices in %d process%s",
        devices,
        mesh.devices.flat[0].platform,
        processes,
        "es" if processes > 1 else "",
    )
    batch_size = config.train.global_batch_size
    if batch_size % devices:
        raise ConfigError(
            f"train.global_batch_size={batch_size} is not divisible by the {devices} devices of "
            f"strategy {config.strategy.type}"
        )
    _keep_tensorflow_on_the_host()
    keras.utils.set_random_seed(config.train.seed)
    dataset_fn = dataset_fn or train_dataset_fn(config)
    # One input pipeline per process, each reading global_batch_size / processes clips a batch.
    context = tf.distribute.InputContext(
        num_input_pipelines=processes,
        input_pipeline_id=jax.process_index(),
        num_replicas_in_sync=processes,
    )
    dataset = open_input(config, lambda: dataset_fn(context))

    model = precision.build_model(config)
    optimizer = build_optimizer(config)
    optimizer.build(model.trainable_variables)
    logger.info("number of parameters in the model: %.2f M", model.count_params() / 1e6)
    checkpointer = JaxCheckpointer(model_dir, config.train.max_checkpoints)
    restored = start_checkpoint(config, model_dir)
    counters = {"step": 0, "skipped_steps": 0}
    if restored is not None:
        counters.update(checkpointer.restore(restored, model, optimizer))
        logger.info("restored %s (step %d)", restored, counters["step"])
    else:
        initialize_finetuning(config, model)

    prepare_batch = batch_preparation(config)
    flops_per_example = (
        training_flops_per_example(model, dataset_fn, processes, prepare_batch)
        if config.train.peak_tflops_per_device
        else None
    )
    step = JaxTrainStep(
        model,
        optimizer,
        build_objective(config, num_replicas=1),  # the step sees the global batch
        objective_terms(config),
        [(group.variables, group.clip_norm) for group in clip_groups(config, model)],
        prepare_batch=prepare_batch,
        count_keys=vatt.data.SHORT_CLIP_KEYS,
        mesh=mesh,
    )
    if chief:
        save_config(config, model_dir)
    reporter = LoopReporter(config, model_dir, chief, flops_per_example, devices)
    loop = _Loop(config, step, checkpointer, counters)
    if restored is not None and pathlib.Path(restored).parent == pathlib.Path(model_dir):
        loop.saved_step = counters["step"]
    loop.run(prefetch_to_device(dataset.as_numpy_iterator(), step.shard_batch), reporter)
    return TrainResult(
        step=loop.step,
        history=reporter.history,
        skipped_steps=loop.skipped_steps,
        restored_from=restored,
    )


class _Loop:
    """The steps of a run, loop after loop, with the state on the devices between saves."""

    def __init__(
        self,
        config: ExperimentConfig,
        step: JaxTrainStep,
        checkpointer: JaxCheckpointer,
        counters: dict[str, int],
    ):
        self.config = config
        self.train_step = step
        self.checkpointer = checkpointer
        self.step = int(counters["step"])
        self.skipped_steps = int(counters["skipped_steps"])
        self.saved_step: int | None = None
        self.stop_on_non_finite = config.train.non_finite_loss == "stop"
        self.schedule = config.schedule.build(config.train.total_steps)
        optimizer = step.optimizer
        self._iterations = next(
            i for i, v in enumerate(optimizer.variables) if v is optimizer.iterations
        )

    def run(self, batches: Iterator[Any], reporter: LoopReporter) -> None:
        state = self.train_step.initial_state()
        while self.step < self.config.train.total_steps:
            num_steps = loop_length(self.step, self.config)
            started = time.perf_counter()
            outputs = []
            for _ in range(num_steps):
                state, output = self.train_step(state, next(batches))
                outputs.append((output.terms, output.gradient_norm, output.finite, output.counts))
            terms, norms, finite, counts = (
                np.stack(a) for a in zip(*jax.device_get(outputs), strict=True)
            )
            iterations = int(jax.device_get(state[2][self._iterations]))
            elapsed = time.perf_counter() - started
            if self.stop_on_non_finite and not finite.all():
                bad = int(np.argmin(finite))
                values = dict(
                    zip(
                        [*self.train_step.term_names, GRADIENT_TERM],
                        [*terms[bad].tolist(), float(norms[bad])],
                        strict=True,
                    )
                )
                raise NonFiniteLossError(
                    self.step + bad + 1, {k: v for k, v in values.items() if not np.isfinite(v)}
                )
            applied = int(finite.sum())
            self.step += num_steps
            self.skipped_steps += num_steps - applied
            reporter.report(
                step=self.step,
                steps_run=num_steps,
                elapsed=elapsed,
                mean_terms=dict(
                    zip(
                        self.train_step.term_names,
                        (terms[finite].sum(axis=0) / max(applied, 1)).tolist(),
                        strict=True,
                    )
                ),
                counts=dict(
                    zip(vatt.data.SHORT_CLIP_KEYS, counts.sum(axis=0).tolist(), strict=True)
                ),
                learning_rate=float(self.schedule(iterations)),
                skipped_steps=self.skipped_steps,
            )
            if save_due(self.step, self.config):
                self._write_back(state)
                self._save()
        self._write_back(state)
        if self.saved_step != self.step:
            self._save()
        reporter.close()

    def _write_back(self, state) -> None:
        """The state into the Keras variables; a multi-process state (global arrays) as this
        process's copy of it, which the host can read."""
        if jax.process_count() > 1:
            state = jax.tree.map(lambda array: array.addressable_data(0), state)
        self.train_step.write_back(state)

    def _save(self) -> None:
        """Save the Keras variables (the state written back) as the checkpoint of this step."""
        prefix = self.checkpointer.save(
            self.step,
            self.train_step.model,
            self.train_step.optimizer,
            {"step": self.step, "skipped_steps": self.skipped_steps},
        )
        self.saved_step = self.step
        logger.info("saved checkpoint %s", prefix)


def _keep_tensorflow_on_the_host() -> None:
    """tf.data runs on the host CPU; TensorFlow must not take the accelerators' memory."""
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow's devices are already initialised (it then saw them)
        logger.debug("TensorFlow's GPUs were initialised before training; left visible")
