"""vatt.data — DMVR-style tf.data pipelines for VATT; see the package README for the public API."""

import pkgutil

import lazy_loader

from vatt.data.version import __version__ as __version__

# Submodule -> its public names, imported on first use (lazy_loader): the command-line tools
# answer --help without importing TensorFlow. Every submodule (``vatt.data.features``) is an
# attribute too.
_EXPORTS = {
    "accelerator": ["finish_batch"],
    "builders": ["FilterBuilder", "FunctionBuilder", "Phase", "SequenceExampleParserBuilder"],
    "config": ["EvalDataConfig", "FinetuneDataConfig", "PretrainDataConfig"],
    "factory": ["DatasetFactory"],
    "loaders": ["classification_dataset", "pretrain_dataset", "retrieval_dataset"],
    "registry": ["DatasetSpec", "get_dataset_spec", "list_datasets", "register_dataset"],
    "short_clips": ["SHORT_CLIP_KEYS", "ShortClipLog"],
    "tokenizers": ["BertTokenizer", "SentencePieceTokenizer", "WordTokenizer"],
}
_SUBMODULES = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
__getattr__, __dir__, _ = lazy_loader.attach(__name__, _SUBMODULES, _EXPORTS)
__all__ = sorted(
    [*(name for names in _EXPORTS.values() for name in names), "__version__", "features"]
)
