"""Bandit policy for a canary/split, from rewards clients post back
(``POST /v2/models/{name}/feedback``, docs/serving.md "Releasing a new model").
Imports numpy only.

- :class:`Recent`: which version answered a request id, for the last ``max_ids`` answers
  within ``ttl`` seconds (insertion-ordered, oldest dropped first): bounded memory however
  many requests a worker answers.
- :class:`Thompson`: a Beta(1 + reward sum, 1 + misses) posterior per version (rewards in
  [0, 1]: a 0/1 outcome, or a fraction as a fractional Bernoulli update). The router's
  shares become each version's probability of being the best under the posteriors
  (Thompson sampling as probability matching, estimated from ``draws`` posterior draws),
  so the sticky hash assignment keeps working while traffic shifts to the better version.

Both are per worker: a worker learns from the feedback posted to it about the requests
it answered (docs/serving.md says what that means with ``--workers N``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import numpy as np

from mlx.serve.errors import BadRequest

POLICIES = ("fixed", "thompson")


class Recent:
    """request id -> the arm index that answered it; bounded by count and age."""

    def __init__(self, max_ids: int, ttl: float) -> None:
        self.max_ids = max_ids
        self.ttl = ttl
        self.ids: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def add(self, rid: str, arm: int) -> None:
        ids = self.ids
        ids[rid] = (arm, time.monotonic())
        if len(ids) > self.max_ids:
            ids.popitem(last=False)

    def pop(self, rid: str) -> int | None:
        """The arm that answered ``rid`` (forgotten then: one reward per request)."""
        item = self.ids.pop(rid, None)
        if item is None or time.monotonic() - item[1] > self.ttl:
            return None
        return item[0]

    def expire(self) -> None:
        """Drop the answers older than ``ttl`` (on the worker's tick)."""
        ids, limit = self.ids, time.monotonic() - self.ttl
        while ids:
            _, (_, t) = next(iter(ids.items()))
            if t >= limit:
                return
            ids.popitem(last=False)


class Thompson:
    """Beta posteriors over ``k`` arms; :meth:`shares` = P(arm is the best)."""

    def __init__(self, k: int, draws: int = 4000, seed: int | None = None) -> None:
        self.wins = np.zeros(k)
        self.count = np.zeros(k)
        self.draws = draws
        self.rng = np.random.default_rng(seed)
        self.fresh = 0  # rewards since the shares were last computed

    def reward(self, arm: int, value: float) -> None:
        self.wins[arm] += value
        self.count[arm] += 1
        self.fresh += 1

    def shares(self, live: list[bool]) -> np.ndarray:
        """Each live arm's share (adding to 1); 0 for the others."""
        self.fresh = 0
        alive = np.array(live, dtype=bool)
        out = np.zeros(len(live))
        if not alive.any():
            return out
        a = 1.0 + self.wins
        b = 1.0 + self.count - self.wins
        sample = self.rng.beta(a, b, size=(self.draws, len(live)))
        sample[:, ~alive] = -1.0
        best = np.bincount(sample.argmax(axis=1), minlength=len(live))
        return best / self.draws

    def doc(self) -> list[dict[str, Any]]:
        return [
            {"rewards": int(n), "mean": round(float(w / n), 6) if n else None}
            for w, n in zip(self.wins, self.count, strict=True)
        ]


def feedback(doc: Any, router: Any, name: str, release: Any) -> dict[str, Any]:
    """The answer to ``POST /v2/models/{name}/feedback``: the reward credited to the
    version that answered the request id (BadRequest 400/404/409 otherwise)."""
    if type(doc) is not dict:
        raise BadRequest('the feedback body must be a JSON object: {"id": "<request id>", "reward": 1}')  # fmt: skip
    rid, reward = doc.get("id"), doc.get("reward")
    if type(rid) is not str or not rid:
        raise BadRequest(f"'id' must be the request id of an answer (a non-empty string), got {rid!r}")  # fmt: skip
    if not isinstance(reward, int | float) or type(reward) is bool or not 0.0 <= reward <= 1.0:
        raise BadRequest(f"'reward' must be a number from 0 to 1 (1 = the answer was right), got {reward!r}")  # fmt: skip
    if router is None or router.bandit is None:
        raise BadRequest(f"model {name!r} is not served with a bandit policy, so there is nothing to reward; serve it with --split A=50,B=50 --policy thompson", 409)  # fmt: skip
    credited = router.feedback(rid, float(reward))
    if credited is None:
        raise BadRequest(f"unknown request id {rid!r} for model {name!r}: this worker did not answer it in its last {release.feedback_ids} answers within {release.feedback_ttl_seconds:g} s, or it was rewarded already", 404)  # fmt: skip
    served, share = credited
    return {"id": rid, "model_name": name, "model_version": served.version, "reward": reward,
            "share": round(share, 6), **router.doc()}  # fmt: skip
