"""Generate ``docs/config.md`` from the config model (descriptions, types, defaults).

Run ``python -m mlx.config.reference > docs/config.md``; a test fails when the
committed page differs from what the model says.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mlx.config.model import MlxConfig

HEADER = """# mlops.yaml reference

Generated from the config model (`mlx/config/`) by `python -m mlx.config.reference`;
do not edit by hand. Every key is optional unless marked **required**; unknown keys are
errors (with a "did you mean" suggestion). Paths are relative to the folder holding
`mlops.yaml`. A commented example with every option: [`mlops.yaml.example`](../mlops.yaml.example).
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        suffix = " \\| null" if type(None) in args else ""
        return " \\| ".join(names) + suffix
    if origin is dict:
        return f"map of {_type_name(args[0])} → {_type_name(args[1])}" if args else "map"
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)  # the factory's value if it has one
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        return "see section"
    return f"`{json.dumps(value)}`"


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        for arg in typing.get_args(annotation):
            visit(arg)
        if (
            isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
            and annotation not in seen
        ):
            seen.append(annotation)
            for f in annotation.model_fields.values():
                visit(f.annotation)

    visit(root)
    return seen


def render() -> str:
    parts = [HEADER]
    for model in _models(MlxConfig):
        parts.append(f"\n## {model.__name__}\n")
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc:
            parts.append(doc + "\n")
        parts.append("| key | type | default | description |")
        parts.append("|---|---|---|---|")
        for name, field in model.model_fields.items():
            key = field.alias or name
            desc = (field.description or "").replace("|", "\\|")
            parts.append(
                f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |"
            )
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
