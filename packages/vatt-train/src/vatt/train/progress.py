"""What a practitioner watches during training: the console line and the MFU estimate."""

from __future__ import annotations

import math
from collections.abc import Mapping


def model_flops_utilization(
    training_flops_per_example: float,
    examples_per_second: float,
    peak_tflops_per_device: float,
    num_devices: int,
) -> float:
    """Fraction of the devices' peak FLOP/s that the training arithmetic uses (nanoGPT's MFU).

    ``training_flops_per_example`` is forward plus backward, as ``vatt.models.estimate_flops``
    returns it.
    """
    achieved = training_flops_per_example * examples_per_second
    return achieved / (peak_tflops_per_device * 1e12 * num_devices)


def format_duration(seconds: float) -> str:
    """``3725`` → ``'1h02m'``; ``75`` → ``'1m15s'``; ``9`` → ``'9s'``."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_line(
    *,
    step: int,
    total_steps: int,
    losses: Mapping[str, float],
    learning_rate: float,
    examples_per_second: float,
    seconds_per_step: float,
    mfu: float | None = None,
    skipped_steps: int = 0,
) -> str:
    """One console line: step, loss terms, learning rate, clips/s, MFU (when known) and ETA."""
    terms = " ".join(f"{k} {v:.4f}" for k, v in losses.items() if k != "total")
    loss = f"loss {losses['total']:.4f}" + (f" ({terms})" if terms else "")
    parts = [
        f"step {step}/{total_steps}",
        loss,
        f"lr {learning_rate:.3e}",
        f"{examples_per_second:.1f} clips/s",
    ]
    if mfu is not None:
        parts.append(f"MFU {100 * mfu:.1f}%")
    if skipped_steps:
        parts.append(f"skipped {skipped_steps} non-finite steps")
    parts.append(f"ETA {format_duration((total_steps - step) * seconds_per_step)}")
    return " | ".join(parts)
