"""Overriding nested config dataclasses from YAML files, YAML mappings and dotted ``a.b=c`` pairs.

Every key must already exist in the config (an unknown key is an error that lists the valid
ones), list- and tuple-valued fields take lists, and a field holding a *choice* (an optimizer or a
schedule, see :func:`register_choice`) switches class when its ``name`` is overridden::

    optimizer.name=momentum,optimizer.momentum=0.8,schedule.learning_rate_levels=[1e-4,5e-5]
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import yaml

from vatt.train.paths import user_path

T = TypeVar("T")


# YAML 1.1 (PyYAML) reads "1e-4" as a string; YAML 1.2 and every human read it as a float.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` of ``text``, with ``1e-4``-style scalars read as floats."""
    return _exponent_floats(yaml.safe_load(text))


def _exponent_floats(value: Any) -> Any:
    if isinstance(value, str) and _EXPONENT_FLOAT.match(value):
        return float(value)
    if isinstance(value, dict):
        return {k: _exponent_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exponent_floats(v) for v in value]
    return value


class ConfigError(ValueError):
    """A config key, value or file that does not fit the experiment config."""


class Choice:
    """Base of config families whose member is picked by its ``name`` field (optimizers, schedules).

    Subclasses are dataclasses registered with :func:`register_choice`; each has a ``name`` field
    whose default is its registered name.
    """

    members: ClassVar[dict[str, type]]

    def __init_subclass__(cls, family: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if family:
            cls.members = {}

    def __post_init__(self) -> None:
        expected = self.registered_name()
        if getattr(self, "name", expected) != expected:
            raise ConfigError(
                f"{type(self).__name__} must have name {expected!r}, got {self.name!r}"
            )

    @classmethod
    def registered_name(cls) -> str:
        """The name this member was registered under."""
        for name, member in cls.members.items():
            if member is cls:
                return name
        raise ConfigError(f"{cls.__name__} is not a registered choice")

    @classmethod
    def choose(cls, name: str, where: str = "") -> Choice:
        """A default-valued instance of the family member called ``name``."""
        try:
            return cls.members[name]()
        except KeyError:
            raise ConfigError(
                f"{where or cls.__name__}: unknown name {name!r}; "
                f"valid names: {', '.join(sorted(cls.members))}"
            ) from None


def register_choice(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator adding a dataclass to its :class:`Choice` family under ``name``."""

    def decorator(cls: type[T]) -> type[T]:
        if name in cls.members:
            raise ValueError(f"{name!r} is already a member of {cls.__mro__[1].__name__}")
        cls.members[name] = cls
        return cls

    return decorator


def parse_params_override(text: str) -> dict[str, Any]:
    """``--params_override`` text as a nested mapping.

    Accepts a YAML mapping (``{train: {total_steps: 10}}`` or ``train.total_steps: 10``) or
    comma-separated dotted pairs (``train.total_steps=10,optimizer.name=momentum``). Values are
    read as YAML scalars or flow lists, so ``[1, 2]`` is a list and ``1e-4`` a float.
    """
    text = text.strip()
    if not text:
        return {}
    try:
        loaded = load_yaml(text)
    except yaml.YAMLError:
        loaded = None
    if isinstance(loaded, Mapping):
        return expand_dotted(loaded)
    pairs = {}
    for item in _split_top_level(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--params_override item {item!r} is not a 'dotted.key=value' pair (the whole "
                "text is not a YAML mapping either)"
            )
        try:
            pairs[key.strip()] = load_yaml(value) if value.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"--params_override value of {key.strip()!r}: {error}") from None
    return expand_dotted(pairs)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets and quotes, so list values keep their commas."""
    items, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def expand_dotted(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a": {"c": 2}}`` → ``{"a": {"b": 1, "c": 2}}`` (recursively)."""
    result: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ConfigError(f"config keys must be strings, got {key!r}")
        if isinstance(value, Mapping):
            value = expand_dotted(value)
        node = result
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"key {key!r} sets both {part!r} and a field under it")
        if isinstance(node.get(leaf), dict) and isinstance(value, dict):
            node[leaf] = {**node[leaf], **value}
        else:
            node[leaf] = value
    return result


def read_yaml_mapping(path: str | pathlib.Path) -> dict[str, Any]:
    """The mapping of a YAML file (``yaml.safe_load``), with dotted keys expanded.

    ``path`` may be relative or start with ``~``."""
    path = pathlib.Path(user_path(path))
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"config file {path} {problem}; pass the path of a YAML file")
    try:
        loaded = load_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(loaded).__name__}")
    return expand_dotted(loaded)


def apply_overrides(config: T, overrides: Mapping[str, Any], where: str = "config") -> T:
    """A copy of dataclass ``config`` with ``overrides`` (nested and/or dotted keys) applied."""
    overrides = expand_dotted(overrides)
    if isinstance(config, Choice) and "name" in overrides:
        name = overrides.pop("name")
        if name != config.name:
            config = type(config).choose(name, f"{where}.name")
    fields = {f.name for f in dataclasses.fields(config) if f.init}
    changes = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(
                f"{where} has no key {key!r}; valid keys: {', '.join(sorted(fields))}"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{where}.{key} is a section (keys: "
                    f"{', '.join(f.name for f in dataclasses.fields(current))}); "
                    f"override it with a mapping, got {value!r}"
                )
            changes[key] = apply_overrides(current, value, f"{where}.{key}")
        else:
            changes[key] = _coerce(value, current, f"{where}.{key}")
    return dataclasses.replace(config, **changes)


def _coerce(value: Any, current: Any, where: str) -> Any:
    """``value`` converted to the kind of ``current``, or an error naming both."""
    if value is None or current is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        if isinstance(value, str):
            return value
    elif isinstance(current, tuple | list):
        if isinstance(value, tuple | list):
            items = [
                _coerce(v, current[0], f"{where}[{i}]") if current else v
                for i, v in enumerate(value)
            ]
            return type(current)(items)
    elif isinstance(current, dict):
        # Free-form sections (a tower's ``video_model_kwargs``) merge, like dataclass sections.
        if isinstance(value, Mapping):
            return merge_mappings(current, value)
    else:
        return value
    raise ConfigError(f"{where} expects a {type(current).__name__} like {current!r}, got {value!r}")


def merge_mappings(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` merged into ``base``: nested mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
            value = merge_mappings(merged[key], value)
        merged[key] = value
    return merged


def to_plain(value: Any) -> Any:
    """Nested plain Python (dicts, lists, scalars) of a config dataclass, for YAML."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    return value
