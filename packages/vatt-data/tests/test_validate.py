"""The validator names the file, record, key and fix of the first bad record."""

import re

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import features, records, validate
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
