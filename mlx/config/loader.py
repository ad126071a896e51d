"""Load ``mlops.yaml`` into :class:`MlxConfig` with errors that point at file:line:key.

YAML is composed into nodes first (bounded by :mod:`mlx.util.yamlsafe`) so every key
keeps its position; the same nodes are then constructed safely into Python objects.
Pydantic's error locations are mapped back onto those positions, and unknown keys get
a "did you mean" from the field names valid at that place.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from mlx.config.model import MlxConfig, ProjectConfig
from mlx.config.overrides import apply_overrides, origin, owner
from mlx.errors import ConfigError, ConfigIssue
from mlx.util import yamlsafe

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

CONFIG_NAME = "mlops.yaml"

Path_ = tuple[str | int, ...]
Marks = dict[Path_, yaml.Mark]  # where each node (or key) starts


def find_config(start: Path | None = None) -> Path:
    """The nearest ``mlops.yaml`` from ``start`` upwards (stopping at a git root)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            break
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or its parents",
        hint="run `mlx init` to create one, or pass --config PATH",
    )


def load_project(
    path: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> ProjectConfig:
    """Find (if ``path`` is None), read and validate the config.

    ``overrides`` (from :func:`mlx.config.overrides.parse_overrides`) change this run's
    config only; the result records them in ``ProjectConfig.overrides``."""
    cfg_path = Path(path) if path is not None else find_config()
    if cfg_path.is_dir():
        cfg_path = cfg_path / CONFIG_NAME
    if not cfg_path.is_file():
        raise ConfigError(
            f"config file not found: {cfg_path}", hint="run `mlx init` or pass --config PATH"
        )
    text = cfg_path.read_text(encoding="utf-8")

    def read_params(name: str) -> str | None:
        params = cfg_path.parent / name
        return params.read_text(encoding="utf-8") if params.is_file() else None

    config = parse_config(text, str(cfg_path), overrides, read_params)
    return ProjectConfig(config, cfg_path.resolve(), dict(overrides or {}))


def find_project(path: Path | str | None, required: bool) -> ProjectConfig | None:
    """:func:`load_project`, or None when ``path`` is None, nothing is found and the
    caller can do without a project (a model folder served or monitored on its own)."""
    if path is not None or required:
        return load_project(path)
    try:
        found = find_config()
    except ConfigError:
        return None
    return load_project(found)


def parse_config(
    text: str,
    filename: str = CONFIG_NAME,
    overrides: dict[str, Any] | None = None,
    read_params: Callable[[str], str | None] | None = None,
) -> MlxConfig:
    """Parse YAML text into a validated :class:`MlxConfig` or raise :class:`ConfigError`.

    ``read_params`` returns the text of the file ``params_file`` names (None when it
    does not exist); without it, ``params_file`` is recorded but not merged (a config
    read from history, where only the keys of ``mlops.yaml`` itself are compared)."""
    data, marks, key_marks = _read_yaml(text, filename)
    sources: dict[str, tuple[str, yaml.Mark | None]] = {}
    params_file = data.get("params_file")
    if isinstance(params_file, str) and read_params is not None:
        _merge_params(data, params_file, read_params, filename, key_marks, sources)
    if overrides:
        apply_overrides(data, overrides, filename)
        sources.update({key: (origin(key, value), None) for key, value in overrides.items()})
    try:
        return MlxConfig.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(err, filename, marks, key_marks, sources) for err in exc.errors()]
        noun = "problem" if len(issues) == 1 else "problems"
        raise ConfigError(f"{filename} has {len(issues)} {noun}", issues) from None


def _read_yaml(text: str, filename: str) -> tuple[dict[str, Any], Marks, Marks]:
    """The document as a mapping, with the position of every node and key."""
    try:
        node = yamlsafe.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        issue = ConfigIssue(
            file=filename,
            key="",
            message=(
                f"refused: {problem}"
                if isinstance(exc, yamlsafe.YamlLimitError)
                else f"malformed YAML: {problem}"
            ),
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise ConfigError(f"{filename} is not valid YAML", [issue]) from None
    if node is None:
        raise ConfigError(
            f"{filename} is empty",
            [ConfigIssue(filename, "", "expected a mapping with data: and model:", 1)],
        )
    marks: Marks = {}
    key_marks: Marks = {}
    _index_marks(node, (), marks, key_marks)
    try:
        data = yamlsafe.construct(node)
    except yaml.YAMLError as exc:  # e.g. a bad timestamp or duplicate-anchor problem
        raise ConfigError(
            f"{filename} is not valid YAML", [ConfigIssue(filename, "", str(exc))]
        ) from None
    if not isinstance(data, dict):
        issue = ConfigIssue(
            filename, "", f"expected a mapping at the top level, got {type(data).__name__}", 1
        )
        raise ConfigError(f"{filename} is invalid", [issue])
    return data, marks, key_marks


# What a params file may set: the keys that change the model, which DVC experiments edit.
PARAMS_FILE_KEYS = ("model.params", "model.seed", "model.early_stopping_rounds", "split")


def _merge_params(
    data: dict[str, Any],
    params_file: str,
    read_params: Callable[[str], str | None],
    filename: str,
    key_marks: Marks,
    sources: dict[str, tuple[str, yaml.Mark | None]],
) -> None:
    """Merge ``params_file`` (e.g. ``params.yaml``, DVC's default params file) into the
    document, each leaf remembering its file and line; a key in both files is an error."""
    text = read_params(params_file)
    if text is None:
        raise ConfigError(
            f"params_file {params_file!r} does not exist",
            [
                ConfigIssue(
                    filename, "params_file", "file not found", *_line(key_marks, ("params_file",))
                )
            ],
            hint="create it (mlx init writes one) or remove params_file",
        )
    if not text.strip():
        return
    params, _, p_marks = _read_yaml(text, params_file)
    issues = []
    for path, value in _leaves(params):
        dotted = ".".join(path)
        if not any(dotted == k or dotted.startswith(k + ".") for k in PARAMS_FILE_KEYS):
            issues.append(
                ConfigIssue(
                    params_file,
                    dotted,
                    "not a model parameter; a params file holds only "
                    + ", ".join(PARAMS_FILE_KEYS),
                    *_line(p_marks, path),
                )
            )
            continue
        here = data
        for part in path[:-1]:
            child = here.setdefault(part, {})
            if not isinstance(child, dict):
                break
            here = child
        else:
            if path[-1] in here:
                line = _line(key_marks, path)[0]
                issues.append(
                    ConfigIssue(
                        params_file,
                        dotted,
                        f"also set in {filename}"
                        + (f":{line}" if line else "")
                        + "; keep it in one file",
                        *_line(p_marks, path),
                    )
                )
                continue
            here[path[-1]] = value
            sources[dotted] = (params_file, p_marks.get(path))
    if issues:
        raise ConfigError(f"{params_file} cannot be merged into {filename}", issues)


def _leaves(doc: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) of every leaf; each ``model.params`` entry is one leaf."""
    if not isinstance(doc, dict) or not doc or (len(path) == 3 and path[:2] == ("model", "params")):
        return [(path, doc)]
    out = []
    for key, value in doc.items():
        out += _leaves(value, (*path, str(key)))
    return out


def _line(marks: Marks, path: Path_) -> tuple[int | None, int | None]:
    mark = marks.get(tuple(path))
    return (mark.line + 1, mark.column + 1) if mark else (None, None)


def _index_marks(node: yaml.Node, path: Path_, marks: Marks, key_marks: Marks) -> None:
    marks[path] = node.start_mark
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            key_marks[(*path, key)] = key_node.start_mark
            _index_marks(value_node, (*path, key), marks, key_marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_marks(item, (*path, i), marks, key_marks)


def _issue(
    err: ErrorDetails,
    filename: str,
    marks: Marks,
    key_marks: Marks,
    sources: dict[str, tuple[str, yaml.Mark | None]],
) -> ConfigIssue:
    raw_loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = _message(err)
    keyed = _KEYED.match(message)
    if keyed:  # a cross-field check that names the key it is about
        raw_loc = (*raw_loc, *(int(p) if p.isdigit() else p for p in keyed.group(1).split(".")))
        message = keyed.group(2)
    loc = _clean_loc(raw_loc)
    suggestion = None
    if err["type"] == "extra_forbidden":
        valid = _valid_keys(raw_loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        suggestion = close[0] if close else None
        message = "unknown key"
        if valid and not suggestion:
            message += f"; valid keys here: {', '.join(sorted(valid))}"
        mark = key_marks.get(loc) or marks.get(loc)
    else:
        mark = key_marks.get(loc) or _nearest(loc, marks)
    source = owner(loc, sources, in_file=loc in key_marks)
    if source is not None:
        filename, mark = sources[source]
    return ConfigIssue(
        file=filename,
        key=".".join(str(p) for p in loc),
        message=message,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        suggestion=suggestion,
    )


def _clean_loc(loc: Path_) -> Path_:
    """Drop the union tag pydantic inserts after a runner's name; use the 'schema' alias."""
    out = [
        p for i, p in enumerate(loc) if not (i == 2 and loc[0] == "runners" and p in _RUNNER_KINDS)
    ]
    return tuple("schema" if p == "schema_file" else p for p in out)


_RUNNER_KINDS = ("local", "ssh", "dask")
_KEYED = re.compile(r"^\[([^\]]+)\] (.*)$", re.S)


def _nearest(loc: Path_, marks: Marks) -> yaml.Mark | None:
    for i in range(len(loc), -1, -1):
        if loc[:i] in marks:
            return marks[loc[:i]]
    return None


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if (
        kind not in ("value_error", "assertion_error")
        and "input" in err
        and not isinstance(err["input"], dict | list)
    ):
        msg += f" (got {err['input']!r})"
    return msg


def _valid_keys(path: Path_) -> list[str]:
    """Field names (aliases where set) allowed at ``path`` in the config model."""
    model: Any = MlxConfig
    for part in path:
        model = _step(model, part)
        if model is None:
            return []
    model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _step(annotation: Any, part: str | int) -> Any:
    tagged = _union_member(annotation, part)
    if tagged is not None:
        return tagged
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _union_member(annotation: Any, tag: str | int) -> Any:
    """The member of a discriminated union whose ``kind`` literal equals ``tag``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    for member in typing.get_args(annotation):
        field = getattr(member, "model_fields", {}).get("kind")
        if field is not None and tag in typing.get_args(field.annotation):
            return member
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated; for a tagged union of models, return the first model."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            return models[0] if models else annotation
        return annotation
