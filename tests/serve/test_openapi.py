"""docs/openapi.yaml is the server's contract: served without a token, listing every route
the router has, and fuzzed by schemathesis against a real `mlx serve` (issue 17)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.serve.helpers import model_dir

pytestmark = pytest.mark.serve

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "openapi.yaml"
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
TOKEN = "t0ken-for-schemathesis"


def _doc() -> dict:
    from mlx.util.yamlsafe import safe_load  # the bounded loader every YAML mlx reads goes through

    return safe_load(DOC.read_text(encoding="utf-8"))


def test_the_shipped_json_copy_is_the_yaml_document():
    from mlx.serve.openapi import JSON_COPY

    assert json.loads(JSON_COPY.read_text(encoding="utf-8")) == _doc(), (
        "mlx/serve/openapi.json is stale: run `python -m mlx.serve.openapi`"
    )
    assert _doc()["openapi"].startswith("3.1")


def test_the_document_lists_every_route_the_server_has(binary_project, tmp_path):
    """A real App over the real model: its route table and the document's paths agree."""
    from mlx.metadata import load_metadata
    from mlx.serve.app import GET, App
    from mlx.serve.model import ServedModel
    from mlx.serve.spec import ModelSpec, ServeSpec

    meta = load_metadata(model_dir(binary_project))
    onnx = model_dir(binary_project) / "model.onnx"
    spec = ModelSpec.from_metadata(meta, onnx, meta.require_onnx().md5, "v9.9.9", "", "test")

    async def build() -> App:  # the batcher binds to the running loop, as in a worker
        return App(ServeSpec(model=spec, run_dir=str(tmp_path)), ServedModel.load(spec))

    app = asyncio.run(build())
    name = f"/v2/models/{meta.name}"
    served = {}
    for path, (_, methods, _) in app.routes.items():
        path = path.replace(f"{name}/versions/v9.9.9", "/v2/models/{model_name}/versions/{model_version}")  # fmt: skip
        path = path.replace(name, "/v2/models/{model_name}")
        served[path] = "get" if methods is GET else "post"
    paths = _doc()["paths"]
    documented = {p: next(iter(ops.keys() - {"parameters"})) for p, ops in paths.items()}
    assert documented.pop("/v2/") == "get"  # the protocol's spelling of /v2, same route
    assert documented == served


@pytest.fixture(scope="module")
def fuzz_servers(binary_project, numeric_project, tmp_path_factory):
    """The binary model served without a token and with one; the all-numeric model (which
    also takes one [N, n_features] tensor: another decoding path) without."""
    from tests.serve.conftest import _stop, copy_project, start_server

    project = copy_project(binary_project, tmp_path_factory.mktemp("fuzz") / "p")
    flags = ("--no-prediction-log", "--no-access-log")
    servers = [
        start_server(project, *flags),
        start_server(project, *flags, env={"MLX_SERVE_TOKEN": TOKEN}),
        start_server(copy_project(numeric_project, tmp_path_factory.mktemp("fuzz") / "n"), *flags),
    ]
    yield servers
    for server in servers:
        _stop(server)


def test_the_document_is_served_without_a_token_for_the_served_model(fuzz_servers):
    server = fuzz_servers[1]
    with server.client() as c:
        assert c.get("/v2").status_code == 401
        doc = c.get("/openapi.json")
        assert doc.status_code == 200 and doc.headers["content-type"] == "application/json"
        assert c.get("/v2/docs/dataplane.json").content == doc.content
    served = doc.json()
    params = served["components"]["parameters"]
    assert params["model_name"]["schema"]["enum"] == [server.model]
    assert params["model_version"]["schema"]["enum"] == [server.doc["model"]["version"]]
    assert served["security"] == [{"bearer": []}]
    assert httpx.get(fuzz_servers[0].url + "/openapi.json").json()["security"] == []


def _schemathesis(server, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{server.url}/openapi.json",
            "--exclude-checks",
            "positive_data_acceptance",  # a schema cannot say which values a model takes
            "--max-examples",
            "15",
            "--seed",
            "17",
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "20",
            *extra,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        cwd=server.cwd,  # whatever schemathesis leaves behind stays in the temp project
    )


@pytest.mark.parametrize("model", ["binary", "numeric"])
def test_schemathesis_finds_no_failure(fuzz_servers, model):
    result = _schemathesis(fuzz_servers[0 if model == "binary" else 2])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1]


def test_schemathesis_with_a_token_checks_every_protected_route_refuses_without_it(fuzz_servers):
    server = fuzz_servers[1]
    result = _schemathesis(server, "--header", f"Authorization: Bearer {TOKEN}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # the check would catch a route that forgot the token: a wrong document fails the run
    doc = httpx.get(server.url + "/openapi.json").json()
    doc["paths"]["/health"]["get"].pop("security")  # /health is public: now "protected"
    wrong = server.cwd / "wrong-openapi.json"
    wrong.write_text(json.dumps(doc))
    bad = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            str(wrong),
            "--url",
            server.url,
            "--checks",
            "ignored_auth",
            "--include-path",
            "/health",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--max-examples",
            "5",
            "--no-color",
            "--generation-database",
            "none",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
        cwd=server.cwd,
    )
    assert bad.returncode != 0 and "without authentication" in bad.stdout, bad.stdout[-3000:]
