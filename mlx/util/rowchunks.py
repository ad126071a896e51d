"""Score many rows on every core: row chunks on a thread pool, one thread per run.

onnxruntime releases the GIL in ``InferenceSession.run`` and a session may be run from
several threads at once. With ``intra_op_num_threads=1`` each run computes on its
caller's thread, so chunks run side by side on a pool of ``workers`` threads. Measured
on the tree models mlx writes (docs/benchmarks.md, "LightGBM → ONNX export"), this
scales better than one run with onnxruntime's own intra-op threads, whose tree kernel
parallelises less well and whose spinning threads suffer on a busy machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

CHUNK_ROWS = 512
"""Rows per run. The tree kernel's input for a chunk ([rows, columns] floats) should stay
in cache: on the bench's categorical-heavy model (~1,200 columns after the derived
category columns) 512-row runs scored 50,000 rows in 0.41-0.42 s on 2 cores against
0.49 s with ~6,000-row runs (256-768 alike); numeric models are flat down to 256."""


def workers_default() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_in_chunks(
    run: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
    feeds: Mapping[str, np.ndarray],
    workers: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> list[Any]:
    """``run(feeds)`` for row-major feeds (rows on axis 0), split into ``chunk_rows``-row
    chunks run on ``workers`` threads (default: the usable cores); outputs concatenated
    along axis 0 in row order, so the result is the same arrays one call gives."""
    n = len(next(iter(feeds.values()))) if feeds else 0
    workers = workers or workers_default()
    if n <= chunk_rows:
        return list(run(dict(feeds)))
    pieces = [{k: v[s : s + chunk_rows] for k, v in feeds.items()} for s in range(0, n, chunk_rows)]
    if workers <= 1:
        outputs = [run(piece) for piece in pieces]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlx-rows") as pool:
            outputs = list(pool.map(run, pieces))
    return [np.concatenate(parts, axis=0) for parts in zip(*outputs, strict=True)]
