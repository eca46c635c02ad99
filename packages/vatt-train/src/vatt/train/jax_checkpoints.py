"""Checkpoints of the JAX training path (contract 4): ``RUN/ckpt-N.weights.h5`` + ``.train.npz``.

* ``ckpt-N.weights.h5``: every weight of the model (trainable and not: BatchNorm statistics) as
  ``model.save_weights`` writes it: Keras's backend-neutral file that ``model.load_weights`` reads
  on TensorFlow, JAX and PyTorch, and what ``vatt-train export`` writes. The TF path, vatt-eval
  and fine-tuning read it through :func:`vatt.train.restore_model_weights`.
* ``ckpt-N.train.npz``: the rest of the training state, one array per variable: the optimizer's
  variables (``optimizer/<i>``: iterations, moments), the model's variables that are not
  weights (``model/<i>``: the seed generators' states) and the counters (``counters/<name>``:
  ``step``, ``skipped_steps``); read with ``allow_pickle=False``. Variables are keyed by their
  position in ``optimizer.variables`` / ``model.variables`` (fixed by the config, as in the TF
  path's checkpoint), not by their Keras paths: those repeat (a Transformer's list of layers is
  not in them) and carry names numbered by what the process built before (``seed_generator_44``).
  The learning rate is not saved: it comes from the schedule of the config, which may change on
  resume.

A checkpoint is *complete* when both files exist under their names. Each is written under a
hidden temporary name (``.ckpt-N.partial.*``), flushed to disk and renamed, the weights first and
the ``.train.npz`` last; rotation deletes the ``.train.npz`` first. A save killed at any point
leaves at most an incomplete checkpoint, which :func:`complete_checkpoints` (and so
:func:`vatt.train.list_checkpoints`) leaves out and the next save removes.

This module imports no TensorFlow (a machine with JAX only can train and save); the files are
written with the local file system's calls (a local or mounted directory, not ``gs://``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence

import keras
import numpy as np

from vatt.train.errors import CheckpointError, first_line
from vatt.train.paths import user_path

CHECKPOINT_NAME = "ckpt"
WEIGHTS_SUFFIX = ".weights.h5"
STATE_SUFFIX = ".train.npz"
_STATE_FILE = re.compile(rf"^{CHECKPOINT_NAME}-(\d+){re.escape(STATE_SUFFIX)}$")
_WEIGHTS_FILE = re.compile(rf"^{CHECKPOINT_NAME}-(\d+){re.escape(WEIGHTS_SUFFIX)}$")
_PARTIAL = re.compile(rf"^\.{CHECKPOINT_NAME}-\d+\.partial\.")


def complete_checkpoints(names: Iterable[str]) -> list[tuple[int, str]]:
    """``(step, name)`` of every complete JAX checkpoint among the file ``names`` of a run
    directory (``ckpt-N.train.npz`` and ``ckpt-N.weights.h5`` both there), sorted by step;
    ``name`` is ``ckpt-N``."""
    names = set(names)
    found = []
    for name in names:
        match = _STATE_FILE.match(name)
        if match and name.removesuffix(STATE_SUFFIX) + WEIGHTS_SUFFIX in names:
            found.append((int(match.group(1)), name.removesuffix(STATE_SUFFIX)))
    return sorted(found)


def is_jax_checkpoint(prefix: str) -> bool:
    """Whether ``prefix`` (``RUN/ckpt-N``) names a complete JAX checkpoint."""
    return os.path.isfile(prefix + STATE_SUFFIX) and os.path.isfile(prefix + WEIGHTS_SUFFIX)


def load_model_weights(model: keras.Model, prefix: str) -> None:
    """Load the weights of the JAX checkpoint ``prefix`` into ``model`` (on any backend).

    Raises :class:`CheckpointError` when the file cannot be read or does not hold every weight
    of ``model`` with its shape."""
    try:
        model.load_weights(prefix + WEIGHTS_SUFFIX)
    except OSError as error:
        raise CheckpointError(
            f"checkpoint {prefix} cannot be read ({first_line(error)}); pass another checkpoint"
        ) from None
    except ValueError as error:
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise CheckpointError(
            f"checkpoint {prefix} does not hold the weights of this model "
            f"({type(model).__name__}): {first_line(ValueError(detail))}"
        ) from None


class JaxCheckpointer:
    """Saves and restores the training state of a JAX run in ``run_dir`` (see the module).

    Args:
        run_dir: the run directory (relative, absolute or with ``~``).
        max_to_keep: the newest checkpoints (by step) kept after each save, at least 1.

    In a multi-process run every process calls :meth:`save` (the processes meet after it) and
    only process 0 writes; every process reads in :meth:`restore`.
    """

    def __init__(self, run_dir: str | os.PathLike, max_to_keep: int):
        import jax  # the JAX path's class; the functions above serve every backend

        if max_to_keep < 1:
            raise ValueError(f"max_to_keep={max_to_keep}: keep at least 1 checkpoint")
        self.run_dir = user_path(run_dir)
        self.max_to_keep = max_to_keep
        self._writer = jax.process_index() == 0
        self._processes = jax.process_count()

    def save(
        self,
        step: int,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        counters: Mapping[str, int],
    ) -> str:
        """Write ``RUN/ckpt-<step>`` from the variables of ``model`` and ``optimizer`` (assign
        the training state to them first) and ``counters``; rotate; return the prefix."""
        name = f"{CHECKPOINT_NAME}-{int(step)}"
        prefix = os.path.join(self.run_dir, name)
        if self._writer:
            state = _state_arrays(model, optimizer, counters)
            os.makedirs(self.run_dir, exist_ok=True)
            self._remove_partials()
            weights = os.path.join(self.run_dir, f".{name}.partial{WEIGHTS_SUFFIX}")
            train_state = os.path.join(self.run_dir, f".{name}.partial{STATE_SUFFIX}")
            try:
                model.save_weights(weights)
                with open(train_state, "wb") as file:
                    np.savez(file, **state)
                _flush(weights)
                _flush(train_state)
                # A checkpoint of the same step (saved again after a resume) stops being
                # complete before its weights are replaced.
                _unlink(prefix + STATE_SUFFIX)
                os.replace(weights, prefix + WEIGHTS_SUFFIX)
                os.replace(train_state, prefix + STATE_SUFFIX)
                _flush(self.run_dir)
            finally:
                _unlink(weights)
                _unlink(train_state)
            self._rotate(keep=name)
        if self._processes > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"vatt checkpoint {name}")
        return prefix

    def restore(
        self, prefix: str | os.PathLike, model: keras.Model, optimizer: keras.optimizers.Optimizer
    ) -> dict[str, int]:
        """Assign the checkpoint ``prefix`` (``RUN/ckpt-N``) to the variables of ``model`` and
        ``optimizer`` (built here if it is not); return its counters (``step``,
        ``skipped_steps``). Raises :class:`CheckpointError` naming the first mismatch."""
        prefix = user_path(prefix)
        if not is_jax_checkpoint(prefix):
            if os.path.isfile(prefix + ".index"):
                raise CheckpointError(
                    f"checkpoint {prefix} was written by the TensorFlow path; resume that run "
                    "with KERAS_BACKEND=tensorflow (fine-tuning starts from it on any backend)"
                )
            raise CheckpointError(
                f"no complete JAX checkpoint at {prefix} ({prefix}{STATE_SUFFIX} and "
                f"{prefix}{WEIGHTS_SUFFIX}); pass a checkpoint prefix such as RUN/ckpt-1000"
            )
        try:
            with np.load(prefix + STATE_SUFFIX, allow_pickle=False) as file:
                stored = {key: file[key] for key in file.files}
        except (OSError, ValueError) as error:
            raise CheckpointError(
                f"checkpoint {prefix} cannot be read ({first_line(error)}); pass another checkpoint"
            ) from None
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        # Checked before anything is assigned.
        assignments = [
            *_matched(stored, "model", _state_variables(model), prefix),
            *_matched(stored, "optimizer", _optimizer_variables(optimizer), prefix),
        ]
        load_model_weights(model, prefix)
        for variable, value in assignments:
            variable.assign(value)
        return {
            key.removeprefix("counters/"): int(value)
            for key, value in stored.items()
            if key.startswith("counters/")
        }

    def _remove_partials(self) -> None:
        """Delete what a killed save left: temporary files, weights without their state."""
        names = os.listdir(self.run_dir)
        complete = {name for _, name in complete_checkpoints(names)}
        for file in names:
            weights = _WEIGHTS_FILE.match(file)
            if _PARTIAL.match(file) or (
                weights and file.removesuffix(WEIGHTS_SUFFIX) not in complete
            ):
                _unlink(os.path.join(self.run_dir, file))

    def _rotate(self, keep: str) -> None:
        """Delete the oldest complete checkpoints beyond ``max_to_keep``, never ``keep``."""
        held = [name for _, name in complete_checkpoints(os.listdir(self.run_dir))]
        excess = len(held) - self.max_to_keep
        for name in [n for n in held if n != keep][: max(excess, 0)]:
            _unlink(os.path.join(self.run_dir, name + STATE_SUFFIX))  # incomplete from here on
            _unlink(os.path.join(self.run_dir, name + WEIGHTS_SUFFIX))


def _state_variables(model: keras.Model) -> list[keras.Variable]:
    """The model's variables that its weights file does not hold (seed generators' states)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _optimizer_variables(optimizer: keras.optimizers.Optimizer) -> list[keras.Variable]:
    """The optimizer's variables less the learning rate (the config's schedule sets it)."""
    learning_rate = getattr(optimizer, "_learning_rate", None)
    return [v for v in optimizer.variables if v is not learning_rate]


def _keys(section: str, variables: Sequence[keras.Variable]) -> list[str]:
    return [f"{section}/{i}" for i in range(len(variables))]


def _host_array(variable: keras.Variable) -> np.ndarray:
    value = keras.ops.convert_to_numpy(variable.value)
    # npz without pickle holds numpy's own dtypes; bfloat16 goes as float32 (exact).
    return value.astype(np.float32) if value.dtype.kind == "V" else value


def _state_arrays(model, optimizer, counters: Mapping[str, int]) -> dict[str, np.ndarray]:
    arrays = {}
    for section, variables in (
        ("model", _state_variables(model)),
        ("optimizer", _optimizer_variables(optimizer)),
    ):
        arrays.update(zip(_keys(section, variables), map(_host_array, variables), strict=True))
    for name, value in counters.items():
        arrays[f"counters/{name}"] = np.asarray(int(value), np.int64)
    return arrays


def _matched(stored, section: str, variables, prefix: str) -> list[tuple[keras.Variable, object]]:
    keys = _keys(section, variables)
    held = {key for key in stored if key.startswith(f"{section}/")}
    if held != set(keys):
        raise CheckpointError(
            f"checkpoint {prefix} does not fit this model and optimizer: its {section} state "
            f"holds {len(held)} variables, this {section} has {len(keys)}; train into a new "
            "--model_dir"
        )
    mismatched = [
        f"{variable.path}: stored {stored[key].shape}, variable {tuple(variable.shape)}"
        for key, variable in zip(keys, variables, strict=True)
        if stored[key].shape != tuple(variable.shape)
    ]
    if mismatched:
        raise CheckpointError(
            f"checkpoint {prefix} does not fit this model and optimizer ({len(mismatched)} "
            f"shapes differ, e.g. {mismatched[0]}); train into a new --model_dir"
        )
    return [(variable, stored[key]) for key, variable in zip(keys, variables, strict=True)]


def _flush(path: str) -> None:
    """Write ``path`` (a file, or a directory's entries) through to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
