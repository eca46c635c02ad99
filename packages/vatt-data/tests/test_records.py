"""The record writer: DMVR layout, exact round trips, shard naming the registry reads."""

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import features, records
from vatt.data.registry import resolve_table

# DMVR's parse specs (dmvr-design.md §2): what every reader of these records asks for.
_CONTEXT = {
    features.CAPTION_KEY: tf.io.VarLenFeature(tf.string),
    features.LABEL_INDEX_KEY: tf.io.VarLenFeature(tf.int64),
    features.LABEL_TEXT_KEY: tf.io.VarLenFeature(tf.string),
    features.LABEL_STRING_KEY: tf.io.VarLenFeature(tf.string),
    features.FILENAME_KEY: tf.io.VarLenFeature(tf.string),
    features.START_TIMESTAMP_KEY: tf.io.VarLenFeature(tf.int64),
    features.END_TIMESTAMP_KEY: tf.io.VarLenFeature(tf.int64),
}
_SEQUENCE = {
    features.IMAGE_KEY: tf.io.FixedLenSequenceFeature((), tf.string),
    features.WAVEFORM_KEY: tf.io.VarLenFeature(tf.float32),
}


def _smooth_frames(num_frames=5, height=24, width=40):
    # Smooth gradients: JPEG's error on them is small and predictable.
    yy, xx = np.mgrid[0:height, 0:width]
    frames = [
        np.stack([xx * 6 + 10 * t, yy * 9, np.full_like(xx, 40 * t)], axis=-1)
        for t in range(num_frames)
    ]
    return np.clip(frames, 0, 255).astype(np.uint8)


def _parse(serialized):
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features=_CONTEXT, sequence_features=_SEQUENCE
    )
    dense = {k: tf.sparse.to_dense(v).numpy() for k, v in context.items()}
    frames = np.stack([tf.io.decode_jpeg(j).numpy() for j in sequence[features.IMAGE_KEY]])
    waveform = tf.sparse.to_dense(sequence[features.WAVEFORM_KEY]).numpy()
    return dense, frames, waveform


def test_round_trip_through_dmvr_parse_specs():
    frames = _smooth_frames()
    waveform = np.random.default_rng(0).uniform(-1, 1, 4800).astype(np.float32)
    clip = records.Clip(
        frames=frames,
        waveform=waveform,
        captions=["a red circle", "the ball moves"],
        labels=[3, 7],
        label_names=["three", "seven"],
        media_id="videos/x.mp4",
        start_seconds=1.5,
        end_seconds=3.25,
    )
    context, decoded, stored_waveform = _parse(records.encode_clip(clip).SerializeToString())

    assert decoded.shape == frames.shape
    error = np.abs(decoded.astype(int) - frames.astype(int))
    assert error.mean() < 2.0 and error.max() <= 24
    # The whole waveform is ONE feature-list entry, stored bit-exactly as float32.
    assert stored_waveform.shape == (1, 4800)
    np.testing.assert_array_equal(stored_waveform[0], waveform)
    assert list(context[features.CAPTION_KEY]) == [b"a red circle", b"the ball moves"]
    assert list(context[features.LABEL_INDEX_KEY]) == [3, 7]
    assert list(context[features.LABEL_TEXT_KEY]) == [b"three", b"seven"]
    assert list(context[features.LABEL_STRING_KEY]) == [b"three", b"seven"]
    assert list(context[features.FILENAME_KEY]) == [b"videos/x.mp4"]
    assert list(context[features.START_TIMESTAMP_KEY]) == [1_500_000]
    assert list(context[features.END_TIMESTAMP_KEY]) == [3_250_000]


def test_one_jpeg_per_feature_list_entry():
    example = records.encode_clip(records.Clip(frames=_smooth_frames(num_frames=7)))
    entries = example.feature_lists.feature_list[features.IMAGE_KEY].feature
    assert [len(e.bytes_list.value) for e in entries] == [1] * 7
    assert all(e.bytes_list.value[0][:2] == b"\xff\xd8" for e in entries)
    assert features.WAVEFORM_KEY not in example.feature_lists.feature_list
    assert not example.context.feature


def test_encoded_frames_are_stored_unchanged():
    jpegs = records.encode_jpeg_frames(_smooth_frames(num_frames=3), quality=50)
    example = records.encode_clip(records.Clip(frames=jpegs))
    entries = example.feature_lists.feature_list[features.IMAGE_KEY].feature
    assert [e.bytes_list.value[0] for e in entries] == jpegs


def test_float64_waveform_is_stored_as_float32():
    waveform = np.linspace(-1, 1, 101)
    example = records.encode_clip(records.Clip(frames=_smooth_frames(1), waveform=waveform))
    stored = example.feature_lists.feature_list[features.WAVEFORM_KEY].feature[0].float_list.value
    np.testing.assert_array_equal(np.asarray(stored, np.float32), waveform.astype(np.float32))


@pytest.mark.parametrize(
    ("clip", "error", "message"),
    [
        (records.Clip(frames=np.zeros((2, 8, 8, 3), np.float32)), ValueError, "uint8"),
        (records.Clip(frames=np.zeros((8, 8, 3), np.uint8)), ValueError, r"\[T, H, W, 3\]"),
        (records.Clip(frames=[]), ValueError, "non-empty"),
        (
            records.Clip(frames=np.zeros((1, 8, 8, 3), np.uint8), waveform=np.zeros((10, 2))),
            ValueError,
            "mono",
        ),
        (
            records.Clip(frames=np.zeros((1, 8, 8, 3), np.uint8), waveform=[0.0, np.nan]),
            ValueError,
            "finite",
        ),
        (records.Clip(frames=np.zeros((1, 8, 8, 3), np.uint8), labels=[-1]), ValueError, ">= 0"),
        (records.Clip(frames=np.zeros((1, 8, 8, 3), np.uint8), captions="one"), TypeError, "list"),
    ],
)
def test_bad_clips_are_rejected_with_the_fix(clip, error, message):
    with pytest.raises(error, match=message):
        records.encode_clip(clip)


def _serialized(index):
    clip = records.Clip(frames=np.full((1, 4, 4, 3), index, np.uint8), labels=[index])
    return records.encode_clip(clip).SerializeToString()


def _labels_in(path):
    return [
        tf.train.SequenceExample.FromString(r.numpy())
        .context.feature[features.LABEL_INDEX_KEY]
        .int64_list.value[0]
        for r in tf.data.TFRecordDataset(str(path))
    ]


def test_sharded_writer_names_match_the_registry_tables(tmp_path):
    with records.ShardedRecordWriter(tmp_path, "train", num_shards=3) as writer:
        for i in range(10):
            writer.write(
                _serialized(i) if i % 2 else tf.train.SequenceExample.FromString(_serialized(i))
            )
    names = [p.name for p in writer.paths]
    assert names == ["train-00000-of-00003", "train-00001-of-00003", "train-00002-of-00003"]
    assert records.table_pattern("train", 3) == "train@3"
    assert resolve_table(str(tmp_path / "train@3")) == [str(p) for p in writer.paths]
    assert resolve_table(str(tmp_path / "train")) == [str(p) for p in writer.paths]
    # Round robin: record i lands in shard i mod 3, in order.
    assert [_labels_in(p) for p in writer.paths] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_sharded_writer_leaves_nothing_behind_on_error(tmp_path):
    with pytest.raises(RuntimeError), records.ShardedRecordWriter(tmp_path, "test", 2) as writer:
        writer.write(_serialized(0))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_write_records_is_all_or_nothing(tmp_path):
    path = tmp_path / "test-00000-of-00001"
    assert records.write_records(path, (_serialized(i) for i in range(4))) == 4
    assert _labels_in(path) == [0, 1, 2, 3]

    def failing():
        yield _serialized(0)
        raise RuntimeError("boom")

    other = tmp_path / "test-00000-of-00002"
    with pytest.raises(RuntimeError):
        records.write_records(other, failing())
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("split", ["", "a/b", "train@2", "x-of-y"])
def test_sharded_writer_rejects_split_names_that_break_tables(tmp_path, split):
    with pytest.raises(ValueError, match="plain name"):
        records.ShardedRecordWriter(tmp_path, split, 1)


def test_shards_of_an_earlier_run_with_another_count_are_an_error(tmp_path):
    with records.ShardedRecordWriter(tmp_path, "train", 2) as writer:
        writer.write(_serialized(0))
    # The same count is overwritten; another count would be globbed together with the old shards.
    with records.ShardedRecordWriter(tmp_path, "train", 2) as writer:
        writer.write(_serialized(1))
    assert _labels_in(tmp_path / "train-00000-of-00002") == [1]
    with pytest.raises(FileExistsError, match="2 shards of split 'train'.*train-00000-of-00002"):
        records.ShardedRecordWriter(tmp_path, "train", 3)
    records.ShardedRecordWriter(tmp_path, "test", 3).close()
