"""vatt.models: VATT backbones, heads and classifiers in Keras 3, with an arch registry.

Build an arch with ``vatt.models.build(arch, **overrides)`` (every arch registers on the first
lookup) and read official VATT checkpoints with ``vatt.models.load_official_checkpoint(model, path)``.
"""

import pkgutil

import lazy_loader

from vatt.models.version import __version__ as __version__

# Submodule -> its public names, imported on first use (lazy_loader): ``vatt-models --help`` starts
# without importing Keras or TensorFlow. Every submodule (``vatt.models.layers``) is an attribute too.
_EXPORTS = {
    "checkpoints": ["load_official_checkpoint"],
    "flops": ["estimate_flops"],
    "registry": [
        "ArchConfig",
        "build",
        "get_config",
        "list_archs",
        "register_arch",
        "tiny_overrides",
        "tower_config",
    ],
}
_SUBMODULES = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
__getattr__, __dir__, _ = lazy_loader.attach(__name__, _SUBMODULES, _EXPORTS)
__all__ = sorted([*(name for names in _EXPORTS.values() for name in names), "__version__"])
