"""The arch registry: names of the original VATT CLI mapped to a config and a builder.

Each arch is a default config object (a dataclass deriving from :class:`ArchConfig`) plus a
builder ``config -> keras.Model``. Register one next to its constructor::

    @register_arch("vit_base", VideoClassifierConfig)
    def vit_base(config: VideoClassifierConfig) -> keras.Model:
        return VideoClassifier(config)

``build("vit_base", num_classes=400)`` then validates the overrides against the config's fields.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import types
import typing
from collections.abc import Callable
from typing import Any, Self

import keras
import numpy as np
import yaml

Builder = Callable[[Any], keras.Model]

_REGISTRY: dict[str, tuple[Callable[[], ArchConfig], Builder]] = {}
_TINY: dict[str, dict[str, Any]] = {}
# The modules whose @register_arch builders are the built-in archs, imported on the first lookup.
_ARCH_MODULES = ("classifiers", "cnn", "heads", "multimodal", "text", "unified")
_builtin_archs_loaded = False


@dataclasses.dataclass
class ArchConfig:
    """Base of every arch config: a dataclass that dumps to and loads from YAML."""

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-Python dict of the config (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    def to_yaml(self, path: str | pathlib.Path | None = None) -> str:
        """YAML text of the config; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            pathlib.Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """Config with ``values`` applied over this class's defaults (nested dicts allowed)."""
        return _replace(cls(), values, cls.__name__)

    @classmethod
    def from_yaml(cls, source: str | pathlib.Path) -> Self:
        """Config read from a YAML file or YAML text (``yaml.safe_load`` only).

        ``source`` is a file when it is a ``pathlib.Path`` or a one-line string ending in
        ``.yaml``/``.yml``; any other string is YAML text.
        """
        is_file = isinstance(source, pathlib.Path) or (
            "\n" not in source and source.strip().endswith((".yaml", ".yml"))
        )
        if is_file:
            path = pathlib.Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"config file {path} does not exist")
            text = path.read_text()
        else:
            text = source
        values = yaml.safe_load(text) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{cls.__name__} YAML must be a mapping, got {type(values).__name__}")
        return cls.from_dict(values)

    def replace(self, **overrides: Any) -> Self:
        """A copy with ``overrides`` applied; an unknown key is an error listing the valid keys."""
        return _replace(self, overrides, type(self).__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _replace(config: Any, overrides: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(config)}
    hints = _type_hints(type(config))
    changes = {}
    for key, value in overrides.items():
        if key not in fields:
            raise KeyError(
                f"{where} has no field {key!r}; valid fields: {', '.join(sorted(fields))}"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            value = _replace(current, value, f"{where}.{key}")
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        else:
            value = _checked_scalar(value, hints.get(key), f"{where}.{key}")
        changes[key] = value
    return dataclasses.replace(config, **changes)


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an unresolvable annotation: no scalar checks for it
        return {}


def _is_a(value: Any, scalar: type) -> bool:
    if scalar is bool:
        return isinstance(value, bool | np.bool_)
    if isinstance(value, bool | np.bool_):
        return False
    if scalar is int:
        return isinstance(value, int | np.integer)
    if scalar is float:
        return isinstance(value, int | float | np.integer | np.floating)
    return isinstance(value, scalar)


def _checked_scalar(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against a scalar annotation (int, float, bool, str, optionally | None).

    A wrong type would otherwise surface much later as an obscure error inside a layer.
    """
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    scalars = [t for t in options if t in (int, float, bool, str)]
    if not scalars or any(t not in (int, float, bool, str, type(None)) for t in options):
        return value
    if value is None and type(None) in options:
        return value
    for scalar in scalars:
        if _is_a(value, scalar):
            return float(value) if scalar is float else value
    names = " or ".join(t.__name__ for t in options)
    raise TypeError(f"{where} must be {names}, got {value!r} ({type(value).__name__})")


def register_arch(
    name: str,
    config_factory: Callable[[], ArchConfig],
    *,
    tiny: dict[str, Any] | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``name`` with its default-config factory.

    ``tiny`` are the overrides that make the arch small enough for a CPU test in seconds
    (used by the registry-driven tests and the synthetic demo).
    """

    def decorator(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"arch {name!r} is already registered")
        _REGISTRY[name] = (config_factory, builder)
        _TINY[name] = dict(tiny or {})
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


def list_archs() -> list[str]:
    """Sorted names of every registered arch."""
    return sorted(_registry())


def _entry(arch: str) -> tuple[Callable[[], ArchConfig], Builder]:
    try:
        return _registry()[arch]
    except KeyError:
        raise KeyError(
            f"unknown arch {arch!r}; registered archs: {', '.join(list_archs())}"
        ) from None


def tiny_overrides(arch: str) -> dict[str, Any]:
    """The overrides registered for a tiny, CPU-test-sized version of ``arch``."""
    _entry(arch)
    return dict(_TINY[arch])


def get_config(arch: str, **overrides: Any) -> ArchConfig:
    """The default config of ``arch`` with ``overrides`` applied (validated)."""
    config_factory, _ = _entry(arch)
    return config_factory().replace(**overrides)


def build(arch: str, config: ArchConfig | None = None, **overrides: Any) -> keras.Model:
    """Build the model of ``arch``, from its default config, ``config`` if given, plus ``overrides``."""
    config_factory, builder = _entry(arch)
    base = config if config is not None else config_factory()
    return builder(base.replace(**overrides))
