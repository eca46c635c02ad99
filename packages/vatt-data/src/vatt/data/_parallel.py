"""An ordered map over worker processes, shared by the record tools."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vatt.core.quiet import import_tensorflow_quietly


def ordered_map(fn: Callable[..., Any], tasks: Sequence[tuple], workers: int) -> Iterator[Any]:
    """Yields ``fn(*task)`` for every task, in order; in ``workers`` processes when above 1.

    ``fn`` must be a module-level function and tasks picklable. Processes are spawned, not forked:
    forking a process that has started TensorFlow's thread pools can hang the child. Each worker
    imports TensorFlow without its start-up noise (:func:`vatt.core.quiet.import_tensorflow_quietly`).
    """
    if workers <= 1 or len(tasks) <= 1:
        yield from (fn(*task) for task in tasks)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        min(workers, len(tasks)), mp_context=context, initializer=import_tensorflow_quietly
    ) as pool:
        yield from pool.map(fn, *zip(*tasks, strict=True))
