"""The synthetic dataset: deterministic, and every modality says what the clip shows."""

import json
import operator

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import features, synthetic
from vatt.data._parallel import ordered_map
from vatt.data.registry import get_dataset_spec, resolve_table
from vatt.data.tokenizers import WordTokenizer

CONFIG = synthetic.SyntheticConfig(num_frames=8, frame_size=48, fps=10, sample_rate=16_000)


@pytest.fixture(scope="module")
def clips():
    return [synthetic.make_clip("train", i, CONFIG) for i in range(2 * synthetic.NUM_CLASSES)]


def _spectrum(waveform, sample_rate):
    """Magnitude spectrum in 1 Hz bins (Hann window, zero-padded to one second)."""
    return np.abs(np.fft.rfft(waveform * np.hanning(len(waveform)), n=sample_rate))


def test_clips_are_a_pure_function_of_seed_split_and_index():
    a, b = synthetic.make_clip("train", 5, CONFIG), synthetic.make_clip("train", 5, CONFIG)
    np.testing.assert_array_equal(a.clip.frames, b.clip.frames)
    np.testing.assert_array_equal(a.clip.waveform, b.clip.waveform)
    assert a.clip.captions == b.clip.captions
    other_seed = synthetic.make_clip("train", 5, synthetic.SyntheticConfig(seed=1))
    test_split = synthetic.make_clip("test", 5, CONFIG)
    assert not np.array_equal(a.clip.waveform[:100], other_seed.clip.waveform[:100])
    assert not np.array_equal(a.clip.waveform, test_split.clip.waveform)


def test_shapes_and_classes(clips):
    for i, item in enumerate(clips):
        assert item.clip.frames.shape == (8, 48, 48, 3) and item.clip.frames.dtype == np.uint8
        assert item.clip.waveform.shape == (12_800,) and item.clip.waveform.dtype == np.float32
        assert np.abs(item.clip.waveform).max() <= 1.0
        assert item.label == i % 12 == list(item.clip.labels)[0]
        assert synthetic.CLASS_NAMES[item.label] == f"{item.colour} {item.shape}"
        assert list(item.clip.label_names) == [f"{item.colour} {item.shape}"]


def test_audio_pitch_is_the_colour_and_harmonics_are_the_shape(clips):
    for item in clips:
        spectrum = _spectrum(item.clip.waveform, CONFIG.sample_rate)
        peak = int(np.argmax(spectrum))
        nearest = min(synthetic.COLOURS, key=lambda c: abs(synthetic.COLOUR_PITCH_HZ[c] - peak))
        assert nearest == item.colour
        assert abs(peak - synthetic.COLOUR_PITCH_HZ[item.colour]) <= 0.025 * peak
        # Third harmonic over fundamental: 0 (sine), 1/9 (triangle wave), 1/3 (square wave).
        ratio = spectrum[3 * peak - 4 : 3 * peak + 5].max() / spectrum[peak]
        expected = {"circle": 0.0, "triangle": 1 / 9, "square": 1 / 3}[item.shape]
        assert abs(ratio - expected) < 0.05, (item.shape, ratio)


def test_audio_rhythm_is_the_direction(clips):
    t = np.arange(CONFIG.num_samples) / CONFIG.sample_rate
    for item in clips:
        # Envelope: mean |x| over 10 ms windows; then the pulse rate that correlates best with it.
        window = CONFIG.sample_rate // 100
        envelope = np.abs(item.clip.waveform).reshape(-1, window).mean(axis=1)
        times = t[::window]
        envelope = envelope - envelope.mean()

        def strength(hz, envelope=envelope, times=times):
            return abs(np.sum(envelope * np.exp(-2j * np.pi * hz * times)))

        best = max(synthetic.DIRECTIONS, key=lambda d: strength(synthetic.DIRECTION_PULSE_HZ[d]))
        assert best == item.direction


def test_video_shows_the_colour_shape_and_motion(clips):
    fill_ratio = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}
    for item in clips:
        frames = item.clip.frames.astype(int)
        saturated = frames.max(axis=-1) - frames.min(axis=-1) > 80
        first, last = saturated[0], saturated[-1]
        mean_rgb = frames[0][first].mean(axis=0)
        assert np.abs(mean_rgb - synthetic.COLOUR_RGB[item.colour]).max() < 25
        ys, xs = np.nonzero(first)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert abs(first.sum() / box - fill_ratio[item.shape]) < 0.12, item.shape
        moved = np.array(np.nonzero(last)).mean(axis=1) - np.array([ys.mean(), xs.mean()])
        step = np.array(synthetic.DIRECTION_STEP[item.direction])
        # At least 30% of the frame along the direction, and little across it.
        assert moved @ step > 0.25 * CONFIG.frame_size
        assert abs(moved @ step[::-1]) < 2


def test_captions_describe_the_clip_and_fit_the_vocabulary(clips, tmp_path):
    vocabulary = synthetic.vocabulary()
    assert vocabulary[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert len(set(vocabulary)) == len(vocabulary)
    for item in clips:
        captions = list(item.clip.captions)
        assert len(captions) == synthetic.NUM_CAPTIONS == len(set(captions))
        assert captions[0] == f"a {item.colour} {item.shape} moving {item.direction}"
        for caption in captions:
            assert item.colour in caption.split()
            assert any(w in caption for w in synthetic.SHAPE_WORDS[item.shape])
            assert any(w in caption for w in synthetic.DIRECTION_WORDS[item.direction])
            assert set(caption.split()) <= set(vocabulary)
    (tmp_path / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    tokenizer = WordTokenizer(str(tmp_path / "vocab.txt"))
    ids = tokenizer.string_tensor_to_indices(
        tf.constant([c for item in clips for c in item.clip.captions]), max_num_tokens=16
    ).numpy()
    assert 3 not in ids  # <unk>
    assert (ids[:, 0] > 3).all()


def test_written_dataset_matches_its_spec(tmp_path):
    spec = synthetic.write_synthetic_dataset(tmp_path, 14, 12, CONFIG, num_shards=2)
    assert spec == synthetic.synthetic_spec(CONFIG)
    assert spec.fps == 10 and spec.sample_rate == 16_000 and spec.num_classes == 12
    # Importing vatt.data registers the default configuration (other tests may re-register it).
    assert synthetic.synthetic_spec() == synthetic.SYNTHETIC
    assert get_dataset_spec("synthetic").num_classes == 12
    train = spec.shards("train", str(tmp_path))
    assert train == resolve_table(str(tmp_path / "train@2"))
    labels = []
    for record in tf.data.TFRecordDataset(train):
        example = tf.train.SequenceExample.FromString(record.numpy())
        labels += example.context.feature[features.LABEL_INDEX_KEY].int64_list.value
        assert len(example.feature_lists.feature_list[features.IMAGE_KEY].feature) == 8
    assert sorted(labels) == sorted(i % 12 for i in range(14))
    assert len(list(tf.data.TFRecordDataset(spec.shards("test", str(tmp_path))))) == 12
    assert (tmp_path / "vocab.txt").read_text().splitlines() == synthetic.vocabulary()
    assert (tmp_path / "labels.txt").read_text().splitlines() == list(synthetic.CLASS_NAMES)
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["clips"] == {"train": 14, "test": 12} and info["num_frames"] == 8


def test_written_dataset_is_byte_identical_across_runs(tmp_path):
    small = synthetic.SyntheticConfig(num_frames=2, frame_size=16, sample_rate=8000, seed=3)
    synthetic.write_synthetic_dataset(tmp_path / "a", 5, 3, small, num_shards=2)
    synthetic.write_synthetic_dataset(tmp_path / "b", 5, 3, small, num_shards=2)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_ordered_map_keeps_order_across_processes():
    # operator.mul is importable without TensorFlow, so spawning the workers is cheap.
    tasks = [(i, i + 1) for i in range(7)]
    assert list(ordered_map(operator.mul, tasks, workers=2)) == [i * (i + 1) for i in range(7)]
    assert list(ordered_map(operator.mul, tasks, workers=1)) == [i * (i + 1) for i in range(7)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"num_frames": 1}, "num_frames"), ({"frame_size": 8}, "frame_size"), ({"fps": 0}, "fps")],
)
def test_bad_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.SyntheticConfig(**kwargs)


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split"):
        synthetic.make_clip("valid", 0)


def test_rewriting_with_another_shard_count_is_refused(tmp_path):
    small = synthetic.SyntheticConfig(num_frames=2, frame_size=16, sample_rate=8000)
    synthetic.write_synthetic_dataset(tmp_path, 2, 2, small, num_shards=1)
    with pytest.raises(FileExistsError, match="split 'train'"):
        synthetic.write_synthetic_dataset(tmp_path, 2, 2, small, num_shards=2)
