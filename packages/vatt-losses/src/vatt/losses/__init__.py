"""vatt.losses — VATT's contrastive and classification objectives, written with keras.ops.

Public API::

    asymmetric_nce(x, y, y_mask=None, *, x_all=None, y_all=None, y_mask_all=None, temperature=0.07)
    symmetric_nce(x, y, x_mask=None, y_mask=None, *, x_all=..., y_all=..., ..., temperature=0.07)
    softmax_cross_entropy(logits, labels)
    sigmoid_cross_entropy(logits, labels, *, inverse_frequency_weighting=True)
    pretrain_objective(outputs, batch, *, temperature=0.07, vid_txt_weight=1.0,
                       vid_aud_weight=1.0, gather=None)
"""

from vatt.losses.classification import (
    inverse_label_occurrence,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
)
from vatt.losses.contrastive import asymmetric_nce, l2_normalize, symmetric_nce
from vatt.losses.objectives import pretrain_objective
from vatt.losses.version import __version__

__all__ = [
    "__version__",
    "asymmetric_nce",
    "inverse_label_occurrence",
    "l2_normalize",
    "pretrain_objective",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "symmetric_nce",
]
