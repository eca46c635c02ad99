"""The validator names the file, record, key and fix of the first bad record."""

import dataclasses
import re

import numpy as np
import pytest
import tensorflow as tf

import vatt.data as vd
from vatt.data import config, features, records, validate
from vatt.data.registry import DatasetSpec
from vatt.data.synthetic import SYNTHETIC

TWO_CLASSES = DatasetSpec(
    name="two_classes", splits={"train": "train"}, modalities=("video", "label"), num_classes=2
)


def _good(label=3):
    frames = np.random.default_rng(label).integers(0, 255, (4, 16, 24, 3), dtype=np.uint8)
    clip = records.Clip(
        frames=frames,
        waveform=np.linspace(-0.5, 0.5, 800),
        captions=["a red circle moving left"],
        labels=[label],
    )
    return records.encode_clip(clip)


def _frames(example):
    return example.feature_lists.feature_list[features.IMAGE_KEY].feature


def _all_frames_in_one_feature(example):
    jpegs = [f.bytes_list.value[0] for f in _frames(example)]
    del example.feature_lists.feature_list[features.IMAGE_KEY]
    example.feature_lists.feature_list[features.IMAGE_KEY].feature.add().bytes_list.value.extend(
        jpegs
    )


def _missing_waveform(example):
    del example.feature_lists.feature_list[features.WAVEFORM_KEY]


def _misspelled_waveform(example):
    lists = example.feature_lists.feature_list
    lists["waveform/floats"].CopyFrom(lists[features.WAVEFORM_KEY])
    del lists[features.WAVEFORM_KEY]


def _corrupt_jpeg(example):
    entry = _frames(example)[2].bytes_list
    entry.value[0] = entry.value[0][:40]


def _label_out_of_range(example):
    example.context.feature[features.LABEL_INDEX_KEY].int64_list.value[0] = 12


def _empty_waveform(example):
    del example.feature_lists.feature_list[features.WAVEFORM_KEY].feature[0].float_list.value[:]


def _int16_waveform(example):
    values = example.feature_lists.feature_list[features.WAVEFORM_KEY].feature[0].float_list.value
    values[0] = 16384.0


def _two_waveform_entries(example):
    waveform = example.feature_lists.feature_list[features.WAVEFORM_KEY].feature
    waveform.add().float_list.value.extend([0.0, 0.1])


def _frame_sizes_differ(example):
    other = tf.io.encode_jpeg(np.zeros((8, 8, 3), np.uint8)).numpy()
    _frames(example)[1].bytes_list.value[0] = other


def _no_captions(example):
    del example.context.feature[features.CAPTION_KEY]


def _two_labels(example):
    example.context.feature[features.LABEL_INDEX_KEY].int64_list.value.append(1)


@pytest.mark.parametrize(
    ("break_record", "key", "message"),
    [
        (_all_frames_in_one_feature, features.IMAGE_KEY, "all 4 frames are in ONE feature-list"),
        (_missing_waveform, features.WAVEFORM_KEY, "missing; the record has feature lists"),
        (_misspelled_waveform, features.WAVEFORM_KEY, "Did you mean 'waveform/floats'"),
        (_corrupt_jpeg, features.IMAGE_KEY, "frame 2 is not a decodable JPEG"),
        (_label_out_of_range, features.LABEL_INDEX_KEY, "label 12 is out of range .* 12 classes"),
        (_empty_waveform, features.WAVEFORM_KEY, "the waveform is empty"),
        (_int16_waveform, features.WAVEFORM_KEY, "reaches 16384.* divide by 32768"),
        (_two_waveform_entries, features.WAVEFORM_KEY, "has 2 feature-list entries"),
        (_frame_sizes_differ, features.IMAGE_KEY, "frame 1 is 8x8 but frame 0 is 16x24"),
        (_no_captions, features.CAPTION_KEY, "missing"),
        (_two_labels, features.LABEL_INDEX_KEY, "holds 2 labels .* single-label"),
    ],
)
def test_first_bad_record_is_named(tmp_path, break_record, key, message):
    bad = _good()
    break_record(bad)
    good_file = tmp_path / "train-00000-of-00002"
    bad_file = tmp_path / "train-00001-of-00002"
    records.write_records(good_file, [_good(i) for i in range(3)])
    records.write_records(bad_file, [_good(4), _good(5), bad, _good(6)])
    files = validate.record_files(tmp_path)
    report = validate.validate_records(files, SYNTHETIC)
    assert not report.ok
    assert report.num_records == 5
    problem = report.problem
    assert (problem.path, problem.index, problem.key) == (str(bad_file), 2, key)
    assert re.search(message, problem.message), problem.message
    assert str(problem).startswith(f"{bad_file}, record 2, key {key!r}: ")
    with pytest.raises(ValueError, match=re.escape(f"key {key!r}")):
        validate.check_record(bad.SerializeToString(), SYNTHETIC)


def test_good_records_pass_and_only_required_keys_are_checked(tmp_path):
    path = tmp_path / "clips"
    example = _good(1)
    del example.context.feature[features.CAPTION_KEY]
    records.write_records(path, [_good(0), example])
    assert not validate.validate_records([str(path)], SYNTHETIC).ok
    report = validate.validate_records([str(path)], TWO_CLASSES)
    assert report.ok and report.num_records == 2 and report.problem is None
    validate.check_record(example.SerializeToString(), TWO_CLASSES)


def test_an_example_instead_of_a_sequence_example_is_explained(tmp_path):
    jpeg = tf.io.encode_jpeg(np.zeros((4, 4, 3), np.uint8)).numpy()
    example = tf.train.Example()
    example.features.feature[features.IMAGE_KEY].bytes_list.value.append(jpeg)
    example.features.feature[features.LABEL_INDEX_KEY].int64_list.value.append(0)
    with pytest.raises(ValueError, match="found in context, but it must be one feature-list"):
        validate.check_record(example.SerializeToString(), TWO_CLASSES)


def test_unparsable_record_and_file(tmp_path):
    path = tmp_path / "clips"
    records.write_records(path, [_good(0), b"\x0a\xff\xff not a proto"])
    report = validate.validate_records([str(path)], SYNTHETIC)
    assert (report.problem.index, report.problem.key) == (1, None)
    assert "not a tf.train.SequenceExample" in report.problem.message

    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"this is not a TFRecord file at all, just text")
    report = validate.validate_records([str(garbage)], SYNTHETIC)
    assert (report.problem.path, report.problem.index) == (str(garbage), 0)
    assert "not a readable TFRecord file" in report.problem.message


def test_max_records_and_header_only_checks(tmp_path):
    bad = _good()
    entry = _frames(bad)[3].bytes_list
    entry.value[0] = entry.value[0][:-50]  # the header is intact, the image data is cut short
    path = tmp_path / "clips"
    records.write_records(path, [_good(0), bad])
    assert validate.validate_records([str(path)], SYNTHETIC, max_records_per_file=1).ok
    assert validate.validate_records([str(path)], SYNTHETIC, decode_frames=False).ok
    problem = validate.validate_records([str(path)], SYNTHETIC).problem
    assert (problem.index, problem.key) == (1, features.IMAGE_KEY)
    assert "frame 3 is not a decodable JPEG" in problem.message


def test_record_files_resolves_files_directories_and_tables(tmp_path):
    with records.ShardedRecordWriter(tmp_path, "train", 2) as writer:
        writer.write(_good())
    expected = [str(p) for p in writer.paths]
    assert validate.record_files(tmp_path) == expected
    assert validate.record_files(tmp_path / "train@2") == expected
    assert validate.record_files(expected[1]) == [expected[1]]
    with pytest.raises(FileNotFoundError, match="train-NNNNN-of-00003"):
        validate.record_files(tmp_path / "train@3")


def _spec(name, **kwargs):
    return DatasetSpec(name=name, splits={"train": "train"}, **kwargs)


def test_windows_read_are_the_loaders_config_values():
    av = _spec("av", modalities=("video", "audio"), fps=25)
    pretrain = config.windows_read(config.PretrainDataConfig(), av)
    # 32 frames at stride 1 x int(25 // 10); 3.2 s at 48 kHz.
    assert [(w.modality, w.num_steps, w.stride, w.span) for w in pretrain] == [
        ("video", 32, 2, 63),
        ("audio", 153_600, 1, 153_600),
    ]
    assert str(pretrain[0]) == "32 frames at stride 2, i.e. 63 frames (2.52 s at 25 fps)"
    assert str(pretrain[1]) == "153600 samples (3.2 s at 48000 Hz)"
    video_classes = _spec("vc", modalities=("video", "audio", "label"), num_classes=3)
    audio_classes = dataclasses.replace(video_classes, classification_modality="audio")
    finetune = config.FinetuneDataConfig(num_frames=8, audio_seconds=0.5)
    assert [(w.modality, w.span) for w in config.windows_read(finetune, video_classes)] == [
        ("video", 15)  # no fps factor outside pretraining
    ]
    assert [(w.modality, w.span) for w in config.windows_read(finetune, audio_classes)] == [
        ("audio", 47_999)  # 24000 samples at stride 2
    ]
    retrieval = _spec("vt", modalities=("video", "audio", "text"))
    assert [w.modality for w in config.windows_read(config.EvalDataConfig(), retrieval)] == [
        "video",
        "audio",
    ]
    assert [w.modality for w in config.windows_read(config.EvalDataConfig(), video_classes)] == [
        "video"
    ]


def _clip(num_frames, num_samples, name, level=0.1):
    frames = np.zeros((num_frames, 16, 16, 3), np.uint8)
    waveform = np.full(num_samples, level, np.float32)
    return records.encode_clip(records.Clip(frames, waveform, media_id=name))


def test_short_records_are_listed_and_the_loader_loops_exactly_those(tmp_path, register_spec):
    spec = register_spec(
        "boundary", {"train": "train"}, ("video", "audio"), fps=20, sample_rate=8000
    )
    # 3 frames at stride 1 x int(20 // 10): 5 frames; 0.01 s at 8 kHz: 80 samples.
    loader = config.PretrainDataConfig(
        datasets=["boundary"],
        data_dir=str(tmp_path),
        num_frames=3,
        frame_size=16,
        min_resize=16,
        audio_seconds=0.01,
        audio_sample_rate=8000,
        audio_noise=0.0,
        seed=0,
    )
    windows = config.windows_read(loader, spec)
    assert [w.span for w in windows] == [5, 80]
    path = tmp_path / "train-00000-of-00001"
    clips = [
        _clip(5, 80, "whole.mp4", 0.25),
        _clip(4, 80, "cut.mp4", 0.5),
        _clip(5, 79, "quiet.mp4", 0.75),
    ]
    records.write_records(path, clips)
    report = validate.validate_records([str(path)], spec, windows=windows)
    assert report.problem is None and not report.ok and report.num_records == 3
    assert [(s.index, s.clip, s.window.modality, s.length) for s in report.short] == [
        (1, "cut.mp4", "video", 4),
        (2, "quiet.mp4", "audio", 79),
    ]
    assert str(report.short[1]) == (
        f"{path}, record 2 (quiet.mp4): audio holds 79 samples (0.009875 s); the loader reads "
        "80 samples (0.01 s at 8000 Hz)"
    )
    assert validate.validate_records([str(path)], spec).ok  # no windows: lengths unchecked

    # The loader loops exactly these (each record told apart by its audio level).
    batch = next(iter(vd.pretrain_dataset(loader, batch_size=24)))
    flags = {
        (float(audio[0]), float(video_short), float(audio_short))
        for audio, video_short, audio_short in zip(
            batch["audio"], batch["video_short"], batch["audio_short"], strict=True
        )
    }
    assert flags == {(0.25, 0.0, 0.0), (0.5, 1.0, 0.0), (0.75, 0.0, 1.0)}


def test_a_bad_record_after_short_ones_reports_both(tmp_path):
    spec = _spec("av_plain", modalities=("video", "audio"), sample_rate=8000)
    windows = (config.Window("video", 4, 1, 10.0),)
    path = tmp_path / "clips"
    records.write_records(path, [_clip(2, 10, "a"), _clip(4, 10, "b"), b"\x0a\xff not a proto"])
    report = validate.validate_records([str(path)], spec, windows=windows)
    assert [(s.index, s.length) for s in report.short] == [(0, 2)]
    assert report.problem.index == 2 and "not a tf.train.SequenceExample" in report.problem.message
