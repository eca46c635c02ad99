"""The VATT loaders: pretraining, retrieval and classification datasets of contract-1 batches.

``batch_size`` is the global batch. With an ``input_context`` (``distribute_datasets_from_function``)
each input pipeline reads its share of the shards and batches
``input_context.get_per_replica_batch_size(batch_size)`` examples.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from vatt.data import config as config_lib
from vatt.data import features as F
from vatt.data import modalities, processors
from vatt.data.audio import log_mel_spectrogram
from vatt.data.config import EvalDataConfig, FinetuneDataConfig, LoaderConfig, PretrainDataConfig
from vatt.data.factory import DatasetFactory
from vatt.data.registry import DatasetSpec, get_dataset_spec
from vatt.data.tokenizers import get_tokenizer

# Interleave settings of the original BaseLoader.
_CYCLE_LENGTH = 32
_PREFETCH_BATCHES = 16


def pretrain_dataset(
    config: PretrainDataConfig,
    *,
    batch_size: int,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Infinite, shuffled pretraining batches, the datasets mixed per example.

    Keys: ``video`` ``[B, T, S, S, 3]``, ``audio`` ``[B, samples]`` (or ``audio_spectrogram``
    ``[B, frames, 80, 1]``), ``text`` int32 ``[B, max_context_sentences + 1, max_num_words]``,
    ``text_mask`` and ``audio_mask`` ``[B]``, ``video_short`` and ``audio_short`` ``[B]`` (1.0 for
    a clip looped or padded to fill its window, see :mod:`vatt.data.short_clips`). Datasets without captions (AudioSet) give all-pad text
    and ``text_mask`` 0; a HowTo100M clip whose captions are all empty also gets ``text_mask`` 0.
    With ``config.video_dtype == "uint8"``, ``video`` is uint8 and ``video_augment`` ``[B, 7]``
    holds each clip's flip and colour draws: :func:`vatt.data.finish_batch` turns them into the
    float video above, on the accelerator. With ``config.resize_on_accelerator`` too, ``video`` is
    ``[B, T, canvas_h, canvas_w, 3]``, frames holding each clip's decoded crop window, and
    ``video_window`` int32 ``[B, 4]`` says where; :func:`vatt.data.finish_batch` resizes it.
    """
    per_replica = _per_replica_batch(batch_size, input_context)
    specs = [get_dataset_spec(name) for name in config.datasets]
    for spec in specs:
        _check_sample_rate(config, spec)
        if "video" not in spec.modalities:
            raise ValueError(
                f"Pretraining reads video from every dataset; {spec.name!r} has modalities "
                f"{spec.modalities}."
            )
    num_captions = config.max_context_sentences + 1
    audio_window = config_lib.audio_window(config)
    canvas = _video_canvas(config, specs) if config.resize_on_accelerator else None
    tokenizer = None
    if any("text" in spec.modalities for spec in specs):
        text_spec = next(spec for spec in specs if "text" in spec.modalities)
        tokenizer = _tokenizer(config, text_spec)

    datasets = []
    for spec in specs:
        factory = DatasetFactory(spec.shards(config.split, config.data_dir), spec.compression_type)
        factory.tune(
            shuffle_buffer=config.shuffle_buffer, seed=config.seed, cycle_length=_CYCLE_LENGTH
        )
        _add_video(
            factory,
            config,
            spec,
            is_training=True,
            crop_style=config.crop_resize_style,
            scale_jitter=config.scale_jitter,
            color_augment=config.color_augment,
            video_dtype=config.video_dtype,
            canvas=canvas,
            seed=config.seed,
        )
        if "audio" in spec.modalities:
            _add_audio(
                factory, config, is_training=True, noise_gamma=config.audio_noise, seed=config.seed
            )
        if "text" in spec.modalities:
            modalities.add_text(
                factory,
                tokenizer,
                is_training=True,
                max_num_captions=num_captions,
                max_num_tokens=config.max_num_words,
                seed=config.seed,
            )
        factory.preprocessor_builder.add_fn(
            _fill_missing_modalities(spec, config, num_captions, audio_window.num_steps),
            fn_name="pretrain_masks",
        )
        datasets.append(
            factory.make_dataset(
                shuffle=True, num_epochs=None, batch_size=None, input_context=input_context
            )
        )
    if len(datasets) == 1:
        ds = datasets[0]
    else:
        weights = config.dataset_weights or [1.0 / len(datasets)] * len(datasets)
        ds = tf.data.Dataset.sample_from_datasets(datasets, weights=weights, seed=config.seed)
    ds = ds.batch(per_replica, drop_remainder=True)
    if config.audio_mixup:
        audio_key = _input_key("audio", config.audio_spectrogram)
        mixup = _mixup(config, audio_key, beta=config.mixup_beta, mix_labels=False)
        ds = ds.map(mixup, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(_PREFETCH_BATCHES)


def _video_canvas(config: PretrainDataConfig, specs: list[DatasetSpec]) -> tuple[int, int]:
    """``config.video_canvas``, or the largest frame size among the datasets' first records."""
    if config.video_canvas:
        height, width = config.video_canvas
        return int(height), int(width)
    sizes = [_first_frame_size(spec, config.split, config.data_dir) for spec in specs]
    height = max(config.frame_size, *(h for h, _ in sizes))
    width = max(config.frame_size, *(w for _, w in sizes))
    return height, width


def _first_frame_size(spec: DatasetSpec, split: str, data_dir: str) -> tuple[int, int]:
    shard = spec.shards(split, data_dir)[0]
    records = tf.data.TFRecordDataset(shard, compression_type=spec.compression_type)
    for record in records.take(1):
        _, sequence = tf.io.parse_single_sequence_example(
            record,
            sequence_features={F.IMAGE_KEY: tf.io.FixedLenSequenceFeature((), tf.string)},
        )
        frames = sequence[F.IMAGE_KEY]
        if tf.size(frames) > 0:
            shape = tf.image.extract_jpeg_shape(frames[0]).numpy()
            return int(shape[0]), int(shape[1])
    raise ValueError(
        f"cannot size the video canvas of {spec.name!r}: the first record of {shard} has no "
        f"frames; set PretrainDataConfig.video_canvas=[height, width]"
    )


def _fill_missing_modalities(
    spec: DatasetSpec, config: PretrainDataConfig, num_captions: int, num_samples: int
):
    """Zero inputs and 0 masks for what a dataset lacks, so mixed datasets share one structure."""
    has_text, has_audio = "text" in spec.modalities, "audio" in spec.modalities

    def fill(features):
        features = dict(features)
        if has_text:
            features[F.TEXT_MASK] = tf.cast(tf.reduce_any(features[F.TEXT] != 0), tf.float32)
        else:
            features[F.TEXT] = tf.zeros([num_captions, config.max_num_words], tf.int32)
            features[F.TEXT_MASK] = tf.constant(0.0)
        features[F.AUDIO_MASK] = tf.constant(1.0 if has_audio else 0.0)
        if not has_audio:
            features[F.AUDIO_SHORT] = tf.constant(0.0)
            waveform = tf.zeros([num_samples])
            if config.audio_spectrogram:
                features[F.AUDIO_SPECTROGRAM] = log_mel_spectrogram(
                    waveform, config.audio_sample_rate
                )
            else:
                features[F.AUDIO] = waveform
        return features

    return fill


def retrieval_dataset(config: EvalDataConfig, *, batch_size: int) -> tf.data.Dataset:
    """One deterministic pass over the ``test`` split of a video-text dataset.

    ``video`` ``[B·V, T, S, S, 3]`` and ``audio`` ``[B·V, samples]`` with ``V = num_windows_test``
    linspaced windows (central crops), ``text`` ``[B, max_context_sentences + 1, max_num_words]``
    (the first captions), ``num_views`` = V, ``video_short`` and ``audio_short`` ``[B]``.
    """
    if config.multi_crop:
        raise ValueError(
            "EvalDataConfig.multi_crop applies to classification; retrieval stacks the same "
            "windows for video and audio. Set multi_crop=False."
        )
    spec = get_dataset_spec(config.name)
    _check_sample_rate(config, spec)
    if "text" not in spec.modalities:
        raise ValueError(
            f"Dataset {spec.name!r} has no captions (modalities {spec.modalities}); retrieval "
            "needs a video-text dataset such as youcook2 or msrvtt."
        )
    factory = DatasetFactory(spec.shards("test", config.data_dir), spec.compression_type)
    views = config.num_windows_test
    if "video" in spec.modalities:
        _add_eval_video(factory, config, spec, num_crops=1)
    if "audio" in spec.modalities:
        _add_eval_audio(factory, config)
    modalities.add_text(
        factory,
        _tokenizer(config, spec),
        is_training=False,
        max_num_captions=config.max_context_sentences + 1,
        max_num_tokens=config.max_num_words,
    )
    _add_num_views(factory, views)
    return factory.make_dataset(
        shuffle=False, num_epochs=1, batch_size=batch_size, drop_remainder=False
    )


def classification_dataset(
    config: EvalDataConfig | FinetuneDataConfig,
    *,
    split: str,
    training: bool,
    batch_size: int,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Video or audio clips (the dataset spec's ``classification_modality``) with ``label``
    float32 ``[B, num_classes]`` and ``video_short`` (or ``audio_short``) ``[B]``.

    With a ``FinetuneDataConfig``: ``training`` gives infinite shuffled batches (Inception or VGG
    crop, flip, colour augmentation, audio noise, label smoothing, optional mixup of inputs and
    labels with Beta(alpha, alpha)); otherwise one deterministic pass with
    ``num_windows_test`` windows (times 3 crops with ``multi_crop``) stacked as ``[B·V, ...]``.

    With an ``EvalDataConfig`` (linear probe): ``training`` gives one deterministic pass of middle
    clips with central crops (``num_augmentation`` > 1: that many passes of random Inception crops);
    otherwise the multi-view evaluation as above. Evaluation batches carry ``num_views``.
    """
    spec = get_dataset_spec(config.name)
    if "label" not in spec.modalities:
        raise ValueError(f"Dataset {spec.name!r} has no labels (modalities {spec.modalities}).")
    modality = spec.classification_modality
    if modality == "audio":
        _check_sample_rate(config, spec)
    finetune = isinstance(config, FinetuneDataConfig)
    factory = DatasetFactory(spec.shards(split, config.data_dir), spec.compression_type)
    if finetune:
        factory.tune(
            shuffle_buffer=config.shuffle_buffer, seed=config.seed, cycle_length=_CYCLE_LENGTH
        )
    num_crops = 3 if config.multi_crop and modality == "video" else 1
    views = config.num_windows_test * (num_crops if modality == "video" else 1)
    random_passes = (not finetune) and training and config.num_augmentation > 1

    if not training:
        if modality == "video":
            _add_eval_video(factory, config, spec, num_crops=num_crops)
        else:
            _add_eval_audio(factory, config)
        _add_num_views(factory, views)
    elif modality == "video":
        _add_video(
            factory,
            config,
            spec,
            is_training=finetune or random_passes,
            crop_style=config.crop_resize_style if finetune else modalities.INCEPTION,
            random_flip=finetune,
            color_augment=finetune and config.color_augment,
            seed=config.seed if finetune else None,
        )
    else:
        _add_audio(
            factory,
            config,
            is_training=finetune or random_passes,
            noise_gamma=config.audio_noise if finetune else 0.0,
            seed=config.seed if finetune else None,
        )
    modalities.add_label(factory, num_classes=spec.num_classes)

    if finetune and training:
        input_key = _input_key(modality, config.audio_spectrogram)
        if config.label_smoothing > 0:
            smoothing = config.label_smoothing
            factory.postprocessor_builder.add_fn(
                lambda y: processors.label_smoothing(y, smoothing), F.LABEL, "label_smoothing"
            )
        if config.mixup:
            factory.postprocessor_builder.add_fn(
                _mixup(config, input_key, beta=config.mixup_alpha, mix_labels=True), fn_name="mixup"
            )
        return factory.make_dataset(
            shuffle=True,
            num_epochs=None,
            batch_size=_per_replica_batch(batch_size, input_context),
            drop_remainder=True,
            input_context=input_context,
        )
    return factory.make_dataset(
        shuffle=False,
        num_epochs=config.num_augmentation if random_passes else 1,
        batch_size=_per_replica_batch(batch_size, input_context),
        drop_remainder=False,
        input_context=input_context,
    )


def _add_video(
    factory: DatasetFactory, config: LoaderConfig, spec: DatasetSpec, **options: Any
) -> None:
    """Adds the video window ``config`` reads from a record of ``spec``, resized and cropped to its
    frame size; ``options`` (training, augmentation, test views) go to ``modalities.add_image``."""
    window = config_lib.video_window(config, spec)
    modalities.add_image(
        factory,
        num_frames=window.num_steps,
        stride=window.stride,
        min_resize=config.min_resize,
        crop_size=config.frame_size,
        zero_centering_image=config.zero_centering_image,
        short_input_policy=config.short_input_policy,
        **options,
    )


def _add_audio(
    factory: DatasetFactory, config: LoaderConfig, *, num_test_clips: int = 1, **options: Any
) -> None:
    """Adds the audio window ``config`` reads (and its spectrogram if the config asks for it);
    ``options`` go to ``modalities.add_audio``."""
    window = config_lib.audio_window(config)
    modalities.add_audio(
        factory,
        num_samples=window.num_steps,
        stride=window.stride,
        num_test_clips=num_test_clips,
        short_input_policy=config.short_input_policy,
        **options,
    )
    if config.audio_spectrogram:
        modalities.add_spectrogram(
            factory, sample_rate=config.audio_sample_rate, num_test_clips=num_test_clips
        )


def _add_eval_video(
    factory: DatasetFactory, config: LoaderConfig, spec: DatasetSpec, *, num_crops: int
) -> None:
    _add_video(
        factory,
        config,
        spec,
        is_training=False,
        num_test_clips=config.num_windows_test,
        num_test_crops=num_crops,
    )


def _add_eval_audio(factory: DatasetFactory, config: LoaderConfig) -> None:
    _add_audio(factory, config, is_training=False, num_test_clips=config.num_windows_test)


def _add_num_views(factory: DatasetFactory, views: int) -> None:
    factory.postprocessor_builder.add_fn(
        lambda batch: {**batch, F.NUM_VIEWS: tf.constant(views, tf.int32)}, fn_name="num_views"
    )


def _mixup(
    config: PretrainDataConfig | FinetuneDataConfig,
    input_key: str,
    *,
    beta: float,
    mix_labels: bool,
):
    """The batch function mixing ``input_key`` (and the labels if ``mix_labels``) of each example
    with a random partner, λ ~ Beta(config.mixup_alpha, beta)."""
    return lambda batch: processors.batched_mixup(
        batch,
        input_key,
        alpha=config.mixup_alpha,
        beta=beta,
        mix_labels=mix_labels,
        seed=config.seed,
    )


def _input_key(modality: str, spectrogram: bool) -> str:
    if modality == "video":
        return F.VIDEO
    return F.AUDIO_SPECTROGRAM if spectrogram else F.AUDIO


def _per_replica_batch(batch_size: int, input_context: tf.distribute.InputContext | None) -> int:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if input_context is None:
        return batch_size
    return input_context.get_per_replica_batch_size(batch_size)


def _check_sample_rate(config, spec: DatasetSpec) -> None:
    if "audio" in spec.modalities and spec.sample_rate != config.audio_sample_rate:
        raise ValueError(
            f"Dataset {spec.name!r} stores audio at {spec.sample_rate} Hz but "
            f"{type(config).__name__}.audio_sample_rate is {config.audio_sample_rate}; the loaders "
            f"do not resample: set audio_sample_rate={spec.sample_rate}."
        )


def _tokenizer(config, spec: DatasetSpec):
    path = config.vocabulary_path
    if not path:
        if not spec.vocabulary:
            raise ValueError(
                f"No vocabulary for the {config.tokenizer!r} tokenizer: set "
                f"{type(config).__name__}.vocabulary_path (dataset {spec.name!r} names none)."
            )
        path = os.path.join(config.data_dir, spec.vocabulary)
    return get_tokenizer(config.tokenizer, path)
