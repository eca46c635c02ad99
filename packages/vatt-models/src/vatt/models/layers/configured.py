"""A Keras layer whose config is the constructor arguments it keeps."""

from __future__ import annotations

from typing import Any

import keras


class ConfiguredLayer(keras.layers.Layer):
    """Base of the VATT layers: ``get_config`` is the arguments given to :meth:`configure`.

    A subclass calls ``self.configure(name=value, ...)`` in its constructor, after
    ``super().__init__``; each value becomes an attribute of that name and an entry of the config
    (initializers serialised), so ``from_config(get_config())`` rebuilds the layer.
    """

    def configure(self, **arguments: Any) -> None:
        """Keep ``arguments`` as attributes and as config entries (added to earlier ones)."""
        for key, value in arguments.items():
            setattr(self, key, value)
        self._argument_names = (*getattr(self, "_argument_names", ()), *arguments)

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
