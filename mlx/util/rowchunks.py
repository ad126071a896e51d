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

MIN_CHUNK = 4096  # rows: below ~2 chunks' worth one plain run is as fast
CHUNKS_PER_WORKER = 4  # smaller pieces even out a core that is busy elsewhere


def workers_default() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_in_chunks(
    run: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
    feeds: Mapping[str, np.ndarray],
    workers: int | None = None,
    min_chunk: int = MIN_CHUNK,
) -> list[Any]:
    """``run(feeds)`` for row-major feeds (rows on axis 0), split into row chunks run
    on ``workers`` threads (default: the usable cores); outputs concatenated along axis
    0 in row order, so the result is the same arrays one call gives."""
    n = len(next(iter(feeds.values()))) if feeds else 0
    workers = workers or workers_default()
    if workers <= 1 or n < 2 * min_chunk:
        return list(run(dict(feeds)))
    size = max(min_chunk, -(-n // (workers * CHUNKS_PER_WORKER)))
    starts = range(0, n, size)
    pieces = [{k: v[s : s + size] for k, v in feeds.items()} for s in starts]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlx-rows") as pool:
        outputs = list(pool.map(run, pieces))
    return [np.concatenate(parts, axis=0) for parts in zip(*outputs, strict=True)]
