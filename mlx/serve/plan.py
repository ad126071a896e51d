"""``mlx serve`` before the first worker: settings, the verified model, the port.

:func:`prepare` does everything that can fail with a clear exit code (bad reference:
2; model missing, md5 mismatch, port taken: 3) while the CLI can still render the
error. The returned :class:`ServePlan` then either runs the supervisor in this process
(:meth:`ServePlan.run`, for Python callers) or replaces this process with a lean one
(:meth:`ServePlan.exec`, what the CLI does, so nothing resolve-time stays in memory).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlx.errors import EnvironmentProblem, UsageError
from mlx.serve.spec import PredictionLogSpec, ReleaseSpec, ServeSpec


@dataclass(frozen=True)
class ServeOptions:
    """What a caller overrides of ``serve`` in mlops.yaml for one run (None, False or
    empty: the config's value). The CLI's flags and :func:`mlx.api.serve` both build one."""

    host: str | None = None
    port: int | None = None  # 0: any free port
    workers: int | None = None
    threads: int | None = None
    token: str | None = None
    max_batch_size: int | None = None
    max_delay_us: int | None = None
    max_queue: int | None = None
    access_log: bool | None = None
    prediction_log: bool | None = None
    json_output: bool = False
    follow: bool = False
    interval: float | None = None  # seconds between two looks at the registry (--follow)
    fetch: bool = False  # --follow also fetches the git remote's tags
    shadow: list[str] | None = None  # refs
    canary: list[str] | None = None  # ["REF=10%", ...]
    split: str | None = None  # "A=50,B=50"
    policy: str | None = None  # "fixed" | "thompson"


@dataclass
class ServePlan:
    spec: ServeSpec
    spec_path: Path
    reserved: socket.socket = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        m = self.spec.model
        return {
            "url": self.spec.url,
            "workers": self.spec.workers,
            "model": {"name": m.name, "version": m.version, "commit": m.commit, "md5": m.md5},
            "models": [
                {"name": x.name, "version": x.version, "ref": x.ref, "role": x.role}
                for x in self.spec.all_models()
            ],
        }

    def run(self) -> int:
        """Serve in this process until SIGTERM/SIGINT; returns the exit code."""
        from mlx.serve import supervisor

        _with_package_on_path()
        try:
            return supervisor.run(self.spec_path)
        finally:
            self.reserved.close()

    def exec(self) -> None:
        """Become the supervisor (same pid, so signals and exit codes go where expected)."""
        _with_package_on_path()
        fd = self.reserved.fileno()
        os.set_inheritable(fd, True)
        sys.stdout.flush()
        sys.stderr.flush()
        args = [sys.executable, "-m", "mlx.serve.supervisor", str(self.spec_path), str(fd)]
        os.execv(sys.executable, args)


def _with_package_on_path() -> None:
    """Make ``python -m mlx.serve...`` importable in child processes from any folder."""
    import mlx

    root = str(Path(mlx.__file__).resolve().parents[1])
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *parts])


def prepare(project, ref: str | list[str] | None, options: ServeOptions | None = None) -> ServePlan:
    """Resolve and verify the model, settle the settings, reserve the port."""
    o = options or ServeOptions()
    from mlx.config.sections import ServeConfig
    from mlx.serve.netutil import bind_socket
    from mlx.serve.resolve import resolve_model

    cfg: ServeConfig = project.config.serve if project is not None else ServeConfig()
    rel = cfg.release
    canaries = _shares([f"{r}={v:g}" for r, v in rel.canary.items()] + list(o.canary or []), "--canary")  # fmt: skip
    splits = _shares([f"{r}={v:g}" for r, v in rel.split.items()] + ([o.split] if o.split else []), "--split")  # fmt: skip
    if splits and abs(sum(splits.values()) - 1.0) > 1e-6:
        raise UsageError(
            f"--split shares add up to {sum(splits.values()):.0%}, not 100%",
            hint="e.g. --split churn#prod=50,churn#staging=50",
        )
    refs: list[str | None] = [ref] if ref is None or isinstance(ref, str) else [*ref] or [None]
    if splits and refs == [None]:
        refs = [next(iter(splits))]  # the first arm of the split is the primary
    models = [resolve_model(project, r) for r in refs]  # a bad ref: exit 2 naming it
    for m in models:
        m.share = splits.pop(m.ref, 0.0)
    shadows = [resolve_model(project, r) for r in [*rel.shadow, *(o.shadow or [])]]
    for m in shadows:
        m.role = "shadow"
    arms = []
    for role, shares in (("canary", canaries), ("split", splits)):
        for r, share in shares.items():
            arm = resolve_model(project, r)
            arm.role, arm.share = role, share
            arms.append(arm)
    _check_unique(models + shadows + arms)
    _check_shares(models, arms)
    policy = _policy(rel.policy if o.policy is None else o.policy, arms)
    if o.follow and project is None:
        raise UsageError("--follow needs an mlx project (mlops.yaml) to read the registry from")
    if o.follow and not any(r is not None and "#" in r for r in refs + list(o.shadow or [])):
        raise UsageError("--follow watches stages: give a stage ref such as churn#prod")
    model = models[0]
    base = project.root if project is not None else Path.cwd()
    plog = cfg.prediction_log
    log_dir = Path(plog.dir).expanduser()
    spec = ServeSpec(
        model=model,
        host=o.host or cfg.host,
        port=cfg.port if o.port is None else o.port,
        workers=o.workers or cfg.workers,
        threads=o.threads or cfg.threads,
        max_batch_size=o.max_batch_size or cfg.max_batch_size,
        max_delay_us=cfg.max_delay_us if o.max_delay_us is None else o.max_delay_us,
        max_queue=o.max_queue or cfg.max_queue,
        max_body_bytes=cfg.max_body_bytes,
        allow_non_finite=cfg.allow_non_finite,
        token=o.token or os.environ.get(cfg.token_env) or None,
        keep_alive_seconds=cfg.keep_alive_seconds,
        request_timeout_seconds=cfg.request_timeout_seconds,
        graceful_seconds=cfg.graceful_seconds,
        access_log=cfg.access_log if o.access_log is None else o.access_log,
        prediction_log=PredictionLogSpec(
            enabled=plog.enabled if o.prediction_log is None else o.prediction_log,
            dir=str(log_dir if log_dir.is_absolute() else base / log_dir),
            sample_rate=plog.sample_rate,
            max_rows_per_file=plog.max_rows_per_file,
            flush_seconds=plog.flush_seconds,
            max_file_seconds=plog.max_file_seconds,
        ),
        json_output=o.json_output,
        models=models + shadows + arms,
        release=ReleaseSpec(
            follow=o.follow,
            interval=10.0 if o.interval is None else o.interval,
            fetch=o.fetch,
            config=str(Path(project.path).resolve()) if project is not None else "",
            refs=[r or "" for r in refs],
            shadow=[m.ref for m in shadows],
            shadow_sample=rel.shadow_sample,
            shadow_queue=rel.shadow_queue,
            shadow_process=rel.shadow_process,
            canary={m.ref: m.share for m in arms if m.role == "canary"},
            split={m.ref: m.share for m in models + arms if m.share and m.role != "canary"},
            sticky_header=rel.sticky_header,
            abort_error_rate=rel.abort_error_rate,
            abort_p99_ratio=rel.abort_p99_ratio,
            abort_window=rel.abort_window,
            abort_min_requests=rel.abort_min_requests,
            policy=policy,
            feedback_ids=rel.feedback_ids,
            feedback_ttl_seconds=rel.feedback_ttl_seconds,
        ),
    )
    if spec.release.interval <= 0:
        raise UsageError(f"--interval must be more than 0 seconds, not {spec.release.interval:g}")
    if spec.workers < 1 or spec.threads < 1:
        raise UsageError("--workers and --threads must be at least 1")
    try:
        reserved = bind_socket(spec.host, spec.port)
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot listen on {spec.host}:{spec.port}: {exc.strerror or exc}",
            hint="pick another --port (0 = any free port) or stop what is using it",
        ) from None
    spec.port = reserved.getsockname()[1]
    run_dir = Path(tempfile.mkdtemp(prefix="mlx-serve-"))
    spec.run_dir = str(run_dir)
    for i, m in enumerate(spec.all_models()):
        _add_variant(m, run_dir, i)
    spec_path = run_dir / "spec.json"
    spec.write(spec_path)
    return ServePlan(spec, spec_path, reserved)


def _policy(policy: str, arms) -> str:
    """--policy: fixed or thompson (which needs canary or split arms to shift traffic to)."""
    from mlx.serve.bandit import POLICIES
    from mlx.util.suggest import near

    if policy not in POLICIES:
        close = near(policy, POLICIES)
        raise UsageError(
            f"unknown --policy {policy!r}; the policies are {', '.join(POLICIES)}",
            hint=f"did you mean {close[0]!r}?" if close else "e.g. --policy thompson",
        )
    if policy == "thompson" and not arms:
        raise UsageError(
            "--policy thompson shifts traffic between versions: give --split or --canary too",
            hint="e.g. --split churn#prod=50,churn#staging=50 --policy thompson",
        )
    return policy


def _shares(items: list[str], flag: str) -> dict[str, float]:
    """``REF=10%`` (or ``REF=10``) items, for --split also comma-separated: ref -> 0-1."""
    out: dict[str, float] = {}
    for item in items:
        for part in item.split(",") if flag == "--split" else [item]:
            ref, sep, pct = part.strip().rpartition("=")
            if not sep or not ref:
                raise UsageError(f"{flag} takes REF=PERCENT, not {part!r}", hint=f"e.g. {flag} churn#staging=10%")  # fmt: skip
            try:
                value = float(pct.strip().removesuffix("%"))
            except ValueError:
                raise UsageError(f"{flag} {part}: {pct!r} is not a percentage", hint="e.g. 10%") from None  # fmt: skip
            if not 0 <= value <= 100:
                raise UsageError(f"{flag} {part}: the share must be within 0-100%, not {value:g}%")
            out[ref] = value / 100
    return out


def _check_shares(models, arms) -> None:
    """Canary and split arms of one model cannot take more than all of its requests."""
    total: dict[str, float] = {}
    for arm in arms:
        primary = next((m for m in models if m.name == arm.name), models[0])
        total[primary.name] = total.get(primary.name, primary.share) + arm.share
    for name, share in total.items():
        if share > 1 + 1e-6:
            raise UsageError(f"the canary and split shares of {name} add up to {share:.0%}, more than 100%")  # fmt: skip


def _check_unique(models) -> None:
    seen: dict[tuple[str, str], str] = {}
    for m in models:
        key = (m.name, m.version)
        if key in seen:
            raise UsageError(
                f"{m.ref!r} and {seen[key]!r} are both {m.name} {m.version}: one name and "
                "version can be served once",
                hint="drop one of them",
            )
        seen[key] = m.ref


def _add_variant(model, folder: Path, index: int | str = 0) -> None:
    """Derive the block variant of the verified model (see variant.py) for the workers."""
    from mlx.serve.model import model_md5
    from mlx.serve.variant import block_variant

    data = Path(model.onnx_path).read_bytes()
    if model_md5(data) != model.md5:  # changed since it was verified: let workers refuse it
        return
    variant = block_variant(data, model.features)
    if variant is not None:
        path = folder / (f"model-{index}.serving.onnx" if index else "model.serving.onnx")
        path.write_bytes(variant)
        model.serving_path, model.serving_md5 = str(path), model_md5(variant)
