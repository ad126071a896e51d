"""A/B split with a bandit policy: ``--split A=50,B=50 --policy thompson`` and rewards
posted back to ``POST /v2/models/{name}/feedback`` by a real HTTP client; the better
version gets more of the traffic; unknown (or already rewarded) request ids are a 404
with a reason; bad bodies a 400; ``--policy`` without arms, or an unknown one, exit 2."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import run_mlx
from tests.serve.helpers import ROWS, metadata

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def two_versions(binary_project, tmp_path_factory):
    from tests.serve.release_helpers import two_version_project

    return two_version_project(binary_project, tmp_path_factory.mktemp("bandit") / "p")


def test_thompson_shifts_traffic_to_the_rewarded_version(serve, two_versions):
    project, v1, v2 = two_versions
    name = metadata(project)["name"]
    server = serve(project, "--split", f"{name}#prod=50,{name}#staging=50", "--policy", "thompson", "--no-prediction-log")  # fmt: skip
    answered: list[str] = []
    with server.client() as c:
        for i in range(240):
            r = c.post("/predict", json=ROWS, headers={"x-request-key": uuid.uuid4().hex})
            assert r.status_code == 200, r.text
            body = r.json()
            version, rid = body["model_version"], body["request_id"]
            answered.append(version)
            reward = 1 if version == v2 else 0  # the staging version converts, prod does not
            fb = c.post(f"/v2/models/{name}/feedback", json={"id": rid, "reward": reward})
            assert fb.status_code == 200, fb.text
            doc = fb.json()
            assert doc["model_version"] == version and doc["id"] == rid
            assert doc["policy"] == "thompson" and 0.0 <= doc["share"] <= 1.0
            if i == 0:  # one reward per request id: the second post is unknown
                again = c.post(f"/v2/models/{name}/feedback", json={"id": rid, "reward": 1})
                assert again.status_code == 404 and rid in again.json()["error"]
        # V2 clients: the request id is the body's id (echoed in X-Request-ID)
        v2req = {"id": "v2-client-1", "inputs": _v2_inputs(metadata(project))}
        r = c.post(f"/v2/models/{name}/infer", json=v2req)
        assert r.status_code == 200 and r.headers["x-request-id"] == "v2-client-1"
        fb = c.post(f"/v2/models/{name}/feedback", json={"id": "v2-client-1", "reward": 0.5})
        assert fb.status_code == 200 and fb.json()["model_version"] == r.json()["model_version"]

        unknown = c.post(f"/v2/models/{name}/feedback", json={"id": "never-answered", "reward": 1})
        assert unknown.status_code == 404
        assert "unknown request id 'never-answered'" in unknown.json()["error"]
        for bad in ({"id": "x"}, {"id": "x", "reward": 2}, {"id": "x", "reward": True}, {"reward": 1}, [1]):  # fmt: skip
            r = c.post(f"/v2/models/{name}/feedback", json=bad)
            assert r.status_code == 400, (bad, r.text)
        shares = {v["version"]: v for v in fb.json()["versions"]}
    first, last = answered[:60], answered[-100:]
    assert set(first) == {v1, v2}  # both arms were tried
    assert last.count(v2) >= 80, (first.count(v2), last.count(v2))  # ~all the traffic by now
    assert shares[v2]["share"] > 0.9 and shares[v2]["rewards"] > shares[v1]["rewards"]
    assert shares[v1]["mean"] == 0.0


def _v2_inputs(meta: dict) -> list[dict]:
    row = ROWS[0]
    return [
        {
            "name": f["name"],
            "shape": [1],
            "datatype": "BYTES" if f["kind"] == "categorical" else "FP32",
            "data": [row[f["name"]]],
        }  # fmt: skip
        for f in meta["features"]
    ]


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--policy", "thompson"), "give --split or --canary"),
        (("--split", "{name}#prod=50,{name}#staging=50", "--policy", "thomson"), "thompson"),
    ],
)
def test_a_policy_without_arms_or_unknown_exits_2(two_versions, flags, says):
    project, _, _ = two_versions
    name = metadata(project)["name"]
    args = [f.format(name=name) for f in flags]
    res = run_mlx("serve", f"{name}#prod", *args, "--port", "0", "--json", cwd=project)
    assert res.exit_code == 2, res.output
    err = json.loads(res.stdout)["error"]
    assert says in err["message"] + (err.get("hint") or "")


def test_the_request_id_map_is_bounded_by_count_and_age():
    from mlx.serve.bandit import Recent

    recent = Recent(max_ids=3, ttl=3600)
    for i in range(10):
        recent.add(f"r{i}", i % 2)
    assert list(recent.ids) == ["r7", "r8", "r9"]  # the oldest forgotten first
    assert recent.pop("r2") is None and recent.pop("r9") == 1 and recent.pop("r9") is None
    aged = Recent(max_ids=100, ttl=-1.0)  # everything is too old at once
    aged.add("x", 0)
    aged.expire()
    assert not aged.ids and aged.pop("x") is None


def test_thompson_shares_favour_the_better_arm_and_skip_aborted_ones():
    from mlx.serve.bandit import Thompson

    t = Thompson(3, seed=1)
    for _ in range(30):
        t.reward(0, 0.2)
        t.reward(1, 0.9)
        t.reward(2, 1.0)
    shares = t.shares([True, True, False])  # arm 2 aborted: never chosen
    assert shares[2] == 0.0 and abs(shares.sum() - 1.0) < 1e-9 and shares[1] > 0.95
