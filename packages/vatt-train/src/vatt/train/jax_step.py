"""The train step on the JAX backend: one jitted function over a data-parallel mesh.

It does what the tf.distribute step (:mod:`vatt.train.steps`) does, in JAX's way:

* the global batch is one array sharded over the ``batch`` axis of a :class:`jax.sharding.Mesh`
  (every local device, or every device of every process), the parameters and the optimizer state
  are replicated; the objective sees the whole global batch, so the contrastive negatives are
  every replica's embeddings with no explicit all-gather (XLA inserts the collectives);
* forward (``model.stateless_call``), the objective's terms, gradients of ``total``, the global
  gradient norm, a finiteness check of every term and of the norm, clipping of each clip group to
  its global norm, and the update (``optimizer.stateless_apply``) run in ONE compiled function
  whose state is donated; a non-finite step leaves the state unchanged (the caller stops or
  counts it, as ``train.non_finite_loss`` says);
* per-example flags named in ``count_keys`` (``video_short``/``audio_short``) are summed.

This module imports no TensorFlow, so the benchmarks can time the trainer's step on a machine
with JAX only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

Objective = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
BatchPreparation = Callable[[Mapping[str, Any]], Mapping[str, Any]]
BATCH_AXIS = "batch"


def data_parallel_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh (``batch``) over ``devices`` (default: every device of every process)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (BATCH_AXIS,))


@dataclasses.dataclass
class StepOutput:
    """What one step computed; arrays stay on the devices until read."""

    terms: jax.Array  # float32 [num_terms], in ``term_names`` order
    gradient_norm: jax.Array  # float32 [], before clipping
    finite: jax.Array  # bool []: the update was applied
    counts: jax.Array  # float32 [len(count_keys)]


class JaxTrainStep:
    """Compiled train step of one Keras model on the JAX backend.

    Args:
        model: a built Keras model.
        optimizer: a Keras optimizer; built here for the model's trainable variables.
        objective: ``(outputs, batch) -> {term: scalar}``, including ``total`` (its gradient is
            followed); it sees the global batch.
        term_names: the terms to report, ``total`` among them.
        clip_groups: ``(variables, clip_norm)`` pairs: each group's gradients are clipped to
            that global norm (0: not clipped); variables in no group are not clipped.
        prepare_batch: runs on the batch inside the step, before the model (e.g. the
            accelerator half of the input pipeline).
        count_keys: batch keys of per-example ``[B]`` flags to sum; a missing key counts 0.
        mesh: the data-parallel mesh (default :func:`data_parallel_mesh`).
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        objective: Objective,
        term_names: Sequence[str],
        clip_groups: Sequence[tuple[Sequence[keras.Variable], float]] = (),
        prepare_batch: BatchPreparation | None = None,
        count_keys: Sequence[str] = (),
        mesh: Mesh | None = None,
    ):
        if keras.backend.backend() != "jax":
            raise RuntimeError(
                f"JaxTrainStep needs KERAS_BACKEND=jax, not {keras.backend.backend()!r}"
            )
        if "total" not in term_names:
            raise ValueError(f"the objective's terms {list(term_names)} must include 'total'")
        self.model = model
        self.optimizer = optimizer
        self.objective = objective
        self.term_names = list(term_names)
        self.prepare_batch = prepare_batch
        self.count_keys = list(count_keys)
        self.mesh = mesh if mesh is not None else data_parallel_mesh()
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.sharded = NamedSharding(self.mesh, PartitionSpec(BATCH_AXIS))
        if not model.trainable_variables:
            raise ValueError(
                f"{type(model).__name__} has no trainable weights (build it before training)"
            )
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        self._groups = _index_groups(model.trainable_variables, clip_groups)
        self._step = jax.jit(
            self._compute,
            donate_argnums=0,
            out_shardings=(self.replicated, self.replicated),
        )

    @property
    def num_devices(self) -> int:
        """Devices the global batch is split over."""
        return self.mesh.devices.size

    def initial_state(self) -> tuple[list[jax.Array], list[jax.Array], list[jax.Array]]:
        """The model's and optimizer's current values, replicated on the mesh."""
        values = (
            [v.value for v in self.model.trainable_variables],
            [v.value for v in self.model.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
        )
        return jax.device_put(values, self.replicated)

    def write_back(self, state) -> None:
        """Assign ``state`` to the model's and optimizer's variables (before saving or eval)."""
        trainable, non_trainable, optimizer_values = state
        for variables, values in (
            (self.model.trainable_variables, trainable),
            (self.model.non_trainable_variables, non_trainable),
            (self.optimizer.variables, optimizer_values),
        ):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def shard_batch(self, batch: Mapping[str, Any]) -> dict[str, jax.Array]:
        """The global batch (host arrays) split over the mesh's ``batch`` axis.

        In a multi-process run each process passes its own share (its rows of the global
        batch); together they form one global array."""
        if jax.process_count() == 1:
            return jax.device_put(dict(batch), self.sharded)
        return {
            key: jax.make_array_from_process_local_data(self.sharded, np.asarray(value))
            for key, value in batch.items()
        }

    def __call__(self, state, batch: Mapping[str, jax.Array]):
        """One step: ``(state, batch) -> (new_state, StepOutput)``; ``state`` is donated."""
        state, (terms, norm, finite, counts) = self._step(state, batch)
        return state, StepOutput(terms=terms, gradient_norm=norm, finite=finite, counts=counts)

    def _loss(self, trainable, non_trainable, batch):
        outputs, non_trainable = self.model.stateless_call(
            trainable, non_trainable, batch, training=True
        )
        terms = self.objective(outputs, batch)
        missing = set(self.term_names) - set(terms)
        if missing:
            raise KeyError(
                f"the objective returned terms {sorted(terms)}, missing {sorted(missing)}"
            )
        values = jnp.stack([jnp.asarray(terms[name], jnp.float32) for name in self.term_names])
        return jnp.asarray(terms["total"], jnp.float32), (values, non_trainable)

    def _compute(self, state, batch):
        trainable, non_trainable, optimizer_values = state
        counts = jnp.stack([_flag_sum(batch, key) for key in self.count_keys] or [jnp.zeros(())])[
            : len(self.count_keys)
        ]
        if self.prepare_batch is not None:
            batch = self.prepare_batch(batch)
        (_, (values, new_non_trainable)), grads = jax.value_and_grad(self._loss, has_aux=True)(
            trainable, non_trainable, batch
        )
        norm = _global_norm(grads)
        finite = jnp.logical_and(jnp.all(jnp.isfinite(values)), jnp.isfinite(norm))
        grads = _clipped(grads, self._groups)
        new_trainable, new_optimizer_values = self.optimizer.stateless_apply(
            optimizer_values, grads, trainable
        )
        keep = (trainable, non_trainable, optimizer_values)
        update = (new_trainable, new_non_trainable, new_optimizer_values)
        new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), update, keep)
        return new_state, (values, norm, finite, counts)


def _flag_sum(batch: Mapping[str, Any], key: str) -> jax.Array:
    """The sum of a ``[B]`` flag of the batch; 0 when the batch lacks it."""
    if key not in batch:
        return jnp.zeros((), jnp.float32)
    return jnp.sum(jnp.asarray(batch[key], jnp.float32))


def _index_groups(variables, clip_groups) -> list[tuple[list[int], float]]:
    position = {id(v): i for i, v in enumerate(variables)}
    groups = []
    for group_variables, clip_norm in clip_groups:
        indices = [position[id(v)] for v in group_variables if id(v) in position]
        if clip_norm > 0 and indices:
            groups.append((indices, float(clip_norm)))
    return groups


def _global_norm(arrays) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(jnp.asarray(a, jnp.float32))) for a in arrays))


def _clipped(grads, groups):
    """``grads`` with each group scaled to at most its clip norm (``tf.clip_by_global_norm``)."""
    grads = list(grads)
    for indices, clip_norm in groups:
        norm = _global_norm([grads[i] for i in indices])
        scale = clip_norm / jnp.maximum(norm, clip_norm)
        for i in indices:
            grads[i] = (grads[i] * scale).astype(grads[i].dtype)
    return grads
