"""Continuous evaluation: follow a run directory and evaluate each checkpoint as training writes it.

Unlike ``tf.train.checkpoints_iterator`` (which the original used and which yields only the
latest checkpoint), every checkpoint still on disk is evaluated, once, in step order. A checkpoint
deleted by the trainer's rotation before or while it is evaluated is reported and skipped.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

from vatt.eval.results import write_results
from vatt.train.checkpoints import list_checkpoints
from vatt.train.jax_checkpoints import is_jax_checkpoint
from vatt.train.paths import user_path

logger = logging.getLogger(__name__)

MetricFn = Callable[[str], Mapping[str, float]]


def _exists(prefix: str) -> bool:
    """Whether the checkpoint is still there (TF path: its index; JAX path: both its files)."""
    return os.path.exists(prefix + ".index") or is_jax_checkpoint(prefix)


def watch_run(
    run_dir: str | os.PathLike,
    metric_fn: MetricFn,
    *,
    final_step: int | None = None,
    interval: float = 180.0,
    timeout: float = 7200.0,
) -> list[int]:
    """Evaluate each new checkpoint of ``run_dir`` with ``metric_fn`` until training is done.

    For every checkpoint, in step order and once each, ``metric_fn(prefix)`` computes the
    metrics, which are written to ``RUN/eval/results-N.json`` and as TensorBoard scalars at step
    N (:func:`vatt.eval.write_results`).

    Args:
      run_dir: the training run directory (relative, absolute or with ``~``); its checkpoints
        are those :func:`vatt.train.list_checkpoints` lists.
      metric_fn: ``checkpoint prefix -> {metric name: value}``.
      final_step: stop after evaluating a checkpoint at or beyond this step (the run's total
        training steps); ``None`` waits until the timeout.
      interval: seconds between polls of the run directory when nothing new is there.
      timeout: stop after this many seconds without a new checkpoint.

    Returns:
      the steps evaluated, in order.
    """
    run_dir = user_path(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    evaluated: list[int] = []
    last_step = -1
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        pending = [(s, p) for s, p in list_checkpoints(run_dir) if s > last_step]
        for step, prefix in pending:
            last_step = step
            metrics = _evaluate_if_still_there(metric_fn, step, prefix)
            if metrics is not None:
                write_results(run_dir, step, metrics, checkpoint=prefix)
                evaluated.append(step)
                logger.info("step %d: %s", step, _summary(metrics))
            if final_step is not None and step >= final_step:
                logger.info("reached the final step %d; stopping", final_step)
                return evaluated
        if pending:
            deadline = time.monotonic() + timeout
            waiting = False
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logger.info("no new checkpoint in %.0f s; stopping", timeout)
            return evaluated
        if not waiting:
            logger.info("waiting for a checkpoint after step %d in %s", last_step, run_dir)
            waiting = True
        time.sleep(min(interval, remaining))


def _evaluate_if_still_there(metric_fn: MetricFn, step: int, prefix: str):
    if not _exists(prefix):
        logger.warning(
            "ckpt-%d was deleted by checkpoint rotation before evaluation; skipped", step
        )
        return None
    logger.info("evaluating ckpt-%d", step)
    try:
        return metric_fn(prefix)
    except Exception:
        # Whatever the reader raised, a checkpoint that is gone was rotated away; any other
        # failure is a real one.
        if _exists(prefix):
            raise
        logger.warning(
            "ckpt-%d was deleted by checkpoint rotation during evaluation; skipped", step
        )
        return None


def _summary(metrics: Mapping[str, float], limit: int = 8) -> str:
    items = [f"{k}={v:.4g}" for k, v in sorted(metrics.items())[:limit]]
    more = len(metrics) - limit
    return ", ".join(items) + (f", ... ({more} more)" if more > 0 else "")
