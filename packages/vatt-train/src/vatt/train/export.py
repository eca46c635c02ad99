"""``vatt-train export``: the model of a run as Keras weights, for inference on any backend.

    vatt-train export RUN_OR_CHECKPOINT OUT.weights.h5

reads the arch and the model config of the run (``RUN/config.yaml``), restores the checkpoint (the
run's latest complete one, or the one named) into ``vatt.models.build(arch, config)`` and writes

* ``OUT.weights.h5``: the weights, for ``model.load_weights`` on TensorFlow, JAX or PyTorch;
* ``OUT.config.yaml``: the model config, as ``vatt-models convert`` writes it.

Load them with (:meth:`Export.loading_code` prints these lines with the arch and paths filled in)::

    import vatt.models
    config = vatt.models.get_config(ARCH).from_yaml("OUT.config.yaml")
    model = vatt.models.build(ARCH, config)
    model.load_weights("OUT.weights.h5")

Nothing is written when an input is bad; the files are written under temporary names first.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
from collections.abc import Sequence

from vatt.core.quiet import import_tensorflow_quietly
from vatt.train.commandline import add_verbose_flag, command_parser, report_error
from vatt.train.paths import user_path

WEIGHTS_SUFFIX = ".weights.h5"
CONFIG_SUFFIX = ".config.yaml"


@dataclasses.dataclass(frozen=True)
class Export:
    """What :func:`export_model` wrote (absolute paths)."""

    arch: str
    checkpoint: str
    weights: pathlib.Path
    config: pathlib.Path

    def loading_code(self) -> str:
        """The Python lines that build the model and load the exported weights."""
        return (
            "import vatt.models\n"
            f"config = vatt.models.get_config({self.arch!r}).from_yaml({str(self.config)!r})\n"
            f"model = vatt.models.build({self.arch!r}, config)\n"
            f"model.load_weights({str(self.weights)!r})\n"
        )


def export_model(checkpoint: str | os.PathLike, output: str | os.PathLike) -> Export:
    """Write the model of a vatt-train checkpoint to ``output`` (``.weights.h5``) and its config
    next to it (``.config.yaml``).

    ``checkpoint`` is a run directory (its latest complete checkpoint), a checkpoint prefix such
    as ``RUN/ckpt-1000`` or one of its files, of a run on TensorFlow or JAX; the run's
    ``config.yaml`` gives the arch and model config. Paths may be relative or start with ``~``. Raises ``ValueError`` (a bad output name,
    a checkpoint that does not hold the run's model), ``FileNotFoundError`` (no such run or
    checkpoint) or ``OSError`` (output not writable) before anything is written.
    """
    # Imported here: `vatt-train export --help` answers without importing TensorFlow.
    import vatt.models
    from vatt.train.checkpoints import checkpoint_prefix, restore_model_weights
    from vatt.train.config import CONFIG_FILE, load_run_config

    weights = pathlib.Path(user_path(output))
    if not weights.name.endswith(WEIGHTS_SUFFIX) or weights.name == WEIGHTS_SUFFIX:
        raise ValueError(f"output {output} must be named NAME{WEIGHTS_SUFFIX} (Keras weights)")
    if weights.is_dir():
        raise IsADirectoryError(f"output {output} is a directory; name a NAME{WEIGHTS_SUFFIX} file")
    prefix = checkpoint_prefix(checkpoint)
    run_dir = os.path.dirname(prefix)
    if not os.path.isfile(os.path.join(run_dir, CONFIG_FILE)):
        raise FileNotFoundError(
            f"{run_dir} holds no {CONFIG_FILE}, so {prefix} is not a checkpoint of a vatt-train "
            "run; an official VATT checkpoint converts with `vatt-models convert --arch ARCH "
            f"CKPT OUT{WEIGHTS_SUFFIX}`"
        )
    run_config = load_run_config(run_dir)
    model = vatt.models.build(run_config.model_arch, run_config.model)
    restore_model_weights(model, prefix)

    stem = weights.name.removesuffix(WEIGHTS_SUFFIX)
    config = weights.with_name(stem + CONFIG_SUFFIX)
    exported = Export(run_config.model_arch, prefix, weights, config)
    header = "".join(
        f"# {line}\n"
        for line in [
            f"Config of the {exported.arch} model exported from {prefix}; load it with:",
            *exported.loading_code().splitlines(),
        ]
    )
    weights.parent.mkdir(parents=True, exist_ok=True)
    partial_weights = weights.with_name(f".{stem}.partial{WEIGHTS_SUFFIX}")
    partial_config = config.with_name(f".{config.name}.partial")
    try:
        model.save_weights(str(partial_weights))
        partial_config.write_text(header + run_config.model.to_yaml())
        partial_config.replace(config)
        partial_weights.replace(weights)
    finally:
        partial_weights.unlink(missing_ok=True)
        partial_config.unlink(missing_ok=True)
    return exported


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vatt-train export``."""
    parser = command_parser(
        "vatt-train export",
        "Write the model of a vatt-train run as Keras weights (OUT.weights.h5) and its "
        "config (OUT.config.yaml) that vatt.models.build and model.load_weights read on "
        "any Keras backend (TensorFlow, JAX, PyTorch); prints the Python lines that load them.",
        [
            "vatt-train export runs/k400 k400.weights.h5            # the latest checkpoint",
            "vatt-train export runs/k400/ckpt-100000 k400.weights.h5",
        ],
    )
    parser.add_argument(
        "checkpoint",
        metavar="RUN_OR_CHECKPOINT",
        help="a run directory (its latest checkpoint) or a checkpoint such as RUN/ckpt-1000",
    )
    parser.add_argument("output", metavar="OUT.weights.h5", help="the weights file to write")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vatt-train export``; returns the exit status (2: bad input, nothing
    written)."""
    args = build_parser().parse_args(argv)
    import_tensorflow_quietly()
    try:
        exported = export_model(args.checkpoint, args.output)
    except (ValueError, KeyError, OSError) as error:
        return report_error("vatt-train export", error, verbose=args.verbose)
    print(
        f"wrote {exported.weights} and {exported.config} ({exported.arch}, from "
        f"{exported.checkpoint}); load them with:"
    )
    print("".join(f"  {line}\n" for line in exported.loading_code().splitlines()), end="")
    return 0
