"""vatt.data — DMVR-style tf.data pipelines for VATT; see the package README for the public API."""

from vatt.data import features
from vatt.data import synthetic as _synthetic  # noqa: F401  (registers the "synthetic" dataset)
from vatt.data.builders import FilterBuilder, FunctionBuilder, Phase, SequenceExampleParserBuilder
from vatt.data.config import EvalDataConfig, FinetuneDataConfig, PretrainDataConfig
from vatt.data.factory import DatasetFactory
from vatt.data.loaders import (
    classification_dataset,
    finish_batch,
    pretrain_dataset,
    retrieval_dataset,
)
from vatt.data.registry import DatasetSpec, get_dataset_spec, list_datasets, register_dataset
from vatt.data.tokenizers import BertTokenizer, SentencePieceTokenizer, WordTokenizer
from vatt.data.version import __version__

__all__ = [
    "BertTokenizer",
    "DatasetFactory",
    "DatasetSpec",
    "EvalDataConfig",
    "FilterBuilder",
    "FinetuneDataConfig",
    "FunctionBuilder",
    "Phase",
    "PretrainDataConfig",
    "SentencePieceTokenizer",
    "SequenceExampleParserBuilder",
    "WordTokenizer",
    "__version__",
    "classification_dataset",
    "features",
    "finish_batch",
    "get_dataset_spec",
    "list_datasets",
    "pretrain_dataset",
    "register_dataset",
    "retrieval_dataset",
]
