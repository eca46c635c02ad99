"""The distributed train step: several steps per ``tf.function`` call, as the original.

One step, for every replica: forward on the replica's batch, the objective's terms, gradients of
``total / num_replicas``, ONE all-reduce (sum) of the gradients, so that every replica holds the
gradient of the global-batch mean; then, in cross-replica context, a finiteness check of every
loss term and of the gradient norm, and only when all are finite: clipping of the *global*
gradient and the optimizer update. A non-finite step is never applied: the loop either stops
there (and the caller raises :class:`NonFiniteLossError`) or skips and counts it. Per-example
flags of the batch named in ``count_keys`` (vatt-data's ``video_short``/``audio_short``) are summed
over every replica and every batch the loop reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

Objective = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
BatchPreparation = Callable[[Mapping[str, Any]], Mapping[str, Any]]

GRADIENT_TERM = "gradient_norm"


class NonFiniteLossError(FloatingPointError):
    """Training met a NaN or Inf loss term or gradient; ``step`` and ``terms`` say where."""

    def __init__(self, step: int, terms: Mapping[str, float]):
        self.step = step
        self.terms = dict(terms)
        listed = ", ".join(f"{name} = {value}" for name, value in self.terms.items())
        super().__init__(
            f"non-finite loss at step {step}: {listed}. The update of that step was not "
            "applied and training stopped; the last checkpoint holds the state before it. Set "
            "train.non_finite_loss=skip to skip such steps (they are counted and logged)."
        )


@dataclasses.dataclass
class LoopOutcome:
    """What one call of the step loop did."""

    mean_terms: dict[str, float]  # each term averaged over the applied steps
    applied_steps: int
    non_finite: dict[str, float] | None  # the terms of the step that stopped the loop
    # Each of ``count_keys``: its per-example flags summed over the batches read (0 if absent).
    counts: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ClipGroup:
    """Variables clipped together to a global norm (0 = no clipping)."""

    variables: Sequence[tf.Variable]
    clip_norm: float


class StepRunner:
    """Builds and runs the compiled multi-step train loop of one model under one strategy."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        objective: Objective,
        term_names: Sequence[str],
        clip_groups: Sequence[ClipGroup],
        step: tf.Variable,
        skipped_steps: tf.Variable,
        stop_on_non_finite: bool = True,
        prepare_batch: BatchPreparation | None = None,
        count_keys: Sequence[str] = (),
        jit_compile: bool = False,
    ):
        """``prepare_batch`` runs on each replica's batch inside the step, on the replica's device,
        before the model (e.g. ``vatt.data.finish_batch``: pixel work moved off the input CPU).
        ``count_keys``: batch keys of per-example ``[B]`` flags to sum (``LoopOutcome.counts``),
        e.g. ``vatt.data.SHORT_CLIP_KEYS``; a batch without one counts 0. ``jit_compile``
        compiles each replica's batch preparation, forward pass, objective and gradients with
        XLA (the gradient all-reduce and the update stay outside, with the strategy); it needs
        one replica, since cross-replica ops inside the model cannot run in a nested function."""
        if "total" not in term_names:
            raise ValueError(f"the objective's terms {list(term_names)} must include 'total'")
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.objective = objective
        self.term_names = list(term_names)
        self.step = step
        self.skipped_steps = skipped_steps
        self.stop_on_non_finite = stop_on_non_finite
        self.prepare_batch = prepare_batch
        self.count_keys = list(count_keys)
        self.variables = list(model.trainable_variables)
        if not self.variables:
            raise ValueError(
                f"{type(model).__name__} has no trainable weights (build it before training)"
            )
        if jit_compile and strategy.num_replicas_in_sync > 1:
            raise ValueError(
                f"jit_compile needs one replica, not {strategy.num_replicas_in_sync}: "
                "cross-replica ops inside the model cannot run in a nested tf.function"
            )
        self._clip_groups = self._index_groups(clip_groups)
        _skip_second_gradient_all_reduce(optimizer)
        self._gradients = (
            tf.function(self._compute_gradients, jit_compile=True)
            if jit_compile
            else self._compute_gradients
        )
        self._loop = tf.function(self._steps)

    def _index_groups(self, clip_groups: Sequence[ClipGroup]) -> list[tuple[list[int], float]]:
        position = {id(v): i for i, v in enumerate(self.variables)}
        groups, seen = [], set()
        for group in clip_groups:
            indices = [position[id(v)] for v in group.variables if id(v) in position]
            seen.update(indices)
            groups.append((indices, float(group.clip_norm)))
        rest = [i for i in range(len(self.variables)) if i not in seen]
        if rest:
            groups.append((rest, 0.0))
        return groups

    def run(self, iterator, num_steps: int) -> LoopOutcome:
        """Run up to ``num_steps`` steps (fewer when a non-finite step stops the loop)."""
        sums, applied, stopped, bad_values, counts = self._loop(iterator, tf.constant(num_steps))
        applied = int(applied)
        names = [*self.term_names, GRADIENT_TERM]
        mean = {
            n: float(s) / max(applied, 1)
            for n, s in zip(self.term_names, sums.numpy(), strict=True)
        }
        non_finite = None
        if bool(stopped):
            values = bad_values.numpy()
            non_finite = {
                n: float(v) for n, v in zip(names, values, strict=True) if not np.isfinite(v)
            }
        counted = dict(zip(self.count_keys, counts.numpy().tolist(), strict=True))
        return LoopOutcome(
            mean_terms=mean, applied_steps=applied, non_finite=non_finite, counts=counted
        )

    def _steps(self, iterator, num_steps):
        num_terms = len(self.term_names)
        sums = tf.zeros([num_terms], tf.float32)
        applied = tf.constant(0, tf.int64)
        stopped = tf.constant(False)
        bad_values = tf.zeros([num_terms + 1], tf.float32)
        counts = tf.zeros([len(self.count_keys)], tf.float32)
        for _ in tf.range(num_steps):
            values, norm, grads, batch_counts = self.strategy.run(
                self._forward_backward, args=(next(iterator),)
            )
            # Every replica holds the same reduced gradients; the terms are per-replica means.
            values = self.strategy.reduce(tf.distribute.ReduceOp.MEAN, values, axis=None)
            norm = self.strategy.reduce(tf.distribute.ReduceOp.MEAN, norm, axis=None)
            counts += self.strategy.reduce(tf.distribute.ReduceOp.SUM, batch_counts, axis=None)
            finite = tf.logical_and(
                tf.reduce_all(tf.math.is_finite(values)), tf.math.is_finite(norm)
            )
            if finite:
                self.strategy.run(self._apply, args=(grads,))
                sums += values
                applied += 1
                self.step.assign_add(1)
            elif self.stop_on_non_finite:
                stopped = tf.constant(True)
                bad_values = tf.concat([values, [norm]], axis=0)
                break
            else:
                self.skipped_steps.assign_add(1)
                self.step.assign_add(1)
        return sums, applied, stopped, bad_values, counts

    def _forward_backward(self, batch):
        context = tf.distribute.get_replica_context()
        counts = _sum_flags(batch, self.count_keys)
        values, grads = self._gradients(batch)
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        return values, tf.linalg.global_norm(grads), grads, counts

    def _compute_gradients(self, batch):
        """This replica's objective terms and its share of the gradients of the total."""
        replicas = self.strategy.num_replicas_in_sync
        if self.prepare_batch is not None:
            batch = self.prepare_batch(batch)
        with tf.GradientTape() as tape:
            outputs = self.model(batch, training=True)
            terms = self.objective(outputs, batch)
            missing = set(self.term_names) - set(terms)
            if missing:
                raise KeyError(
                    f"the objective returned terms {sorted(terms)}, missing {sorted(missing)}"
                )
            loss = tf.cast(terms["total"], tf.float32) / replicas
        grads = tape.gradient(loss, self.variables)
        unused = [v.path for v, g in zip(self.variables, grads, strict=True) if g is None]
        if unused:
            raise ValueError(
                f"no gradient reaches these trainable weights: {unused}; freeze them "
                "(trainable=False) or give their loss term a non-zero weight"
            )
        values = tf.stack([tf.cast(terms[name], tf.float32) for name in self.term_names])
        return values, grads

    def _apply(self, grads):
        grads = list(grads)
        for indices, clip_norm in self._clip_groups:
            if clip_norm > 0 and indices:
                clipped, _ = tf.clip_by_global_norm([grads[i] for i in indices], clip_norm)
                for i, g in zip(indices, clipped, strict=True):
                    grads[i] = g
        self.optimizer.apply(grads, self.variables)


def _sum_flags(batch: Mapping[str, Any], keys: Sequence[str]) -> tf.Tensor:
    """float32 ``[len(keys)]``: each key's per-example flags summed; 0 where the batch lacks it."""
    if not keys:
        return tf.zeros([0])
    return tf.stack(
        [tf.reduce_sum(tf.cast(batch[key], tf.float32)) if key in batch else 0.0 for key in keys]
    )


def _skip_second_gradient_all_reduce(optimizer: keras.optimizers.Optimizer) -> None:
    # Keras' TF optimizers sum gradients over replicas inside apply(). The step above already
    # did, once, because clipping must see the global gradient; summing again would multiply
    # the update by the number of replicas. This is the one place that relies on that hook.
    if not hasattr(optimizer, "_all_reduce_sum_gradients"):
        raise RuntimeError(
            f"{type(optimizer).__name__} has no _all_reduce_sum_gradients: this Keras version "
            "reduces gradients differently, and the vatt-train step must be adapted to it"
        )
    optimizer._all_reduce_sum_gradients = list
