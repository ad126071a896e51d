"""Categorical splits as tiny membership tests: the ``"atoms"`` form.

Why: onnxruntime (checked in its ``tree_ensemble_attribute.h``, 1.2x–1.32) turns an
opset-5 ``BRANCH_MEMBER`` set into a chain of ``BRANCH_EQ`` nodes that it then merges
into one 32-bit bitmask test only when the set has fewer than 31 values, all in
``[0, 30]``; any other set becomes ``BRANCH_MEMBER_BIGSET``, a search through the set's
values per row. LightGBM's sets on a 4,000-level column hold codes in the thousands, so
every categorical split took the slow path (the shipped ``"member"`` form scored 0.33×
LightGBM on the bench's categorical table).

The form here makes every set hit the bitmask path. Per categorical feature, its
distinct split sets are packed into groups; within a group the codes fall into *atoms*
(codes in exactly the same sets of the group), at most :data:`MAX_ATOMS` of them. Each
group becomes one derived column holding, per code, its atom id (``0 … MAX_ATOMS-1``;
:data:`NO_ATOM` for codes in no set of the group, and for missing or unseen values),
computed once per row by a ``Gather`` from a ``uint8`` table ``[n_codes + 1, groups]``
(row ``n_codes``: missing/unseen, which LightGBM sends right: in no set). A split on set
``S`` becomes ``BRANCH_MEMBER`` on its group's column with the atom ids inside ``S``:
fewer than 31 small values, one bitmask test. Exact by construction: ``code ∈ S`` iff
``atom(code) ⊆ S``, and atoms never straddle a set of their group.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from mlx.train.onnx_trees import Ensemble

MAX_ATOMS = 30  # onnxruntime's bitmask path: < 31 values, each in [0, 30]
NO_ATOM = 31  # no set of the group contains it (outside [0, 30]: never a member)
OPEN_GROUPS = 8  # groups a new set may join (first fit among the most recent open ones)


@dataclass
class Remap:
    """One categorical feature's derived columns."""

    feature: int  # the feature's index (its LabelEncoder's code is the Gather index)
    table: np.ndarray  # uint8 [n_codes + 1, groups]: atom id per code, last row missing
    first_column: int  # trees' input column of its first group


class _Group:
    """Sets packed so far, with the atom each code is in."""

    def __init__(self) -> None:
        self.atom_of: dict[int, int] = {}  # code → atom
        self.sizes: list[int] = []  # atom → number of codes
        self.sets: list[frozenset[int]] = []

    def cost(self, codes: frozenset[int]) -> int:
        """Atoms the group would have with ``codes`` added."""
        atom_of, sizes = self.atom_of, self.sizes
        touched: dict[int, int] = {}
        new = 0
        for c in codes:
            a = atom_of.get(c)
            if a is None:
                new = 1
            else:
                touched[a] = touched.get(a, 0) + 1
        split = sum(1 for a, k in touched.items() if k < sizes[a])
        return len(sizes) + split + new

    def add(self, codes: frozenset[int]) -> None:
        """Add a set: the part of each atom inside it becomes a new atom (unless the
        whole atom is inside), and its codes new to the group one more."""
        atom_of, sizes = self.atom_of, self.sizes
        touched: dict[int, list[int]] = {}
        fresh: list[int] = []
        for c in codes:
            a = atom_of.get(c)
            if a is None:
                fresh.append(c)
            else:
                touched.setdefault(a, []).append(c)
        for a, inside in touched.items():
            if len(inside) < sizes[a]:
                sizes[a] -= len(inside)
                self._new_atom(inside)
        if fresh:
            self._new_atom(fresh)
        self.sets.append(codes)

    def _new_atom(self, codes: list[int]) -> None:
        atom = len(self.sizes)
        self.sizes.append(len(codes))
        for c in codes:
            self.atom_of[c] = atom


def pack(sets: list[frozenset[int]]) -> list[_Group]:
    """Sets into groups of at most :data:`MAX_ATOMS` atoms: first fit among the most
    recently opened groups, sets taken in a fixed order (deterministic)."""
    groups: list[_Group] = []
    open_groups: list[_Group] = []  # not yet full, most recent last
    for codes in sorted(sets, key=lambda s: (-len(s), sorted(s))):
        for g in open_groups:
            if g.cost(codes) <= MAX_ATOMS:
                g.add(codes)
                if len(g.sizes) >= MAX_ATOMS:
                    open_groups.remove(g)
                break
        else:
            g = _Group()
            g.add(codes)
            groups.append(g)
            open_groups.append(g)
            if len(open_groups) > OPEN_GROUPS:
                open_groups.pop(0)
    return groups


def remap(ens: Ensemble, n_categories: dict[int, int], n_columns: int) -> list[Remap]:
    """Rewrite ``ens``'s ``BRANCH_MEMBER`` nodes (from ``compile_trees(membership=True)``)
    to test derived columns numbered from ``n_columns``; the tables that compute them.

    A set with no code the graph can produce (all out of range) is never true: it
    becomes ``code <= -1`` on the feature's own column (codes are ≥ 0, never NaN)."""
    by_feature: dict[int, set[frozenset[int]]] = {}
    sets: dict[int, frozenset[int]] = {}
    for at, members in ens.members.items():  # ascending codes, all >= 0
        f = ens.featureids[at]
        codes = sets[at] = frozenset(members[: bisect.bisect_left(members, n_categories[f])])
        if codes:
            by_feature.setdefault(f, set()).add(codes)
    out: list[Remap] = []
    where: dict[tuple[int, frozenset[int]], tuple[int, list[int]]] = {}
    column = n_columns
    for f in sorted(by_feature):
        n = n_categories[f]
        groups = pack(list(by_feature[f]))
        table = np.full((n + 1, len(groups)), NO_ATOM, dtype=np.uint8)
        for j, g in enumerate(groups):
            # atom ids renumbered by their smallest code, so the table is canonical
            code_ids = np.fromiter(g.atom_of.keys(), np.int64, len(g.atom_of))
            atom_ids = np.fromiter(g.atom_of.values(), np.int64, len(g.atom_of))
            first = np.full(len(g.sizes), n, np.int64)
            np.minimum.at(first, atom_ids, code_ids)  # every atom holds at least one code
            rank = np.empty_like(first)
            rank[np.argsort(first)] = np.arange(len(first))
            table[code_ids, j] = rank[atom_ids]
            ranks, atom_of = rank.tolist(), g.atom_of
            for s in g.sets:
                where[(f, s)] = (column + j, sorted({ranks[atom_of[c]] for c in s}))
        out.append(Remap(f, table, column))
        column += len(groups)
    for at, codes in sets.items():
        f = ens.featureids[at]
        if not codes:
            del ens.members[at]
            ens.modes[at], ens.values[at] = "BRANCH_LEQ", -1.0
            continue
        ens.featureids[at], ens.members[at] = where[(f, codes)]
    return out
