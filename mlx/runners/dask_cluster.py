"""A Dask runner's cluster: the client connection and the checks every stage on it makes
(workers present, the same package versions as here, the data readable at its path)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlx.config.runners import DaskRunner as DaskSpec
from mlx.errors import DataNotAvailable, EnvironmentProblem, RemoteUnreachable

CHECKED = ("mlx-mlops", "lightgbm", "pandas", "numpy", "dask", "distributed")


@contextlib.contextmanager
def connect(spec: DaskSpec, name: str) -> Iterator[Any]:
    """A client of the runner's scheduler; unreachable → :class:`RemoteUnreachable`."""
    from distributed import Client

    for logger in ("distributed", "distributed.client", "lightgbm"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    try:
        client = Client(  # type: ignore[no-untyped-call]  # distributed: no type hints
            spec.scheduler, timeout=spec.timeout, set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise RemoteUnreachable(
            f"cannot reach the Dask scheduler {spec.scheduler} (runner {name!r}): {exc}",
            hint="check the address, that the scheduler runs, and the network",
        ) from None
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


def worker_versions(client: Any) -> dict[str, dict[str, str | None]]:
    """package → version per worker (None when it is not installed there)."""

    def versions() -> dict[str, str | None]:
        from importlib.metadata import PackageNotFoundError, version

        out: dict[str, str | None] = {}
        for dist in CHECKED:
            try:
                out[dist] = version(dist)
            except PackageNotFoundError:
                out[dist] = None
        return out

    found: dict[str, dict[str, str | None]] = client.run(versions)  # worker address → versions
    return found


def check_cluster(client: Any, data_path: Path | None = None) -> dict[str, Any]:
    """Workers present, with this machine's package versions, and able to read the data."""
    from importlib.metadata import version

    info = client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        raise EnvironmentProblem("the Dask cluster has no workers", hint="start some workers")
    problems = []
    for address, found in worker_versions(client).items():
        for dist, theirs in found.items():
            ours = version(dist)
            if theirs != ours:
                problems.append(f"{address}: {dist} {theirs or 'missing'} (here {ours})")
    if problems:
        raise EnvironmentProblem(
            "the Dask workers' packages differ from this machine's:\n  " + "\n  ".join(problems),
            hint="install the same mlx-mlops[dask] environment on every worker",
        )
    if data_path is not None:
        size = data_path.stat().st_size

        def stat(path: str) -> int:
            import os

            return os.path.getsize(path) if os.path.exists(path) else -1

        seen = client.run(stat, str(data_path))
        bad = {w: s for w, s in seen.items() if s != size}
        if bad:
            raise DataNotAvailable(
                f"{len(bad)} Dask worker(s) cannot read {data_path} as this machine has it",
                hint="the dask runner needs the data at the same path on every worker "
                "(a shared filesystem)",
                details={"workers": bad},
            )
    return {
        "workers": len(workers),
        "threads": sum(w.get("nthreads", 0) for w in workers.values()),
    }
