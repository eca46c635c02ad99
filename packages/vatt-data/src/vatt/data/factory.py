"""The dataset factory: shards + builders -> a ``tf.data.Dataset`` (DMVR's design, our code).

``DatasetFactory(shards)`` owns one builder per phase. Modalities (``vatt.data.modalities``) register
named steps on them; ``make_dataset`` assembles read -> parse -> sample -> decode -> preprocess ->
batch -> postprocess, with the filters of each phase, shuffling, epochs and per-replica sharding.

Every example carries ``features.KEY`` = ``"<shard path>#<record index>"`` through the pipeline so
that errors name the record; it is dropped before batching unless ``keep_key=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from vatt.data import features as F
from vatt.data.builders import (
    FilterBuilder,
    FunctionBuilder,
    Phase,
    SequenceExampleParserBuilder,
)

_TUNING_DEFAULTS = {
    "shuffle_buffer": 256,
    "num_parser_threads": tf.data.AUTOTUNE,
    "num_process_threads": tf.data.AUTOTUNE,
    "num_postprocess_threads": 4,
    "cycle_length": None,
    "num_parallel_calls_interleave": tf.data.AUTOTUNE,
    "block_length": None,
    "prefetch_buffer_size": tf.data.AUTOTUNE,
    "seed": None,
}


class DatasetFactory:
    """Builds a dataset of example dicts from TFRecord shards of ``tf.train.SequenceExample``.

    Use it directly (register modalities on it, then ``make_dataset``) or subclass it and implement
    ``_build(**kwargs)``, called once by ``configure``.
    """

    def __init__(self, shards: Sequence[str], compression_type: str | None = None):
        if isinstance(shards, str) or not shards:
            raise ValueError(
                f"DatasetFactory needs a non-empty list of shard paths, got {shards!r}."
            )
        self.shards = list(shards)
        self.compression_type = compression_type
        self.parser_builder = SequenceExampleParserBuilder()
        self.sampler_builder = FunctionBuilder(Phase.SAMPLE)
        self.decoder_builder = FunctionBuilder(Phase.DECODE)
        self.preprocessor_builder = FunctionBuilder(Phase.PREPROCESS)
        self.postprocessor_builder = FunctionBuilder(Phase.POSTPROCESS)
        self.filter_builder = FilterBuilder()
        self._tuning = dict(_TUNING_DEFAULTS)
        self._configured = False

    def _build(self, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement _build().")

    def configure(self, *args: Any, **kwargs: Any) -> DatasetFactory:
        """Run ``_build`` once; a second call is an error."""
        if self._configured:
            raise ValueError(f"{type(self).__name__}.configure() was already called.")
        self._build(*args, **kwargs)
        self._configured = True
        return self

    def tune(self, **kwargs: Any) -> DatasetFactory:
        """Set tf.data parameters (any of ``_TUNING_DEFAULTS``); 0 and None are honoured."""
        unknown = set(kwargs) - set(_TUNING_DEFAULTS)
        if unknown:
            raise ValueError(
                f"Unknown tuning parameters {sorted(unknown)}; valid: {sorted(_TUNING_DEFAULTS)}."
            )
        self._tuning.update(kwargs)
        return self

    def make_dataset(
        self,
        *,
        shuffle: bool = True,
        num_epochs: int | None = None,
        batch_size: int | None = 16,
        drop_remainder: bool = True,
        keep_key: bool = False,
        cache: bool = False,
        input_context: tf.distribute.InputContext | None = None,
        override_preprocess_fn: Callable[[dict], dict] | None = None,
        unbatch_after_preprocessing: bool = False,
        ignore_processing_errors: bool = False,
    ) -> tf.data.Dataset:
        """Assemble the pipeline.

        Args:
          shuffle: shuffle shards and examples (and let parallel maps run out of order).
          num_epochs: passes over the data; None repeats forever.
          batch_size: examples per batch (per replica when an ``input_context`` is given: the
            caller divides the global batch); None: no batching and no postprocessing.
          drop_remainder: drop the last partial batch.
          keep_key: keep ``features.KEY`` ("<shard>#<index>") in the output.
          cache: cache parsed records (before any randomness) in memory.
          input_context: reads only this input pipeline's share of shards (or of records, when there
            are fewer shards than pipelines).
          override_preprocess_fn: replaces the built preprocess phase.
          unbatch_after_preprocessing: preprocess emits several examples at once along axis 0.
          ignore_processing_errors: skip examples whose processing raises, instead of failing.
        """
        if not self.parser_builder.record_keys:
            raise ValueError(
                "Nothing to parse: add modalities (vatt.data.modalities) or call configure() first."
            )
        if shuffle and not self._tuning["shuffle_buffer"]:
            raise ValueError("shuffle=True needs tune(shuffle_buffer=N) with N >= 1.")
        validate_first_record(self.shards[0], self.parser_builder, self.compression_type)
        tuning, seed = self._tuning, self._tuning["seed"]
        deterministic = not shuffle

        files = tf.data.Dataset.from_tensor_slices(self.shards)
        shard_records = False
        if input_context is not None and input_context.num_input_pipelines > 1:
            if len(self.shards) >= input_context.num_input_pipelines:
                files = files.shard(
                    input_context.num_input_pipelines, input_context.input_pipeline_id
                )
            else:
                shard_records = True
        if shuffle:
            files = files.shuffle(len(self.shards), seed=seed)
        compression = self.compression_type or ""

        def read_shard(path: tf.Tensor) -> tf.data.Dataset:
            records = tf.data.TFRecordDataset(path, compression_type=compression).enumerate()
            return records.map(
                lambda index, record: (
                    tf.strings.join([path, "#", tf.strings.as_string(index)]),
                    record,
                )
            )

        ds = files.interleave(
            read_shard,
            cycle_length=tuning["cycle_length"],
            block_length=tuning["block_length"],
            num_parallel_calls=tuning["num_parallel_calls_interleave"],
            deterministic=deterministic,
        )
        if shard_records:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if self.filter_builder.has_filters(Phase.READ):
            read_filter = self.filter_builder.build(Phase.READ)
            ds = ds.filter(lambda key, _: read_filter({F.KEY: key}))
        if not cache:
            ds = self._repeat_and_shuffle(ds, shuffle, num_epochs)

        parse = self.parser_builder.build()
        ds = ds.map(
            lambda key, record: {**parse(record), F.KEY: key},
            num_parallel_calls=tuning["num_parser_threads"],
            deterministic=deterministic,
        )
        ds = self._filter(ds, Phase.PARSE)
        if cache:
            ds = self._repeat_and_shuffle(ds.cache(), shuffle, num_epochs)

        preprocess = override_preprocess_fn or self.preprocessor_builder.build()
        stages = [
            (Phase.SAMPLE, self.sampler_builder.build()),
            (Phase.DECODE, self.decoder_builder.build()),
            (Phase.PREPROCESS, preprocess),
        ]
        for phase, fn in _merge_unfiltered(stages, self.filter_builder):
            ds = ds.map(
                fn, num_parallel_calls=tuning["num_process_threads"], deterministic=deterministic
            )
            ds = self._filter(ds, phase)
        if unbatch_after_preprocessing:
            ds = ds.unbatch()
        if ignore_processing_errors:
            ds = ds.ignore_errors()
        if not keep_key:
            ds = ds.map(_drop_key)
        if batch_size is not None:
            ds = ds.batch(batch_size, drop_remainder=drop_remainder)
            if self.postprocessor_builder.fn_names:
                ds = ds.map(
                    self.postprocessor_builder.build(),
                    num_parallel_calls=tuning["num_postprocess_threads"],
                    deterministic=deterministic,
                )
            ds = self._filter(ds, Phase.POSTPROCESS)
        return ds.prefetch(tuning["prefetch_buffer_size"])

    def _repeat_and_shuffle(
        self, ds: tf.data.Dataset, shuffle: bool, num_epochs: int | None
    ) -> tf.data.Dataset:
        ds = ds.repeat(num_epochs)
        if shuffle:
            ds = ds.shuffle(self._tuning["shuffle_buffer"], seed=self._tuning["seed"])
        return ds

    def _filter(self, ds: tf.data.Dataset, phase: Phase) -> tf.data.Dataset:
        if not self.filter_builder.has_filters(phase):
            return ds
        return ds.filter(self.filter_builder.build(phase))


def _merge_unfiltered(
    stages: list[tuple[Phase, Callable[[dict], dict]]], filters: FilterBuilder
) -> list[tuple[Phase, Callable[[dict], dict]]]:
    """Compose consecutive phases that no filter separates into one map (less per-element work)."""
    merged: list[tuple[Phase, list[Callable[[dict], dict]]]] = []
    for phase, fn in stages:
        if merged and not filters.has_filters(merged[-1][0]):
            merged[-1] = (phase, [*merged[-1][1], fn])
        else:
            merged.append((phase, [fn]))
    return [(phase, _compose(fns)) for phase, fns in merged]


def _compose(fns: list[Callable[[dict], dict]]) -> Callable[[dict], dict]:
    def composed(features: dict) -> dict:
        for fn in fns:
            features = fn(features)
        return features

    return composed


def _drop_key(features: dict) -> dict:
    return {k: v for k, v in features.items() if k != F.KEY}


def validate_first_record(
    shard: str, parser: SequenceExampleParserBuilder, compression_type: str | None = None
) -> None:
    """Check the first record of ``shard`` against what ``parser`` reads; raise naming the fix.

    Catches the common format mistakes up front (all frames in one Feature, a missing or misspelled
    key, floats stored as bytes) instead of the cryptic parse errors they cause deep in tf.data.
    """
    try:
        first = next(iter(tf.data.TFRecordDataset(shard, compression_type=compression_type or "")))
    except StopIteration:
        raise ValueError(f"Shard {shard} holds no records.") from None
    except tf.errors.OpError as error:
        hint = ""
        if not compression_type and _starts_like_gzip(shard):
            hint = (
                " It looks GZIP-compressed: set compression_type='GZIP' (DatasetSpec or "
                "DatasetFactory)."
            )
        raise ValueError(
            f"Shard {shard} is not a readable TFRecord file: {error.message}.{hint}"
        ) from None
    example = tf.train.SequenceExample.FromString(first.numpy())
    context, lists = example.context.feature, example.feature_lists.feature_list
    where = f"record 0 of {shard}"
    present = f"its feature lists are {sorted(lists)} and its context keys are {sorted(context)}"
    for key, (feature_type, is_context) in parser.record_keys.items():
        kind = _KIND[feature_type.dtype]
        if is_context:
            if key in context and context[key].WhichOneof("kind") != kind:
                raise ValueError(
                    f"{where}: context key {key!r} holds {context[key].WhichOneof('kind')}, "
                    f"expected {kind}."
                )
            continue
        if key not in lists:
            raise ValueError(
                f"{where} has no feature list {key!r}; {present}. Write records with "
                "vatt.data.records or pass the right input_feature_name."
            )
        for index, feature in enumerate(lists[key].feature):
            if feature.WhichOneof("kind") != kind:
                raise ValueError(
                    f"{where}: feature list {key!r} entry {index} holds "
                    f"{feature.WhichOneof('kind')}, expected {kind}."
                )
            if isinstance(feature_type, tf.io.FixedLenSequenceFeature):
                count = len(getattr(feature, kind).value)
                if count != 1:
                    raise ValueError(
                        f"{where}: feature list {key!r} entry {index} holds {count} values; the "
                        "format is one Feature per frame with one JPEG each (dmvr-design.md §3)."
                    )


def _starts_like_gzip(path: str) -> bool:
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read(3) == b"\x1f\x8b\x08"


_KIND = {tf.string: "bytes_list", tf.float32: "float_list", tf.int64: "int64_list"}
