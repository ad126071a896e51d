"""Running a server: metrics, tokens, back-pressure, SIGTERM drain, workers, prediction
logs, what workers import, and refusing a tampered model."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import tritonclient.http as th
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_mlx
from tests.serve.conftest import copy_project
from tests.serve.helpers import ROWS, TRITON_ROWS, metadata, model_dir, onnx_outputs, triton_inputs

pytestmark = pytest.mark.serve


def _metrics(client: httpx.Client) -> dict:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def _sample(family, suffix: str = "", **labels) -> float:
    total = 0.0
    for s in family.samples:
        if s.name.endswith(suffix) and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return total


def _wait_queued(server, timeout: float = 30) -> None:
    """Until a request waits in the batch queue (the queue-depth gauge says so)."""
    deadline = time.monotonic() + timeout
    with server.client() as c:
        while time.monotonic() < deadline:
            if _sample(_metrics(c)["mlx_queue_depth"]) >= 1:
                return
            time.sleep(0.02)
    raise AssertionError("no request reached the queue")


def test_metrics_count_requests_errors_latency_and_batches(binary_server, binary_project):
    meta = metadata(binary_project)
    path = f"/v2/models/{binary_server.model}/infer"
    with binary_server.client() as c:
        before = _metrics(c)
        base_ok = _sample(before["mlx_requests"], "_total", route="predict", code="200")
        base_bad = _sample(before["mlx_errors"], "_total", route="predict", code="400")
        for _ in range(3):
            assert c.post("/predict", json=ROWS).status_code == 200
        assert c.post("/predict", json=[{"x1": "bad"}]).status_code == 400
        assert c.post(path, json={"inputs": []}).status_code == 400
        fams = _metrics(c)
    assert _sample(fams["mlx_requests"], "_total", route="predict", code="200") == base_ok + 3
    assert _sample(fams["mlx_errors"], "_total", route="predict", code="400") == base_bad + 1
    assert _sample(fams["mlx_errors"], "_total", route="infer", code="400") >= 1
    latency = fams["mlx_request_duration_seconds"]
    assert latency.type == "histogram"
    assert _sample(latency, "_count", route="predict") >= 3
    assert _sample(latency, "_bucket", route="predict", le="+Inf") >= 3
    batch = fams["mlx_batch_size"]
    assert _sample(batch, "_count") >= 3 and _sample(batch, "_sum") >= 12
    assert _sample(fams["mlx_rows"], "_total") >= 12
    assert fams["mlx_queue_depth"].type == "gauge" and _sample(fams["mlx_queue_depth"]) == 0
    assert _sample(fams["mlx_workers"]) == 1
    (info,) = fams["mlx_model_info"].samples
    assert info.name == "mlx_model_info"
    assert info.labels["name"] == meta["name"] and info.labels["md5"] == meta["onnx"]["md5"]
    assert info.labels["commit"] == meta["code"]["commit"]
    assert info.labels["version"] == binary_server.doc["model"]["version"]


def test_bearer_token_on_every_route_but_health(serve, binary_project):
    server = serve(binary_project, env={"MLX_SERVE_TOKEN": "s3cret"})
    path = f"/v2/models/{server.model}/infer"
    with server.client() as c:
        for health in ("/v2/health/live", "/v2/health/ready", "/ping", "/health", f"/v2/models/{server.model}/ready"):  # fmt: skip
            assert c.get(health).status_code == 200
        for method, url in (
            ("POST", "/predict"),
            ("GET", "/metrics"),
            ("GET", "/v2"),
            ("POST", path),
        ):
            r = c.request(method, url, json=ROWS)
            assert r.status_code == 401 and "missing bearer token" in r.json()["error"]
            assert r.headers["www-authenticate"].startswith("Bearer")
            r = c.request(method, url, json=ROWS, headers={"authorization": "Bearer nope"})
            assert r.status_code == 401 and r.json()["error"] == "invalid bearer token"
        auth = {"authorization": "Bearer s3cret"}
        assert c.post("/predict", json=ROWS, headers=auth).status_code == 200
        assert c.get("/metrics", headers=auth).status_code == 200
    client = th.InferenceServerClient(f"127.0.0.1:{server.port}")
    meta = metadata(binary_project)
    result = client.infer(server.model, triton_inputs(TRITON_ROWS, meta["features"]), headers=auth)
    np.testing.assert_array_equal(result.as_numpy("label"), onnx_outputs(binary_project, TRITON_ROWS)["label"])  # fmt: skip


def test_full_queue_answers_503_and_recovers(serve, binary_project):
    server = serve(binary_project, "--max-queue", "1", "--max-delay-us", "1000000")
    results: list[httpx.Response] = []

    def post() -> None:
        with server.client() as c:
            results.append(c.post("/predict", json=ROWS[:1]))

    first = threading.Thread(target=post)
    first.start()
    _wait_queued(server)  # the first request now waits in the queue for its 1 s batching delay
    with server.client() as c:
        busy = c.post("/predict", json=ROWS[:1])
    first.join()
    assert busy.status_code == 503 and "server busy" in busy.json()["error"]
    assert busy.headers["retry-after"] == "1"
    assert results[0].status_code == 200
    with server.client() as c:
        assert c.post("/predict", json=ROWS).status_code == 200


def test_sigterm_drains_in_flight_requests_and_flushes_logs(serve, binary_project, tmp_path):
    project = copy_project(binary_project, tmp_path / "p")
    server = serve(project, "--max-delay-us", "700000")
    results: list[httpx.Response] = []

    def post() -> None:
        with server.client() as c:
            results.append(c.post("/predict", json=ROWS, headers={"x-request-id": "drain-me"}))

    t = threading.Thread(target=post)
    t.start()
    _wait_queued(server)  # received and waiting for its batch
    server.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert results and results[0].status_code == 200, results
    assert server.proc.wait(30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/v2/health/live", timeout=2)
    files = sorted((project / "logs" / "predictions").rglob("*.parquet"))
    assert files and not list((project / "logs").rglob("*.inprogress"))
    table = pq.read_table(files)
    assert table.num_rows == len(ROWS)
    assert set(table.column("_request_id").to_pylist()) == {"drain-me"}


def test_prediction_logs_have_the_documented_columns(serve, binary_project, tmp_path):
    project = copy_project(binary_project, tmp_path / "p")
    server = serve(project)
    meta = metadata(project)
    client = th.InferenceServerClient(f"127.0.0.1:{server.port}")
    client.infer(server.model, triton_inputs(TRITON_ROWS, meta["features"]), request_id="t-1")
    with server.client() as c:
        assert c.post("/predict", json=ROWS[:2], headers={"x-request-id": "p-1"}).status_code == 200
    assert server.stop() == 0
    files = list((project / "logs" / "predictions" / meta["name"]).glob("*/part-*.parquet"))
    assert files
    table = pq.read_table(files).sort_by([("_ts", "ascending")])
    schema = {f.name: str(f.type) for f in table.schema}
    assert schema == {
        "x1": "float", "x2": "float", "color": "string", "size": "string",
        "_request_id": "string", "_ts": "timestamp[us, tz=UTC]", "_model": "string",
        "_version": "string", "_commit": "string", "_label": "int64", "_score": "float", "_score_ms": "float",
    }  # fmt: skip
    rows = table.to_pylist()
    assert [r["_request_id"] for r in rows] == ["t-1"] * 4 + ["p-1"] * 2
    assert rows[0]["color"] == "red" and rows[3]["color"] in ("", None)
    expected = onnx_outputs(project, TRITON_ROWS)
    assert [r["_label"] for r in rows[:4]] == expected["label"].tolist()
    np.testing.assert_array_equal(
        np.array([r["_score"] for r in rows[:4]], dtype=np.float32), expected["probabilities"][:, 1]
    )
    assert {r["_model"] for r in rows} == {meta["name"]}
    assert {r["_commit"] for r in rows} == {meta["code"]["commit"]}


def test_two_workers_share_the_port_and_import_nothing_heavy(serve, binary_project, tmp_path):
    dump = tmp_path / "modules"
    dump.mkdir()
    server = serve(binary_project, "--workers", "2", env={"MLX_SERVE_DEBUG_MODULES": str(dump)})
    assert len(set(server.doc["workers"])) == 2
    expected = onnx_outputs(binary_project, ROWS)["label"].tolist()
    meta = metadata(binary_project)

    def fire(n: int) -> None:
        for _ in range(n):
            with httpx.Client(base_url=server.url, timeout=30) as c:  # a new connection each time
                r = c.post("/predict", json=ROWS)
                assert [p["label"] for p in r.json()["predictions"]] == expected

    threads = [threading.Thread(target=fire, args=(6,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client = th.InferenceServerClient(f"127.0.0.1:{server.port}")
    client.infer(server.model, triton_inputs(TRITON_ROWS, meta["features"]))
    with server.client() as c:
        assert c.post("/invocations", json={"dataframe_records": ROWS}).status_code == 200
        fams = _metrics(c)
    assert _sample(fams["mlx_workers"]) == 2
    assert _sample(fams["mlx_requests"], "_total", route="predict", code="200") == 36
    assert server.stop() == 0
    pids = {line.split('"pid":')[1].split("}")[0] for line in server.stderr().splitlines() if '"pid":' in line}  # fmt: skip
    assert pids == {str(p) for p in server.doc["workers"]}  # both workers answered requests
    dumps = list(dump.glob("*.txt"))
    assert len(dumps) == 2
    for path in dumps:
        loaded = set(path.read_text().split())
        assert {"numpy", "onnxruntime", "httptools", "orjson"} <= loaded
        heavy = {"lightgbm", "pandas", "sklearn", "dvc", "scipy", "onnx", "git", "pydantic", "typer", "rich"}  # fmt: skip
        assert not loaded & heavy, sorted(loaded & heavy)


def test_tampered_model_refuses_to_start_with_exit_3(binary_project, tmp_path):
    project = copy_project(binary_project, tmp_path / "p")
    onnx = model_dir(project) / "model.onnx"
    data = onnx.read_bytes()
    onnx.unlink()  # a DVC checkout may hard-link the cache: never write through it
    onnx.write_bytes(data + b"\0")
    res = run_mlx("serve", "--port", "0", "--json", cwd=project)
    assert res.exit_code == 3, res.output
    error = res.json()["error"]
    assert error["type"] == "IntegrityError" and "md5" in error["message"]
    assert "refusing to serve" in error["message"]


def test_model_missing_from_work_tree_is_served_from_the_dvc_cache(serve, binary_project, tmp_path):
    project = copy_project(binary_project, tmp_path / "p")
    (model_dir(project) / "model.onnx").unlink()
    server = serve(project)
    assert server.doc["model"]["path"].startswith(str(project / ".dvc" / "cache"))
    with server.client() as c:
        preds = c.post("/predict", json=ROWS).json()["predictions"]
    assert [p["label"] for p in preds] == onnx_outputs(binary_project, ROWS)["label"].tolist()


def test_bad_references_and_busy_ports(binary_project, tmp_path):
    res = run_mlx("serve", "no/such/model", "--json", cwd=binary_project)
    assert res.exit_code == 2 and res.json()["error"]["type"] == "RefError"
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_mlx("serve", "--port", str(port), "--json", cwd=binary_project)
    assert res.exit_code == 3 and "cannot listen on 127.0.0.1" in res.json()["error"]["message"]


def test_mlx_monitor_reads_the_prediction_logs(serve, binary_project, tmp_path):
    """The contract between serve and monitor, end to end."""
    project = copy_project(binary_project, tmp_path / "p")
    server = serve(project, "--workers", "2")
    frame_rows = [{**r, "row_id": 100 * i + r["row_id"]} for i in range(25) for r in ROWS]
    with server.client() as c:
        for start in range(0, len(frame_rows), 20):
            assert c.post("/predict", json=frame_rows[start : start + 20]).status_code == 200
    assert server.stop() == 0
    res = run_mlx("monitor", "--current", "logs/predictions", "--json", cwd=project)
    assert res.exit_code in (0, 1), res.output
    doc = res.json()
    assert doc["current"]["kind"] == "logs" and doc["current"]["rows"] == len(frame_rows)
    assert doc["current"]["versions"] == [server.doc["model"]["version"]]


def test_serves_a_registry_reference(serve, binary_project, tmp_path):
    """`mlx serve NAME#STAGE`: the registry resolves it, the bytes are verified."""
    project = copy_project(binary_project, tmp_path / "p")
    meta = metadata(project)
    res = run_mlx("promote", "--stage", "prod", "--force", "--reason", "serve test", "--json", cwd=project)  # fmt: skip
    assert res.exit_code == 0, res.output
    server = serve(project, f"{meta['name']}#prod")
    model = server.doc["model"]
    assert model["version"].startswith("v") and model["md5"] == meta["onnx"]["md5"]
    with server.client() as c:
        doc = c.get(f"/v2/models/{meta['name']}/versions/{model['version']}").json()
        assert doc["versions"] == [model["version"]]
        preds = c.post("/predict", json=ROWS).json()
    assert preds["version"] == model["version"]
    assert [p["label"] for p in preds["predictions"]] == onnx_outputs(project, ROWS)[
        "label"
    ].tolist()
    res = run_mlx("serve", f"{meta['name']}#staging", "--port", "0", "--json", cwd=project)
    assert res.exit_code == 2 and res.json()["error"]["type"] == "RefError"
