"""vatt.data — DMVR-style tf.data pipelines for VATT; see the package README for the public API."""

import importlib
import importlib.util

from vatt.data.version import __version__ as __version__

# Public name -> the module defining it. Modules load on first use (PEP 562): the command-line
# tools answer --help without importing TensorFlow.
_EXPORTS = {
    "BertTokenizer": ".tokenizers",
    "DatasetFactory": ".factory",
    "DatasetSpec": ".registry",
    "EvalDataConfig": ".config",
    "FilterBuilder": ".builders",
    "FinetuneDataConfig": ".config",
    "FunctionBuilder": ".builders",
    "Phase": ".builders",
    "PretrainDataConfig": ".config",
    "SHORT_CLIP_KEYS": ".short_clips",
    "SentencePieceTokenizer": ".tokenizers",
    "SequenceExampleParserBuilder": ".builders",
    "ShortClipLog": ".short_clips",
    "WordTokenizer": ".tokenizers",
    "classification_dataset": ".loaders",
    "finish_batch": ".loaders",
    "get_dataset_spec": ".registry",
    "list_datasets": ".registry",
    "pretrain_dataset": ".loaders",
    "register_dataset": ".registry",
    "retrieval_dataset": ".loaders",
}
__all__ = sorted([*_EXPORTS, "__version__", "features"])


def __getattr__(name: str):
    """A public name or a submodule (``vatt.data.features``), imported on first use."""
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
