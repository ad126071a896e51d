"""Every malformed request gets a 4xx ``{"error": ...}`` naming the problem, and the
server keeps serving: each case is followed by a good request that must succeed."""

from __future__ import annotations

import copy
import gzip
import json
import socket

import numpy as np
import pytest
import tritonclient.http as th
from tritonclient.utils import InferenceServerException

from tests.serve.helpers import ROWS, TRITON_ROWS, metadata, onnx_outputs, triton_inputs, v2_json

pytestmark = pytest.mark.serve

FEATURES = [
    {"name": "x1", "kind": "numeric"},
    {"name": "x2", "kind": "numeric"},
    {"name": "color", "kind": "categorical"},
    {"name": "size", "kind": "categorical"},
]
GOOD = v2_json(ROWS[:2], FEATURES)


def _v2(mutate):
    body = copy.deepcopy(GOOD)
    mutate(body)
    return {"json": body}


def _input(body, name):
    return next(i for i in body["inputs"] if i["name"] == name)


def _set(name, key, value):
    return lambda b: _input(b, name).__setitem__(key, value)


BINARY_HEADER = json.dumps(
    {
        "inputs": [
            {
                "name": "x1",
                "shape": [1, 1],
                "datatype": "FP32",
                "parameters": {"binary_data_size": 8},
            }
        ]
    }  # fmt: skip
).encode()

V2_CASES = {
    "malformed json": (
        {"content": b'{"inputs": [', "headers": {"content-type": "application/json"}},
        400,
        "malformed JSON",
    ),  # fmt: skip
    "empty body": ({"content": b""}, 400, "body is empty"),
    "not an object": ({"json": [1, 2]}, 400, "must be a JSON object with 'inputs'"),
    "no inputs": ({"json": {"inputs": []}}, 400, "'inputs' must be a non-empty list"),
    "missing input": (_v2(lambda b: b["inputs"].pop(0)), 400, "missing input(s): 'x1'"),
    "extra input": (
        _v2(lambda b: b["inputs"].append({**b["inputs"][0], "name": "bogus"})),
        400,
        "unknown input 'bogus'",
    ),  # fmt: skip
    "duplicate input": (
        _v2(lambda b: b["inputs"].append(copy.deepcopy(b["inputs"][1]))),
        400,
        "input 'x2' appears twice",
    ),  # fmt: skip
    "bytes for numeric": (
        _v2(_set("x1", "datatype", "BYTES")),
        400,
        "input 'x1' is numeric: datatype must be FP32",
    ),  # fmt: skip
    "fp32 for categorical": (
        _v2(_set("color", "datatype", "FP32")),
        400,
        "input 'color' is categorical: datatype must be BYTES",
    ),  # fmt: skip
    "wrong shape": (
        _v2(_set("x2", "shape", [1, 2])),
        400,
        "input 'x2': shape [1, 2] must be [N] or [N, 1]",
    ),  # fmt: skip
    "bad shape type": (_v2(_set("x2", "shape", "2x1")), 400, "input 'x2': 'shape' must be a list"),
    "shape vs data": (
        _v2(_set("x2", "shape", [3, 1])),
        400,
        "input 'x2': shape [3, 1] needs 3 values, got 2",
    ),  # fmt: skip
    "rows disagree": (
        _v2(
            lambda b: [
                _input(b, n).update(shape=[1, 1], data=_input(b, n)["data"][:1]) for n in ("color",)
            ]
        ),
        400,
        "input 'color' has 1 rows but 'x1' has 2",
    ),  # fmt: skip
    "text in numeric": (
        _v2(_set("x1", "data", ["abc", 1.0])),
        400,
        "input 'x1' is numeric: row 0 has 'abc'",
    ),  # fmt: skip
    "object in numeric": (
        _v2(_set("x2", "data", [1.0, {"a": 1}])),
        400,
        "input 'x2' is numeric: row 1 has {'a': 1}",
    ),  # fmt: skip
    "number in categorical": (
        _v2(_set("size", "data", ["S", 1.5])),
        400,
        "input 'size' is categorical: row 1 has 1.5",
    ),  # fmt: skip
    "overflow to inf": (
        _v2(_set("x1", "data", [1e39, 0.0])),
        400,
        "input 'x1' has an infinite value",
    ),  # fmt: skip
    "Infinity literal": (
        {"content": json.dumps(v2_json([{**ROWS[0], "x2": float("inf")}], FEATURES)).encode()},
        400,
        "input 'x2' has an infinite value",
    ),  # fmt: skip
    "no data": (_v2(lambda b: _input(b, "x1").pop("data")), 400, "input 'x1' has no 'data'"),
    "unknown output": (
        _v2(lambda b: b.update(outputs=[{"name": "nope"}])),
        400,
        "unknown output 'nope'",
    ),  # fmt: skip
    "bad binary header length": (
        {"content": b"{}", "headers": {"Inference-Header-Content-Length": "x"}},
        400,
        "Inference-Header-Content-Length must be an integer",
    ),  # fmt: skip
    "binary header too long": (
        {"content": b"{}", "headers": {"Inference-Header-Content-Length": "99"}},
        400,
        "but the body has only 2 bytes",
    ),  # fmt: skip
    "binary size too big": (
        {
            "content": BINARY_HEADER + b"\0\0\0\0",
            "headers": {"Inference-Header-Content-Length": str(len(BINARY_HEADER))},
        },
        400,
        "binary_data_size is 8 bytes but only 4 bytes",
    ),  # fmt: skip
    "binary size vs shape": (
        {
            "content": BINARY_HEADER + b"\0" * 8,
            "headers": {"Inference-Header-Content-Length": str(len(BINARY_HEADER))},
        },
        400,
        "1 FP32 values need 4 bytes, binary_data_size is 8",
    ),  # fmt: skip
    "binary without header": (
        _v2(lambda b: _input(b, "x1").update(parameters={"binary_data_size": 8})),
        400,
        "has no Inference-Header-Content-Length",
    ),  # fmt: skip
    "unclaimed binary": (
        {
            "content": json.dumps(GOOD).encode() + b"xyz",
            "headers": {"Inference-Header-Content-Length": str(len(json.dumps(GOOD)))},
        },
        400,
        "3 bytes of binary data after the JSON header belong to no input",
    ),  # fmt: skip
    "gzip garbage": (
        {"content": b"not gzip", "headers": {"content-encoding": "gzip"}},
        400,
        "body is not valid gzip",
    ),  # fmt: skip
    "unknown encoding": (
        {"content": b"{}", "headers": {"content-encoding": "br"}},
        415,
        "unsupported content encoding 'br'",
    ),  # fmt: skip
    "too large": ({"content": b"x" * 250_000}, 413, "exceeds the limit of 200000"),
}

MLFLOW_CASES = {
    "no known key": ({"json": {"rows": ROWS}}, 400, "unknown key(s) 'rows'"),
    "two keys": ({"json": {"instances": ROWS, "inputs": ROWS}}, 400, "send exactly one of"),
    "extra column": (
        {"json": {"dataframe_records": [{**ROWS[0], "zip": 1}]}},
        400,
        "unknown column(s): 'zip'",
    ),  # fmt: skip
    "missing column": (
        {"json": {"dataframe_records": [{"x1": 1.0, "x2": 2.0, "color": "red"}]}},
        400,
        "missing column(s): 'size'",
    ),  # fmt: skip
    "ragged split": (
        {
            "json": {
                "dataframe_split": {
                    "columns": ["x1", "x2", "color", "size"],
                    "data": [[1, 2, "red"]],
                }
            }
        },
        400,
        "dataframe_split row 0 has 3 values; expected 4",
    ),  # fmt: skip
    "text in numeric": (
        {"json": {"dataframe_records": [{**ROWS[0], "x2": "high"}]}},
        400,
        "column 'x2' is numeric: row 0 has 'high'",
    ),  # fmt: skip
    "csv content type": (
        {"content": b"x1,x2\n1,2\n", "headers": {"content-type": "text/csv"}},
        415,
        "unsupported content type 'text/csv'",
    ),  # fmt: skip
    "no rows": ({"json": {"dataframe_records": []}}, 400, "no rows to score"),
}

PREDICT_CASES = {
    "not records": ({"json": 42}, 400, "the body must be a record"),
    "bool in categorical": (
        {"json": [{**ROWS[0], "color": True}]},
        400,
        "column 'color' is categorical: row 0 has True",
    ),  # fmt: skip
}


def _check(c, method, path, kwargs, status, message, good_path, good_json):
    r = c.request(method, path, **kwargs)
    assert r.status_code == status, (r.status_code, r.text)
    assert message in r.json()["error"], r.json()
    ok = c.post(good_path, json=good_json)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("case", list(V2_CASES))
def test_bad_v2_request_then_good(binary_server, case):
    kwargs, status, message = V2_CASES[case]
    path = f"/v2/models/{binary_server.model}/infer"
    with binary_server.client() as c:
        _check(c, "POST", path, kwargs, status, message, path, GOOD)


@pytest.mark.parametrize("case", list(MLFLOW_CASES))
def test_bad_invocations_then_good(binary_server, case):
    kwargs, status, message = MLFLOW_CASES[case]
    with binary_server.client() as c:
        _check(c, "POST", "/invocations", kwargs, status, message, "/invocations", {"dataframe_records": ROWS})  # fmt: skip


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_bad_predict_then_good(binary_server, case):
    kwargs, status, message = PREDICT_CASES[case]
    with binary_server.client() as c:
        _check(c, "POST", "/predict", kwargs, status, message, "/predict", ROWS)


def test_routes_methods_and_models(binary_server):
    path = f"/v2/models/{binary_server.model}/infer"
    with binary_server.client() as c:
        for method, url, status, message in (
            ("GET", path, 405, "GET is not allowed on"),
            ("POST", "/v2/health/ready", 405, "use GET, HEAD"),
            ("GET", "/nowhere", 404, "no route /nowhere"),
            ("POST", "/v2/models/other/infer", 404, "unknown model 'other'"),
            (
                "POST",
                f"/v2/models/{binary_server.model}/versions/v9/infer",
                404,
                "unknown version 'v9'",
            ),  # fmt: skip
        ):
            _check(c, method, url, {}, status, message, path, GOOD)


def test_gzip_body_and_unseen_categories(binary_server, binary_project):
    """A gzip-compressed body works; unknown categories are missing values, as in training."""
    path = f"/v2/models/{binary_server.model}/infer"
    body = v2_json([{**ROWS[0], "color": "never-seen"}], FEATURES)
    with binary_server.client() as c:
        r = c.post(path, content=gzip.compress(json.dumps(body).encode()), headers={"content-encoding": "gzip"})  # fmt: skip
    assert r.status_code == 200, r.text
    expected = onnx_outputs(binary_project, [{**ROWS[0], "color": None}])
    assert r.json()["outputs"][0]["data"] == expected["label"].tolist()


def test_tritonclient_errors_keep_the_connection_usable(binary_server, binary_project):
    """tritonclient pools connections: an error answer must not break the next call."""
    meta = metadata(binary_project)
    client = th.InferenceServerClient(f"127.0.0.1:{binary_server.port}", concurrency=1)
    bad = triton_inputs(ROWS[:1], meta["features"])[:3]  # no 'size'
    inf_row = triton_inputs([{**ROWS[0], "x1": float("inf")}], meta["features"])
    for inputs, message in ((bad, "missing input(s): 'size'"), (inf_row, "input 'x1' has an infinite value")):  # fmt: skip
        with pytest.raises(InferenceServerException, match=message.replace("(", r"\(").replace(")", r"\)")):  # fmt: skip
            client.infer(binary_server.model, inputs)
        good = client.infer(binary_server.model, triton_inputs(TRITON_ROWS, meta["features"]))
        np.testing.assert_array_equal(good.as_numpy("label"), onnx_outputs(binary_project, TRITON_ROWS)["label"])  # fmt: skip


def _raw(port: int, data: bytes, read_until_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while read_until_close:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_malformed_http_and_oversized_uploads(binary_server):
    port = binary_server.port
    garbage = _raw(port, b"HELLO THERE\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400") and b"malformed HTTP request" in garbage
    declared = _raw(port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n" + b"x" * 1000)  # fmt: skip
    assert declared.startswith(b"HTTP/1.1 413") and b"900000 bytes exceeds the limit" in declared
    chunk = b"%x\r\n%s\r\n" % (100_000, b"y" * 100_000)
    chunked = _raw(port, b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n")  # fmt: skip
    assert chunked.startswith(b"HTTP/1.1 413") and b"exceeds the limit of 200000" in chunked
    huge_header = _raw(port, b"GET /v2 HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert huge_header.startswith(b"HTTP/1.1 431")
    with binary_server.client() as c:
        assert c.post(f"/v2/models/{binary_server.model}/infer", json=GOOD).status_code == 200


def test_keep_alive_pipelining_and_expect_continue(binary_server):
    body = json.dumps(ROWS[:1]).encode()
    one = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)  # fmt: skip
    last = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = _raw(binary_server.port, one + one + last)  # three pipelined requests
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.rindex(b'{"live":true}') > answer.rindex(b'"predictions"')  # in order
    with socket.create_connection(("127.0.0.1", binary_server.port), timeout=10) as s:
        s.sendall(one.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n", 1).split(b"\r\n\r\n")[0] + b"\r\n\r\n")  # fmt: skip
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(body)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_request_ids_never_inject_headers(binary_server):
    path = f"/v2/models/{binary_server.model}/infer"
    with binary_server.client() as c:
        r = c.post(path, json={**GOOD, "id": "a\r\nset-cookie: x=1"})
        assert r.status_code == 200 and "set-cookie" not in r.headers
        assert "x-request-id" not in r.headers and r.json()["id"] == "a\r\nset-cookie: x=1"
        assert c.post(path, json={**GOOD, "id": "ok-1"}).headers["x-request-id"] == "ok-1"


def test_half_closed_client_still_gets_its_answer(binary_server):
    """A client that shuts down its sending side after the request (nc -q style)."""
    body = json.dumps(ROWS).encode()
    request = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)  # fmt: skip
    with socket.create_connection(("127.0.0.1", binary_server.port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK") and b'"predictions"' in answer
