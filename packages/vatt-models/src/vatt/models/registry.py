"""The arch registry: names of the original VATT CLI mapped to a config and a builder.

Each arch is a default config object (a dataclass deriving from :class:`ArchConfig`) plus a
builder ``(config, name=arch) -> keras.Model``, usually the model class. Register one next to
its constructor, stacking the decorator for each arch it builds::

    @register_arch("vit_base", lambda: VideoClassifierConfig(backbone=ViTConfig.sized("base")),
                   tower="video")
    class VideoClassifier(Classifier): ...

``build("vit_base", num_classes=400)`` then validates the overrides against the config's fields.
An arch registered with ``tower=`` is also a tower name of the pre-training models
(``video_backbone="vit_base"``), see :func:`tower_config`.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

import keras

from vatt.core.config import Config

Builder = Callable[..., keras.Model]

_REGISTRY: dict[str, tuple[Callable[[], ArchConfig], Builder]] = {}
_TINY: dict[str, dict[str, Any]] = {}
#: The kinds of tower of a pre-training model.
TOWERS = ("video", "audio", "text", "unified")
_TOWER_OF: dict[str, str] = {}
# The modules whose @register_arch builders are the built-in archs, imported on the first lookup.
_ARCH_MODULES = ("classifiers", "multimodal", "text", "unified")
_builtin_archs_loaded = False


class ArchConfig(Config):
    """Base of every arch config (a :class:`vatt.core.config.Config`): typed fields, validated in
    ``__post_init__``, YAML in and out, overrides through the one engine of ``vatt.core``."""


def register_arch(
    name: str,
    config_factory: Callable[[], ArchConfig],
    *,
    tiny: dict[str, Any] | None = None,
    tower: str | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` (a model class or function) under ``name``.

    ``build(name)`` calls ``builder(config, name=name)`` with the default config from
    ``config_factory`` plus the overrides. Stack the decorator to register aliases.

    Args:
        name: the arch name.
        config_factory: returns the arch's default config.
        tiny: the overrides that make the arch small enough for a CPU test in seconds (used by
            the registry-driven tests).
        tower: ``"video"``, ``"audio"``, ``"text"`` or ``"unified"`` when the arch's backbone
            can be a tower of a pre-training model (see :func:`tower_config`).
    """
    if tower is not None and tower not in TOWERS:
        raise ValueError(f"arch {name!r}: tower {tower!r} is not one of {', '.join(TOWERS)}")

    def decorator(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"arch {name!r} is already registered")
        _REGISTRY[name] = (config_factory, builder)
        _TINY[name] = dict(tiny or {})
        if tower is not None:
            _TOWER_OF[name] = tower
        return builder

    return decorator


def _registry() -> dict[str, tuple[Callable[[], ArchConfig], Builder]]:
    """Every registered arch, the built-in ones included (their modules load on the first call)."""
    global _builtin_archs_loaded
    if not _builtin_archs_loaded:
        for module in _ARCH_MODULES:
            importlib.import_module(f"vatt.models.{module}")
        _builtin_archs_loaded = True
    return _REGISTRY


def list_archs(tower: str | None = None) -> list[str]:
    """Sorted names of every registered arch, or of the archs usable as ``tower``."""
    archs = _registry()
    if tower is None:
        return sorted(archs)
    return sorted(name for name in archs if _TOWER_OF.get(name) == tower)


def _entry(arch: str) -> tuple[Callable[[], ArchConfig], Builder]:
    try:
        return _registry()[arch]
    except (KeyError, TypeError):
        raise KeyError(
            f"unknown arch {arch!r}; registered archs: {', '.join(list_archs())}"
        ) from None


def tower_config(name: str, tower: str) -> Any:
    """The default backbone config of arch ``name`` as a ``tower`` of a pre-training model.

    That is ``config.backbone`` for a classifier arch (``vit_base`` -> its ``ViTConfig``) and
    the arch's config itself for a backbone arch (``t5_small``, ``ut_medium``).

    Raises:
        ValueError: ``name`` is not a registered ``tower`` arch; the message lists those.
    """
    if tower not in TOWERS:
        raise ValueError(f"tower {tower!r} is not one of {', '.join(TOWERS)}")
    _registry()
    if not isinstance(name, str) or _TOWER_OF.get(name) != tower:
        raise ValueError(
            f"unknown {tower} tower {name!r}; valid {tower} towers: "
            f"{', '.join(list_archs(tower=tower))}"
        )
    config = _REGISTRY[name][0]()
    return getattr(config, "backbone", config)


def tiny_overrides(arch: str) -> dict[str, Any]:
    """The overrides registered for a tiny, CPU-test-sized version of ``arch``."""
    _entry(arch)
    return copy.deepcopy(_TINY[arch])


def get_config(arch: str, **overrides: Any) -> ArchConfig:
    """The default config of ``arch`` with ``overrides`` applied (validated)."""
    config_factory, _ = _entry(arch)
    return config_factory().replace(**overrides)


def build(arch: str, config: ArchConfig | None = None, **overrides: Any) -> keras.Model:
    """Build the model of ``arch``, from its default config, ``config`` if given, plus ``overrides``."""
    config_factory, builder = _entry(arch)
    base = config if config is not None else config_factory()
    return builder(base.replace(**overrides), name=arch)


class ConfiguredLayer:
    """Mixin of the layers and models built from one config (``self.config``): their Keras
    serialisation stores ``config.to_dict()`` and rebuilds it with ``config_class``."""

    config_class: type[ArchConfig]

    def get_config(self) -> dict[str, Any]:
        """Keras config: the base layer's plus ``"config"``, the arch config as a dict."""
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """The layer rebuilt from :meth:`get_config`'s output."""
        config = dict(config)
        return cls(cls.config_class.from_dict(config.pop("config")), **config)
