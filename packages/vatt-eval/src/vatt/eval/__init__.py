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

import pkgutil

import lazy_loader

from vatt.eval.version import __version__ as __version__

# Submodule -> its public names, imported on first use (lazy_loader): ``vatt-eval --help`` answers
# without importing TensorFlow. Every submodule (``vatt.eval.metrics``) is an attribute too.
_EXPORTS = {
    "evaluator": [
        "EvalSettings",
        "RunEvaluator",
        "checkpoint_step",  # vatt-train's, as the evaluator uses it
        "evaluate_checkpoint",
        "is_official_checkpoint",
    ],
    "finetune_eval": ["classification_results", "evaluate_finetuning", "multiview_results"],
    "inference": ["collect", "make_predict"],
    "metrics": [
        "audioset_metrics",
        "classification_metrics",
        "d_prime",
        "retrieval_chance_levels",
        "retrieval_metrics",
        "similarity_average_cosines",
        "similarity_average_embeddings",
        "top_k_accuracy",
    ],
    "pretrain_eval": [
        "ProbeSettings",
        "evaluate_pretraining",
        "probe_results",
        "retrieval_results",
    ],
    "probes": [
        "DEFAULT_SVM_C_GRID",
        "KerasProbeConfig",
        "build_keras_probe",
        "keras_linear_probe",
        "select_svm_c",
        "svm_linear_probe",
    ],
    "results": ["read_results", "results_path", "write_results"],
    "views": ["average_views", "split_views"],
    "watch": ["watch_run"],
}
_SUBMODULES = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
__getattr__, __dir__, _ = lazy_loader.attach(__name__, _SUBMODULES, _EXPORTS)
__all__ = sorted([*(name for names in _EXPORTS.values() for name in names), "__version__"])
