"""The server against odd bodies, odd paths, NaN, stalled clients and SIGTERM under load
(issues 13 and 17): each case is a 4xx naming the problem, never a 5xx, a hang or a reset."""

from __future__ import annotations

import json
import math
import select
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as th
import yaml
from tritonclient.utils import InferenceServerException

from tests.serve.conftest import copy_project
from tests.serve.helpers import ROWS, metadata, onnx_outputs, triton_inputs, v2_json

pytestmark = pytest.mark.serve

FEATURES = [
    {"name": "x1", "kind": "numeric"},
    {"name": "x2", "kind": "numeric"},
    {"name": "color", "kind": "categorical"},
    {"name": "size", "kind": "categorical"},
]
GOOD = v2_json(ROWS[:2], FEATURES)


def _with(path: str, value):
    """GOOD with the field at ``path`` ("id", "inputs.0.name", ...) set to ``value``."""
    body = json.loads(json.dumps(GOOD))
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


ONE_INPUT = {"inputs": [{"name": {}, "shape": [1], "datatype": "FP32", "data": [1]}]}
FIELD_CASES = {
    # the body: an object as the one input's name was a 500 (unhashable dict)
    "name object, one input": (ONE_INPUT, "inputs[0].name must be a string, got an object"),
    "name list, one input": (
        {"inputs": [{**ONE_INPUT["inputs"][0], "name": [1]}]},
        "inputs[0].name must be a string, got a list",
    ),
    "name object": (_with("inputs.1.name", {}), "inputs[1].name must be a string, got an object"),
    "name number": (_with("inputs.0.name", 5), "inputs[0].name must be a string, got a number"),
    "id object": (_with("id", {}), "'id' must be a string, got an object"),
    "id number": (_with("id", 5), "'id' must be a string, got a number"),
    "parameters list": (_with("parameters", []), "'parameters' must be an object, got a list"),
    "shape text": (_with("inputs.0.shape", "2"), "input 'x1': 'shape' must be a list"),
    "shape negative": (_with("inputs.0.shape", [-2, 1]), "input 'x1': 'shape' must be a list"),
    "shape boolean": (_with("inputs.0.shape", [True, 1]), "input 'x1': 'shape' must be a list"),
    "shape float": (_with("inputs.0.shape", [2.0, 1]), "input 'x1': 'shape' must be a list"),
    "datatype number": (
        _with("inputs.2.datatype", 7),
        "input 'color': 'datatype' must be a string",
    ),  # fmt: skip
    "datatype unknown": (
        _with("inputs.0.datatype", "FLOAT"),
        "input 'x1': unknown datatype 'FLOAT'",
    ),  # fmt: skip
    "data object": (_with("inputs.0.data", {"0": 1}), "input 'x1': 'data' must be a list"),
    "data text": (_with("inputs.3.data", "SM"), "input 'size': 'data' must be a list"),
    "input parameters list": (
        _with("inputs.0.parameters", [1]),
        "input 'x1': 'parameters' must be an object",
    ),
    "input not an object": (_with("inputs.0", "x1"), "inputs[0] must be an object"),
    "outputs object": (_with("outputs", {"name": "label"}), "'outputs' must be a list"),
    "output not an object": (_with("outputs", ["label"]), "outputs[0] must be an object"),
    "output name object": (_with("outputs", [{"name": {}}]), "outputs[0].name must be a string"),
    "output parameters list": (
        _with("outputs", [{"name": "label", "parameters": []}]),
        "outputs[0] ('label'): 'parameters' must be an object",
    ),
}


@pytest.mark.parametrize("case", list(FIELD_CASES))
def test_every_oip_field_has_its_type_checked(binary_server, case):
    body, message = FIELD_CASES[case]
    with binary_server.client() as c:
        r = c.post(f"/v2/models/{binary_server.model}/infer", json=body)
        assert r.status_code == 400, (r.status_code, r.text)
        assert message in r.json()["error"], r.json()
        assert c.post(f"/v2/models/{binary_server.model}/infer", json=GOOD).status_code == 200


def test_fast_path_shaped_bodies_with_wrong_types_are_400(serve, numeric_project):
    """Bodies shaped like the fast path's (exactly name/shape/datatype/data, in order)."""
    server = serve(numeric_project)
    path = f"/v2/models/{server.model}/infer"

    def body(x1, x2, n=1):
        return {"inputs": [
            {"name": "x1", "shape": [n, 1], "datatype": "FP32", "data": x1},
            {"name": "x2", "shape": [n, 1], "datatype": "FP32", "data": x2},
        ]}  # fmt: skip

    cases = [
        (body({"0": 1}, [1.0]), "input 'x1': 'data' must be a list"),
        (body("a", [1.0]), "input 'x1': 'data' must be a list"),
        (body([1.0], [[1.0, 2.0]]), "needs 1 values, got 2"),
        (body([1.0, "b"], [1.0, 2.0], n=2), "input 'x1' is numeric: row 1 has 'b'"),
        (
            {"inputs": [{"name": {}, "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]},
            "inputs[0].name must be a string",
        ),  # fmt: skip
        (
            {"inputs": [{"name": "X", "shape": [1, 2], "datatype": 5, "data": [1, 2]}]},
            "input 'X': 'datatype' must be a string",
        ),  # fmt: skip
    ]
    with server.client() as c:
        for doc, message in cases:
            r = c.post(path, json=doc)
            assert r.status_code == 400 and message in r.json()["error"], (doc, r.text)
        assert c.post(path, json=body([1.0], [2.0])).status_code == 200


def test_trailing_slashes_and_unknown_methods(binary_server):
    m = binary_server.model
    version = binary_server.doc["model"]["version"]
    with binary_server.client() as c:
        assert c.get("/v2/").json() == c.get("/v2").json()
        for path in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{m}",
                     f"/v2/models/{m}/ready", f"/v2/models/{m}/versions/{version}",
                     f"/v2/models/{m}/versions/{version}/ready", "/openapi.json"):  # fmt: skip
            plain, slash = c.get(path), c.get(path + "/")
            assert plain.status_code == slash.status_code == 200, path
            assert plain.content == slash.content, path
        r = c.post(f"/v2/models/{m}/infer/", json=GOOD)
        assert r.status_code == 200, r.text
        for method, path, allow in (
            ("TRACE", "/v2/", "GET, HEAD"),
            ("DELETE", "/v2", "GET, HEAD"),
            ("PUT", f"/v2/models/{m}/infer/", "POST"),
            ("GET", f"/v2/models/{m}/versions/{version}/infer", "POST"),
            ("POST", "/v2/health/ready/", "GET, HEAD"),
        ):
            r = c.request(method, path)
            assert r.status_code == 405, (method, path, r.status_code)
            assert r.headers["allow"] == allow and method in r.json()["error"]
        assert c.get("/v2/models/other/").status_code == 404


# --- NaN: refused like inf on every endpoint, null is the missing value -----------------

NAN_ROW = b'{"row_id": 9, "x1": NaN, "x2": 1.0, "color": "red", "size": "S"}'
NAN_BODIES = {
    "v2 json": (
        "/v2/models/{m}/infer",
        b'{"inputs": [{"name": "x1", "shape": [2, 1], "datatype": "FP32", "data": [1.0, NaN]},'
        b'{"name": "x2", "shape": [2, 1], "datatype": "FP32", "data": [1.0, 2.0]},'
        b'{"name": "color", "shape": [2, 1], "datatype": "BYTES", "data": ["red", "NaN"]},'
        b'{"name": "size", "shape": [2, 1], "datatype": "BYTES", "data": ["S", "M"]}]}',
        "input 'x1' has a NaN value at row 1",
    ),
    "v2 json with null too": (
        "/v2/models/{m}/infer",
        b'{"inputs": [{"name": "x1", "shape": [3, 1], "datatype": "FP32", "data": [null, 1, NaN]},'
        b'{"name": "x2", "shape": [3, 1], "datatype": "FP32", "data": [1.0, 2.0, 3.0]},'
        b'{"name": "color", "shape": [3, 1], "datatype": "BYTES", "data": ["red", "a", "b"]},'
        b'{"name": "size", "shape": [3, 1], "datatype": "BYTES", "data": ["S", "M", "L"]}]}',
        "input 'x1' has a NaN value at row 2",
    ),
    "invocations records": (
        "/invocations",
        b'{"dataframe_records": [' + NAN_ROW + b"]}",
        "column 'x1' has a NaN value at row 0",
    ),
    "invocations split": (
        "/invocations",
        b'{"dataframe_split": {"columns": ["x1", "x2", "color", "size"],'
        b'"data": [[1.0, 2.0, "red", "S"], [1.0, NaN, "red", "S"]]}}',
        "column 'x2' has a NaN value at row 1",
    ),
    "predict": ("/predict", NAN_ROW, "column 'x1' has a NaN value at row 0"),
    "predict -Infinity": (
        "/predict",
        NAN_ROW.replace(b"NaN", b"-Infinity"),
        "column 'x1' has an infinite value at row 0",
    ),
}


@pytest.mark.parametrize("case", list(NAN_BODIES))
def test_nan_is_refused_like_infinity(binary_server, case):
    path, body, message = NAN_BODIES[case]
    with binary_server.client() as c:
        r = c.post(path.format(m=binary_server.model), content=body,
                   headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 400, r.text
        assert message in r.json()["error"] and "null" in r.json()["error"]
        missing = body.replace(b"NaN,", b"null,")
        missing = missing.replace(b"NaN]", b"null]").replace(b": NaN", b": null")
        missing = missing.replace(b"-Infinity", b"null")
        ok = c.post(path.format(m=binary_server.model), content=missing,
                    headers={"content-type": "application/json"})  # fmt: skip
        assert ok.status_code == 200, ok.text


def test_nan_in_binary_tensors_and_the_fast_path(serve, numeric_project, binary_server, binary_project):  # fmt: skip
    meta = metadata(binary_project)
    client = th.InferenceServerClient(f"127.0.0.1:{binary_server.port}")
    for binary in (True, False):  # binary tensor, and tritonclient's JSON (NaN literal)
        inputs = triton_inputs(ROWS, meta["features"], binary=binary)  # row 1: x1 NaN
        with pytest.raises(InferenceServerException, match="input 'x1' has a NaN value at row 1"):
            client.infer(binary_server.model, inputs)
    server = serve(numeric_project)
    path = f"/v2/models/{server.model}/infer"
    with server.client() as c:
        for n in (1, 3):  # the fast path's one-row and many-row branches
            data = ", ".join(["1.5"] * (n - 1) + ["NaN"])
            body = (
                f'{{"inputs": [{{"name": "x1", "shape": [{n}, 1], "datatype": "FP32", "data": [{data}]}},'
                f'{{"name": "x2", "shape": [{n}, 1], "datatype": "FP32", "data": [{data.replace("NaN", "2")}]}}]}}'
            ).encode()  # fmt: skip
            r = c.post(path, content=body)
            assert r.status_code == 400 and f"'x1' has a NaN value at row {n - 1}" in r.text, r.text
        matrix = np.array([[1.0, np.nan]], np.float32)
        inp = th.InferInput("features", [1, 2], "FP32")
        inp.set_data_from_numpy(matrix, binary_data=True)
        triton = th.InferenceServerClient(f"127.0.0.1:{server.port}")
        with pytest.raises(InferenceServerException, match="input 'features' has a NaN value"):
            triton.infer(server.model, [inp])


def _with_serve_settings(src: Path, dest: Path, **settings) -> Path:
    project = copy_project(src, dest)
    cfg_path = project / "mlops.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg.setdefault("serve", {}).update(settings)
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return project


def test_allow_non_finite_takes_nan_as_missing(serve, binary_project, tmp_path):
    project = _with_serve_settings(binary_project, tmp_path / "p", allow_non_finite=True)
    server = serve(project)
    meta = metadata(project)
    expected = onnx_outputs(project, ROWS)  # ROWS[1] has x1 missing
    client = th.InferenceServerClient(f"127.0.0.1:{server.port}")
    result = client.infer(server.model, triton_inputs(ROWS, meta["features"]))
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected["probabilities"])
    with server.client() as c:
        r = c.post("/predict", content=NAN_ROW.replace(b"9", b"2"))
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["score"] == pytest.approx(
            float(onnx_outputs(project, [{**ROWS[0], "x1": None}])["probabilities"][0, 1])
        )


# --- stalled clients ---------------------------------------------------------------------


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (the socket's timeout fails the test instead)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_stalled_bodies_and_headers_get_408_and_close(serve, binary_project, tmp_path):
    project = _with_serve_settings(binary_project, tmp_path / "p", request_timeout_seconds=1.0)
    server = serve(project)  # keep_alive_seconds stays 30: only the request bound can answer
    infer = f"/v2/models/{server.model}/infer"
    body_stops = (
        f"POST {infer} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 99999\r\n\r\n"
    ).encode() + b'{"input'  # 7 of the 99,999 bytes, then nothing
    stalls = {
        "body stops": body_stops,
        "headers never end": b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n",
        "request line only": b"GET /v2/health/ready HTTP/1.1\r\n",
    }
    for case, data in stalls.items():
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            s.sendall(data)
            answer = _read_all(s)  # returns only when the server closes
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 408"), (case, answer)
        assert b"connection: close" in head, (case, answer)
    # a client trickling one byte at a time is not a way around the bound
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n")
        for _ in range(400):  # 20 s at most; the bound is 1 s
            if select.select([s], [], [], 0.05)[0]:
                break
            s.sendall(b" ")
        answer = _read_all(s)
    assert answer.lower().startswith(b"http/1.1 408"), answer
    with server.client() as c:
        assert c.post("/predict", json=ROWS).status_code == 200


# --- SIGTERM under keep-alive load ---------------------------------------------------------


def test_sigterm_under_keep_alive_load_answers_every_request(serve, binary_project, tmp_path):
    project = copy_project(binary_project, tmp_path / "p")
    server = serve(project)
    outcomes: list[list] = [[] for _ in range(8)]
    started = threading.Barrier(9)

    def client(slot: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            c.post("/predict", json=ROWS[:1])
            started.wait()
            while True:
                try:
                    r = c.post("/predict", json=ROWS)
                except httpx.ConnectError:  # the listener is closed: this one was never sent
                    outcomes[slot].append("refused")
                    return
                except httpx.HTTPError as exc:  # reset or closed with no answer: the bug
                    outcomes[slot].append(f"{type(exc).__name__}: {exc}")
                    return
                outcomes[slot].append((r.status_code, r.headers.get("connection")))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(1.0)  # mid-load
    server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(60)
    assert server.proc.wait(60) == 0
    for slot, seen in enumerate(outcomes):
        errors = [o for o in seen if isinstance(o, str) and o != "refused"]
        assert not errors, (slot, errors)
        answers = [o for o in seen if isinstance(o, tuple)]
        assert answers and all(status == 200 for status, _ in answers), (slot, answers)
        # the last answer on each kept-alive connection told the client to go
        assert answers[-1][1] == "close", (slot, answers[-3:])
    assert math.fsum(len(s) for s in outcomes) > 16
