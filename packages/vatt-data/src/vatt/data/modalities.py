"""Modalities: each ``add_*`` registers the named steps that read one modality on a factory.

Step names (what ``remove_fn``/``replace_fn`` take) are ``<output>_<step>``, e.g. ``video_random_sample``,
``video_decode_crop_resize``, ``video_augment_normalize`` (training: random flip, colour
augmentation and normalisation fused in one XLA kernel; replace it with a composition of
``processors.random_flip_left_right``, ``normalize_image`` and ``color_default_augm`` to change one
part), ``video_augment_params`` (training with ``video_dtype="uint8"``: uint8 frames and the clip's
draws instead), ``video_normalize`` (evaluation), ``video_reshape``; ``audio_first_entry``, ``audio_random_sample``,
``audio_gaussian_noise``, ``audio_reshape``; ``audio_spectrogram``, ``audio_spectrogram_reshape``;
``text_sparse_to_dense``, ``text_sample_captions``, ``text_tokenization``; ``label_sparse_to_dense``,
``label_one_hot``. Window sampling is stateful in the sampler, so video and audio windows start at
the same relative time when both are sampled at random (``sync_random_state``). The sample step
also writes ``<output>_short`` (``features.SHORT_SUFFIX``), float32 1.0 when the clip's window
reached past the end of the record and was looped or padded (``short_input_policy``), else 0.0.
"""

from __future__ import annotations

import tensorflow as tf

from vatt.data import audio as audio_ops
from vatt.data import features as F
from vatt.data import processors, sampling
from vatt.data.config import VIDEO_DTYPES
from vatt.data.factory import DatasetFactory

VGG = "VGG"
INCEPTION = "Inception"


def _sample_step(
    name: str,
    *,
    is_training: bool,
    num_steps: int,
    stride: int,
    num_test_clips: int,
    policy: str,
    zero_pad: bool,
    seed: int | None,
):
    def sample(features, state=None):
        sequence, record = features[name], features.get(F.KEY)
        kwargs = dict(
            policy=policy, zero_pad=zero_pad, name=name, record=record, return_overrun=True
        )
        if is_training:
            window, overrun = sampling.sample_sequence(
                sequence, num_steps, True, stride, seed=seed, state=state, **kwargs
            )
        elif num_test_clips > 1:
            window, overrun = sampling.sample_linspace_sequence(
                sequence, num_test_clips, num_steps, stride, **kwargs
            )
        else:
            window, overrun = sampling.sample_sequence(sequence, num_steps, False, stride, **kwargs)
        short = tf.cast(overrun, tf.float32)
        return {**features, name: window, f"{name}{F.SHORT_SUFFIX}": short}

    if is_training:
        suffix = "random_sample"
    else:
        suffix = "linspace_sample" if num_test_clips > 1 else "middle_sample"
    return sample, f"{name}_{suffix}"


def add_image(
    factory: DatasetFactory,
    *,
    input_feature_name: str = F.IMAGE_KEY,
    output_feature_name: str = F.VIDEO,
    is_training: bool = True,
    num_frames: int = 32,
    stride: int = 1,
    num_test_clips: int = 1,
    num_test_crops: int = 1,
    min_resize: int = 224,
    crop_size: int = 224,
    crop_style: str = VGG,
    scale_jitter: bool = False,
    random_flip: bool = True,
    color_augment: bool = False,
    prob_color_drop: float = 0.0,
    zero_centering_image: bool = True,
    sync_random_state: bool = True,
    short_input_policy: str = "loop",
    video_dtype: str = "float32",
    canvas: tuple[int, int] | None = None,
    seed: int | None = None,
) -> None:
    """Frames: one JPEG per feature-list entry -> float32 ``[T, crop, crop, 3]`` in [-1, 1] (or
    [0, 1] without zero centring); ``[B·V, T, crop, crop, 3]`` after batching with
    ``V = num_test_clips · num_test_crops`` views in evaluation.

    ``video_dtype="uint8"`` (training only) stops after the crop and resize: uint8 frames rounded
    from the resize, plus ``<output>_augment`` float32 ``[7]``, the clip's flip and colour draws,
    which :func:`vatt.data.accelerator.finish_video` applies on the accelerator. With a ``canvas``
    (``[height, width]``) the resize is left to it too: the frames are on the canvas (decoded
    whole when they have its size, else their crop window at its top left, zeros around) and
    ``<output>_window`` (int32 ``[4]``) says where the crop window is.

    Training: random window, then ``crop_style`` ``VGG`` (optional scale jitter, shorter side to
    ``min_resize``, random ``crop_size`` crop) or ``Inception`` (``sample_distorted_bounding_box``),
    random flip, optional colour augmentation. Evaluation: middle window (or ``num_test_clips``
    linspaced windows), shorter side to ``min_resize``, central crop (or ``num_test_crops`` = 3 crops
    along the longer side).
    """
    if crop_style not in (VGG, INCEPTION):
        raise ValueError(f"crop_style must be {VGG!r} or {INCEPTION!r}, got {crop_style!r}.")
    if num_test_crops not in (1, 3):
        raise ValueError(f"num_test_crops must be 1 or 3, got {num_test_crops}.")
    if video_dtype not in VIDEO_DTYPES:
        raise ValueError(f"video_dtype must be one of {VIDEO_DTYPES}, got {video_dtype!r}.")
    if video_dtype == "uint8" and not is_training:
        raise ValueError(
            "video_dtype='uint8' defers training augmentation to the accelerator; evaluation "
            "loaders give float32 video."
        )
    if canvas is not None and video_dtype != "uint8":
        raise ValueError("a canvas (resize on the accelerator) needs video_dtype='uint8'.")
    name = output_feature_name
    factory.parser_builder.parse_feature(
        input_feature_name, tf.io.FixedLenSequenceFeature((), tf.string), name
    )
    sample, sample_name = _sample_step(
        name,
        is_training=is_training,
        num_steps=num_frames,
        stride=stride,
        num_test_clips=num_test_clips,
        policy=short_input_policy,
        zero_pad=False,
        seed=seed,
    )
    factory.sampler_builder.add_fn(sample, fn_name=sample_name, stateful=sync_random_state)

    def decode(features, state):
        frames, record = features[name], features.get(F.KEY)
        if not is_training and num_test_crops > 1:
            video = processors.decode_resize_multi_crop(
                frames, crop_size, min_resize, num_test_crops, record=record
            )
            return {**features, name: video}
        if processors.CROP_BOX_KEY not in state:
            height, width = processors.jpeg_shape(frames, record)
            if is_training and crop_style == INCEPTION:
                box = processors.inception_crop_box(height, width, seed=seed)
            else:
                box = processors.vgg_crop_box(
                    height,
                    width,
                    crop_size,
                    min_resize,
                    random=is_training,
                    scale_jitter=is_training and scale_jitter,
                    seed=seed,
                )
            state[processors.CROP_BOX_KEY] = box
        box = state[processors.CROP_BOX_KEY]
        if canvas is not None:
            video, window = processors.decode_into_canvas(
                frames, box, canvas, crop_size, record=record
            )
            return {**features, name: video, f"{name}{F.WINDOW_SUFFIX}": window}
        video = processors.decode_crop_resize(frames, box, crop_size, record=record)
        return {**features, name: video}

    factory.decoder_builder.add_fn(decode, fn_name=f"{name}_decode_crop_resize", stateful=True)

    if video_dtype == "uint8":

        def defer_augmentation(features, state):
            draws = processors.augment_params(
                state,
                random_flip=random_flip,
                color_augment=color_augment,
                prob_color_drop=prob_color_drop,
                seed=seed,
            )
            video = features[name]
            if video.dtype != tf.uint8:  # resized on the host
                video = processors.round_to_uint8(video)
            return {**features, name: video, f"{name}{F.AUGMENT_SUFFIX}": draws}

        factory.preprocessor_builder.add_fn(
            defer_augmentation, fn_name=f"{name}_augment_params", stateful=True
        )
    elif is_training and (random_flip or color_augment):
        factory.preprocessor_builder.add_fn(
            lambda x, state: processors.flip_color_normalize(
                x,
                state,
                random_flip=random_flip,
                color_augment=color_augment,
                zero_centering=zero_centering_image,
                prob_color_drop=prob_color_drop,
                seed=seed,
            ),
            name,
            f"{name}_augment_normalize",
            stateful=True,
        )
    else:
        factory.preprocessor_builder.add_fn(
            lambda x: processors.normalize_image(x, zero_centering_image), name, f"{name}_normalize"
        )

    num_views = 1 if is_training else num_test_clips * num_test_crops
    if num_views > 1:
        factory.postprocessor_builder.add_fn(
            lambda x: tf.reshape(x, [-1, num_frames, crop_size, crop_size, 3]),
            name,
            f"{name}_reshape",
        )


def add_audio(
    factory: DatasetFactory,
    *,
    input_feature_name: str = F.WAVEFORM_KEY,
    output_feature_name: str = F.AUDIO,
    is_training: bool = True,
    num_samples: int = 153_600,
    stride: int = 1,
    num_test_clips: int = 1,
    noise_gamma: float = 0.0,
    sync_random_state: bool = True,
    short_input_policy: str = "loop",
    seed: int | None = None,
) -> None:
    """Waveform: one float Feature holding the whole clip -> float32 ``[num_samples]``
    (``[B·num_test_clips, num_samples]`` after batching in multi-window evaluation).

    A short waveform is looped, zero-padded or rejected by ``short_input_policy``; in training,
    Gaussian noise of σ = ``noise_gamma`` · max|x| is added when ``noise_gamma`` > 0.
    """
    name = output_feature_name
    # Ragged, not VarLen: a VarLen feature builds an int64 index pair per audio sample.
    factory.parser_builder.parse_feature(input_feature_name, tf.io.RaggedFeature(tf.float32), name)

    def first_entry(features):
        ragged, record = features[name], features.get(F.KEY)
        where = [] if record is None else ["record:", record]
        missing = [f"no waveform under {input_feature_name!r}", *where]
        with tf.control_dependencies([tf.debugging.Assert(ragged.nrows() > 0, missing)]):
            waveform = ragged[0]
        # NaN audio would only surface later as a NaN loss; it is what DMVR's generator writes
        # (with decode_audio, s32le bytes read as float32: negative samples become NaN).
        not_finite = [
            f"the waveform under {input_feature_name!r} holds NaN or Inf; store float32 in "
            "[-1, 1] (records from DMVR's generate_from_file with --decode_audio hold int32 "
            "samples read as float32: rewrite them with `vatt-data convert`)",
            *where,
        ]
        finite = tf.reduce_all(tf.math.is_finite(waveform))
        with tf.control_dependencies([tf.debugging.Assert(finite, not_finite)]):
            waveform = tf.identity(waveform)
        return {**features, name: waveform}

    factory.sampler_builder.add_fn(first_entry, fn_name=f"{name}_first_entry")
    sample, sample_name = _sample_step(
        name,
        is_training=is_training,
        num_steps=num_samples,
        stride=stride,
        num_test_clips=num_test_clips,
        policy=short_input_policy,
        zero_pad=True,
        seed=seed,
    )
    factory.sampler_builder.add_fn(sample, fn_name=sample_name, stateful=sync_random_state)
    if is_training and noise_gamma > 0:
        factory.preprocessor_builder.add_fn(
            lambda x: audio_ops.add_gaussian_noise(x, noise_gamma, seed=seed),
            name,
            f"{name}_gaussian_noise",
        )
    if not is_training and num_test_clips > 1:
        factory.postprocessor_builder.add_fn(
            lambda x: tf.reshape(x, [-1, num_samples]), name, f"{name}_reshape"
        )


def add_spectrogram(
    factory: DatasetFactory,
    *,
    input_feature_name: str = F.AUDIO,
    output_feature_name: str = F.AUDIO_SPECTROGRAM,
    sample_rate: int = F.DEFAULT_SAMPLE_RATE,
    num_test_clips: int = 1,
    keep_waveform: bool = False,
) -> None:
    """VATT's normalised log-mel spectrogram of the sampled waveform: float32 ``[frames, 80, 1]``
    (``[B·num_test_clips, frames, 80, 1]`` after batching). Call after ``add_audio``."""

    def spectrogram(features):
        waveform = tf.reshape(features[input_feature_name], [num_test_clips, -1])
        mel = audio_ops.log_mel_spectrogram(waveform, sample_rate)
        if num_test_clips == 1:
            mel = mel[0]
        features = {**features, output_feature_name: mel}
        if not keep_waveform:
            del features[input_feature_name]
        return features

    factory.preprocessor_builder.add_fn(spectrogram, fn_name=output_feature_name)
    if num_test_clips > 1:
        factory.postprocessor_builder.add_fn(
            lambda x: tf.reshape(x, [-1, *x.shape[2:]]),
            output_feature_name,
            f"{output_feature_name}_reshape",
        )


def add_text(
    factory: DatasetFactory,
    tokenizer,
    *,
    input_feature_name: str = F.CAPTION_KEY,
    output_feature_name: str = F.TEXT,
    is_training: bool = True,
    max_num_captions: int = 1,
    max_num_tokens: int = 16,
    prepend_bos: bool = False,
    append_eos: bool = False,
    keep_raw_string: bool = False,
    seed: int | None = None,
) -> None:
    """Captions (context bytes, one or more) -> int32 ``[max_num_captions, max_num_tokens]``.

    Training takes a random choice of captions, evaluation the first ones; missing captions are
    empty strings, i.e. all-pad rows. ``keep_raw_string`` also keeps the chosen strings under
    ``features.TEXT_STRING``.
    """
    name = output_feature_name
    raw = f"{name}_raw"
    factory.parser_builder.parse_feature(
        input_feature_name, tf.io.VarLenFeature(tf.string), raw, is_context=True
    )
    factory.decoder_builder.add_fn(tf.sparse.to_dense, raw, f"{name}_sparse_to_dense")
    factory.preprocessor_builder.add_fn(
        lambda x: sampling.sample_or_pad_non_sorted_sequence(
            x, max_num_captions, b"", is_training, seed=seed
        ),
        raw,
        f"{name}_sample_captions",
    )

    def tokenize(features):
        features = dict(features)
        strings = features.pop(raw)
        ids = tokenizer.string_tensor_to_indices(
            strings, prepend_bos=prepend_bos, append_eos=append_eos, max_num_tokens=max_num_tokens
        )
        features[name] = tf.ensure_shape(ids, [max_num_captions, max_num_tokens])
        if keep_raw_string:
            features[F.TEXT_STRING] = strings
        return features

    factory.preprocessor_builder.add_fn(tokenize, fn_name=f"{name}_tokenization")


def add_label(
    factory: DatasetFactory,
    *,
    num_classes: int,
    input_label_index_feature_name: str = F.LABEL_INDEX_KEY,
    output_label_index_feature_name: str = F.LABEL,
    one_hot_label: bool = True,
    add_label_name: bool = False,
    input_label_name_feature_name: str = F.LABEL_TEXT_KEY,
    output_label_name_feature_name: str = F.LABEL_NAME,
) -> None:
    """Class ids (context int64, one or more) -> float32 one-hot / multi-hot ``[num_classes]``, or
    with ``one_hot_label=False`` the single id as int64 ``[1]``. Ids out of range are errors."""
    name = output_label_index_feature_name
    factory.parser_builder.parse_feature(
        input_label_index_feature_name, tf.io.VarLenFeature(tf.int64), name, is_context=True
    )
    factory.decoder_builder.add_fn(tf.sparse.to_dense, name, f"{name}_sparse_to_dense")

    def encode(features):
        indices, record = features[name], features.get(F.KEY)
        if one_hot_label:
            label = processors.labels_to_multi_hot(indices, num_classes, record)
        else:
            label = tf.ensure_shape(
                tf.cast(processors.check_labels(indices, num_classes, record), tf.int64), [1]
            )
        return {**features, name: label}

    factory.preprocessor_builder.add_fn(encode, fn_name=f"{name}_one_hot")
    if add_label_name:
        factory.parser_builder.parse_feature(
            input_label_name_feature_name,
            tf.io.VarLenFeature(tf.string),
            output_label_name_feature_name,
            is_context=True,
        )
        factory.decoder_builder.add_fn(
            tf.sparse.to_dense,
            output_label_name_feature_name,
            f"{output_label_name_feature_name}_sparse_to_dense",
        )
