"""A Keras layer whose config is the constructor arguments it was called with."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import keras

# Key, in a layer's __dict__, of the arguments its constructor was called with (until recorded).
_CALL_ARGUMENTS = "_configured_call_arguments"


class ConfiguredLayer(keras.layers.Layer):
    """Base of the VATT layers: ``get_config`` is the constructor's named arguments.

    Every named parameter of the most derived constructor (not ``name``, ``*args`` or
    ``**kwargs``), defaults applied, becomes an attribute of that name, set when the
    constructor calls ``super().__init__``, and an entry of the config (initializers
    serialised), so ``from_config(get_config())`` rebuilds the layer. A constructor may replace
    such an attribute (e.g. by the initializer object a name stands for) and add entries with
    :meth:`configure`.
    """

    #: The constructor parameters recorded as attributes and config entries.
    _parameter_names: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = vars(cls).get("__init__")
        if init is not None:
            signature = inspect.signature(init)
            cls._parameter_names = tuple(
                parameter.name
                for parameter in list(signature.parameters.values())[1:]
                if parameter.name != "name"
                and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            )
            cls.__init__ = _recording_arguments(init, signature, cls._parameter_names)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configure(**vars(self).pop(_CALL_ARGUMENTS, {}))

    def configure(self, **arguments: Any) -> None:
        """Keep ``arguments`` as attributes and as config entries (added to earlier ones)."""
        for key, value in arguments.items():
            setattr(self, key, value)
        self._argument_names = (*getattr(self, "_argument_names", ()), *arguments)

    @classmethod
    def take_arguments(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Remove from ``kwargs`` and return the ones naming a constructor parameter of ``cls``.

        For a layer that passes its caller's arguments on to the ``cls`` layers it builds.
        """
        return {key: kwargs.pop(key) for key in cls._parameter_names if key in kwargs}

    def arguments(self) -> dict[str, Any]:
        """The configured constructor arguments, by name, in the order given."""
        return {key: getattr(self, key) for key in getattr(self, "_argument_names", ())}

    def get_config(self) -> dict[str, Any]:
        config = {
            key: keras.initializers.serialize(value)
            if isinstance(value, keras.initializers.Initializer)
            else value
            for key, value in self.arguments().items()
        }
        return {**super().get_config(), **config}


def _recording_arguments(init, signature: inspect.Signature, recorded: tuple[str, ...]):
    """``init`` that first keeps its ``recorded`` arguments for :meth:`ConfiguredLayer.__init__`.

    Only the outermost constructor of a call records: that of the class being built.
    """

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _CALL_ARGUMENTS not in vars(self):
            call = signature.bind(self, *args, **kwargs)
            call.apply_defaults()
            # Set before keras.layers.Layer.__init__, as Keras keeps its own auto-config.
            vars(self)[_CALL_ARGUMENTS] = {key: call.arguments[key] for key in recorded}
        init(self, *args, **kwargs)

    __init__.__signature__ = signature  # for Keras, which reads it without unwrapping
    return __init__
