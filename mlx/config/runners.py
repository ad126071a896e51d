"""Config: ``runners:`` (where stages run: local, ssh, dask) and their options."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mlx.config.sections import Strict


class LocalRunner(Strict):
    kind: Literal["local"] = "local"


class SshRunner(Strict):
    kind: Literal["ssh"]
    host: str = Field(description="Host name or address (an ~/.ssh/config alias works).")
    user: str | None = Field(None, description="Login user (default: ssh config or current user).")
    port: int | None = Field(
        None, ge=1, le=65535, description="SSH port (default: ssh config, else 22)."
    )
    identity_file: str | None = Field(
        None, description="Private key file (default: ssh config, the agent, ~/.ssh/id_*)."
    )
    known_hosts: str | None = Field(
        None,
        description="known_hosts file to check the host key against (default: ~/.ssh/known_hosts). "
        "Host keys are always checked; an unknown host is an error.",
    )
    workdir: str = Field(
        "~/.cache/mlx-runner",
        description="Where bundles (bundles/<tree>/), runs (runs/<id>/), venvs and the shared "
        "DVC cache live on the host.",
    )
    python: str = Field("python3", description="Python on the host used to run or create the venv.")
    venv: str | None = Field(
        None,
        description="Venv on the host to run stages in (must have mlx-mlops installed unless "
        "`setup` creates it).",
    )
    setup: Literal["none", "requirements", "project"] = Field(
        "none",
        description="Create the venv on first use: from the project's committed "
        "requirements.lock (else requirements.txt), or by installing the project "
        "(`pip install .`); it must bring in mlx-mlops.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables set for every command on the host (OMP_NUM_THREADS, "
        "proxies, credentials the DVC remote needs).",
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the connection.")


class DaskRunner(Strict):
    kind: Literal["dask"]
    scheduler: str = Field(description="Scheduler address, e.g. tcp://10.0.0.5:8786.")
    partitions: int | None = Field(
        None, ge=1, description="Partitions per dataset (default: 2 per worker)."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the scheduler.")


RunnerConfig = Annotated[LocalRunner | SshRunner | DaskRunner, Field(discriminator="kind")]
