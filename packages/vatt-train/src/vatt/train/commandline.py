"""What the commands of vatt-train and vatt-eval share, importable without TensorFlow: a parser
whose help ends with examples, the ``--verbose`` flag, and the report of an error in one line."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence


def command_parser(prog: str, description: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    """An argument parser for ``prog`` whose help shows ``description``, then ``Examples:`` with
    one command line per item of ``examples`` (indented as written)."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """``--verbose``: :func:`report_error` prints the traceback of an error too."""
    parser.add_argument(
        "--verbose", action="store_true", help="show the traceback of an error, not only its line"
    )


def report_error(
    prog: str, error: BaseException | str, *, verbose: bool = False, status: int = 2
) -> int:
    """Print ``PROG: error: MESSAGE`` as one line on stderr (after the traceback of ``error`` when
    ``verbose``) and return ``status``, the exit status (2: bad input)."""
    if verbose and isinstance(error, BaseException):
        traceback.print_exception(error)
    if isinstance(error, KeyError) and error.args:
        error = error.args[0]  # its message, not the repr of it
    print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
    return status
