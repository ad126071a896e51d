"""LightGBM trees as ``ai.onnx.ml`` tree-ensemble attributes, from the booster's arrays
(:mod:`mlx.train.booster_text`).

Numeric splits keep LightGBM's missing-value rules exactly (``tree.h``
``NumericalDecision``):

- ``missing_type == "NaN"``: NaN goes the ``default_left`` way;
- ``"None"``: NaN is read as 0.0, so it goes where 0.0 goes;
- ``"Zero"``: NaN and every ``|x| <= kZeroThreshold`` go the default way. When that is
  not the way the band would go anyway, the node becomes a three-way test (below the
  band / in the band / above it) and the child the band shares is written twice.

Thresholds are the float32 values :func:`mlx.train.thresholds.choose_float32` picks from
the training values next to each split.

Categorical splits (left = in the set), on the category code
the graph's LabelEncoder gives (NaN for missing or unseen, which LightGBM's
``CategoricalDecision`` sends right), in one of two forms:

- ``BRANCH_MEMBER`` nodes for the opset-5 ``TreeEnsemble`` (:mod:`mlx.train.tree_ensemble5`);
  NaN is no member, so it goes right;
- for the opset-3 ``TreeEnsembleRegressor`` (no membership test): the set's codes form
  runs of consecutive codes, and a balanced binary search over the run boundaries
  (``code <= a - 0.5`` …) ends on the split's left or right child, written once and
  shared. onnxruntime lays each node's false child right after it, so a shared child is
  only reached through true edges (a pass-through ``x <= inf`` node where the search
  would end on a false edge). Each search node sends NaN towards a region outside the set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlx.errors import UsageError
from mlx.train.booster_text import (
    CATEGORICAL_BIT,
    DEFAULT_LEFT_BIT,
    MISSING_TYPES,
    BoosterText,
    Tree,
)
from mlx.train.thresholds import choose_float32

ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float)


class UnsupportedModel(UsageError):
    """The booster has something the exporter cannot represent exactly (exit code 2:
    the parameters asked for it)."""


def check_supported(model: BoosterText) -> None:
    """Refuse what the ensemble cannot reproduce (linear trees)."""
    if any(tree.is_linear for tree in model.trees):
        raise UnsupportedModel(
            "linear trees (linear_tree=true) cannot be exported to ONNX exactly",
            hint="remove linear_tree from model.params",
        )


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
    members: dict[int, list[int]] = field(default_factory=dict)  # BRANCH_MEMBER sets

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
    model: BoosterText,
    n_categories: dict[int, int],
    train_values: dict[int, np.ndarray],
    membership: bool = False,
) -> Ensemble:
    """Every tree of the booster into one ensemble; tree ``t`` scores target
    ``t % num_tree_per_iteration`` (LightGBM's class order). Feature ``i`` is column
    ``i``; ``n_categories`` gives each categorical feature's number of codes.

    ``membership``: categorical splits as ``BRANCH_MEMBER`` nodes (for the opset-5
    ``TreeEnsemble``, :mod:`mlx.train.tree_ensemble5`) instead of code-range searches."""
    per_iteration = model.num_tree_per_iteration
    out = Ensemble()
    chosen: dict[tuple[int, float], float] = {}

    def threshold32(feature: int, t: float) -> float:
        key = (feature, t)
        if key not in chosen:
            chosen[key] = choose_float32(t, train_values.get(feature))
        return chosen[key]

    def emit(index: int, tree: Tree, node: int, target: int) -> int:
        if node < 0:  # leaf ~node
            at = out.add(index)
            out.target_treeids.append(index)
            out.target_nodeids.append(out.nodeids[at])
            out.target_ids.append(target)
            out.target_weights.append(leaf_values[~node])
            return at
        feature = features[node]
        left = lambda: emit(index, tree, lefts[node], target)  # noqa: E731
        right = lambda: emit(index, tree, rights[node], target)  # noqa: E731
        kind = kinds[node]
        if kind & CATEGORICAL_BIT and membership:
            at = out.add(index, feature, "BRANCH_MEMBER", float("nan"))
            out.members[at] = list(tree.categories(node))
            out.link(at, left(), right(), False)  # NaN is no member: right
            return at
        if kind & CATEGORICAL_BIT:
            codes = frozenset(tree.categories(node))
            regions = code_regions(codes, n_categories[feature])
            return _search(out, index, feature, *regions, left, right)
        t = thresholds[node]
        t32 = threshold32(feature, t)
        missing = MISSING_TYPES[(kind >> 2) & 3]
        default_left = bool(kind & DEFAULT_LEFT_BIT)
        if missing == "NaN":
            return _compare(out, index, feature, t32, left, right, default_left)
        if missing == "None":
            return _compare(out, index, feature, t32, left, right, 0.0 <= t)
        band_left = t >= ZERO_THRESHOLD
        band_right = t < -ZERO_THRESHOLD
        if (band_left and default_left) or (band_right and not default_left):
            return _compare(out, index, feature, t32, left, right, default_left)
        return _zero_band(out, index, feature, t, t32, left, right, default_left)

    for index, tree in enumerate(model.trees):
        # the tree being emitted, as plain lists (emit reads them; indexing lists is
        # several times faster than numpy scalars)
        features, thresholds = tree.split_feature.tolist(), tree.threshold.tolist()
        lefts, rights = tree.left_child.tolist(), tree.right_child.tolist()
        leaf_values, kinds = tree.leaf_value.tolist(), tree.decision_type.tolist()
        emit(index, tree, 0 if len(features) else -1, index % per_iteration)
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


def code_regions(codes: frozenset[int], n: int) -> tuple[list[float], list[bool], int]:
    """The code line cut into regions alternately out of and in the set: (thresholds
    between regions, whether each region is in the set, the out region NaN goes to)."""
    inside = sorted(c for c in codes if 0 <= c < n)
    if not inside:
        return [], [False], 0
    runs: list[list[int]] = []
    for c in inside:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    thresholds: list[float] = []
    labels: list[bool] = []
    if runs[0][0] > 0:
        labels.append(False)
        thresholds.append(runs[0][0] - 0.5)
    for k, (_, end) in enumerate(runs):
        labels.append(True)
        if k + 1 < len(runs):
            thresholds += [end + 0.5, runs[k + 1][0] - 0.5]
            labels.append(False)
    if runs[-1][1] < n - 1 or False not in labels:
        thresholds.append(runs[-1][1] + 0.5)
        labels.append(False)
    return thresholds, labels, labels.index(False)


def _search(out, tree, column, thresholds, labels, nan_region, left, right) -> int:
    """A balanced binary search over the regions; its ends are the (shared) children.
    The search nodes come first, so a split at the root keeps node id 0."""
    pending: list[tuple[int, int | str, int | str, bool]] = []

    def build(lo: int, hi: int) -> int | str:
        if lo == hi:
            return "left" if labels[lo] else "right"
        mid = (lo + hi + 1) // 2  # regions lo..mid-1 are <= thresholds[mid-1]
        at = out.add(tree, column, "BRANCH_LEQ", float(thresholds[mid - 1]))
        low, high = build(lo, mid - 1), build(mid, hi)
        pending.append((at, low, high, nan_region <= mid - 1))
        return at

    root = build(0, len(labels) - 1)
    children = {"left": left() if True in labels else -1, "right": right()}
    if isinstance(root, str):
        return children[root]
    for at, low, high, nan_low in pending:
        if isinstance(high, str):  # shared children only on true edges (onnxruntime)
            high = _pass_through(out, tree, column, children[high])
        out.link(at, children[low] if isinstance(low, str) else low, high, nan_low)
    return root


def _pass_through(out: Ensemble, tree: int, column: int, target_at: int) -> int:
    """A node whose test always holds (``x <= inf``, NaN too) leading to ``target_at``.

    onnxruntime lays each node's false child out right after it, so a node reached a
    second time may only be reached through a true edge; the false side is an
    unreachable zero leaf."""
    at = out.add(tree, column, "BRANCH_LEQ", float("inf"))
    dead = out.add(tree)
    out.target_treeids.append(tree)
    out.target_nodeids.append(out.nodeids[dead])
    out.target_ids.append(0)
    out.target_weights.append(0.0)
    out.link(at, target_at, dead, True)
    return at
