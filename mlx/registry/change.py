"""What a registry write did, and the checks every stage write starts with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlx.config.model import ProjectConfig
from mlx.errors import PromotionRefused
from mlx.registry.store import ArtifactState, Registry


@dataclass
class RegistryChange:
    """What a registry write did."""

    action: str  # promote | rollback | demote | deprecate | deregister
    name: str
    version: str | None = None
    stage: str | None = None
    commit: str | None = None
    tags: list[str] = field(default_factory=list)  # created by this call
    registered: bool = False  # a new version was registered
    previous: str | None = None  # who held the stage before
    holder: str | None = None  # who holds it now
    forced: bool = False
    reason: str | None = None
    unchanged: bool = False
    pushed: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def check_stage(project: ProjectConfig, stage: str) -> None:
    stages = project.config.registry.stages
    if stage not in stages:
        raise PromotionRefused(
            f"stage {stage!r} is not in registry.stages ({', '.join(stages)})",
            hint="pick one of those, or add it to registry.stages in mlops.yaml",
        )


def artifact_of(reg: Registry, name: str) -> ArtifactState:
    art = reg.artifact(name)
    if art is None or not art.events:
        from mlx.errors import RefError

        raise RefError(
            f"no artifact {name!r} in the registry", hint="register it with `mlx promote`"
        )
    return art
