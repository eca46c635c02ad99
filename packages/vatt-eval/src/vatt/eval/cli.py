"""The ``vatt-eval`` command: ``vatt-eval run RUN`` and ``vatt-eval watch RUN``.

TensorFlow is imported after the arguments are parsed, so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vatt.core.quiet import configure_cli_logging, import_tensorflow_quietly
from vatt.train.commandline import add_verbose_flag, command_parser, report_error

if TYPE_CHECKING:
    from vatt.eval.evaluator import EvalSettings

# Problems in what the user passed (paths, config, dataset names): one line, exit status 2.
USER_ERRORS = (FileNotFoundError, NotADirectoryError, KeyError, ValueError)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="run directory written by vatt-train")
    parser.add_argument(
        "--datasets",
        default="",
        help="pretraining runs: comma-separated registered datasets "
        "(default: data.eval.name of the run config)",
    )
    parser.add_argument(
        "--batch_size", type=int, default=8, help="clips per evaluation batch (default 8)"
    )
    parser.add_argument(
        "--probe_epochs",
        type=int,
        help="epochs of the Keras linear probe (default: 1000, the original protocol)",
    )
    parser.add_argument(
        "--no_progress",
        action="store_true",
        help="hide the progress bars (shown only when stderr is a terminal)",
    )
    add_verbose_flag(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vatt-eval``."""
    parser = command_parser(
        "vatt-eval",
        "Evaluate the checkpoints of a vatt-train run directory. Results go to "
        "RUN/eval/results-N.json and to TensorBoard scalars in RUN/eval at step N.",
        [
            "vatt-eval watch runs/tx --datasets youcook2,msrvtt,hmdb51,ucf101,esc50",
            "vatt-eval run runs/k400 --checkpoint runs/k400/ckpt-100000",
            "vatt-eval run runs/official --checkpoint vit_base/k400/ckpt-100000",
        ],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="evaluate one checkpoint once",
        description="Evaluate one checkpoint once (default: the run's latest).",
    )
    _add_common(run)
    run.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="checkpoint prefix, e.g. RUN/ckpt-1000 (its .index file names it too), or an "
        "official VATT checkpoint (pretrained or fine-tuned) for the run's model_arch",
    )
    watch = commands.add_parser(
        "watch",
        help="evaluate each new checkpoint as training writes it",
        description="Evaluate each checkpoint of RUN once, in order, as training writes them; "
        "stop after the final training step or when no new checkpoint came for --timeout s.",
    )
    _add_common(watch)
    watch.add_argument(
        "--interval", type=float, default=180.0, help="seconds between polls (default 180)"
    )
    watch.add_argument(
        "--timeout",
        type=float,
        default=7200.0,
        help="stop after this many seconds without a new checkpoint (default 7200)",
    )
    return parser


def _settings(args: argparse.Namespace) -> EvalSettings:
    from vatt.eval.evaluator import EvalSettings
    from vatt.eval.pretrain_eval import ProbeSettings
    from vatt.eval.probes import KerasProbeConfig

    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {args.batch_size}")
    keras_probe = KerasProbeConfig()
    if args.probe_epochs is not None:
        if args.probe_epochs < 1:
            raise ValueError(f"--probe_epochs must be at least 1, got {args.probe_epochs}")
        keras_probe = dataclasses.replace(keras_probe, epochs=args.probe_epochs)
    return EvalSettings(
        datasets=tuple(name.strip() for name in args.datasets.split(",") if name.strip()),
        batch_size=args.batch_size,
        probes=ProbeSettings(keras=keras_probe),
        progress=not args.no_progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vatt-eval``; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_cli_logging("%(asctime)s vatt-eval: %(message)s")
    import_tensorflow_quietly()
    from vatt.eval.evaluator import RunEvaluator

    try:
        evaluator = RunEvaluator(args.run_dir, _settings(args))
        if args.command == "run":
            print(json.dumps(evaluator.evaluate(args.checkpoint), indent=2, sort_keys=True))
        else:
            evaluated = evaluator.watch(interval=args.interval, timeout=args.timeout)
            print(f"evaluated steps: {evaluated}")
    except USER_ERRORS as error:
        return report_error("vatt-eval", error, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
