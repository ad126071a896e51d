"""Bounded YAML for untrusted files: size, nesting and alias expansion are capped.

``yaml.safe_load`` blocks arbitrary tags but not alias expansion: a ten-line "billion
laughs" document composes into a few nodes that expand into billions once anything walks
the result (pydantic, json, a dict copy). Every YAML mlx reads (``mlops.yaml``, pandera
schema files, ``dvc.yaml``, ``.dvc`` pointers, tag messages) goes through :func:`compose`
here, which refuses such a document before a Python object is built: the text is capped
in bytes, composition in depth, and the node graph's *expanded* size is computed without
expanding it (each node's size is memoised, so the check is linear in the document).
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 4 * 1024 * 1024  # far above any real config, schema or pointer
MAX_DEPTH = 64  # nesting of collections while composing
MAX_NODES = 200_000  # nodes the document would have once aliases are expanded


class YamlLimitError(yaml.MarkedYAMLError):  # type: ignore[misc]  # PyYAML has no types
    """The document is refused by a limit; ``problem_mark`` says where."""


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no types
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlLimitError(
                    problem=f"collections nested deeper than {MAX_DEPTH} levels",
                    problem_mark=mark,
                )
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)


def compose(text: str | bytes, max_nodes: int = MAX_NODES) -> yaml.Node | None:
    """Compose one YAML document into nodes, or raise :class:`yaml.YAMLError`.

    Raises :class:`YamlLimitError` (a ``MarkedYAMLError``, so callers that already report
    YAML errors with file:line need nothing new) when a limit is exceeded.
    """
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_BYTES:
        raise YamlLimitError(
            problem=f"file is {size:,} bytes; the limit is {MAX_BYTES:,}",
            problem_mark=yaml.Mark("", 0, 0, 0, None, None),
        )
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        check_expansion(node, max_nodes)
    return node


def construct(node: yaml.Node | None) -> Any:
    """Python objects (safe types only) for a node graph from :func:`compose`."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def safe_load(text: str | bytes, max_nodes: int = MAX_NODES) -> Any:
    """A bounded drop-in for ``yaml.safe_load``."""
    return construct(compose(text, max_nodes))


def check_expansion(root: yaml.Node, max_nodes: int = MAX_NODES) -> int:
    """The expanded node count of ``root``; raise when it exceeds ``max_nodes`` or loops.

    Aliases make the node graph a DAG (or, with an alias inside its own anchor, a cycle).
    Sizes are memoised per node, so a node shared by a million aliases is counted in one
    step and multiplied, never walked a million times.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > max_nodes:
                raise YamlLimitError(
                    problem=(
                        f"aliases expand this document past {max_nodes:,} nodes "
                        "(a 'billion laughs' document?); write the values out instead"
                    ),
                    problem_mark=node.start_mark,
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YamlLimitError(
                problem="an alias refers to a collection that contains it (a cycle)",
                problem_mark=node.start_mark,
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
