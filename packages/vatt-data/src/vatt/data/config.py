"""Configurations of the VATT loaders; defaults are the original release's (vatt-spec §2).

Every field has a plain default (``field(default_factory=...)`` for lists) so that configs can be built,
dumped with ``dataclasses.asdict`` and overridden from YAML by vatt-train. Three configs mirror the three
dataset configs of the original: ``Pretrain``, ``Evaluation`` (linear probe and retrieval after
pretraining) and ``Finetune``; ``LoaderConfig`` holds the fields they share. Each checks its values
when it is built (``__post_init__``), so a bad value never reaches a loader.
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
class LoaderConfig:
    """What every loader's config holds: where the records are, the video and audio windows read
    from each clip, and what a clip shorter than its window becomes.

    Construction checks every value (one line naming the field, its value and what it must be);
    a subclass adds its own checks in ``__post_init__`` after ``super().__post_init__()``.
    """

    data_dir: str = ""
    num_frames: int = 32
    frame_size: int = 224
    video_stride: int = 2
    min_resize: int = 224
    zero_centering_image: bool = True
    # None: num_frames / 10 seconds (3.2 s for 32 frames), the original's rule.
    audio_seconds: float | None = None
    audio_sample_rate: int = features.DEFAULT_SAMPLE_RATE
    audio_stride: int = 1
    audio_spectrogram: bool = False
    # What a clip shorter than its window becomes: "loop" (DMVR), "pad" (last frame / zeros), "error".
    short_input_policy: str = "loop"

    def __post_init__(self) -> None:
        self._require_at_least_1(
            "num_frames", "frame_size", "video_stride", "audio_stride", "audio_sample_rate"
        )
        self._require_one_of("short_input_policy", SHORT_INPUT_POLICIES)

    def _require(self, field_name: str, ok: bool, allowed: str) -> None:
        """Raise ValueError naming ``field_name``, its value and ``allowed`` unless ``ok``."""
        if not ok:
            value = getattr(self, field_name)
            raise ValueError(
                f"{type(self).__name__}.{field_name} = {value!r} is invalid: it must be {allowed}."
            )

    def _require_at_least_1(self, *field_names: str) -> None:
        for field_name in field_names:
            self._require(field_name, getattr(self, field_name) >= 1, "at least 1")

    def _require_one_of(self, field_name: str, choices: tuple[str, ...]) -> None:
        self._require(field_name, getattr(self, field_name) in choices, f"one of {choices}")


@dataclass
class TextLoaderConfig(LoaderConfig):
    """A loader config that also reads captions: ``max_context_sentences + 1`` per clip, each
    tokenized to ``max_num_words`` tokens."""

    max_num_words: int = 16
    max_context_sentences: int = 0
    tokenizer: str = "word"
    # Empty: the dataset spec's vocabulary (relative to data_dir), if it names one.
    vocabulary_path: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_one_of("tokenizer", TOKENIZERS)
        self._require_at_least_1("max_num_words")


@dataclass
class TrainLoaderConfig(LoaderConfig):
    """A loader config for training: records shuffled, clips randomly cropped, coloured and given
    audio noise; ``seed`` makes the draws repeatable."""

    # Inception-style crops (area 0.08-1, aspect 0.5-2) or "VGG" (scale jitter, then a square crop).
    crop_resize_style: str = "Inception"
    color_augment: bool = True
    audio_noise: float = 0.0
    shuffle_buffer: int = 256
    seed: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_one_of("crop_resize_style", CROP_STYLES)


@dataclass
class PretrainDataConfig(TextLoaderConfig, TrainLoaderConfig):
    """Pretraining input: HowTo100M and AudioSet mixed per example (original ``Pretrain``).

    ``text`` holds ``max_context_sentences + 1`` captions per clip (the narration and its neighbours, the
    MIL-NCE positives); datasets without captions get zero tokens and ``text_mask`` 0.
    """

    # The original's values of shared fields. video_stride is multiplied per dataset by
    # int(fps // 10): stride 2 on 25 fps sources, as the original.
    video_stride: int = 1
    max_context_sentences: int = 4
    crop_resize_style: str = "VGG"
    audio_noise: float = 0.01
    datasets: list[str] = field(default_factory=lambda: ["howto100m", "audioset"])
    # Sampling weight of each dataset, per example; empty means uniform, as the original.
    dataset_weights: list[float] = field(default_factory=list)
    split: str = "train"
    scale_jitter: bool = True
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
    audio_mixup: bool = False
    mixup_alpha: float = 10.0
    mixup_beta: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_one_of("video_dtype", VIDEO_DTYPES)
        self._require("datasets", bool(self.datasets), "a list of at least one dataset name")
        self._require(
            "dataset_weights",
            len(self.dataset_weights) in (0, len(self.datasets)),
            f"empty (uniform) or one weight per dataset ({len(self.datasets)})",
        )
        if self.resize_on_accelerator:
            self._require(
                "video_dtype", self.video_dtype == "uint8", "'uint8' to resize_on_accelerator"
            )
        if self.video_canvas:
            self._require(
                "video_canvas",
                len(self.video_canvas) == 2 and min(self.video_canvas) >= self.frame_size,
                f"[height, width], each at least frame_size ({self.frame_size})",
            )


@dataclass
class EvalDataConfig(TextLoaderConfig):
    """Evaluation after pretraining: linear probes and zero-shot retrieval (original ``Evaluation``).

    ``classification_dataset(..., training=True)`` gives the linear-probe training features: one middle
    clip with a central crop, deterministic, repeated ``num_augmentation`` times (Inception crops when
    that is above 1). ``training=False`` and ``retrieval_dataset`` give ``num_windows_test`` windows.
    The video stride is not multiplied by the fps ratio here, as the original.
    """

    name: str = "hmdb51"
    multi_crop: bool = False
    num_windows_test: int = 4
    num_augmentation: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_at_least_1("num_windows_test", "num_augmentation")


@dataclass
class FinetuneDataConfig(TrainLoaderConfig):
    """Fine-tuning a video or audio classifier, and its multi-view evaluation (original ``Finetune``)."""

    audio_stride: int = 2  # the original's value of a shared field
    name: str = "kinetics400"
    multi_crop: bool = True
    num_windows_test: int = 4
    mixup: bool = False
    mixup_alpha: float = 5.0
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_at_least_1("num_windows_test")
        self._require("label_smoothing", 0.0 <= self.label_smoothing < 1.0, "in [0, 1)")


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


def video_window(config: LoaderConfig, spec: DatasetSpec) -> Window:
    """The frames the loader of ``config`` reads from a record of ``spec``. Pretraining multiplies
    ``video_stride`` by ``int(fps // 10)`` (stride 2 on 25 fps sources), as the original; the
    other loaders do not."""
    stride = config.video_stride
    if isinstance(config, PretrainDataConfig):
        stride *= max(1, int(spec.fps // features.REFERENCE_FPS))
    return Window("video", config.num_frames, stride, spec.fps)


def audio_window(config: LoaderConfig) -> Window:
    """The waveform samples the loader of ``config`` reads (see :func:`audio_num_samples`)."""
    num_samples = audio_num_samples(
        config.num_frames, config.audio_seconds, config.audio_sample_rate
    )
    return Window("audio", num_samples, config.audio_stride, config.audio_sample_rate)


def windows_read(config: LoaderConfig, spec: DatasetSpec) -> tuple[Window, ...]:
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
