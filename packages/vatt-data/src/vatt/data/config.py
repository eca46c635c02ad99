"""Configurations of the VATT loaders; defaults are the original release's (vatt-spec §2).

Every field has a plain default (``field(default_factory=...)`` for lists) so that configs can be built,
dumped with ``dataclasses.asdict`` and overridden from YAML by vatt-train. Three configs mirror the three
dataset configs of the original: ``Pretrain``, ``Evaluation`` (linear probe and retrieval after
pretraining) and ``Finetune``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vatt.data import features

if TYPE_CHECKING:
    from vatt.data.registry import DatasetSpec

TOKENIZERS = ("word", "bert", "sentencepiece")
SHORT_INPUT_POLICIES = ("loop", "pad", "error")
CROP_STYLES = ("VGG", "Inception")
VIDEO_DTYPES = ("float32", "uint8")


@dataclass
class PretrainDataConfig:
    """Pretraining input: HowTo100M and AudioSet mixed per example (original ``Pretrain``).

    ``text`` holds ``max_context_sentences + 1`` captions per clip (the narration and its neighbours, the
    MIL-NCE positives); datasets without captions get zero tokens and ``text_mask`` 0.
    """

    datasets: list[str] = field(default_factory=lambda: ["howto100m", "audioset"])
    # Sampling weight of each dataset, per example; empty means uniform, as the original.
    dataset_weights: list[float] = field(default_factory=list)
    data_dir: str = ""
    split: str = "train"
    num_frames: int = 32
    frame_size: int = 224
    # Multiplied per dataset by int(fps // 10): stride 2 on 25 fps sources, as the original.
    video_stride: int = 1
    min_resize: int = 224
    crop_resize_style: str = "VGG"
    scale_jitter: bool = True
    color_augment: bool = True
    zero_centering_image: bool = True
    # "uint8": video leaves the loader as uint8 after crop and resize, with the per-clip flip and
    # colour draws in ``video_augment``; ``vatt.data.finish_batch`` applies them and normalises
    # where the model runs (vatt-train does, inside its train step). Same distribution, ~35% less of
    # the loader's CPU per clip and a quarter of the host-to-device bytes.
    video_dtype: str = "float32"
    # With video_dtype "uint8": the host sends each clip's decoded crop window, padded to
    # ``video_canvas``, and ``finish_batch`` also does the resize on the accelerator (the host then
    # only decodes). ``video_canvas``: [height, width]; empty: the frame size of each dataset's
    # first record (the largest). Windows larger than the canvas are resized on the host.
    resize_on_accelerator: bool = False
    video_canvas: list[int] = field(default_factory=list)
    # None: num_frames / 10 seconds (3.2 s for 32 frames), the original's rule.
    audio_seconds: float | None = None
    audio_sample_rate: int = features.DEFAULT_SAMPLE_RATE
    audio_stride: int = 1
    audio_noise: float = 0.01
    audio_spectrogram: bool = False
    audio_mixup: bool = False
    mixup_alpha: float = 10.0
    mixup_beta: float = 2.0
    max_num_words: int = 16
    max_context_sentences: int = 4
    tokenizer: str = "word"
    # Empty: the dataset spec's vocabulary (relative to data_dir), if it names one.
    vocabulary_path: str = ""
    # What a clip shorter than its window becomes: "loop" (DMVR), "pad" (last frame / zeros), "error".
    short_input_policy: str = "loop"
    shuffle_buffer: int = 256
    seed: int | None = None


@dataclass
class EvalDataConfig:
    """Evaluation after pretraining: linear probes and zero-shot retrieval (original ``Evaluation``).

    ``classification_dataset(..., training=True)`` gives the linear-probe training features: one middle
    clip with a central crop, deterministic, repeated ``num_augmentation`` times (Inception crops when
    that is above 1). ``training=False`` and ``retrieval_dataset`` give ``num_windows_test`` windows.
    """

    name: str = "hmdb51"
    data_dir: str = ""
    num_frames: int = 32
    frame_size: int = 224
    # Not multiplied by the fps ratio here, as the original.
    video_stride: int = 2
    min_resize: int = 224
    zero_centering_image: bool = True
    multi_crop: bool = False
    num_windows_test: int = 4
    num_augmentation: int = 1
    audio_seconds: float | None = None
    audio_sample_rate: int = features.DEFAULT_SAMPLE_RATE
    audio_stride: int = 1
    audio_spectrogram: bool = False
    max_num_words: int = 16
    # Captions per clip in retrieval: max_context_sentences + 1.
    max_context_sentences: int = 0
    tokenizer: str = "word"
    vocabulary_path: str = ""
    short_input_policy: str = "loop"


@dataclass
class FinetuneDataConfig:
    """Fine-tuning a video or audio classifier, and its multi-view evaluation (original ``Finetune``)."""

    name: str = "kinetics400"
    data_dir: str = ""
    num_frames: int = 32
    frame_size: int = 224
    video_stride: int = 2
    min_resize: int = 224
    # Training crops are Inception-style (area 0.08-1, aspect 0.5-2) unless "VGG".
    crop_resize_style: str = "Inception"
    color_augment: bool = True
    zero_centering_image: bool = True
    multi_crop: bool = True
    num_windows_test: int = 4
    audio_seconds: float | None = None
    audio_sample_rate: int = features.DEFAULT_SAMPLE_RATE
    audio_stride: int = 2
    audio_noise: float = 0.0
    audio_spectrogram: bool = False
    mixup: bool = False
    mixup_alpha: float = 5.0
    label_smoothing: float = 0.1
    short_input_policy: str = "loop"
    shuffle_buffer: int = 256
    seed: int | None = None


# The config of each loader, by the name ``vatt-data validate --loader`` takes.
LOADER_CONFIGS = {
    "pretrain": PretrainDataConfig,
    "finetune": FinetuneDataConfig,
    "eval": EvalDataConfig,
}


def audio_num_samples(num_frames: int, seconds: float | None, sample_rate: int) -> int:
    """Samples per audio window: ``seconds`` of audio, or num_frames / 10 s as the original."""
    if seconds is None:
        seconds = num_frames / features.REFERENCE_FPS
    return int(round(seconds * sample_rate))


@dataclass(frozen=True)
class Window:
    """What a loader reads of one modality of a record: ``num_steps`` frames or samples,
    ``stride`` apart. A record shorter than :attr:`span` is looped or padded
    (``short_input_policy``)."""

    modality: str  # "video" (frames) or "audio" (waveform samples)
    num_steps: int
    stride: int
    rate: float  # frames or samples per second of the record

    @property
    def span(self) -> int:
        """Frames or samples of the record one window covers: ``(num_steps - 1) * stride + 1``."""
        return (self.num_steps - 1) * self.stride + 1

    @property
    def unit(self) -> str:
        """``"frames"`` or ``"samples"``."""
        return "frames" if self.modality == "video" else "samples"

    def __str__(self) -> str:
        hertz = "fps" if self.modality == "video" else "Hz"
        steps = f"{self.num_steps} {self.unit}"
        if self.stride > 1:
            steps += f" at stride {self.stride}, i.e. {self.span} {self.unit}"
        return f"{steps} ({self.span / self.rate:g} s at {self.rate:g} {hertz})"


def video_window(
    config: PretrainDataConfig | EvalDataConfig | FinetuneDataConfig, spec: DatasetSpec
) -> Window:
    """The frames the loader of ``config`` reads from a record of ``spec``. Pretraining multiplies
    ``video_stride`` by ``int(fps // 10)`` (stride 2 on 25 fps sources), as the original; the
    other loaders do not."""
    stride = config.video_stride
    if isinstance(config, PretrainDataConfig):
        stride *= max(1, int(spec.fps // features.REFERENCE_FPS))
    return Window("video", config.num_frames, stride, spec.fps)


def audio_window(config: PretrainDataConfig | EvalDataConfig | FinetuneDataConfig) -> Window:
    """The waveform samples the loader of ``config`` reads (see :func:`audio_num_samples`)."""
    num_samples = audio_num_samples(
        config.num_frames, config.audio_seconds, config.audio_sample_rate
    )
    return Window("audio", num_samples, config.audio_stride, config.audio_sample_rate)


def windows_read(
    config: PretrainDataConfig | EvalDataConfig | FinetuneDataConfig, spec: DatasetSpec
) -> tuple[Window, ...]:
    """Every window the loaders of ``config`` read from a record of ``spec``: pretraining reads
    video and audio; fine-tuning the spec's ``classification_modality``; evaluation that modality
    (linear probes, datasets with labels) and video and audio (retrieval, datasets with captions).
    """
    if isinstance(config, PretrainDataConfig):
        read = {"video", "audio"}
    else:
        read = set()
        if isinstance(config, FinetuneDataConfig) or "label" in spec.modalities:
            read.add(spec.classification_modality)
        if isinstance(config, EvalDataConfig) and "text" in spec.modalities:
            read |= {"video", "audio"}
    read &= set(spec.modalities)
    windows = []
    if "video" in read:
        windows.append(video_window(config, spec))
    if "audio" in read:
        windows.append(audio_window(config))
    return tuple(windows)


def validate(config: PretrainDataConfig | EvalDataConfig | FinetuneDataConfig) -> None:
    """Raise ValueError naming the field when a config value is outside what the loaders accept."""
    name = type(config).__name__
    checks = [
        ("num_frames", config.num_frames >= 1, "at least 1"),
        ("frame_size", config.frame_size >= 1, "at least 1"),
        ("video_stride", config.video_stride >= 1, "at least 1"),
        ("audio_stride", config.audio_stride >= 1, "at least 1"),
        ("audio_sample_rate", config.audio_sample_rate >= 1, "at least 1"),
        (
            "short_input_policy",
            config.short_input_policy in SHORT_INPUT_POLICIES,
            f"one of {SHORT_INPUT_POLICIES}",
        ),
    ]
    if hasattr(config, "tokenizer"):
        checks.append(("tokenizer", config.tokenizer in TOKENIZERS, f"one of {TOKENIZERS}"))
        checks.append(("max_num_words", config.max_num_words >= 1, "at least 1"))
    if hasattr(config, "video_dtype"):
        checks.append(("video_dtype", config.video_dtype in VIDEO_DTYPES, f"one of {VIDEO_DTYPES}"))
    if hasattr(config, "crop_resize_style"):
        checks.append(
            ("crop_resize_style", config.crop_resize_style in CROP_STYLES, f"one of {CROP_STYLES}")
        )
    if hasattr(config, "num_windows_test"):
        checks.append(("num_windows_test", config.num_windows_test >= 1, "at least 1"))
    if hasattr(config, "label_smoothing"):
        checks.append(("label_smoothing", 0.0 <= config.label_smoothing < 1.0, "in [0, 1)"))
    if getattr(config, "resize_on_accelerator", False):
        checks.append(
            ("video_dtype", config.video_dtype == "uint8", "'uint8' to resize_on_accelerator")
        )
    if getattr(config, "video_canvas", None):
        canvas = config.video_canvas
        checks.append(
            (
                "video_canvas",
                len(canvas) == 2 and min(canvas) >= config.frame_size,
                f"[height, width], each at least frame_size ({config.frame_size})",
            )
        )
    for field_name, ok, allowed in checks:
        if not ok:
            value = getattr(config, field_name)
            raise ValueError(f"{name}.{field_name} = {value!r} is invalid: it must be {allowed}.")
