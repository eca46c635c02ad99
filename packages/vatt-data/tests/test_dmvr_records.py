"""Records laid out as DMVR's generator writes them, built here with the protobuf API alone (not with
vatt.data.records): shards named ``<csv basename>-NNNNN-of-NNNNN``, one JPEG Feature per frame, the
whole waveform in one Feature, captions, label ids and names, file name and timestamps; plain and
GZIP-compressed files."""

import numpy as np
import pytest
import tensorflow as tf

import vatt.data as vd
from vatt.data import cli

RATE = 8000
NUM_CLIPS, NUM_SHARDS = 6, 2
# The loaders crop the 36x48 frames to 24x24 squares.
FRAMES = dict(frame_size=24, min_resize=24)


def _bytes(*values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _dmvr_record(index: int, rng: np.random.Generator) -> bytes:
    """One clip as DMVR's ``generate_from_file.py`` (after its one-Feature-per-frame fix) writes it."""
    frames = rng.integers(0, 256, size=(12, 36, 48, 3), dtype=np.uint8)
    waveform = np.sin(np.arange(RATE) * (0.01 + index / 100)).astype(np.float32) * 0.5
    label = index % 3
    context = {
        "video/filename": _bytes(f"videos/clip_{index}.mp4".encode()),
        "clip/start/timestamp": tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
        "clip/end/timestamp": tf.train.Feature(int64_list=tf.train.Int64List(value=[1_200_000])),
        "clip/label/index": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "clip/label/text": _bytes(f"class_{label}".encode()),
        "caption/string": _bytes(b"a person is cutting onions"),
    }
    feature_lists = {
        "image/encoded": tf.train.FeatureList(
            feature=[_bytes(tf.io.encode_jpeg(f).numpy()) for f in frames]
        ),
        "WAVEFORM/feature/floats": tf.train.FeatureList(
            feature=[tf.train.Feature(float_list=tf.train.FloatList(value=waveform))]
        ),
    }
    return tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=feature_lists),
    ).SerializeToString()


def _write_dmvr_shards(directory, prefix: str, compression: str) -> None:
    rng = np.random.default_rng(0)
    options = tf.io.TFRecordOptions(compression_type=compression)
    writers = [
        tf.io.TFRecordWriter(str(directory / f"{prefix}-{i:05d}-of-{NUM_SHARDS:05d}"), options)
        for i in range(NUM_SHARDS)
    ]
    for index in range(NUM_CLIPS):  # round-robin, as the generator distributes examples
        writers[index % NUM_SHARDS].write(_dmvr_record(index, rng))
    for writer in writers:
        writer.close()


@pytest.fixture(params=["", "GZIP"], ids=["plain", "gzip"])
def dmvr_dataset(request, tmp_path, register_spec):
    compression = request.param
    _write_dmvr_shards(tmp_path, "my_videos", compression)
    (tmp_path / "vocab.txt").write_text("<pad>\n<unk>\na\nperson\nis\ncutting\nonions\n")
    register_spec(
        "dmvr_written",
        {"train": "my_videos", "test": f"my_videos@{NUM_SHARDS}"},
        ("video", "audio", "text", "label"),
        num_classes=3,
        fps=10,
        sample_rate=RATE,
        vocabulary="vocab.txt",
        compression_type=compression,
    )
    return tmp_path, compression


@pytest.mark.parametrize(
    ("video_dtype", "resize_on_accelerator"),
    [("float32", False), ("uint8", False), ("uint8", True)],
)
def test_pretraining_reads_dmvr_generator_records(dmvr_dataset, video_dtype, resize_on_accelerator):
    data_dir, _ = dmvr_dataset
    config = vd.PretrainDataConfig(
        datasets=["dmvr_written"],
        data_dir=str(data_dir),
        num_frames=8,
        audio_sample_rate=RATE,
        video_dtype=video_dtype,
        resize_on_accelerator=resize_on_accelerator,
        seed=0,
        **FRAMES,
    )
    batch = next(iter(vd.pretrain_dataset(config, batch_size=4)))
    batch = vd.finish_batch(batch, frame_size=config.frame_size)
    assert batch["video"].shape == (4, 8, 24, 24, 3) and batch["video"].dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(batch["video"])) < float(tf.reduce_max(batch["video"]))
    assert batch["audio"].shape == (4, int(0.8 * RATE))
    np.testing.assert_array_equal(batch["text"][:, 0, :5], [[2, 3, 4, 5, 6]] * 4)
    np.testing.assert_array_equal(batch["text_mask"], np.ones(4))


def test_classification_and_validation_of_dmvr_generator_records(dmvr_dataset):
    data_dir, _ = dmvr_dataset
    config = vd.EvalDataConfig(
        name="dmvr_written", data_dir=str(data_dir), num_frames=4, num_windows_test=2, **FRAMES
    )
    batches = list(
        vd.classification_dataset(config, split="test", training=False, batch_size=NUM_CLIPS)
    )
    assert len(batches) == 1
    labels = batches[0]["label"].numpy()
    assert labels.shape == (NUM_CLIPS, 3)
    # Every clip once, whatever the shard order: labels 0, 1, 2, 0, 1, 2.
    np.testing.assert_array_equal(np.sort(labels.argmax(-1)), [0, 0, 1, 1, 2, 2])
    assert batches[0]["video"].shape == (NUM_CLIPS * 2, 4, 24, 24, 3)


def test_validate_reads_the_dataset_compression(dmvr_dataset, capsys):
    data_dir, _ = dmvr_dataset
    argv = ["validate", str(data_dir / "my_videos"), "--dataset", "dmvr_written", "--no-progress"]
    assert cli.main([*argv, "--num-frames", "4"]) == 0  # 12 frames and 1 s hold the windows
    assert f"OK: {NUM_CLIPS} records in {NUM_SHARDS} files" in capsys.readouterr().out


def test_audio_written_with_dmvr_generators_int32_bug_is_an_error_naming_the_record(
    tmp_path, register_spec
):
    # DMVR's generate_from_file --decode_audio reads s32le bytes as float32: negative samples have
    # every exponent bit set and become NaN.
    samples = (np.sin(np.arange(RATE) / 5.0) * 2**30).astype("<i4")
    waveform = np.frombuffer(samples.tobytes(), np.float32)
    assert np.isnan(waveform).any()
    example = tf.train.SequenceExample.FromString(_dmvr_record(0, np.random.default_rng(1)))
    audio = example.feature_lists.feature_list["WAVEFORM/feature/floats"].feature[0].float_list
    del audio.value[:]
    audio.value.extend(waveform)
    with tf.io.TFRecordWriter(str(tmp_path / "buggy-00000-of-00001")) as writer:
        writer.write(example.SerializeToString())
    register_spec(
        "dmvr_buggy_audio",
        {"test": "buggy"},
        ("video", "audio", "label"),
        num_classes=3,
        sample_rate=RATE,
        classification_modality="audio",
    )
    config = vd.EvalDataConfig(
        name="dmvr_buggy_audio", data_dir=str(tmp_path), audio_sample_rate=RATE, num_frames=4
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"(?s)NaN or Inf.*vatt-data convert.*buggy-00000"
    ):
        next(iter(vd.classification_dataset(config, split="test", training=False, batch_size=1)))


def test_compressed_shards_without_compression_type_name_the_fix(tmp_path, register_spec):
    _write_dmvr_shards(tmp_path, "zipped", "GZIP")
    register_spec("dmvr_gzip_undeclared", {"test": "zipped"}, ("video", "label"), num_classes=3)
    config = vd.EvalDataConfig(name="dmvr_gzip_undeclared", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="looks GZIP-compressed: set compression_type='GZIP'"):
        vd.classification_dataset(config, split="test", training=False, batch_size=2)
    with pytest.raises(ValueError, match="compression_type must be one of"):
        vd.DatasetSpec(name="x", splits={"a": "a"}, modalities=("video",), compression_type="gz")
