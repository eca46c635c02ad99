"""Configuration for every vatt package: typed dataclasses, YAML, and one override grammar.

A config is a dataclass (usually deriving from :class:`Config`) whose fields are typed, nested
dataclasses included. It is validated in one place, its ``__post_init__``, which runs on every
construction and after every override. Overrides are nested mappings or dotted keys and go
through :func:`apply_overrides`, which uses OmegaConf structured configs for what they do well
(strict keys, typed values, ``"1e-4"`` read as a float for a float field) and adds what VATT
configs need:

* **choices**: a field whose class is picked by a name. ``CHOICES = {"video": ("video_backbone",
  factory)}`` on a config says that setting ``video_backbone`` replaces ``video`` by
  ``factory(name)`` (fresh defaults of the new class) before the field's own overrides apply;
  the selector may also live inside the field (``("optimizer.name", factory)``);
* **renamed keys**: ``RENAMED = {"video_model_kwargs": "video"}`` keeps an old key working with
  a :class:`DeprecationWarning` naming the new one;
* **one-line errors**: an unknown key or a wrong value raises :class:`ConfigError` naming the
  key and listing the valid ones.

The grammar of command-line overrides (:func:`parse_overrides`) is the original release's
``--params_override``: comma-separated ``dotted.key=value`` pairs, or a YAML mapping.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key, value or file that does not fit the config it is applied to."""


@dataclasses.dataclass
class Config:
    """Base of vatt configs: a dataclass that dumps to and loads from YAML and takes overrides.

    Subclasses validate in ``__post_init__`` and may declare :attr:`CHOICES` and
    :attr:`RENAMED` (see the module docstring).
    """

    #: field -> (selector key, factory(name) -> the field's default config for that name).
    CHOICES: ClassVar[dict[str, tuple[str, Callable[[str], Any]]]] = {}
    #: old key -> new key, accepted with a DeprecationWarning.
    RENAMED: ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-Python dict of the config (tuples become lists)."""
        return to_plain(self)

    def to_yaml(self, path: str | pathlib.Path | None = None) -> str:
        """YAML text of the config; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            pathlib.Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """This class's defaults with ``values`` (nested and/or dotted keys) applied."""
        return apply_overrides(cls(), values, cls.__name__)

    @classmethod
    def from_yaml(cls, source: str | pathlib.Path) -> Self:
        """Config read from a YAML file or YAML text.

        ``source`` is a file when it is a ``pathlib.Path`` or a one-line string ending in
        ``.yaml``/``.yml``; any other string is YAML text.
        """
        is_file = isinstance(source, pathlib.Path) or (
            "\n" not in source and source.strip().endswith((".yaml", ".yml"))
        )
        values = read_yaml(source) if is_file else _mapping(load_yaml(source), "YAML text")
        return cls.from_dict(values)

    def replace(self, **overrides: Any) -> Self:
        """A copy with ``overrides`` applied; keys may be dotted (``**{"a.b": 1}``)."""
        return apply_overrides(self, overrides, type(self).__name__)


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


def read_yaml(path: str | pathlib.Path) -> dict[str, Any]:
    """The mapping of a YAML file, dotted keys expanded; ``~`` and relative paths allowed."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"config file {path} {problem}; pass the path of a YAML file")
    try:
        loaded = load_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {_first_line(error)}") from None
    return _mapping(loaded, f"config file {path}")


def _mapping(loaded: Any, source: str) -> dict[str, Any]:
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"{source} must hold a mapping, got {type(loaded).__name__}")
    return expand_dotted(loaded)


def parse_overrides(text: str, flag: str = "--params_override") -> dict[str, Any]:
    """Override text as a nested mapping: the one grammar of every vatt command line.

    Accepts a YAML mapping (``{train: {total_steps: 10}}`` or ``train.total_steps: 10``) or
    comma-separated dotted pairs (``train.total_steps=10,optimizer.name=momentum``). Values are
    YAML scalars or flow collections, so ``[1, 2]`` is a list and ``1e-4`` a float. ``flag``
    names the option in error messages.
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
                f"{flag} item {item!r} is not a 'dotted.key=value' pair (the whole text is not "
                "a YAML mapping either)"
            )
        try:
            pairs[key.strip()] = load_yaml(value) if value.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"{flag} value of {key.strip()!r}: {_first_line(error)}") from None
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
    """``{"a.b": 1, "a": {"c": 2}}`` -> ``{"a": {"b": 1, "c": 2}}`` (recursively)."""
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
            node[leaf] = merge_mappings(node[leaf], value)
        else:
            node[leaf] = value
    return result


def merge_mappings(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` merged into ``base``: nested mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
            value = merge_mappings(merged[key], value)
        merged[key] = value
    return merged


def apply_overrides(config: T, overrides: Mapping[str, Any], where: str = "config") -> T:
    """A copy of dataclass ``config`` with ``overrides`` (nested and/or dotted keys) applied.

    Choices switch class first, renamed keys are accepted with a warning, then the values are
    merged with type checks and every ``__post_init__`` runs on the result. Any error is a
    one-line :class:`ConfigError` that starts with ``where`` and the full key.
    """
    overrides = expand_dotted(overrides)
    if not overrides:
        return config
    config, overrides = _resolve(config, overrides, where)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(config), overrides)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, config, where)) from None
    except (ValueError, TypeError) as error:  # a __post_init__ refused a value
        owner = ".".join([where, *_refusing_node(merged)])
        raise ConfigError(f"{owner}: {_first_line(error)}") from None


def _refusing_node(node: DictConfig, path: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The path of the deepest config section of ``node`` whose ``__post_init__`` raises
    (error path only: it builds each section again)."""
    for key in node:
        child = node._get_node(key)
        if not isinstance(child, DictConfig) and hasattr(child, "_value"):  # a union's node
            child = child._value()
        if isinstance(child, DictConfig) and OmegaConf.get_type(child) not in (dict, None):
            try:
                OmegaConf.to_object(child)
            except (ValueError, TypeError):
                return _refusing_node(child, (*path, str(key)))
    return path


def _resolve(config: Any, overrides: dict[str, Any], where: str) -> tuple[Any, dict[str, Any]]:
    """``config`` with its choices switched and ``overrides`` with renamed keys moved,
    recursively through nested dataclasses."""
    cls = type(config)
    for old, new in getattr(cls, "RENAMED", {}).items():
        if old in overrides:
            warnings.warn(
                f"{where}.{old} is deprecated; use {where}.{new}", DeprecationWarning, stacklevel=4
            )
            moved = overrides.pop(old)
            if isinstance(moved, Mapping) and isinstance(overrides.get(new), Mapping):
                moved = merge_mappings(moved, overrides[new])
            overrides[new] = moved
    for field, (selector, factory) in getattr(cls, "CHOICES", {}).items():
        *path, key = selector.split(".")
        chosen = overrides
        for part in path:
            chosen = chosen.get(part) if isinstance(chosen, Mapping) else None
        if not isinstance(chosen, Mapping) or key not in chosen:
            continue
        name = chosen[key]
        current = config
        for part in selector.split("."):
            current = getattr(current, part)
        if name == current:
            continue
        try:
            replacement = factory(name)
        except (KeyError, ValueError) as error:
            raise ConfigError(f"{where}.{selector}: {_first_line(error)}") from None
        changes = {field: replacement}
        if not path:  # a sibling selector changes with the field it selects
            changes[key] = name
        config = _replaced(config, changes, where)
    for field, value in overrides.items():
        current = getattr(config, field, None)
        if dataclasses.is_dataclass(current) and not isinstance(value, Mapping):
            raise ConfigError(
                f"{where}.{field} is a section (keys: {', '.join(_field_names(current))}); "
                f"override it with a mapping, got {value!r}"
            )
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            resolved, overrides[field] = _resolve(current, dict(value), f"{where}.{field}")
            if resolved is not current:
                config = _replaced(config, {field: resolved}, where)
    return config, overrides


def _replaced(config: Any, changes: dict[str, Any], where: str) -> Any:
    try:
        return dataclasses.replace(config, **changes)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{where}: {_first_line(error)}") from None


def _describe(error: OmegaConfBaseException, config: Any, where: str) -> str:
    """One line from an OmegaConf error: the full key, the problem and the valid keys."""
    full_key = getattr(error, "full_key", "") or ""
    message = str(getattr(error, "msg", "") or error).splitlines()[0]
    if type(error).__name__ == "ConfigKeyError" and full_key:
        *parents, leaf = full_key.split(".")
        owner = config
        for part in parents:
            owner = getattr(owner, part, None)
        valid = ", ".join(sorted(_field_names(owner))) if owner is not None else ""
        return f"{'.'.join([where, *parents])} has no key {leaf!r}; valid keys: {valid}"
    return f"{where}.{full_key}: {message}" if full_key else f"{where}: {message}"


def _field_names(config: Any) -> list[str]:
    if dataclasses.is_dataclass(config):
        return [f.name for f in dataclasses.fields(config) if f.init]
    if isinstance(config, Mapping):
        return list(config)
    return []


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]
    return text.splitlines()[0] if text else type(error).__name__


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


class Choice:
    """Base of config families whose member is picked by its ``name`` field (optimizers,
    schedules). Declare a family with ``class OptimizerConfig(Choice, family=True)`` and
    register members with :func:`register_choice`; each member's ``name`` defaults to its
    registered name. A config holding a member lists it in ``CHOICES`` with ``cls.choose``.
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
    def choose(cls, name: str) -> Choice:
        """A default-valued instance of the family member called ``name``."""
        try:
            return cls.members[name]()
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown name {name!r}; valid names: {', '.join(sorted(cls.members))}"
            ) from None


def register_choice(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator adding a dataclass to its :class:`Choice` family under ``name``."""

    def decorator(cls: type[T]) -> type[T]:
        if name in cls.members:
            raise ValueError(f"{name!r} is already a member of {cls.__mro__[1].__name__}")
        cls.members[name] = cls
        return cls

    return decorator
