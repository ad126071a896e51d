"""Shadow, canary and A/B traffic in one server: shadow rows for both versions in the
prediction log with the request ids; a 30% canary answering about 30% (binomial bound)
and sticky per key and per id; the automatic abort of a canary that returns errors;
shares outside 0-100% refused with exit 2; ``mlx monitor --compare`` on shadow logs."""

from __future__ import annotations

import json
import math
import time
import uuid

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_mlx
from tests.serve.conftest import copy_project
from tests.serve.helpers import ROWS, metadata, model_dir

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def two_versions(binary_project, tmp_path_factory):
    from tests.serve.release_helpers import two_version_project

    return two_version_project(binary_project, tmp_path_factory.mktemp("traffic") / "p")


def _shadow_processes(root: int) -> list[int]:
    """The ``mlx.serve.shadowproc`` processes below ``root`` (read from /proc)."""
    from pathlib import Path

    parent, cmd = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd[int(d.name)] = (d / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
    below, todo = set(), [root]
    while todo:
        pid = todo.pop()
        kids = [p for p, pp in parent.items() if pp == pid]
        below.update(kids)
        todo.extend(kids)
    return [p for p in below if b"mlx.serve.shadowproc" in cmd.get(p, b"")]


def _log_rows(project, name: str) -> list[dict]:
    files = sorted((project / "logs" / "predictions" / name).glob("*/part-*.parquet"))
    rows: list[dict] = []
    for f in files:
        rows += pq.read_table(f, columns=["_request_id", "_version", "_score", "_score_ms"]).to_pylist()  # fmt: skip
    return rows


def test_shadow_rows_for_both_versions_in_the_prediction_log(serve, two_versions):
    project, v1, v2 = two_versions
    name = metadata(project)["name"]
    server = serve(project, f"{name}#prod", "--shadow", f"{name}#staging")
    assert [(m["version"], m["role"]) for m in server.doc["models"]] == [(v1, "primary"), (v2, "shadow")]  # fmt: skip
    ids = [f"sh-{i}" for i in range(40)]
    with server.client() as c:
        for rid in ids:
            r = c.post("/predict", json=ROWS, headers={"x-request-id": rid})
            assert r.status_code == 200 and r.json()["model_version"] == v1
        time.sleep(0.5)
        text = c.get("/metrics").text
    assert f'mlx_shadow_scored_total{{model="{name}",version="{v2}"}}' in text
    assert len(_shadow_processes(server.proc.pid)) == 1  # one worker, one shadow: its process
    assert server.stop() == 0  # SIGTERM: the shadow scores its queue, logs are flushed
    rows = _log_rows(project, name)
    by_version: dict[str, set[str]] = {}
    for row in rows:
        by_version.setdefault(row["_version"], set()).add(row["_request_id"])
    assert by_version[v1] >= set(ids) and by_version[v2] >= set(ids)
    assert sum(1 for r in rows if r["_version"] == v2 and r["_request_id"] in ids) == len(ids) * len(ROWS)  # fmt: skip
    # every row carries the model run that scored it, the shadow's rows their own run's
    assert all(r["_score_ms"] is not None and 0 < r["_score_ms"] < 60_000 for r in rows)

    # the shadow period, compared: agreement, score shift, latency; markdown and --json
    res = run_mlx("monitor", "--compare", f"{name}#prod", f"{name}#staging", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    from tests.test_json_schemas import assert_matches

    doc = assert_matches(res, "monitor", "compare")
    assert doc["a"]["version"] == v1 and doc["b"]["version"] == v2
    assert doc["joined_rows"] >= len(ids) * len(ROWS)
    assert 0.0 <= doc["agreement"] <= 1.0 and "psi" in doc["score_shift"] and "ks" in doc["score_shift"]  # fmt: skip
    # scoring time from the logs alone, the shadow's too; no access log: no request latency
    for side in ("a", "b"):
        sc = doc[side]["score_ms"]
        assert 0 < sc["p50"] <= sc["p99"] and sc["rows"] == doc[side]["rows"]
    assert doc["b"]["latency_ms"] is None
    res = run_mlx("monitor", "--compare", f"{name}#prod", f"{name}#staging", "--markdown", cwd=project)  # fmt: skip
    assert res.exit_code == 0 and "agreement" in res.stdout.lower(), res.output
    assert "scoring p99 ms" in res.stdout

    # with labels (joined on the request id): each version's live metrics and McNemar's test
    classes = metadata(project)["classes"]
    labels = project / "labels.csv"
    labels.write_text("row_id,y\n" + "".join(f"{rid},{classes[i % 2]}\n" for i, rid in enumerate(ids)))  # fmt: skip
    res = run_mlx("monitor", "--compare", f"{name}#prod", f"{name}#staging", "--labels", str(labels), "--json", cwd=project)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["a"]["metrics"] and doc["b"]["metrics"] and doc["labelled_rows"] > 0
    assert 0.0 <= doc["significance"]["p_value"] <= 1.0


def test_a_30_percent_canary_is_near_30_percent_and_sticky(serve, two_versions):
    project, v1, v2 = two_versions
    name = metadata(project)["name"]
    server = serve(project, f"{name}#prod", "--canary", f"{name}#staging=30%", "--no-prediction-log")  # fmt: skip
    n = 400
    with server.client() as c:
        answered = []
        for _ in range(n):
            r = c.post("/predict", json=ROWS, headers={"x-request-key": uuid.uuid4().hex})
            assert r.status_code == 200
            assert r.headers["x-model-version"] == r.json()["model_version"]
            answered.append(r.json()["model_version"])
        share = answered.count(v2) / n
        assert abs(share - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / n), share  # ~4 sigma: 0.21..0.39
        assert set(answered) == {v1, v2}
        for key in (f"user-{i}" for i in range(15)):  # sticky by the header
            got = {c.post("/predict", json=ROWS, headers={"x-request-key": key}).json()["model_version"] for _ in range(4)}  # fmt: skip
            assert len(got) == 1, (key, got)
        for rid in range(15):  # sticky by the id column (row_id of the first row)
            body = [{**ROWS[0], "row_id": rid}]
            got = {c.post("/predict", json=body).json()["model_version"] for _ in range(4)}
            assert len(got) == 1, (rid, got)
        ready = c.get(f"/v2/models/{name}/ready").json()
        assert ready["version"] == v1 and {"version": v2, "role": "canary"} in ready["also"]


def test_a_canary_returning_errors_is_aborted(serve, numeric_project, binary_project, tmp_path):
    """The canary (the binary model: it needs color and size) cannot score the numeric
    model's rows: its errors abort it and every later request goes to the primary."""
    project = copy_project(numeric_project, tmp_path / "n")
    canary = str(model_dir(binary_project))
    server = serve(project, "--canary", f"{canary}=50%", "--no-prediction-log")
    primary = server.doc["models"][0]["version"]
    rows = [{"x1": 0.5, "x2": 1.0}, {"x1": 1.5, "x2": -2.0}]
    statuses = []
    with server.client() as c:
        for _ in range(200):
            statuses.append(c.post("/predict", json=rows).status_code)
        tail = [c.post("/predict", json=rows) for _ in range(30)]
        text = c.get("/metrics").text
    assert 400 in statuses  # the canary's answers before the abort
    assert all(r.status_code == 200 and r.json()["model_version"] == primary for r in tail)
    assert "mlx_canary_aborted_total" in text
    assert server.stop() == 0
    assert "aborted, share 0" in server.stderr()


@pytest.mark.parametrize(
    "flags",
    [
        ("--canary", "{name}#staging=150%"),
        ("--canary", "{name}#staging=-5%"),
        ("--split", "{name}#prod=50,{name}#staging=40"),
        ("--canary", "{name}#staging"),
    ],
)
def test_shares_outside_0_to_100_exit_2(two_versions, flags):
    project, _, _ = two_versions
    name = metadata(project)["name"]
    args = [f.format(name=name) for f in flags]
    res = run_mlx("serve", f"{name}#prod", *args, "--port", "0", "--json", cwd=project)
    assert res.exit_code == 2, res.output
    assert json.loads(res.stdout)["error"]["exit_code"] == 2


def test_shadow_in_a_worker_thread_when_shadow_process_is_off(serve, two_versions, tmp_path):
    """``serve.release.shadow_process: false``: the in-worker thread scores the shadow;
    both versions' rows are in the prediction log after SIGTERM, no shadow process runs."""
    import yaml

    project = copy_project(two_versions[0], tmp_path / "t")
    _, v1, v2 = two_versions
    cfg = yaml.safe_load((project / "mlops.yaml").read_text())
    cfg.setdefault("serve", {}).setdefault("release", {})["shadow_process"] = False
    (project / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    name = metadata(project)["name"]
    server = serve(project, f"{name}#prod", "--shadow", f"{name}#staging")
    ids = [f"th-{i}" for i in range(25)]
    with server.client() as c:
        for rid in ids:
            assert c.post("/predict", json=ROWS, headers={"x-request-id": rid}).status_code == 200  # fmt: skip
    assert not _shadow_processes(server.proc.pid)
    assert server.stop() == 0
    rows = _log_rows(project, name)
    for version in (v1, v2):
        got = [r["_request_id"] for r in rows if r["_version"] == version]
        assert set(ids) <= set(got) and sum(1 for g in got if g in ids) == len(ids) * len(ROWS)
