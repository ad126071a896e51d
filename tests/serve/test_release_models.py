"""Several models and versions in one server: Open Inference Protocol addressing with
the real tritonclient, the repository index, ``?model=`` on /predict and /invocations,
per-version metrics and logs, and the refusals (two models under one name/version, a
ref that does not resolve: exit 2)."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as th

from tests.conftest import run_mlx
from tests.serve.helpers import ROWS, TRITON_ROWS, metadata, model_dir, triton_inputs

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def two_versions(binary_project, multiclass_project, tmp_path_factory):
    """The binary project with prod = v1 and staging = v2 (retrained, other params)."""
    from tests.serve.release_helpers import two_version_project

    return two_version_project(binary_project, tmp_path_factory.mktemp("release") / "p")


def test_many_models_one_server_with_tritonclient(serve, two_versions, multiclass_project):
    project, v1, v2 = two_versions
    name = metadata(project)["name"]
    other = model_dir(multiclass_project)
    server = serve(project, f"{name}#prod", f"{name}#staging", str(other))
    assert [(m["version"], m["role"]) for m in server.doc["models"]][:2] == [(v1, "primary"), (v2, "primary")]  # fmt: skip
    other_name = metadata(multiclass_project)["name"]

    client = th.InferenceServerClient(server.url.removeprefix("http://"))
    index = client.get_model_repository_index()
    assert {(m["name"], m["version"], m["state"]) for m in index} >= {
        (name, v1, "READY"),
        (name, v2, "READY"),
    }
    assert other_name in {m["name"] for m in index}
    assert client.is_model_ready(name, v1) and client.is_model_ready(name, v2)
    assert client.is_model_ready(name) and client.is_model_ready(other_name)
    assert not client.is_model_ready(name, "v9.9.9")
    assert client.get_model_metadata(name)["versions"] == [v1, v2]

    feats = metadata(project)["features"]
    probs = {}
    for version in (v1, v2, ""):
        res = client.infer(name, triton_inputs(TRITON_ROWS, feats), model_version=version)
        assert res.get_response()["model_version"] == (version or v1)
        probs[version or "default"] = res.as_numpy("probabilities")
    assert np.array_equal(probs["default"], probs[v1])
    assert not np.array_equal(probs[v1], probs[v2])  # two different models answered
    client.close()

    with server.client() as c:
        r = c.post("/predict", params={"model": f"{name}:{v2}"}, json=ROWS)
        assert r.status_code == 200 and r.json()["model_version"] == v2
        assert r.headers["x-model-version"] == v2
        r = c.post("/predict", json=ROWS)
        assert r.json()["model_version"] == v1
        r = c.post("/invocations", params={"model": other_name}, json={"dataframe_records": ROWS})  # fmt: skip
        assert r.status_code == 200, r.text
        r = c.post("/predict", params={"model": "nope"}, json=ROWS)
        assert r.status_code == 404 and name in r.json()["error"]
        r = c.get(f"/v2/models/{name}/versions/v9.9.9")
        assert r.status_code == 404 and v1 in r.json()["error"]
        text = c.get("/metrics").text
        assert f'mlx_model_requests_total{{code="200",model="{name}",version="{v2}"}}' in text


def test_refusals_exit_2(two_versions):
    project, v1, _ = two_versions
    name = metadata(project)["name"]
    res = run_mlx("serve", f"{name}#prod", f"{name}@{v1}", "--port", "0", "--json", cwd=project)
    assert res.exit_code == 2, res.output
    assert f"{name}#prod" in res.output and f"{name}@{v1}" in res.output
    res = run_mlx("serve", f"{name}#prod", f"{name}#nostage", "--port", "0", "--json", cwd=project)
    assert res.exit_code == 2, res.output
    assert "nostage" in res.output
