"""Audio processing: Gaussian noise and VATT's log-mel spectrogram (with its TF2 bug fixed)."""

from __future__ import annotations

import tensorflow as tf

from vatt.data import features as F
from vatt.data.processors import derive_seed

# The original's STFT window and hop are given in seconds at 48 kHz: int(48000 * 0.04267) = 2048
# and int(48000 * 0.02134) = 1024 samples (vatt-spec §2.6).
STFT_LENGTH_SECONDS = 0.04267
STFT_STEP_SECONDS = 0.02134
NUM_MEL_BINS = 80
LOWER_EDGE_HERTZ = 80.0
UPPER_EDGE_HERTZ = 7600.0


def add_gaussian_noise(waveform: tf.Tensor, gamma: float, seed: int | None = None) -> tf.Tensor:
    """``x + N(0, (gamma · max|x|)²)``, VATT's ``add_gaussian`` (σ relative to the clip's peak)."""
    sigma = gamma * tf.reduce_max(tf.abs(waveform))
    noise = tf.random.normal(tf.shape(waveform), seed=derive_seed(seed, "audio_noise"))
    return waveform + sigma * noise


def log_mel_spectrogram(
    waveform: tf.Tensor,
    sample_rate: int = F.DEFAULT_SAMPLE_RATE,
    num_mel_bins: int = NUM_MEL_BINS,
    *,
    normalize: bool = True,
) -> tf.Tensor:
    """VATT's spectrogram of ``[..., S]`` waveforms: ``[..., frames, mel, 1]``.

    STFT (Hann, 0.04267 s window, 0.02134 s hop, padded at the end), magnitude, 80 mel bins over
    80-7600 Hz (at most the Nyquist frequency), ``log(1 + 10000 · mel)`` (the original called ``tf.log``, absent from TF2; this is
    the intended ``tf.math.log``), then per-example min-max normalisation into [0, 1]. 153600 samples
    at 48 kHz give ``[150, 80, 1]``.
    """
    frame_length = int(sample_rate * STFT_LENGTH_SECONDS)
    frame_step = int(sample_rate * STFT_STEP_SECONDS)
    stft = tf.signal.stft(
        waveform,
        frame_length=frame_length,
        frame_step=frame_step,
        fft_length=frame_length,
        pad_end=True,
    )
    magnitude = tf.abs(stft)
    # 7600 Hz is the original's edge at 48 kHz; below 15.2 kHz the Nyquist frequency bounds it.
    upper_edge = min(UPPER_EDGE_HERTZ, sample_rate / 2)
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins, frame_length // 2 + 1, sample_rate, LOWER_EDGE_HERTZ, upper_edge
    )
    mel = tf.tensordot(magnitude, mel_matrix, axes=1)
    spectrogram = tf.math.log(1.0 + 10000.0 * mel)[..., None]
    if normalize:
        spectrogram = normalize_spectrogram(spectrogram)
    return spectrogram


def normalize_spectrogram(spectrogram: tf.Tensor) -> tf.Tensor:
    """Per-example min-max over the last three axes into [0, 1] (a constant input gives zeros)."""
    low = tf.reduce_min(spectrogram, axis=[-3, -2, -1], keepdims=True)
    high = tf.reduce_max(spectrogram, axis=[-3, -2, -1], keepdims=True)
    return tf.math.divide_no_nan(spectrogram - low, high - low)
