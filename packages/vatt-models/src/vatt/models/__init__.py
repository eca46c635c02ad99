"""vatt.models: VATT backbones, heads and classifiers in Keras 3, with an arch registry.

``import vatt.models`` registers every arch; build one with ``vatt.models.build(arch, **overrides)``
and read official VATT checkpoints with ``vatt.models.load_official_checkpoint(model, path)``.
"""

# Modules imported for their @register_arch side effect, so that the registry is complete.
from vatt.models import (  # noqa: F401
    classifiers,  # vit_*, wat_*, spt_*
    cnn,  # i3d, resnet2d_*
    heads,
    multimodal,  # tx_fac*, ut_fac, mmv_fac
    text,  # linear, t5_*, bert_*
    unified,  # ut_*
)
from vatt.models.checkpoints import load_official_checkpoint
from vatt.models.flops import estimate_flops
from vatt.models.registry import (
    ArchConfig,
    build,
    get_config,
    list_archs,
    register_arch,
    tiny_overrides,
)
from vatt.models.version import __version__

__all__ = [
    "ArchConfig",
    "__version__",
    "build",
    "estimate_flops",
    "get_config",
    "list_archs",
    "load_official_checkpoint",
    "register_arch",
    "tiny_overrides",
]
