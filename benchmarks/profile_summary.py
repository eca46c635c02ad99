"""Where a profiled training step spends its device time, from a ``jax.profiler`` trace.

``bench_step.py --profile DIR`` (JAX) records a few steps with ``jax.profiler.trace``;
``benchmarks/h200.sh`` keeps the Chrome trace of ``vit_base`` as ``$OUT/vit_base.trace.json.gz``.
This script reads such a trace (no TensorFlow, no profiler plugin) and prints, per step:

* the device's busy time, split by kind of operation (matrix products, fused attention,
  convolutions, other fused element-wise work, copies, collectives);
* with ``--hlo`` (the step's optimised HLO text, which ``XLA_FLAGS=--xla_dump_to=DIR
  --xla_dump_hlo_as_text`` writes as ``*jit_step*after_optimizations.txt``), the same time split
  by the part of the model each operation comes from, read from the JAX name stack that XLA
  keeps in each instruction's ``op_name`` (dropout, layer norms, attention, MLP, DropToken, the
  optimizer, ...);
* the operations that took longest.

Usage::

    python benchmarks/profile_summary.py RESULTS/vit_base.trace.json.gz --steps 3 \
        --hlo RESULTS/vit_base.hlo.txt.gz

A trace without device operations (a CPU run) is summarised from the host's XLA threads.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import pathlib
import re
import sys

#: Kind of an operation, by the first pattern its name and arguments match (in this order).
KINDS = (
    ("fused attention", re.compile(r"fmha|flash|cudnn.*attention|dot_product_attention", re.I)),
    ("matrix product", re.compile(r"gemm|cublas|xmma|cutlass|matmul|dot\b|dot[._]|wgmma", re.I)),
    ("convolution", re.compile(r"conv", re.I)),
    ("collective", re.compile(r"all-?reduce|all-?gather|reduce-?scatter|nccl|collective", re.I)),
    ("copy or transpose", re.compile(r"memcpy|memset|copy|transpose", re.I)),
    ("fused element-wise", re.compile(r"fusion|loop|input_|reduce", re.I)),
)
#: Part of the model: the innermost name-stack component (Keras layer names, ``_3`` suffixes
#: dropped) that one of these patterns matches.
PARTS = (
    ("dropout", re.compile(r"dropout")),
    ("DropToken", re.compile(r"_shuffle|drop_token")),
    ("layer norm", re.compile(r"(final_)?layer_norm")),
    ("attention", re.compile(r"multi_head_attention|mha")),
    ("MLP", re.compile(r"dense_\w+_dense|feed_forward")),
    ("positional embeddings", re.compile(r"\w+_embeddings")),
    ("optimizer", re.compile(r"adam\w*|sgd|optimizer")),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=pathlib.Path, help="a .trace.json.gz (or .json) file")
    parser.add_argument("--hlo", type=pathlib.Path, help="the step's optimised HLO (.txt[.gz])")
    parser.add_argument("--steps", type=int, default=1, help="steps the trace holds")
    parser.add_argument("--top", type=int, default=20, help="longest operations to list")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f"profile_summary.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _read_text(path: pathlib.Path, what: str) -> str:
    if not path.is_file():
        fail(f"{path} is not a file; pass {what}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{path} cannot be read as {what} ({type(error).__name__}: {error})")


def load_events(path: pathlib.Path) -> list[dict]:
    """The trace's events; a one-line error for a missing or unreadable file."""
    what = "the .trace.json.gz that bench_step.py --profile wrote"
    try:
        trace = json.loads(_read_text(path, what))
    except ValueError as error:
        fail(f"{path} is not a Chrome trace ({error})")
    events = trace.get("traceEvents") if isinstance(trace, dict) else None
    if not isinstance(events, list):
        fail(f"{path} has no traceEvents; pass {what}")
    return events


#: ``%name = ... metadata={op_name="..." ...}`` in an HLO module's text.
_INSTRUCTION = re.compile(r'^\s*(?:ROOT\s+)?%?([\w.-]+)\s*=.*?op_name="([^"]*)"', re.M)


def load_op_names(path: pathlib.Path) -> dict[str, str]:
    """HLO instruction name -> the JAX name stack XLA kept for it (``op_name``)."""
    text = _read_text(path, "the step's optimised HLO text (*after_optimizations.txt)")
    names = dict(_INSTRUCTION.findall(text))
    if not names:
        fail(f"{path} holds no HLO instruction with an op_name; pass *after_optimizations.txt")
    return names


def operation_events(events: list[dict]) -> tuple[str, list[dict]]:
    """``(where, events)``: the device's XLA operations, or the host's XLA operations."""
    processes = {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"
    }
    complete = [e for e in events if e.get("ph") == "X" and "dur" in e]
    devices = {pid for pid, name in processes.items() if name.startswith("/device:")}
    if devices:
        on_device = [e for e in complete if e["pid"] in devices]
        ops = [e for e in on_device if threads.get((e["pid"], e.get("tid")), "") == "XLA Ops"]
        if ops:
            return "device XLA Ops", ops
        streams = [
            e for e in on_device if threads.get((e["pid"], e.get("tid")), "").startswith("Stream")
        ]
        return "device streams", streams
    host = [e for e in complete if "hlo_op" in e.get("args", {})]
    return "host XLA operations (no device in the trace)", host


def describe(event: dict) -> str:
    """The operation's name with its arguments, for matching."""
    return " ".join([event.get("name", ""), *map(str, event.get("args", {}).values())])


def hlo_name(event: dict) -> str:
    """The HLO instruction an operation event ran."""
    return str(event.get("args", {}).get("hlo_op") or event.get("name", "")).lstrip("%")


def kind_of(text: str) -> str:
    return next((kind for kind, pattern in KINDS if pattern.search(text)), "other")


def part_of(op_name: str) -> str:
    """The part of the model of a JAX name stack such as ``jit(step)/jvp(vit)/.../dropout_3/add``."""
    components = [re.sub(r"_\d+$", "", c) for c in re.split(r"[/()]+", op_name) if c]
    for component in reversed(components):
        for part, pattern in PARTS:
            if pattern.fullmatch(component):
                return part
    return "other"


def summarise(events: list[dict], steps: int, top: int, op_names: dict[str, str]) -> str:
    """The report (text) of one trace's operation events; ``op_names`` from :func:`load_op_names`
    (empty: no split by part of the model)."""
    where, ops = operation_events(events)
    if not ops:
        fail("the trace holds no XLA operations; record it around jitted steps")
    busy_ms = sum(e["dur"] for e in ops) / 1e3 / steps
    by_kind, by_part, by_name = (collections.Counter() for _ in range(3))
    for event in ops:
        text, ms = describe(event), event["dur"] / 1e3 / steps
        by_kind[kind_of(text)] += ms
        if op_names:
            by_part[part_of(op_names.get(hlo_name(event), ""))] += ms
        by_name[event.get("name", "?")] += ms
    lines = [f"{where}: {len(ops)} operations, busy {busy_ms:.2f} ms per step"]
    tables = [("kind", by_kind)] + ([("part of the model", by_part)] if op_names else [])
    for title, counter in tables:
        lines += ["", f"| {title} | ms per step | share |", "|---|---|---|"]
        lines += [
            f"| {name} | {ms:.2f} | {ms / busy_ms:.1%} |" for name, ms in counter.most_common()
        ]
    lines += ["", f"longest {top} operations (ms per step):"]
    lines += [f"  {ms:8.3f}  {name[:100]}" for name, ms in by_name.most_common(top)]
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.steps < 1 or args.top < 1:
        fail("--steps and --top must be at least 1")
    op_names = load_op_names(args.hlo) if args.hlo else {}
    print(summarise(load_events(args.trace), args.steps, args.top, op_names))


if __name__ == "__main__":
    main()
