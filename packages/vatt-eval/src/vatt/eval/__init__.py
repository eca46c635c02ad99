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

from vatt.eval.evaluator import (
    EvalSettings,
    RunEvaluator,
    evaluate_checkpoint,
    is_official_checkpoint,
)
from vatt.eval.finetune_eval import classification_results, evaluate_finetuning, multiview_results
from vatt.eval.inference import collect, make_predict
from vatt.eval.metrics import (
    audioset_metrics,
    classification_metrics,
    d_prime,
    retrieval_chance_levels,
    retrieval_metrics,
    similarity_average_cosines,
    similarity_average_embeddings,
    top_k_accuracy,
)
from vatt.eval.pretrain_eval import (
    ProbeSettings,
    evaluate_pretraining,
    probe_results,
    retrieval_results,
)
from vatt.eval.probes import (
    DEFAULT_SVM_C_GRID,
    KerasProbeConfig,
    build_keras_probe,
    keras_linear_probe,
    select_svm_c,
    svm_linear_probe,
)
from vatt.eval.results import read_results, results_path, write_results
from vatt.eval.version import __version__
from vatt.eval.views import average_views, split_views
from vatt.eval.watch import available_checkpoints, checkpoint_step, watch_run

__all__ = [
    "DEFAULT_SVM_C_GRID",
    "EvalSettings",
    "KerasProbeConfig",
    "ProbeSettings",
    "RunEvaluator",
    "__version__",
    "audioset_metrics",
    "available_checkpoints",
    "average_views",
    "build_keras_probe",
    "checkpoint_step",
    "classification_metrics",
    "classification_results",
    "collect",
    "d_prime",
    "evaluate_checkpoint",
    "evaluate_finetuning",
    "evaluate_pretraining",
    "is_official_checkpoint",
    "keras_linear_probe",
    "make_predict",
    "multiview_results",
    "probe_results",
    "read_results",
    "results_path",
    "retrieval_chance_levels",
    "retrieval_metrics",
    "retrieval_results",
    "select_svm_c",
    "similarity_average_cosines",
    "similarity_average_embeddings",
    "split_views",
    "svm_linear_probe",
    "top_k_accuracy",
    "watch_run",
    "write_results",
]
