"""Resuming a run directory: which changes of the config its checkpoints allow.

A run's checkpoints hold the model's weights and the optimizer's state, so the sections that
shape them (``mode``, ``model_arch``, ``model.*``, ``optimizer.*``) must be those recorded in
``RUN/config.yaml``. Every other value (``train.total_steps``, data paths, logging and
checkpoint cadence, the schedule, evaluation settings, the strategy...) may change on resume; the
new value is recorded.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Mapping
from typing import Any

from vatt.core.config import ConfigError
from vatt.train.config import CONFIG_FILE, ExperimentConfig, load_run_config

logger = logging.getLogger("vatt.train")

FIXED_BY_CHECKPOINTS = ("mode", "model_arch", "model", "optimizer")
_SHOWN = 3


def config_changes(
    recorded: ExperimentConfig, requested: ExperimentConfig
) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (recorded value, requested value)}`` for every value that differs."""
    old, new = _flatten(recorded.to_dict()), _flatten(requested.to_dict())
    missing = object()
    changes = {}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, missing), new.get(key, missing)
        if before != after:
            changes[key] = (
                None if before is missing else before,
                None if after is missing else after,
            )
    return changes


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_resume(config: ExperimentConfig, run_dir: str) -> dict[str, tuple[Any, Any]]:
    """Compare ``config`` with the config ``run_dir`` records, before anything is written.

    Returns the changes, all safe to resume with (an empty dict for a new run). Raises
    :class:`ConfigError`, one line naming the keys, when a change does not fit the run's
    checkpoints or the recorded config cannot be read.
    """
    if not (pathlib.Path(run_dir) / CONFIG_FILE).is_file():
        return {}
    try:
        recorded = load_run_config(run_dir)
    except (ConfigError, KeyError) as error:
        raise ConfigError(
            f"the recorded config of {run_dir} cannot be read ({error}); train into a new "
            "--model_dir"
        ) from None
    changes = config_changes(recorded, config)
    fixed = sorted(
        (key for key in changes if key.split(".")[0] in FIXED_BY_CHECKPOINTS),
        # A class switch (``optimizer.name``) first: the other keys of its section follow from it.
        key=lambda key: (
            FIXED_BY_CHECKPOINTS.index(key.split(".")[0]),
            not key.endswith(".name"),
            key,
        ),
    )
    if fixed:
        shown = "; ".join(
            f"{key}: recorded {changes[key][0]!r}, requested {changes[key][1]!r}"
            for key in fixed[:_SHOWN]
        )
        more = f" (and {len(fixed) - _SHOWN} more)" if len(fixed) > _SHOWN else ""
        raise ConfigError(
            f"{run_dir} holds a run whose checkpoints do not fit the requested config "
            f"({shown}{more}); train into a new --model_dir, or drop the change to resume "
            "this run"
        )
    if changes:
        logger.info(
            "resuming %s with changed %s",
            run_dir,
            ", ".join(f"{key}={new!r} (was {old!r})" for key, (old, new) in changes.items()),
        )
    return changes
