"""The ``vatt-data`` command: ``synth``, ``convert`` and ``validate`` (``vatt-data COMMAND --help``)."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import traceback
from collections.abc import Sequence

from vatt.core.quiet import import_tensorflow_quietly

_DESCRIPTION = """\
Tools for VATT's DMVR-format records (one tf.train.SequenceExample per clip).

  vatt-data synth OUT                         write the synthetic dataset into OUT
  vatt-data convert CLIPS.csv OUT             video files listed in a CSV -> sharded records
  vatt-data validate PATH --dataset NAME      check records against what the loaders expect
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vatt-data",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "--verbose", action="store_true", help="show the traceback of an error, not only its line"
    )

    synth = commands.add_parser(
        "synth",
        parents=[verbose],
        help="write the synthetic moving-shapes dataset",
        description="Write the synthetic dataset (train and test splits, vocab.txt, labels.txt, "
        "dataset.json): coloured shapes whose tone, rhythm and captions say what is seen.",
    )
    synth.add_argument("out", metavar="OUT", help="output directory (the loaders' data_dir)")
    synth.add_argument("--clips", type=_positive_int, default=96, help="train clips (default 96)")
    synth.add_argument(
        "--test-clips", type=_positive_int, help="test clips (default: a quarter, at least 12)"
    )
    length = synth.add_mutually_exclusive_group()
    length.add_argument("--frames", type=_positive_int, help="frames per clip (default 16)")
    length.add_argument("--seconds", type=float, help="clip length; frames = seconds x fps")
    synth.add_argument("--size", type=_positive_int, default=64, help="frame side (default 64)")
    synth.add_argument("--fps", type=_positive_int, default=10, help="frame rate (default 10)")
    synth.add_argument(
        "--sample-rate", type=_positive_int, default=48_000, help="audio rate (default 48000)"
    )
    synth.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    synth.add_argument(
        "--shards", type=_positive_int, help="shards per split (default: one per 128 clips)"
    )
    synth.add_argument(
        "--workers", type=_positive_int, help="processes (default: CPUs for 2048+ clips, else 1)"
    )

    convert = commands.add_parser(
        "convert",
        parents=[verbose],
        help="convert video files listed in a CSV to sharded records",
        description="Convert the video files listed in CSV into OUT/<split>-NNNNN-of-MMMMM "
        "records with PyAV. CSV header: path,start,end,captions,label (only path is required; "
        "start/end in seconds; several captions or labels separated by '|'). Unreadable files "
        "are skipped and reported.",
    )
    convert.add_argument("csv", metavar="CSV", help="the clip list")
    convert.add_argument("out", metavar="OUT", help="output directory")
    convert.add_argument("--split", default="train", help="split name, the shard prefix")
    convert.add_argument("--shards", type=_positive_int, help="shard count (default sqrt(clips))")
    convert.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    convert.add_argument(
        "--shorter-side",
        type=int,
        default=256,
        help="shorter frame side in pixels (default 256; 0 keeps the video's size)",
    )
    convert.add_argument(
        "--sample-rate", type=_positive_int, default=48_000, help="audio rate (default 48000)"
    )
    convert.add_argument("--jpeg-quality", type=int, default=90, help="1-100 (default 90)")
    convert.add_argument("--no-audio", action="store_true", help="store no audio")
    convert.add_argument(
        "--video-root", help="directory relative paths start from (default: the CSV's)"
    )
    convert.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, one per line (line i = id i); default OUT/labels.txt if it exists, "
        "else the sorted names in the CSV",
    )
    convert.add_argument(
        "--workers",
        type=_positive_int,
        help="worker processes (default: one per CPU, at most one per 16 clips)",
    )
    convert.add_argument("--no-progress", action="store_true", help="no progress bar")

    validate = commands.add_parser(
        "validate",
        parents=[verbose],
        help="check records against what the loaders of a dataset expect",
        description="Check every record at PATH (a file, a directory of shards, or a table "
        "such as DIR/train@8) against the keys the loaders of dataset NAME read, and against "
        "how much they read: every record with fewer frames or audio samples than the loader's "
        "window (which it would loop or pad) is listed with its file, index and clip. Names the "
        "first bad record (file, index, key, what is wrong); exits with status 1 on a bad or "
        "short record. The window is the --loader config's (num_frames x video_stride frames, "
        "audio_seconds x the dataset's sample rate x audio_stride samples), with the flags below "
        "set as in your training config.",
    )
    validate.add_argument("path", metavar="PATH", help="record file, directory or table path")
    validate.add_argument("--dataset", required=True, metavar="NAME", help="registered dataset")
    validate.add_argument(
        "--max-records", type=_positive_int, help="check only the first N records of each file"
    )
    validate.add_argument(
        "--headers-only", action="store_true", help="read JPEG headers instead of decoding frames"
    )
    validate.add_argument(
        "--compression",
        choices=("GZIP", "ZLIB"),
        help="compression of the record files (default: the dataset's compression_type)",
    )
    validate.add_argument("--no-progress", action="store_true", help="no progress bar")
    loader = validate.add_argument_group("the loader whose windows records must hold")
    loader.add_argument(
        "--loader",
        choices=("pretrain", "finetune", "eval"),
        help="its config's defaults apply (default: pretrain for datasets with video, else eval)",
    )
    loader.add_argument("--num-frames", type=_positive_int, help="frames per clip (num_frames)")
    loader.add_argument("--video-stride", type=_positive_int, help="frame stride (video_stride)")
    loader.add_argument(
        "--audio-seconds", type=_positive_float, help="audio per clip (default num_frames / 10)"
    )
    loader.add_argument("--audio-stride", type=_positive_int, help="sample stride (audio_stride)")
    loader.add_argument(
        "--allow-short",
        action="store_true",
        help="list short records without failing (the loader loops or pads them)",
    )
    return parser


def _synth(args: argparse.Namespace) -> int:
    from vatt.data import synthetic

    num_frames = round(args.seconds * args.fps) if args.seconds is not None else args.frames or 16
    config = synthetic.SyntheticConfig(
        num_frames=num_frames,
        frame_size=args.size,
        fps=args.fps,
        sample_rate=args.sample_rate,
        seed=args.seed,
    )
    synthetic.write_synthetic_dataset(
        args.out,
        args.clips,
        args.test_clips,
        config,
        num_shards=args.shards,
        workers=args.workers,
    )
    clips = json.loads((pathlib.Path(args.out) / "dataset.json").read_text())["clips"]
    print(
        f"wrote {clips['train']} train and {clips['test']} test clips "
        f"({num_frames} frames of {args.size}x{args.size} at {args.fps} fps, "
        f"{args.sample_rate} Hz audio) to {args.out}"
    )
    return 0


def _convert(args: argparse.Namespace) -> int:
    from vatt.data import convert

    options = convert.ConvertOptions(
        fps=args.fps,
        shorter_side=args.shorter_side or None,
        sample_rate=args.sample_rate,
        jpeg_quality=args.jpeg_quality,
        audio=not args.no_audio,
    )
    label_names = None
    if args.labels:
        with open(args.labels, encoding="utf-8") as file:
            label_names = [line.strip() for line in file if line.strip()]
    report = convert.convert(
        args.csv,
        args.out,
        split=args.split,
        num_shards=args.shards,
        options=options,
        video_root=args.video_root,
        label_names=label_names,
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(f"wrote {report.num_written} records in {len(report.shards)} shards to {args.out}")
    if report.without_audio:
        print(f"{len(report.without_audio)} records have no audio (no audio track in the clip)")
    for media_id, reason in report.skipped:
        print(f"skipped {media_id}: {reason}", file=sys.stderr)
    if report.skipped:
        print(f"skipped {len(report.skipped)} unreadable files", file=sys.stderr)
    return 0 if report.num_written else 1


def _validate(args: argparse.Namespace) -> int:
    from vatt.data import config as config_lib
    from vatt.data import registry, validate

    spec = registry.get_dataset_spec(args.dataset)
    loader = args.loader or ("pretrain" if "video" in spec.modalities else "eval")
    settings = {"audio_sample_rate": spec.sample_rate}
    for name in ("num_frames", "video_stride", "audio_seconds", "audio_stride"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    loader_config = config_lib.LOADER_CONFIGS[loader](**settings)
    windows = config_lib.windows_read(loader_config, spec)
    files = validate.record_files(args.path)
    report = validate.validate_records(
        files,
        spec,
        windows=windows,
        decode_frames=not args.headers_only,
        max_records_per_file=args.max_records,
        compression_type=args.compression or spec.compression_type or None,
        progress=not args.no_progress,
    )
    reads = "; ".join(f"{window.modality} {window}" for window in windows) or "nothing"
    for short in report.short:
        print(f"short record for the {loader} loader: {short}", file=sys.stderr)
    if report.short:
        print(
            f"{len({(s.path, s.index) for s in report.short})} of {report.num_records} records "
            f"are shorter than the {loader} loader reads ({reads}); "
            "it would loop or pad them (short_input_policy). Drop or re-cut those clips, or pass "
            "your config's values (--loader, --num-frames, --video-stride, --audio-seconds, "
            "--audio-stride)" + ("" if args.allow_short else "; --allow-short accepts them"),
            file=sys.stderr,
        )
    if report.problem is not None:
        print(f"invalid record for dataset {spec.name!r}: {report.problem}", file=sys.stderr)
        return 1
    if report.short and not args.allow_short:
        return 1
    print(
        f"OK: {report.num_records} records in {len(files)} files match dataset {spec.name!r} "
        f"({', '.join(spec.modalities)}); the {loader} loader reads {reads}"
    )
    return 0


_COMMANDS = {"synth": _synth, "convert": _convert, "validate": _validate}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``vatt-data``; returns the exit status (1 on a bad record or when nothing converted)."""
    args = _build_parser().parse_args(argv)
    import_tensorflow_quietly()
    try:
        return _COMMANDS[args.command](args)
    except (FileExistsError, FileNotFoundError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        if args.verbose:
            traceback.print_exc()
        print(f"vatt-data {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
