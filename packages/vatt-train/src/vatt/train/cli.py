"""The ``vatt-train`` command: ``vatt-train pretrain|finetune --model_dir RUN ...`` and
``vatt-train export RUN OUT.weights.h5`` (:mod:`vatt.train.export`).

The flags of the original ``python -m vatt.main`` keep working (``--task=pretrain --mode=train``).
TensorFlow is imported after the arguments are parsed, so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vatt.core.config import ConfigError, apply_overrides, merge_mappings, parse_overrides
from vatt.core.quiet import configure_cli_logging, import_tensorflow_quietly
from vatt.train.choices import (
    MODES,
    MULTI_PROCESS_FLAGS,
    STRATEGIES_BY_BACKEND,
    STRATEGY_TYPES,
)
from vatt.train.commandline import add_verbose_flag, command_parser, report_error
from vatt.train.errors import CheckpointError

if TYPE_CHECKING:
    from vatt.train.config import ExperimentConfig

DEFAULT_ARCH = {"pretrain": "tx_fac", "finetune": "vit_base"}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vatt-train``."""
    parser = command_parser(
        "vatt-train",
        "Pretrain or fine-tune a VATT model into a run directory (config.yaml, ckpt-N, "
        "train/ TensorBoard events). Resumes from the run's latest checkpoint.\n\n"
        "vatt-train export RUN OUT.weights.h5 writes a run's model for inference "
        "(vatt-train export --help).",
        [
            "vatt-train pretrain --model_dir runs/tx --model_arch tx_fac --strategy_type mirrored \\",
            "    --params_override 'train.total_steps=1000,data.train.data_dir=/data'",
            "vatt-train finetune --model_dir runs/k400 --model_arch vit_medium "
            "--override_checkpoint runs/tx/ckpt-500000",
        ],
    )
    parser.add_argument("task", nargs="?", choices=MODES, help="pretrain or finetune")
    parser.add_argument(
        "--task",
        dest="task_flag",
        type=str.lower,
        choices=MODES,
        help="same as TASK (original flag)",
    )
    parser.add_argument(
        "--mode",
        type=str.lower,
        default="train",
        choices=("train", "eval"),
        help="original flag; only 'train' runs here (evaluation is the vatt-eval command)",
    )
    parser.add_argument("--model_dir", required=True, help="run directory")
    parser.add_argument(
        "--model_arch",
        type=str.lower,
        help="arch name, case-insensitive (default: tx_fac to pretrain, vit_base to fine-tune)",
    )
    parser.add_argument(
        "--strategy_type",
        type=str.lower,
        choices=STRATEGY_TYPES,
        help=(
            "how to distribute (default: strategy.type of the config, 'mirrored'); TensorFlow: "
            f"{', '.join(STRATEGIES_BY_BACKEND['tensorflow'])}; JAX (KERAS_BACKEND=jax): "
            f"{', '.join(STRATEGIES_BY_BACKEND['jax'])}"
        ),
    )
    parser.add_argument(
        "--tpu", help="TPU address for --strategy_type tpu ('' or 'local': a TPU VM)"
    )
    for (flag, variable), kind, what in zip(
        MULTI_PROCESS_FLAGS.items(),
        (str, int, int),
        ("HOST:PORT of process 0", "the number of processes", "this process's index, 0 to N-1"),
        strict=True,
    ):
        parser.add_argument(
            f"--{flag}",
            type=kind,
            help=f"--strategy_type multi_process (JAX): {what} (default: ${variable} or the "
            "cluster's own variables)",
        )
    parser.add_argument("--config_file", help="YAML file of overrides, applied first")
    parser.add_argument(
        "--params_override",
        action="append",
        default=[],
        help=(
            "overrides applied after --config_file: 'a.b=c,d.e=[1,2]' pairs or a YAML mapping; "
            "may be repeated"
        ),
    )
    parser.add_argument(
        "--override_checkpoint",
        help=(
            "a checkpoint PREFIX such as RUN/ckpt-1000 (its .index or .data-* file names it "
            "too). pretrain: restore it instead of the run's latest checkpoint; finetune: "
            "initialise the backbone from it (ours or official) when the run has no checkpoint yet"
        ),
    )
    parser.add_argument(
        "--peak_tflops",
        type=float,
        help="peak dense TFLOP/s of one accelerator, to show MFU (train.peak_tflops_per_device)",
    )
    add_verbose_flag(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The resolved experiment of parsed ``vatt-train`` arguments."""
    from vatt.train.checkpoints import checkpoint_prefix
    from vatt.train.config import resolve_config

    task = args.task or args.task_flag or "pretrain"
    if args.task and args.task_flag and args.task != args.task_flag:
        raise ConfigError(f"TASK {args.task!r} and --task={args.task_flag!r} disagree")
    overrides: dict = {}
    for text in args.params_override:
        overrides = merge_mappings(overrides, parse_overrides(text))
    config = resolve_config(
        task,
        args.model_arch or DEFAULT_ARCH[task],
        config_file=args.config_file,
        params_override=overrides,
    )
    forced: dict = {"strategy": {}, "train": {}}
    if args.strategy_type:
        forced["strategy"]["type"] = args.strategy_type
    if args.tpu is not None:
        forced["strategy"]["tpu"] = args.tpu
    if args.override_checkpoint:
        forced["train"]["override_checkpoint"] = checkpoint_prefix(args.override_checkpoint)
    if args.peak_tflops is not None:
        forced["train"]["peak_tflops_per_device"] = args.peak_tflops
    return apply_overrides(config, forced)


def _export_distributed_flags(args: argparse.Namespace) -> None:
    """``--coordinator_address`` etc. are the command-line spelling of the variables that
    :func:`vatt.train.strategies.create_mesh` reads."""
    for flag, variable in MULTI_PROCESS_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            os.environ[variable] = str(value)


# Problems in what the user passed (flags, config, paths, checkpoints): one line, exit status 2.
USER_ERRORS = (ConfigError, CheckpointError, FileNotFoundError, NotADirectoryError, KeyError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vatt-train``; returns the process exit code (2: bad input, nothing
    written; 1: training stopped at a non-finite loss)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["export"]:
        from vatt.train import export

        return export.main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.mode != "train":
        return report_error(
            "vatt-train", "--mode=eval is the job of the vatt-eval command (pip install vatt-eval)"
        )
    configure_cli_logging("%(asctime)s %(name)s %(message)s")
    _export_distributed_flags(args)
    import_tensorflow_quietly()
    from vatt.train.steps import NonFiniteLossError
    from vatt.train.training import train

    try:
        result = train(config_from_args(args), args.model_dir)
    except USER_ERRORS as error:
        return report_error("vatt-train", error, verbose=args.verbose)
    except NonFiniteLossError as error:
        return report_error("vatt-train", error, verbose=args.verbose, status=1)
    logging.getLogger("vatt.train").info(
        "done: step %d in %s (%d non-finite steps skipped)",
        result.step,
        args.model_dir,
        result.skipped_steps,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
