"""Video files -> records: frame times, sizes, audio rate and window, labels, skipped files."""

import av
import numpy as np
import pytest
import tensorflow as tf

from vatt.data import convert, features
from vatt.data.registry import resolve_table

SOURCE_FPS = 25
SOURCE_RATE = 44_100
TONE_HZ = 440.0
# Silence in the source audio (seconds): where it lands in a stored clip shows the audio's alignment.
GAP = (1.0, 1.1)


def _write_video(path, seconds=2.0, width=128, height=64, audio=True):
    """An mp4 whose frame i shows a white stripe at columns 2i and 2i + 1 (so a stored frame says
    which source frame it is), with a stereo 440 Hz AAC track."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=SOURCE_FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.qmax = 2  # near-lossless, so frame values survive
        if audio:
            sound = container.add_stream("aac", rate=SOURCE_RATE)
            sound.layout = "stereo"
        for i in range(int(seconds * SOURCE_FPS)):
            image = np.full((height, width, 3), 40, np.uint8)
            image[:, 2 * i : 2 * i + 2] = 255
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        if audio:
            t = np.arange(int(seconds * SOURCE_RATE)) / SOURCE_RATE
            tone = (0.5 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
            tone[(t >= GAP[0]) & (t < GAP[1])] = 0.0
            for start in range(0, len(tone), 1024):
                chunk = np.tile(tone[start : start + 1024], (2, 1))
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = SOURCE_RATE, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode())
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    _write_video(root / "tone.mp4")
    _write_video(root / "silent.mp4", seconds=1.0, audio=False)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return root


def _records(shards):
    return [
        tf.train.SequenceExample.FromString(r.numpy())
        for r in tf.data.TFRecordDataset([str(s) for s in shards])
    ]


def _frames(example):
    entries = example.feature_lists.feature_list[features.IMAGE_KEY].feature
    return np.stack([tf.io.decode_jpeg(e.bytes_list.value[0]).numpy() for e in entries])


def _waveform(example):
    entries = example.feature_lists.feature_list[features.WAVEFORM_KEY].feature
    assert len(entries) == 1
    return np.asarray(entries[0].float_list.value)


def _context(example, key):
    feature = example.context.feature[key]
    return list(getattr(feature, feature.WhichOneof("kind")).value)


@pytest.fixture(scope="module")
def converted(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    (videos / "clips.csv").write_text(
        "path,start,end,captions,label\n"
        "tone.mp4,0.5,1.5,a tone|a red screen,beep\n"
        "broken.mp4,,,,beep\n"
        "silent.mp4,,,,quiet\n"
        "tone.mp4,,,,beep\n"
    )
    options = convert.ConvertOptions(fps=10, shorter_side=32)
    report = convert.convert(
        videos / "clips.csv", out, num_shards=2, options=options, workers=1, progress=False
    )
    return out, report


def test_report_names_the_skipped_file_and_the_silent_one(converted):
    out, report = converted
    assert report.num_written == 3
    assert [media_id for media_id, _ in report.skipped] == ["broken.mp4"]
    assert "InvalidDataError" in report.skipped[0][1]
    assert report.without_audio == ("silent.mp4",)
    assert report.label_names == ("beep", "quiet")
    assert (out / "labels.txt").read_text().splitlines() == ["beep", "quiet"]
    assert [str(s) for s in report.shards] == resolve_table(str(out / "train@2"))


def test_frames_are_sampled_at_the_chosen_fps_and_resized(converted):
    _, report = converted
    # Round robin over 2 shards: shard 0 holds CSV records 0 and 2, shard 1 record 1.
    window, whole, silent = _records(report.shards)
    assert _context(silent, features.FILENAME_KEY) == [b"silent.mp4"]
    frames = _frames(window)
    # 0.5 s to 1.5 s at 10 fps; 128x64 with shorter side 32 -> 64x32.
    assert frames.shape == (10, 32, 64, 3)
    # Stored frame k is the source frame on screen at 0.5 + k / 10 s: index floor(25 t).
    source_index = np.floor((0.5 + np.arange(10) / 10) * SOURCE_FPS + 1e-6)
    # The stripe of source frame i lies at column i once the width is halved.
    stripe_column = np.argmax(frames.mean(axis=(1, 3)), axis=1)
    np.testing.assert_array_equal(stripe_column, source_index)
    assert _frames(whole).shape[0] == 20
    assert _frames(silent).shape[0] == 10
    assert _context(window, features.START_TIMESTAMP_KEY) == [500_000]
    assert _context(window, features.END_TIMESTAMP_KEY) == [1_500_000]


def test_audio_is_mono_48k_and_cut_to_the_window(converted):
    _, report = converted
    window, whole, silent = _records(report.shards)
    assert features.WAVEFORM_KEY not in silent.feature_lists.feature_list
    for example, seconds in ((window, 1.0), (whole, 2.0)):
        waveform = _waveform(example)
        assert waveform.shape == (round(seconds * 48_000),)
        spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform)), n=48_000))
        assert abs(int(np.argmax(spectrum)) - TONE_HZ) <= 2
        # Both stereo channels carried the tone at 0.5: the mono mix has the same amplitude.
        assert 0.4 < np.abs(waveform[4800:-4800]).max() <= 0.55
    # 5 ms loudness: the gap of the source (1.0 s to 1.1 s) is 0.5 s to 0.6 s into the window.
    loudness = np.abs(_waveform(window)).reshape(-1, 240).max(axis=1)
    silent_times = np.nonzero(loudness < 0.1)[0] * 0.005
    assert abs(silent_times.min() - 0.5) <= 0.01 and abs(silent_times.max() - 0.595) <= 0.01


def test_captions_and_labels(converted):
    _, report = converted
    window, whole, silent = _records(report.shards)
    assert _context(window, features.CAPTION_KEY) == [b"a tone", b"a red screen"]
    assert features.CAPTION_KEY not in whole.context.feature
    assert _context(window, features.LABEL_INDEX_KEY) == [0]
    assert _context(silent, features.LABEL_INDEX_KEY) == [1]
    assert _context(silent, features.LABEL_TEXT_KEY) == [b"quiet"]


def test_a_later_split_reuses_the_label_map(converted, videos):
    out, _ = converted
    (videos / "test.csv").write_text("video_path,labels\nsilent.mp4,quiet\n")
    report = convert.convert(
        videos / "test.csv",
        out,
        split="test",
        options=convert.ConvertOptions(shorter_side=16),
        workers=1,
        progress=False,
    )
    assert report.label_names == ("beep", "quiet")
    (example,) = _records(report.shards)
    assert _context(example, features.LABEL_INDEX_KEY) == [1]
    assert _frames(example).shape[1:] == (16, 32, 3)
    (videos / "unknown.csv").write_text("path,label\nsilent.mp4,meow\n")
    with pytest.raises(ValueError, match=r"\['meow'\].*not in the label map"):
        convert.convert(videos / "unknown.csv", out, split="x", workers=1, progress=False)
    with pytest.raises(ValueError, match="labels.txt holds another label map"):
        convert.convert(
            videos / "test.csv", out, split="y", label_names=["quiet", "beep"], progress=False
        )


def test_integer_labels_are_ids(videos, tmp_path):
    (videos / "ids.csv").write_text("path,label\nsilent.mp4,7|3\n")
    report = convert.convert(videos / "ids.csv", tmp_path, workers=1, progress=False)
    (example,) = _records(report.shards)
    assert _context(example, features.LABEL_INDEX_KEY) == [7, 3]
    assert report.label_names == () and not (tmp_path / "labels.txt").exists()


def test_nothing_converted_leaves_no_shards(videos, tmp_path):
    (videos / "bad.csv").write_text("path\nbroken.mp4\nmissing.mp4\n")
    report = convert.convert(videos / "bad.csv", tmp_path, workers=1, progress=False)
    assert report.num_written == 0 and report.shards == ()
    assert [m for m, _ in report.skipped] == ["broken.mp4", "missing.mp4"]
    assert "FileNotFoundError" in report.skipped[1][1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("file,start\na.mp4,0\n", r"unknown columns \['file'\]"),
        ("start,end\n0,1\n", "no 'path' column"),
        ("path,start,end\na.mp4,2,1\n", "line 2: end 1.0 is not after start 2.0"),
        ("path,start\na.mp4,soon\n", "line 2: start 'soon' is not a number"),
    ],
)
def test_bad_csv_names_line_and_column(tmp_path, csv, message):
    (tmp_path / "clips.csv").write_text(csv)
    with pytest.raises(ValueError, match=message):
        convert.read_csv(tmp_path / "clips.csv")


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="fps"):
        convert.ConvertOptions(fps=0)
    with pytest.raises(ValueError, match="jpeg_quality"):
        convert.ConvertOptions(jpeg_quality=101)


def test_an_end_beyond_the_video_is_not_padded(videos):
    options = convert.ConvertOptions(fps=10, shorter_side=None)
    jpegs, waveform = convert.read_clip(
        convert.ClipSource(str(videos / "tone.mp4"), 1.5, 9.0), options
    )
    # 1.5 s to the end of the 2 s video: 5 frames and 0.5 s of audio.
    assert len(jpegs) == 5 and waveform.shape == (24_000,)
    assert tuple(tf.image.extract_jpeg_shape(jpegs[0]).numpy()) == (64, 128, 3)
    jpegs, waveform = convert.read_clip(
        convert.ClipSource(str(videos / "silent.mp4"), 0.2), options
    )
    assert len(jpegs) == 8 and waveform is None
