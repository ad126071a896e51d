"""LightGBM trees as plain numeric ``TreeEnsembleRegressor`` nodes, from ``dump_model()``.

Numeric splits keep LightGBM's missing-value rules exactly (``tree.h``
``NumericalDecision``):

- ``missing_type == "NaN"``: NaN goes the ``default_left`` way;
- ``"None"``: NaN is read as 0.0, so it goes where 0.0 goes;
- ``"Zero"``: NaN and every ``|x| <= kZeroThreshold`` go the default way. When that is
  not the way the band would go anyway, the node becomes a three-way test (below the
  band / in the band / above it) and the child the band shares is written twice.

Thresholds are the float32 values :func:`mlx.train.thresholds.choose_float32` picks from
the training values next to each split.

Categorical splits (``decision_type == "=="``, left = in the set) become numeric ones on
*membership columns*: for each categorical feature, one column per distinct category set
its splits use, 0.0 for a member and 1.0 otherwise, looked up once per row by the graph
(:mod:`mlx.train.export`). The tree then tests ``m <= 0.5`` like any numeric split, so a
4,000-level feature costs what a numeric one costs. NaN, a negative code and a code
outside the set go right in LightGBM (``CategoricalDecision``); the lookup row for a
missing or unseen category is all 1.0, so they go right here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlx.train.thresholds import choose_float32

ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float)
MEMBER, NOT_MEMBER = 0.0, 1.0


class UnsupportedModel(ValueError):
    """The booster has something the exporter cannot represent exactly."""


@dataclass
class CategorySets:
    """Per categorical feature index: its distinct split sets, in first-seen order."""

    sets: dict[int, list[frozenset[int]]] = field(default_factory=dict)

    def column(self, feature: int, codes: frozenset[int]) -> int:
        found = self.sets.setdefault(feature, [])
        if codes not in found:
            found.append(codes)
        return found.index(codes)


def category_sets(dump: dict[str, Any]) -> CategorySets:
    """The distinct categorical split sets, visiting the trees in order (deterministic)."""
    out = CategorySets()

    def walk(node: dict[str, Any]) -> None:
        if "split_feature" not in node:
            return
        if node["decision_type"] == "==":
            out.column(node["split_feature"], _codes(node["threshold"]))
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    return out


def _codes(threshold: Any) -> frozenset[int]:
    return frozenset(int(c) for c in str(threshold).split("||"))


def check_supported(dump: dict[str, Any]) -> None:
    """Refuse what the ensemble cannot reproduce (linear trees)."""

    def walk(node: dict[str, Any]) -> None:
        if "leaf_value" in node:
            if "leaf_const" in node or "leaf_coeff" in node:
                raise UnsupportedModel(
                    "linear trees (linear_tree=true) cannot be exported to ONNX exactly"
                )
            return
        if node["decision_type"] not in ("<=", "=="):
            raise UnsupportedModel(f"unknown split type {node['decision_type']!r}")
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])


@dataclass
class Ensemble:
    """``TreeEnsembleRegressor`` attributes, built tree by tree."""

    treeids: list[int] = field(default_factory=list)
    nodeids: list[int] = field(default_factory=list)
    featureids: list[int] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    truenodeids: list[int] = field(default_factory=list)
    falsenodeids: list[int] = field(default_factory=list)
    missing_true: list[int] = field(default_factory=list)
    target_treeids: list[int] = field(default_factory=list)
    target_nodeids: list[int] = field(default_factory=list)
    target_ids: list[int] = field(default_factory=list)
    target_weights: list[float] = field(default_factory=list)

    def add(self, tree: int, feature: int = 0, mode: str = "LEAF", value: float = 0.0) -> int:
        node = self._next(tree)
        self.treeids.append(tree)
        self.nodeids.append(node)
        self.featureids.append(feature)
        self.modes.append(mode)
        self.values.append(value)
        self.truenodeids.append(0)
        self.falsenodeids.append(0)
        self.missing_true.append(0)
        return len(self.treeids) - 1

    def _next(self, tree: int) -> int:
        """Node ids count from 0 within each tree (trees are emitted one after another)."""
        if not self.treeids or self.treeids[-1] != tree:
            self._count = 0
        self._count += 1
        return self._count - 1

    def link(self, at: int, true_at: int, false_at: int, missing_true: bool) -> None:
        self.truenodeids[at] = self.nodeids[true_at]
        self.falsenodeids[at] = self.nodeids[false_at]
        self.missing_true[at] = int(missing_true)

    def attributes(self, n_targets: int) -> dict[str, Any]:
        return {
            "n_targets": n_targets,
            "aggregate_function": "SUM",
            "post_transform": "NONE",
            "nodes_treeids": self.treeids,
            "nodes_nodeids": self.nodeids,
            "nodes_featureids": self.featureids,
            "nodes_modes": self.modes,
            "nodes_values": self.values,
            "nodes_truenodeids": self.truenodeids,
            "nodes_falsenodeids": self.falsenodeids,
            "nodes_missing_value_tracks_true": self.missing_true,
            "nodes_hitrates": [1.0] * len(self.treeids),
            "target_treeids": self.target_treeids,
            "target_nodeids": self.target_nodeids,
            "target_ids": self.target_ids,
            "target_weights": self.target_weights,
        }


def compile_trees(
    dump: dict[str, Any],
    numeric_column: dict[int, int],
    member_offset: dict[int, int],
    sets: CategorySets,
    train_values: dict[int, np.ndarray],
) -> Ensemble:
    """Every tree of the dump into one ensemble; tree ``t`` scores target
    ``t % num_tree_per_iteration`` (LightGBM's class order).

    ``numeric_column``: feature index → column of the trees' input matrix;
    ``member_offset``: categorical feature index → column of its first membership
    column (then one per set, in :class:`CategorySets` order)."""
    per_iteration = int(dump.get("num_tree_per_iteration", 1))
    out = Ensemble()
    chosen: dict[tuple[int, float], float] = {}

    def threshold32(feature: int, t: float) -> float:
        key = (feature, t)
        if key not in chosen:
            chosen[key] = choose_float32(t, train_values.get(feature))
        return chosen[key]

    def emit(tree: int, node: dict[str, Any], target: int) -> int:
        if "leaf_value" in node:
            at = out.add(tree)
            out.target_treeids.append(tree)
            out.target_nodeids.append(out.nodeids[at])
            out.target_ids.append(target)
            out.target_weights.append(float(node["leaf_value"]))
            return at
        feature = node["split_feature"]
        left = lambda: emit(tree, node["left_child"], target)  # noqa: E731
        right = lambda: emit(tree, node["right_child"], target)  # noqa: E731
        if node["decision_type"] == "==":
            column = member_offset[feature] + sets.column(feature, _codes(node["threshold"]))
            at = out.add(tree, column, "BRANCH_LEQ", 0.5)  # member (0.0) → left
            out.link(at, left(), right(), False)
            return at
        t = float(node["threshold"])
        t32 = threshold32(feature, t)
        column = numeric_column[feature]
        missing = node.get("missing_type", "None")
        default_left = bool(node.get("default_left", False))
        if missing == "NaN":
            return _compare(out, tree, column, t32, left, right, default_left)
        if missing == "None":
            return _compare(out, tree, column, t32, left, right, 0.0 <= t)
        band_left = t >= ZERO_THRESHOLD
        band_right = t < -ZERO_THRESHOLD
        if (band_left and default_left) or (band_right and not default_left):
            return _compare(out, tree, column, t32, left, right, default_left)
        return _zero_band(out, tree, column, t, t32, left, right, default_left)

    for index, tree in enumerate(dump["tree_info"]):
        emit(index, tree["tree_structure"], index % per_iteration)
    return out


def _compare(out: Ensemble, tree: int, column: int, t32: float, left, right, nan_left) -> int:
    at = out.add(tree, column, "BRANCH_LEQ", t32)
    out.link(at, left(), right(), nan_left)
    return at


def _zero_band(out, tree, column, t, t32, left, right, default_left) -> int:
    """``missing_type == "Zero"`` where the band [-kZero, kZero] would not all go the
    default way: below the band compare, in the band (or NaN) go the default way,
    above it compare."""
    f32 = np.float32
    below_band = float(np.nextafter(f32(-ZERO_THRESHOLD), f32(-np.inf)))  # x < -kZero
    band_top = float(f32(ZERO_THRESHOLD))  # x <= kZero
    first = out.add(tree, column, "BRANCH_LEQ", below_band)
    if t >= -ZERO_THRESHOLD:
        low = left()  # everything below the band is <= t
    else:
        low = _compare(out, tree, column, t32, left, right, False)
    second = out.add(tree, column, "BRANCH_LEQ", band_top)
    band = left() if default_left else right()
    if t < ZERO_THRESHOLD:
        high = right()  # everything above the band is > t
    else:
        high = _compare(out, tree, column, t32, left, right, False)
    out.link(first, low, second, False)
    out.link(second, band, high, True)
    return first


def membership_table(sets: list[frozenset[int]], n_categories: int) -> np.ndarray:
    """Rows: category codes 0..n-1 then one row for missing/unseen (never a member)."""
    table = np.full((n_categories + 1, len(sets)), NOT_MEMBER, dtype=np.float32)
    for j, codes in enumerate(sets):
        inside = [c for c in codes if 0 <= c < n_categories]
        table[inside, j] = MEMBER
    return table


def signatures(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Categories with the same memberships share one row: (distinct rows, row of each
    code). ``np.unique`` sorts, so the result does not depend on anything but the table."""
    rows, inverse = np.unique(table, axis=0, return_inverse=True)
    return rows, inverse.reshape(-1).astype(np.int64)
