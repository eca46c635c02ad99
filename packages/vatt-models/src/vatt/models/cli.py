"""``vatt-models`` command line: list the archs, convert official checkpoints to ``.weights.h5``.

    vatt-models list
    vatt-models convert --arch vit_base CKPT OUT.weights.h5 [--config FILE.yaml] [--override K=V]

``convert`` builds ``--arch`` from its default config, then ``--config`` (YAML), then each
``--override`` (vatt.core's grammar: ``backbone.d_model=32`` or ``a=1,b.c=[1,2]``), loads the official TF
checkpoint ``CKPT`` (prefix, one of its files, or folder) and saves Keras weights to ``OUT.weights.h5`` plus the
resolved config next to them as ``OUT.config.yaml``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from vatt.core.config import merge_mappings, parse_overrides, read_yaml
from vatt.core.quiet import import_tensorflow_quietly

_WEIGHTS_SUFFIX = ".weights.h5"


def convert(
    arch: str,
    checkpoint: str | pathlib.Path,
    output: str | pathlib.Path,
    config_file: str | pathlib.Path | None = None,
    overrides: Sequence[str] = (),
) -> pathlib.Path:
    """Convert an official VATT checkpoint into Keras weights for ``arch``; returns the path."""
    import vatt.models

    output = pathlib.Path(output).expanduser()
    if not output.name.endswith(_WEIGHTS_SUFFIX):
        raise ValueError(f"output {output} must end with {_WEIGHTS_SUFFIX}")
    values: dict[str, Any] = read_yaml(config_file) if config_file is not None else {}
    for text in overrides:
        values = merge_mappings(values, parse_overrides(text, flag="--override"))
    config = vatt.models.get_config(arch).replace(**values)
    model = vatt.models.build(arch, config)
    vatt.models.load_official_checkpoint(model, checkpoint)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(output))
    config.to_yaml(output.with_name(output.name.removesuffix(_WEIGHTS_SUFFIX) + ".config.yaml"))
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vatt-models`` script."""
    parser = argparse.ArgumentParser(prog="vatt-models", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "--verbose", action="store_true", help="show the traceback of an error, not only its line"
    )
    commands.add_parser("list", parents=[verbose], help="print the registered archs")
    converter = commands.add_parser(
        "convert", parents=[verbose], help="official TF checkpoint -> .weights.h5"
    )
    converter.add_argument("--arch", required=True, help="registered arch, see `vatt-models list`")
    converter.add_argument("--config", help="YAML file of config values over the arch defaults")
    converter.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dotted config key and YAML value, e.g. backbone.d_model=32 or "
        "'a=1,b.c=[1,2]' (repeatable; the grammar of vatt-train --params_override)",
    )
    converter.add_argument(
        "checkpoint", help="checkpoint prefix (…/ckpt-N), one of its files, or its folder"
    )
    converter.add_argument("output", help="where to write OUT.weights.h5")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    if args.command == "list":
        import vatt.models

        print("\n".join(vatt.models.list_archs()))
        return 0
    try:
        written = convert(args.arch, args.checkpoint, args.output, args.config, args.override)
    except (KeyError, TypeError, ValueError, FileNotFoundError) as error:
        if args.verbose:
            traceback.print_exc()
        print(f"vatt-models convert: {error}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
