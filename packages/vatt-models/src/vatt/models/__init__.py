"""vatt.models: VATT backbones, heads and classifiers in Keras 3, with an arch registry.

Build an arch with ``vatt.models.build(arch, **overrides)`` (every arch registers on the first
lookup) and read official VATT checkpoints with ``vatt.models.load_official_checkpoint(model, path)``.
"""

import importlib
import importlib.util

from vatt.models.version import __version__ as __version__

# Public name -> the module defining it. Modules load on first use (PEP 562): ``vatt-models
# --help`` starts without importing Keras or TensorFlow.
_EXPORTS = {
    "ArchConfig": ".registry",
    "build": ".registry",
    "estimate_flops": ".flops",
    "get_config": ".registry",
    "list_archs": ".registry",
    "load_official_checkpoint": ".checkpoints",
    "register_arch": ".registry",
    "tiny_overrides": ".registry",
}
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    """A public name or a submodule (``vatt.models.layers``), imported on first use."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
