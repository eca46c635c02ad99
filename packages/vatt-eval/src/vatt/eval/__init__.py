"""vatt.eval: VATT evaluation — metrics, linear probes, multi-view classification, run watching.

Public API (see the package README)::

    evaluate_checkpoint(run_dir, checkpoint=None, *, datasets=(), batch_size=8, ...) -> dict
    RunEvaluator(run_dir, settings=EvalSettings()).evaluate(checkpoint) / .watch(...)
    watch_run(run_dir, metric_fn, *, final_step=None, interval=180, timeout=7200) -> list[int]
    retrieval_metrics(similarity) / top_k_accuracy(scores, labels, k) / audioset_metrics(...)
    keras_linear_probe(...) / svm_linear_probe(...)
    average_views(values, num_views) / split_views(values, num_views)
    write_results(run_dir, step, metrics) / read_results(run_dir, step)
"""

import importlib
import importlib.util

from vatt.eval.version import __version__ as __version__

# Public name -> the module defining it. Modules load on first use (PEP 562): ``vatt-eval
# --help`` answers without importing TensorFlow.
_EXPORTS = {
    "DEFAULT_SVM_C_GRID": ".probes",
    "EvalSettings": ".evaluator",
    "KerasProbeConfig": ".probes",
    "ProbeSettings": ".pretrain_eval",
    "RunEvaluator": ".evaluator",
    "audioset_metrics": ".metrics",
    "average_views": ".views",
    "build_keras_probe": ".probes",
    "checkpoint_step": "vatt.train.checkpoints",
    "classification_metrics": ".metrics",
    "classification_results": ".finetune_eval",
    "collect": ".inference",
    "d_prime": ".metrics",
    "evaluate_checkpoint": ".evaluator",
    "evaluate_finetuning": ".finetune_eval",
    "evaluate_pretraining": ".pretrain_eval",
    "is_official_checkpoint": ".evaluator",
    "keras_linear_probe": ".probes",
    "make_predict": ".inference",
    "multiview_results": ".finetune_eval",
    "probe_results": ".pretrain_eval",
    "read_results": ".results",
    "results_path": ".results",
    "retrieval_chance_levels": ".metrics",
    "retrieval_metrics": ".metrics",
    "retrieval_results": ".pretrain_eval",
    "select_svm_c": ".probes",
    "similarity_average_cosines": ".metrics",
    "similarity_average_embeddings": ".metrics",
    "split_views": ".views",
    "svm_linear_probe": ".probes",
    "top_k_accuracy": ".metrics",
    "watch_run": ".watch",
    "write_results": ".results",
}
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    """A public name or a submodule (``vatt.eval.metrics``), imported on first use."""
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
