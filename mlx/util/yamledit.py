"""Line-level edits of a YAML file that keep everything else byte for byte.

``mlx tune --apply`` writes values into ``mlops.yaml`` the way a person would: the text
is composed into nodes (bounded, :mod:`mlx.util.yamlsafe`) only to learn where each key
and value sits; then just those characters change. Comments, blank lines, key order,
quoting and flow/block style elsewhere survive untouched. Supported: scalar values in
a block or flow mapping (replaced in place), new keys in a block mapping (appended after
its last entry, at its indentation) or a flow mapping (before the closing brace), and a
missing mapping under an existing block mapping (added as a new block).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from mlx.util import yamlsafe

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


class YamlEditError(ValueError):
    """The document's shape does not allow the edit (e.g. the path is not a mapping)."""


def scalar_text(value: Any) -> str:
    """``value`` as a YAML scalar that reads back (PyYAML, YAML 1.1) as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:  # 1e-05 is a string to YAML 1.1
            mantissa, exp = text.split("e")
            text = f"{mantissa}.0e{exp if exp[0] in '+-' else '+' + exp}"
        return text
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS and not _numberish(text):
        return text
    return json.dumps(text)


def _numberish(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def key_lines(text: str) -> dict[str, int]:
    """Dotted key path -> 1-based line of that key (for error messages)."""
    node = yamlsafe.compose(text)
    out: dict[str, int] = {}

    def walk(n: yaml.Node, prefix: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                path = f"{prefix}.{k.value}" if prefix else str(k.value)
                out[path] = k.start_mark.line + 1
                walk(v, path)

    if node is not None:
        walk(node, "")
    return out


def set_mapping_values(text: str, path: tuple[str, ...], values: dict[str, Any]) -> str:
    """``text`` with ``values`` set in the mapping at ``path`` (created if missing)."""
    for key, value in values.items():
        text = _set_one(text, path, key, value)
    return text


def _set_one(text: str, path: tuple[str, ...], key: str, value: Any) -> str:
    root = yamlsafe.compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise YamlEditError("the document is not a mapping")
    node, depth = root, 0
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        if not isinstance(child, yaml.MappingNode):
            if _is_empty_scalar(child):  # "params:" with nothing: replace by a flow map
                return _replace(text, child, "{" + f"{key}: {scalar_text(value)}" + "}")
            raise YamlEditError(f"{'.'.join(path[: depth + 1])} is not a mapping")
        node, depth = child, depth + 1
    if depth < len(path):  # create the missing tail as a block under `node`
        if node.flow_style or not node.value:
            raise YamlEditError(f"cannot add {'.'.join(path[: depth + 1])} to a flow mapping")
        block = {key: value}
        for part in reversed(path[depth + 1 :]):
            block = {part: block}
        return _append_block(text, node, {path[depth]: block})
    existing = _child(node, key)
    if existing is not None:
        if not isinstance(existing, yaml.ScalarNode):
            raise YamlEditError(f"{'.'.join(path)}.{key} is not a single value")
        return _replace(text, existing, scalar_text(value))
    if node.flow_style:
        close = node.end_mark.index - 1  # the "}"
        sep = ", " if node.value else ""
        return text[:close].rstrip() + f"{sep}{key}: {scalar_text(value)}" + text[close:]
    return _append_block(text, node, {key: value})


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if k.value == key:
            return v
    return None


def _is_empty_scalar(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null") and not node.value


def _replace(text: str, node: yaml.Node, new: str) -> str:
    start, end = node.start_mark.index, node.end_mark.index
    if _is_empty_scalar(node):  # "key:" then end of line: put the value after ": "
        line_end = text.find("\n", start)
        line_end = len(text) if line_end < 0 else line_end
        before = text[:start].rstrip(" ")
        return before + " " + new + text[start:line_end].rstrip(" ") + text[line_end:]
    return text[:start] + new + text[end:]


def _append_block(text: str, node: yaml.MappingNode, block: dict[str, Any]) -> str:
    """Insert ``block`` as new entries after the last entry of a block mapping."""
    first_key = node.value[0][0]
    indent = first_key.start_mark.column
    last_value = node.value[-1][1]
    # the end of the last entry's value: the end of that line (a comment may follow)
    end = last_value.end_mark.index
    if isinstance(last_value, yaml.ScalarNode) or last_value.flow_style:
        newline = text.find("\n", end)
        end = len(text) if newline < 0 else newline + 1
    else:  # a nested block ends where the next key starts: insert before that line
        end = text.rfind("\n", 0, end) + 1
    lines = _block_lines(block, indent)
    prefix = "" if end == 0 or text[end - 1] == "\n" else "\n"
    return text[:end] + prefix + "".join(lines) + text[end:]


def _block_lines(block: dict[str, Any], indent: int) -> list[str]:
    out = []
    for key, value in block.items():
        if isinstance(value, dict):
            out.append(" " * indent + f"{key}:\n")
            out += _block_lines(value, indent + 2)
        else:
            out.append(" " * indent + f"{key}: {scalar_text(value)}\n")
    return out
