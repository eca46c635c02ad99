"""VATT's log-mel spectrogram against a numpy reference, and the waveform noise."""

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import audio


def test_spectrogram_shape_of_the_original_clip():
    waveform = tf.random.uniform([153_600], -1.0, 1.0, seed=0)
    spectrogram = audio.log_mel_spectrogram(waveform)
    assert spectrogram.shape == (150, 80, 1)  # the original's get_audio_shape
    assert float(tf.reduce_min(spectrogram)) == 0.0
    assert float(tf.reduce_max(spectrogram)) == pytest.approx(1.0)


def test_log_mel_matches_numpy_stft():
    rate = 48_000
    t = np.arange(8192) / rate
    noise = np.random.default_rng(0).normal(0, 0.1, t.shape)
    waveform = (0.5 * np.sin(2 * np.pi * 440 * t) + noise).astype(np.float32)
    ours = audio.log_mel_spectrogram(waveform, rate, normalize=False).numpy()[..., 0]

    length, step = int(rate * 0.04267), int(rate * 0.02134)  # 2048, 1024
    padded = np.concatenate([waveform, np.zeros(length, np.float32)])
    num_frames = -(-len(waveform) // step)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)  # periodic Hann
    frames = np.stack([padded[i * step : i * step + length] * window for i in range(num_frames)])
    magnitude = np.abs(np.fft.rfft(frames, n=length))
    mel = tf.signal.linear_to_mel_weight_matrix(80, length // 2 + 1, rate, 80.0, 7600.0).numpy()
    expected = np.log(1.0 + 10000.0 * magnitude @ mel)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)


def test_spectrogram_of_silence_is_zero_not_nan():
    spectrogram = audio.log_mel_spectrogram(tf.zeros([4800]), 48_000)
    assert np.all(spectrogram.numpy() == 0.0)


def test_gaussian_noise_scales_with_the_peak():
    waveform = tf.concat([tf.fill([100_000], 0.0), [0.5]], axis=0)
    noisy = audio.add_gaussian_noise(waveform, 0.01, seed=0)
    noise = (noisy - waveform).numpy()
    assert noise.std() == pytest.approx(0.005, rel=0.02)
    assert abs(noise.mean()) < 1e-4
