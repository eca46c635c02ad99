"""Every loader on records written with vatt.data.records: shapes, dtypes, ranges, determinism, and
the errors bad records get."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import vatt.data as vd
from vatt.data import features, modalities, records, synthetic
from vatt.data.factory import DatasetFactory
from vatt.data.tokenizers import WordTokenizer

RATE = 8000  # the synthetic fixture's sample rate
SMALL = dict(num_frames=4, frame_size=16, min_resize=16, audio_seconds=0.1, audio_sample_rate=RATE)
# The keys of a pretraining batch, as the model reads it (float video: after finish_batch).
PRETRAIN_KEYS = {"video", "audio", "text", "text_mask", "audio_mask", *vd.SHORT_CLIP_KEYS}


def _batch(ds):
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


def _all(ds):
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


def _clip(gradient_frames, num_frames=6, captions=(), labels=(), seconds=0.2, seed=0):
    waveform = np.sin(np.arange(int(seconds * RATE)) / 7.0).astype(np.float32) * 0.5
    return records.Clip(gradient_frames(num_frames, 24, 32, seed), waveform, captions, labels)


def test_pretrain_mixes_datasets_with_masks(
    synthetic_dir, tmp_path, write_dataset, gradient_frames
):
    audioset_like = [_clip(gradient_frames, 12, labels=[1], seed=i) for i in range(4)]
    write_dataset(
        tmp_path,
        "audiosetlike",
        audioset_like,
        modalities=("video", "audio", "label"),
        split="train",
        sample_rate=RATE,
    )
    # The synthetic records live in another directory: an absolute table path reaches them.
    elsewhere = {"name": "synthetic_elsewhere", "splits": {"train": f"{synthetic_dir}/train"}}
    vd.register_dataset(
        vd.DatasetSpec(**{**vd.get_dataset_spec("synthetic_8khz").__dict__, **elsewhere}),
        overwrite=True,
    )
    config = vd.PretrainDataConfig(
        datasets=["synthetic_elsewhere", "audiosetlike"],
        data_dir=str(tmp_path),
        seed=1,
        vocabulary_path=f"{synthetic_dir}/vocab.txt",
        **SMALL,
    )
    batch = _batch(vd.pretrain_dataset(config, batch_size=24))
    assert batch["video"].shape == (24, 4, 16, 16, 3) and batch["video"].dtype == np.float32
    assert -1.0 <= batch["video"].min() < -0.5 and 0.5 < batch["video"].max() <= 1.0
    assert batch["audio"].shape == (24, 800) and batch["audio"].dtype == np.float32
    assert batch["text"].shape == (24, 5, 16) and batch["text"].dtype == np.int32
    has_text = (batch["text"] != 0).any(axis=(1, 2))
    np.testing.assert_array_equal(batch["text_mask"], has_text.astype(np.float32))
    assert 0 < has_text.sum() < 24  # synthetic clips have captions, the others none
    np.testing.assert_array_equal(batch["audio_mask"], np.ones(24))
    assert set(batch) == PRETRAIN_KEYS
    for key in vd.SHORT_CLIP_KEYS:  # every clip holds the 4 frames and 0.1 s read
        assert batch[key].dtype == np.float32
        np.testing.assert_array_equal(batch[key], np.zeros(24))


def test_pretrain_uint8_video_defers_augmentation_to_finish_batch(synthetic_dir):
    config = vd.PretrainDataConfig(
        datasets=["synthetic_8khz"], data_dir=synthetic_dir, seed=2, video_dtype="uint8", **SMALL
    )
    batch = next(iter(vd.pretrain_dataset(config, batch_size=8)))
    assert batch["video"].dtype == tf.uint8 and batch["video"].shape == (8, 4, 16, 16, 3)
    assert batch["video_augment"].shape == (8, 7) and batch["video_augment"].dtype == tf.float32
    assert int(tf.reduce_max(batch["video"])) > 128  # pixels, not [-1, 1] values cast to uint8
    finished = vd.finish_batch(batch)
    assert set(finished) == PRETRAIN_KEYS
    video = finished["video"].numpy()
    assert video.dtype == np.float32 and video.shape == (8, 4, 16, 16, 3)
    assert -1.0 <= video.min() < -0.5 and 0.5 < video.max() <= 1.0
    # Unflipped clips without colour draws are exactly the rounded pixels, normalised.
    draws = batch["video_augment"].numpy()
    plain = (draws[:, 0] == 0) & (draws[:, 1] == 0)
    expected = batch["video"].numpy()[plain].astype(np.float32) * 2 / 255 - 1
    np.testing.assert_allclose(video[plain], expected, atol=1e-6)
    unit = vd.finish_batch(batch, zero_centering=False)["video"].numpy()
    np.testing.assert_allclose(unit * 2 - 1, video, atol=1e-5)
    float_batch = {"video": finished["video"], "audio": finished["audio"]}
    assert vd.finish_batch(float_batch)["video"] is float_batch["video"]


def test_pretrain_resize_on_accelerator_sends_decoded_windows(synthetic_dir):
    config = vd.PretrainDataConfig(
        datasets=["synthetic_8khz"],
        data_dir=synthetic_dir,
        seed=2,
        video_dtype="uint8",
        resize_on_accelerator=True,
        **SMALL,
    )
    batch = next(iter(vd.pretrain_dataset(config, batch_size=8)))
    # The canvas is the records' frame size (32x32 synthetic frames); windows lie inside it.
    assert batch["video"].dtype == tf.uint8 and batch["video"].shape == (8, 4, 32, 32, 3)
    window = batch["video_window"].numpy()
    assert window.shape == (8, 4) and (window[:, :2] >= 0).all()
    assert (window[:, 2:] >= 16).all() and (window[:, :2] + window[:, 2:] <= 32).all()
    finished = vd.finish_batch(batch, frame_size=16)
    assert set(finished) == PRETRAIN_KEYS
    video = finished["video"].numpy()
    assert video.shape == (8, 4, 16, 16, 3) and video.min() >= -1.0 and video.max() <= 1.0
    with pytest.raises(ValueError, match="pass frame_size="):
        vd.finish_batch(batch)
    # Another canvas: windows are placed at its top left, or resized first when they do not fit.
    wide = dataclasses.replace(config, video_canvas=[20, 48])
    batch = next(iter(vd.pretrain_dataset(wide, batch_size=8)))
    assert batch["video"].shape == (8, 4, 20, 48, 3)
    window = batch["video_window"].numpy()
    assert (window[:, :2] == 0).all() and (window[:, 2] <= 20).all()


def test_pretrain_spectrogram_and_mixup(synthetic_dir):
    config = vd.PretrainDataConfig(
        datasets=["synthetic_8khz"],
        data_dir=synthetic_dir,
        audio_spectrogram=True,
        audio_mixup=True,
        color_augment=False,
        scale_jitter=False,
        **SMALL,
    )
    batch = _batch(vd.pretrain_dataset(config, batch_size=4))
    # 800 samples at 8 kHz: hop int(8000 * 0.02134) = 170 -> ceil(800 / 170) = 5 frames.
    assert batch["audio_spectrogram"].shape == (4, 5, 80, 1)
    assert batch["audio_spectrogram"].min() >= 0.0 and batch["audio_spectrogram"].max() <= 1.0
    assert "audio" not in batch
    np.testing.assert_array_equal(batch["text_mask"], np.ones(4))


def test_finetune_training_and_multi_view_evaluation(synthetic_dir):
    config = vd.FinetuneDataConfig(
        name="synthetic_8khz", data_dir=synthetic_dir, mixup=False, **SMALL
    )
    train = _batch(vd.classification_dataset(config, split="train", training=True, batch_size=4))
    assert train["video"].shape == (4, 4, 16, 16, 3)
    assert train["video"].min() >= -1.0 and train["video"].max() <= 1.0
    # Label smoothing 0.1 over 12 classes.
    assert {round(float(v), 5) for v in np.unique(train["label"])} == {
        round(0.1 / 12, 5),
        round(0.9 + 0.1 / 12, 5),
    }
    np.testing.assert_allclose(train["label"].sum(axis=1), 1.0, rtol=1e-5)

    evaluation = vd.classification_dataset(config, split="test", training=False, batch_size=5)
    first, second = _all(evaluation), _all(evaluation)
    assert [b["video"].shape for b in first] == [
        (60, 4, 16, 16, 3),
        (60, 4, 16, 16, 3),
        (24, 4, 16, 16, 3),
    ]
    assert all(b["num_views"] == 12 for b in first)
    assert [b["video_short"].tolist() for b in first] == [[0.0] * 5, [0.0] * 5, [0.0] * 2]
    for a, b in zip(first, second, strict=True):  # evaluation is deterministic
        np.testing.assert_array_equal(a["video"], b["video"])
    labels = np.concatenate([b["label"] for b in first])
    assert labels.shape == (12, 12) and (labels.sum(axis=1) == 1).all()  # no smoothing
    assert sorted(labels.argmax(axis=1)) == list(range(12))


def test_finetune_mixup_mixes_labels(synthetic_dir):
    config = vd.FinetuneDataConfig(
        name="synthetic_8khz",
        data_dir=synthetic_dir,
        mixup=True,
        label_smoothing=0.0,
        color_augment=False,
        **SMALL,
    )
    batch = _batch(vd.classification_dataset(config, split="train", training=True, batch_size=8))
    np.testing.assert_allclose(batch["label"].sum(axis=1), 1.0, rtol=1e-5)
    assert (batch["label"] > 0).sum(axis=1).max() == 2


def test_linear_probe_is_deterministic_middle_clips(synthetic_dir):
    config = vd.EvalDataConfig(
        name="synthetic_8khz", data_dir=synthetic_dir, video_stride=1, **SMALL
    )
    train = vd.classification_dataset(config, split="train", training=True, batch_size=12)
    first, second = _all(train), _all(train)
    assert len(first) == 1 and first[0]["video"].shape == (12, 4, 16, 16, 3)
    assert "num_views" not in first[0]
    np.testing.assert_array_equal(first[0]["video"], second[0]["video"])
    test = _batch(vd.classification_dataset(config, split="test", training=False, batch_size=3))
    assert test["video"].shape == (12, 4, 16, 16, 3) and test["num_views"] == 4


def test_audio_classification_windows(synthetic_dir):
    vd.register_dataset(
        vd.DatasetSpec(
            **{
                **vd.get_dataset_spec("synthetic_8khz").__dict__,
                "name": "synthetic_audio",
                "classification_modality": "audio",
            }
        ),
        overwrite=True,
    )
    config = vd.FinetuneDataConfig(
        name="synthetic_audio", data_dir=synthetic_dir, audio_stride=1, **SMALL
    )
    batch = _batch(vd.classification_dataset(config, split="test", training=False, batch_size=2))
    assert batch["audio"].shape == (8, 800) and batch["num_views"] == 4
    assert "video" not in batch and "video_short" not in batch
    np.testing.assert_array_equal(batch["audio_short"], [0.0, 0.0])
    assert np.abs(batch["audio"]).max() <= 1.0
    assert not np.array_equal(batch["audio"][0], batch["audio"][1])  # distinct windows


def test_retrieval_first_captions_and_windows(synthetic_dir):
    config = vd.EvalDataConfig(name="synthetic_8khz", data_dir=synthetic_dir, **SMALL)
    batches = _all(vd.retrieval_dataset(config, batch_size=8))
    assert [b["video"].shape[0] for b in batches] == [32, 16]
    assert batches[0]["audio"].shape == (32, 800) and batches[0]["text"].shape == (8, 1, 16)
    tokenizer = WordTokenizer(f"{synthetic_dir}/vocab.txt")
    expected = {
        tuple(
            tokenizer.string_tensor_to_indices(
                tf.constant(
                    [
                        synthetic.make_clip(
                            "test",
                            i,
                            synthetic.SyntheticConfig(
                                num_frames=8, frame_size=32, sample_rate=RATE
                            ),
                        ).clip.captions[0]
                    ]
                )
            ).numpy()[0]
        )
        for i in range(12)
    }
    got = {tuple(row) for b in batches for row in b["text"][:, 0]}
    assert got == expected


def _image_factory(tmp_path, clips, **kwargs):
    path = tmp_path / "bad-00000-of-00001"
    records.write_records(
        path, [records.encode_clip(c) if isinstance(c, records.Clip) else c for c in clips]
    )
    factory = DatasetFactory([str(path)])
    modalities.add_image(factory, num_frames=4, crop_size=8, min_resize=8, **kwargs)
    return factory


def test_all_frames_in_one_feature_is_rejected_up_front(tmp_path, gradient_frames):
    example = records.encode_clip(_clip(gradient_frames))
    jpegs = [
        f.bytes_list.value[0]
        for f in example.feature_lists.feature_list[features.IMAGE_KEY].feature
    ]
    del example.feature_lists.feature_list[features.IMAGE_KEY].feature[:]
    example.feature_lists.feature_list[features.IMAGE_KEY].feature.add().bytes_list.value.extend(
        jpegs
    )
    with pytest.raises(
        ValueError, match="entry 0 holds 6 values; the format is one Feature per frame"
    ):
        _image_factory(tmp_path, [example.SerializeToString()]).make_dataset()


def test_missing_key_names_expected_and_present_keys(tmp_path, gradient_frames):
    factory = _image_factory(tmp_path, [_clip(gradient_frames)], input_feature_name="frames/jpeg")
    with pytest.raises(
        ValueError,
        match=r"no feature list 'frames/jpeg'; its feature lists are "
        r"\['WAVEFORM/feature/floats', 'image/encoded'\]",
    ):
        factory.make_dataset()


def test_corrupt_jpeg_names_the_record(tmp_path, gradient_frames):
    good = records.encode_clip(_clip(gradient_frames))
    bad = records.encode_clip(_clip(gradient_frames))
    bad.feature_lists.feature_list[features.IMAGE_KEY].feature[2].bytes_list.value[0] = b"nope"
    ds = _image_factory(tmp_path, [good, bad], is_training=False).make_dataset(
        shuffle=False, num_epochs=1, batch_size=None
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"(?s)not a JPEG.*bad-00000-of-00001#1"
    ):
        list(ds)


def test_label_out_of_range_names_the_record(tmp_path, write_dataset, gradient_frames):
    write_dataset(
        tmp_path, "badlabels", [_clip(gradient_frames, labels=[7])], num_classes=5, sample_rate=RATE
    )
    config = vd.FinetuneDataConfig(name="badlabels", data_dir=str(tmp_path), **SMALL)
    ds = vd.classification_dataset(config, split="test", training=False, batch_size=1)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"(?s)in \[0, 5\).*test-00000-of-00001#0"
    ):
        list(ds)


def test_short_clips_follow_the_policy(tmp_path, gradient_frames):
    short = records.Clip(gradient_frames(2, 8, 8), np.ones(3, np.float32))
    padded = _batch(
        _image_factory(tmp_path, [short], is_training=False, short_input_policy="pad").make_dataset(
            shuffle=False, batch_size=1
        )
    )["video"][0]
    np.testing.assert_array_equal(padded[1], padded[3])  # frames 0, 1, 1, 1
    assert not np.array_equal(padded[0], padded[1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="fewer elements than a window of 4"):
        _batch(
            _image_factory(
                tmp_path, [short], is_training=False, short_input_policy="error"
            ).make_dataset(shuffle=False, batch_size=1)
        )

    factory = DatasetFactory([str(tmp_path / "bad-00000-of-00001")])
    modalities.add_audio(factory, is_training=False, num_samples=5, short_input_policy="pad")
    np.testing.assert_array_equal(
        _batch(factory.make_dataset(batch_size=1))["audio"], [[1, 1, 1, 0, 0]]
    )


_ONE_OF_TOKENIZERS = "one of ('word', 'bert', 'sentencepiece')"


@pytest.mark.parametrize(
    ("config", "values", "error"),
    [
        (
            "PretrainDataConfig",
            {"tokenizer": "gpt"},
            f"tokenizer = 'gpt' is invalid: it must be {_ONE_OF_TOKENIZERS}.",
        ),
        (
            "EvalDataConfig",
            {"tokenizer": "gpt"},
            f"tokenizer = 'gpt' is invalid: it must be {_ONE_OF_TOKENIZERS}.",
        ),
        (
            "PretrainDataConfig",
            {"video_dtype": "float16"},
            "video_dtype = 'float16' is invalid: it must be one of ('float32', 'uint8').",
        ),
        (
            "PretrainDataConfig",
            {"resize_on_accelerator": True},
            "video_dtype = 'float32' is invalid: it must be 'uint8' to resize_on_accelerator.",
        ),
        (
            "PretrainDataConfig",
            {"video_dtype": "uint8", "video_canvas": [8, 48], "frame_size": 16},
            "video_canvas = [8, 48] is invalid: it must be [height, width], each at least frame_size (16).",
        ),
        (
            "PretrainDataConfig",
            {"datasets": []},
            "datasets = [] is invalid: it must be a list of at least one dataset name.",
        ),
        (
            "PretrainDataConfig",
            {"dataset_weights": [1.0]},
            "dataset_weights = [1.0] is invalid: it must be empty (uniform) or one weight per dataset (2).",
        ),
        (
            "PretrainDataConfig",
            {"crop_resize_style": "vgg"},
            "crop_resize_style = 'vgg' is invalid: it must be one of ('VGG', 'Inception').",
        ),
        (
            "FinetuneDataConfig",
            {"crop_resize_style": "vgg"},
            "crop_resize_style = 'vgg' is invalid: it must be one of ('VGG', 'Inception').",
        ),
        (
            "FinetuneDataConfig",
            {"label_smoothing": 1.0},
            "label_smoothing = 1.0 is invalid: it must be in [0, 1).",
        ),
        (
            "FinetuneDataConfig",
            {"short_input_policy": "drop"},
            "short_input_policy = 'drop' is invalid: it must be one of ('loop', 'pad', 'error').",
        ),
        (
            "FinetuneDataConfig",
            {"num_windows_test": 0},
            "num_windows_test = 0 is invalid: it must be at least 1.",
        ),
        (
            "EvalDataConfig",
            {"num_augmentation": 0},
            "num_augmentation = 0 is invalid: it must be at least 1.",
        ),
        (
            "EvalDataConfig",
            {"max_num_words": 0},
            "max_num_words = 0 is invalid: it must be at least 1.",
        ),
        ("EvalDataConfig", {"num_frames": 0}, "num_frames = 0 is invalid: it must be at least 1."),
        (
            "PretrainDataConfig",
            {"audio_stride": 0},
            "audio_stride = 0 is invalid: it must be at least 1.",
        ),
    ],
)
def test_configs_refuse_bad_values_when_built(config, values, error):
    """Each config checks its values on construction and on every replace, as vatt-train does."""
    config_class = getattr(vd, config)
    with pytest.raises(ValueError) as raised:
        config_class(**values)
    assert str(raised.value) == f"{config}.{error}"
    with pytest.raises(ValueError) as raised:
        dataclasses.replace(config_class(), **values)
    assert str(raised.value) == f"{config}.{error}"


def test_loader_configs_keep_their_own_defaults_of_shared_fields():
    """The original's defaults where the three configs differ on a field they share."""
    configs = (vd.PretrainDataConfig(), vd.EvalDataConfig(), vd.FinetuneDataConfig())
    assert [config.video_stride for config in configs] == [1, 2, 2]
    assert [config.audio_stride for config in configs] == [1, 1, 2]
    assert [config.max_context_sentences for config in configs[:2]] == [4, 0]
    assert [configs[0].crop_resize_style, configs[2].crop_resize_style] == ["VGG", "Inception"]


def test_loader_errors_name_the_dataset(synthetic_dir):
    with pytest.raises(ValueError, match="audio_sample_rate=8000"):
        vd.pretrain_dataset(
            vd.PretrainDataConfig(datasets=["synthetic_8khz"], data_dir=synthetic_dir), batch_size=2
        )
    with pytest.raises(ValueError, match="has no captions"):
        vd.retrieval_dataset(vd.EvalDataConfig(name="hmdb51"), batch_size=2)


def test_loaders_flag_the_clips_they_loop_or_pad(tmp_path, write_dataset, gradient_frames):
    # 2 frames and 0.02 s where 4 frames and 0.1 s are read; the other dataset has no audio.
    short = [_clip(gradient_frames, 2, labels=[0], seconds=0.02, seed=i) for i in range(4)]
    long = [_clip(gradient_frames, 12, labels=[1], seed=i) for i in range(4)]
    for name, clips, kept in (
        ("short_av", short, ("video", "audio", "label")),
        ("long_video", long, ("video", "label")),
    ):
        spec = write_dataset(
            tmp_path / name, name, clips, modalities=kept, split="train", sample_rate=RATE
        )
        vd.register_dataset(
            dataclasses.replace(spec, splits={"train": f"{name}/train"}), overwrite=True
        )
    config = vd.PretrainDataConfig(
        datasets=["short_av", "long_video"], data_dir=str(tmp_path), seed=3, **SMALL
    )
    batch = _batch(vd.pretrain_dataset(config, batch_size=16))
    assert 0 < batch["audio_mask"].sum() < 16
    np.testing.assert_array_equal(batch["video_short"], batch["audio_mask"])
    np.testing.assert_array_equal(batch["audio_short"], batch["audio_mask"])

    # Multi-view evaluation: one flag per clip (not per view).
    evaluation = vd.FinetuneDataConfig(name="short_av", data_dir=str(tmp_path), **SMALL)
    batch = _batch(
        vd.classification_dataset(evaluation, split="train", training=False, batch_size=4)
    )
    assert batch["video"].shape[0] == 48
    np.testing.assert_array_equal(batch["video_short"], np.ones(4))
