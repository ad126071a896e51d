"""Served predictions equal the ONNX session's, over every protocol and real client."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as th

from tests.serve.helpers import ROWS, TRITON_ROWS, metadata, onnx_outputs, triton_inputs, v2_json

pytestmark = pytest.mark.serve


def _triton(server) -> th.InferenceServerClient:
    return th.InferenceServerClient(f"127.0.0.1:{server.port}")


def test_tritonclient_default_binary_mode(binary_server, binary_project):
    meta = metadata(binary_project)
    client = _triton(binary_server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(binary_server.model)
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    result = client.infer(binary_server.model, triton_inputs(TRITON_ROWS, meta["features"]))
    expected = onnx_outputs(binary_project, TRITON_ROWS)
    outputs = result.get_response()["outputs"]
    assert all("binary_data_size" in o["parameters"] for o in outputs)  # binary answer
    np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected["probabilities"])


def test_tritonclient_json_mode_and_request_id(binary_server, binary_project):
    meta = metadata(binary_project)
    client = _triton(binary_server)
    outputs = [
        th.InferRequestedOutput("label", binary_data=False),
        th.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = client.infer(
        binary_server.model,
        triton_inputs(TRITON_ROWS, meta["features"], binary=False),
        outputs=outputs,
        request_id="req-42",
    )
    response = result.get_response()
    assert response["id"] == "req-42"
    assert all("data" in o for o in response["outputs"])  # JSON answer
    expected = onnx_outputs(binary_project, TRITON_ROWS)
    np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected["probabilities"])
    # one output only, the other in binary
    only = client.infer(
        binary_server.model,
        triton_inputs(TRITON_ROWS[:1], meta["features"], binary=False),
        outputs=[th.InferRequestedOutput("probabilities", binary_data=True)],
    )
    assert [o["name"] for o in only.get_response()["outputs"]] == ["probabilities"]
    np.testing.assert_array_equal(only.as_numpy("probabilities"), expected["probabilities"][:1])


def test_model_metadata_follows_the_feature_schema(binary_server, binary_project):
    meta = metadata(binary_project)
    doc = _triton(binary_server).get_model_metadata(binary_server.model)
    assert doc["name"] == meta["name"] and doc["platform"] == "onnx_onnxv1"
    assert doc["inputs"] == [
        {"name": "x1", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "x2", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "color", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "size", "datatype": "BYTES", "shape": [-1, 1]},
    ]
    assert doc["outputs"] == meta["onnx"]["outputs"]
    version = doc["versions"][0]
    with binary_server.client() as c:
        assert c.get(f"/v2/models/{meta['name']}/versions/{version}").json() == doc
        assert c.get(f"/v2/models/{meta['name']}/versions/{version}/ready").status_code == 200
        raw = c.post(f"/v2/models/{meta['name']}/versions/{version}/infer", json=v2_json(ROWS, meta["features"]))  # fmt: skip
        assert raw.status_code == 200 and raw.json()["model_version"] == version


def test_v2_json_with_httpx_nested_data(binary_server, binary_project):
    meta = metadata(binary_project)
    body = v2_json(ROWS, meta["features"], id="n1")
    for inp in body["inputs"]:
        inp["data"] = [[v] for v in inp["data"]]  # row-major nested form
    with binary_server.client() as c:
        r = c.post(f"/v2/models/{meta['name']}/infer", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == "n1" and r.headers["x-request-id"] == "n1"
    expected = onnx_outputs(binary_project, ROWS)
    label, probs = doc["outputs"]
    assert label["shape"] == [4] and probs["shape"] == [4, 2]
    np.testing.assert_array_equal(np.array(label["data"]), expected["label"])
    np.testing.assert_array_equal(
        np.array(probs["data"], dtype=np.float32).reshape(4, 2), expected["probabilities"]
    )


def test_mlflow_invocations_all_payload_shapes(binary_server, binary_project):
    meta = metadata(binary_project)
    expected = onnx_outputs(binary_project, ROWS)["label"].tolist()
    names = [f["name"] for f in meta["features"]]
    payloads = {
        "dataframe_split": {
            "columns": ["row_id", *names],
            "data": [[r["row_id"], *(r[n] for n in names)] for r in ROWS],
        },
        "dataframe_records": ROWS,
        "instances": [{n: r[n] for n in names} for r in ROWS],
        "inputs": {n: [r[n] for r in ROWS] for n in names},
    }
    with binary_server.client() as c:
        for key, value in payloads.items():
            r = c.post("/invocations", json={key: value})
            assert r.status_code == 200, (key, r.text)
            assert r.json() == {"predictions": [meta["classes"][i] for i in expected]}, key
        instances_as_rows = [[r[n] for n in names] for r in ROWS]
        r = c.post("/invocations", json={"instances": instances_as_rows})
        assert r.json()["predictions"] == [meta["classes"][i] for i in expected]
        assert c.get("/ping").status_code == 200 and c.get("/health").status_code == 200
        assert c.get("/version").json()["model"] == meta["name"]


def test_predict_records_echo_ids(binary_server, binary_project):
    expected = onnx_outputs(binary_project, ROWS)
    with binary_server.client() as c:
        r = c.post("/predict", json=ROWS)
        single = c.post("/predict", json=ROWS[0])
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["id"] for p in preds] == [1, 2, 3, 4]
    assert [p["label"] for p in preds] == expected["label"].tolist()
    probs = np.array([[p["probabilities"]["0"], p["probabilities"]["1"]] for p in preds])
    np.testing.assert_allclose(probs, expected["probabilities"], rtol=0, atol=0)
    assert [p["score"] for p in preds] == pytest.approx(expected["probabilities"][:, 1].tolist())
    assert single.json()["predictions"][0]["label"] == preds[0]["label"]


def test_all_numeric_model_takes_one_2d_tensor(serve, numeric_project):
    server = serve(numeric_project)
    rows = [{"x1": 0.1, "x2": 2.0}, {"x1": -1.0, "x2": 8.5}, {"x1": None, "x2": 4.0}]
    expected = onnx_outputs(numeric_project, rows)["prediction"]
    matrix = np.array([[np.nan if r["x1"] is None else r["x1"], r["x2"]] for r in rows], np.float32)
    client = th.InferenceServerClient(f"127.0.0.1:{server.port}")
    matrix[2, 0] = 3.5  # tritonclient would send missing as NaN, refused by default
    expected_triton = onnx_outputs(numeric_project, [*rows[:2], {"x1": 3.5, "x2": 4.0}])
    for binary in (True, False):
        inp = th.InferInput("features", [3, 2], "FP32")
        inp.set_data_from_numpy(matrix, binary_data=binary)
        result = client.infer(server.model, [inp])
        np.testing.assert_array_equal(result.as_numpy("prediction"), expected_triton["prediction"])
    with server.client() as c:
        body = {"inputs": [{"name": "X", "shape": [3, 2], "datatype": "FP64", "data": matrix.tolist()}]}  # fmt: skip
        body["inputs"][0]["data"][2][0] = None
        r = c.post(f"/v2/models/{server.model}/infer", json=body)
        assert r.status_code == 200, r.text
        got = np.array(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(-1, 1)
        np.testing.assert_array_equal(got, expected)
        preds = c.post("/predict", json=rows).json()["predictions"]
        assert [p["prediction"] for p in preds] == pytest.approx(expected[:, 0].tolist())
        inv = c.post("/invocations", json={"inputs": {"x1": [0.1], "x2": [2.0]}}).json()
        assert inv["predictions"] == pytest.approx([float(expected[0, 0])])


def test_multiclass_labels_are_the_training_classes(serve, multiclass_project):
    server = serve(multiclass_project)
    meta = metadata(multiclass_project)
    assert meta["classes"] == ["high", "low", "mid"]
    expected = onnx_outputs(multiclass_project, ROWS)
    want = [meta["classes"][i] for i in expected["label"]]
    with server.client() as c:
        assert (
            c.post("/invocations", json={"dataframe_records": ROWS}).json()["predictions"] == want
        )
        preds = c.post("/predict", json=ROWS).json()["predictions"]
    assert [p["label"] for p in preds] == want
    assert set(preds[0]["probabilities"]) == {"high", "low", "mid"}
    assert [p["score"] for p in preds] == pytest.approx(
        expected["probabilities"].max(axis=1).tolist()
    )
