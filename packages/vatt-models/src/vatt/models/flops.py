"""Training FLOPs per example and model FLOPs utilisation (MFU), nanoGPT's ``estimate_mfu`` style.

What is counted
---------------
Model FLOPs, the convention of Kaplan et al. (2020), PaLM's MFU and nanoGPT: the
multiply-accumulates of every matrix product and convolution, two FLOPs each; element-wise
work (norms, softmax, activations, BatchNorm) is left out. They are counted exactly from the
model's own forward computation, traced once in training mode with static shapes, so that
every shape effect is included without a per-architecture formula:

* a Dense layer on ``(..., d_in)`` -> ``(..., d_out)``: ``2 * prod(...) * d_in * d_out``;
* a convolution, patch embeddings included: ``2 * prod(output shape) * prod(kernel) * C_in``
  (the ViT-3D patch layer costs ``2 * N_patches * (4*16*16*3) * d`` on ALL patches, since it
  runs before DropToken);
* attention: ``QK^T`` and ``PV`` each ``2 * B * H * L * L * d_kv`` per layer, with L the token
  count after DropToken plus the aggregation token; a fused attention kernel (cuDNN's, met as
  one primitive in the jaxpr) is counted from its operand shapes, so a faster kernel never
  shows as fewer FLOPs;
* anything else the model multiplies (heads, projections, T5 relative bias lookups cost 0).

Training FLOPs are 3x the forward FLOPs: the backward pass computes, for every product, one
gradient with respect to its input and one with respect to its weight, each as costly as the
forward product (Kaplan et al. 2020, eq. 2.1; nanoGPT). This slightly overcounts the first
layer, whose input gradient is never needed (for ViT-Base with DropToken 0.5, 1.5%).

    training_flops_per_example = 3 * forward_flops(batch) / batch_size
    mfu = training_flops_per_example * examples_per_second / peak_flops_per_second

The tracer is backend specific (TensorFlow graph, JAX jaxpr or PyTorch's flop counter on the
meta device); all three count the same products.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

#: Backward passes cost twice the forward pass (input and weight gradients).
TRAINING_TO_FORWARD_RATIO = 3

# Contract 1: word ids are int32, every other batch entry is float32.
_INT_KEYS = frozenset({"text"})

Shape = Sequence[int]
BatchShapes = Mapping[str, Shape] | Shape


def estimate_flops(model: keras.Layer, batch_shapes: BatchShapes) -> float:
    """Training FLOPs per example of ``model`` on a batch of the given shapes.

    Args:
        model: a built Keras layer or model, e.g. from :func:`vatt.models.build`.
        batch_shapes: fully static shapes of the model input, batch axis first: a dict such
            as ``{"video": (8, 32, 224, 224, 3)}`` for models that take the batch dict (the
            key ``text`` is int32, every other key float32), or one shape for a backbone
            that takes a single tensor.

    Returns:
        ``3 * forward FLOPs / batch size`` (see the module docstring for what is counted).

    Raises:
        ValueError: a shape is not fully static, batch sizes differ, or the backend has no
            tracer (supported: tensorflow, jax, torch).
    """
    specs, batch_size = _input_specs(batch_shapes)
    backend = keras.backend.backend()
    tracers: dict[str, Callable[[keras.Layer, Any], int]] = {
        "tensorflow": _tensorflow_forward_flops,
        "jax": _jax_forward_flops,
        "torch": _torch_forward_flops,
    }
    if backend not in tracers:
        raise ValueError(
            f"estimate_flops traces the model and supports the tensorflow, jax and torch "
            f"backends, not {backend!r}; set KERAS_BACKEND=tensorflow, jax or torch"
        )
    forward = tracers[backend](model, specs)
    return TRAINING_TO_FORWARD_RATIO * forward / batch_size


def mfu(flops_per_example: float, examples_per_second: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation: achieved training FLOP/s as a fraction of the hardware peak.

    Args:
        flops_per_example: from :func:`estimate_flops`.
        examples_per_second: measured training throughput.
        peak_tflops: the accelerator's peak dense TFLOP/s for the precision used (e.g. 989 for
            an H100 SXM in bf16, 312 for an A100 in bf16).
    """
    if peak_tflops <= 0:
        raise ValueError(f"peak_tflops must be positive, got {peak_tflops}")
    if flops_per_example < 0 or examples_per_second < 0:
        raise ValueError("flops_per_example and examples_per_second must be non-negative")
    return flops_per_example * examples_per_second / (peak_tflops * 1e12)


def _input_specs(batch_shapes: BatchShapes) -> tuple[Any, int]:
    """``({key: (shape, dtype)} or (shape, dtype), batch size)``, validated."""
    if isinstance(batch_shapes, Mapping):
        if not batch_shapes:
            raise ValueError("batch_shapes is empty; give at least one input shape")
        specs = {
            key: (_static(shape, key), "int32" if key in _INT_KEYS else "float32")
            for key, shape in batch_shapes.items()
        }
        sizes = {key: spec[0][0] for key, spec in specs.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"every input must have the same batch size, got {sizes}")
        return specs, next(iter(sizes.values()))
    shape = _static(batch_shapes, "input")
    return (shape, "float32"), shape[0]


def _static(shape: Shape, key: str) -> tuple[int, ...]:
    shape = tuple(shape)
    if not shape or any(not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(
            f"shape of {key!r} must be fully static positive ints with the batch first, got {shape}"
        )
    return shape


def _map_specs(specs: Any, make: Callable[[tuple[int, ...], str], Any]) -> Any:
    if isinstance(specs, dict):
        return {key: make(*spec) for key, spec in specs.items()}
    return make(*specs)


# --- TensorFlow: walk the graph of one traced forward pass ---------------------------------


def _tensorflow_forward_flops(model: keras.Layer, specs: Any) -> int:
    import tensorflow as tf

    signature = _map_specs(specs, lambda shape, dtype: tf.TensorSpec(shape, dtype))
    graph = (
        tf.function(lambda batch: model(batch, training=True))
        .get_concrete_function(signature)
        .graph
    )
    return _tf_graph_flops(graph)


def _tf_graph_flops(graph) -> int:
    total = 0
    for op in graph.get_operations():
        total += _tf_op_flops(op)
        for attr in ("f", "then_branch", "body"):
            if attr in op.node_def.attr:
                raise ValueError(
                    f"cannot count FLOPs through the control-flow op {op.type!r} ({op.name})"
                )
    return total


def _tf_op_flops(op) -> int:
    def shape(tensor) -> tuple[int, ...]:
        dims = tensor.shape.as_list()
        if any(d is None for d in dims):
            raise ValueError(f"{op.type} {op.name} has a dynamic shape {dims}; FLOPs need static")
        return tuple(dims)

    if op.type == "MatMul":
        a = shape(op.inputs[0])
        depth = a[0] if op.get_attr("transpose_a") else a[1]
        return 2 * math.prod(shape(op.outputs[0])) * depth
    if op.type in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
        a = shape(op.inputs[0])
        depth = a[-2] if op.get_attr("adj_x") else a[-1]
        return 2 * math.prod(shape(op.outputs[0])) * depth
    if op.type == "Einsum":
        equation = op.get_attr("equation").decode()
        operands = [shape(t) for t in op.inputs]
        return _einsum_flops(equation, operands, shape(op.outputs[0]))
    if op.type in ("Conv2D", "Conv3D"):
        kernel = shape(op.inputs[1])  # (*spatial, C_in / groups, C_out)
        return 2 * math.prod(shape(op.outputs[0])) * math.prod(kernel[:-1])
    return 0


def _einsum_flops(equation: str, operands: list[tuple[int, ...]], output: tuple[int, ...]) -> int:
    """``2 * prod(output) * prod(sizes of the summed-over indices)``."""
    inputs, result = equation.replace(" ", "").split("->")
    sizes: dict[str, int] = {}
    for subscripts, dims in zip(inputs.split(","), operands, strict=True):
        head, _, tail = subscripts.partition("...")
        for letter, size in zip(head, dims, strict=False):
            sizes[letter] = size
        for letter, size in zip(tail, dims[len(dims) - len(tail) :], strict=True):
            sizes[letter] = size
    summed = [
        size
        for letter, size in sizes.items()
        if letter in string.ascii_letters and letter not in result
    ]
    return 2 * math.prod(output) * math.prod(summed)


# --- JAX: walk the jaxpr of one traced forward pass ----------------------------------------


def _jax_forward_flops(model: keras.Layer, specs: Any) -> int:
    import jax

    def abstract(variables):
        return [jax.ShapeDtypeStruct(tuple(v.shape), v.dtype) for v in variables]

    def forward(trainable, non_trainable, batch):
        outputs, _ = model.stateless_call(trainable, non_trainable, batch, training=True)
        return outputs

    batch = _map_specs(specs, jax.ShapeDtypeStruct)
    closed = jax.make_jaxpr(forward)(
        abstract(model.trainable_variables), abstract(model.non_trainable_variables), batch
    )
    return _jaxpr_flops(closed.jaxpr)


# cuDNN's fused attention (jax.nn.dot_product_attention on GPU) is one opaque primitive.
_FUSED_ATTENTION_PRIMITIVE = "dot_product_attention_fwd"


def _fused_attention_flops(eqn) -> int:
    """``QK^T`` and ``PV`` of a fused attention primitive, counted from its operand shapes."""
    query, key, value = (v.aval.shape for v in eqn.invars[:3])
    layout = eqn.params.get("layout", 0)  # jax's AttentionLayout: 0 = BTNH, 1 = BNTH
    if getattr(layout, "value", layout) == 1:
        (batch, heads, q_len, depth), kv_len, v_depth = query, key[2], value[3]  # BNTH
    else:
        (batch, q_len, heads, depth), kv_len, v_depth = query, key[1], value[3]  # BTNH
    return 2 * batch * heads * q_len * kv_len * (depth + v_depth)


def _jaxpr_flops(jaxpr) -> int:
    from jax.extend.core import ClosedJaxpr, Jaxpr

    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (lhs_contracting, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            depth = math.prod(lhs[i] for i in lhs_contracting)
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * depth
        elif name == "conv_general_dilated":
            kernel = eqn.invars[1].aval.shape
            out_channels = kernel[eqn.params["dimension_numbers"].rhs_spec[0]]
            per_output = math.prod(kernel) // out_channels  # prod(spatial) * C_in / groups
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * per_output
        elif name.startswith(_FUSED_ATTENTION_PRIMITIVE):
            total += _fused_attention_flops(eqn)
        elif name in ("while", "cond"):
            raise ValueError(f"cannot count FLOPs through the control-flow primitive {name!r}")
        repeat = eqn.params.get("length", 1) if name == "scan" else 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                if isinstance(sub, ClosedJaxpr):
                    total += repeat * _jaxpr_flops(sub.jaxpr)
                elif isinstance(sub, Jaxpr):
                    total += repeat * _jaxpr_flops(sub)
    return total


# --- PyTorch: count the aten ops of one forward pass on the meta device --------------------


def _torch_forward_flops(model: keras.Layer, specs: Any) -> int:
    """Forward FLOPs by ``torch.utils.flop_counter``, the products of the other tracers.

    The pass runs on the ``meta`` device (shapes, no data, no compute) in a stateless scope,
    so neither the weights, the BatchNorm statistics nor the seed generators change. There
    ``mm``/``addmm``/``bmm`` (Dense, einsum, matmul) and ``convolution`` cost ``2 * MACs``,
    and PyTorch's ``scaled_dot_product_attention`` takes its math path, whose two ``bmm``
    are ``QK^T`` and ``PV``; the fused SDPA kernels are counted from their shapes by the
    counter's own formulas.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with keras.StatelessScope(), keras.device("meta"), torch.no_grad():
        batch = _map_specs(specs, lambda shape, dtype: keras.ops.zeros(shape, dtype))
        with FlopCounterMode(display=False) as counter:
            model(batch, training=True)
    return counter.get_total_flops()
