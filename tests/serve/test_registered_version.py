"""`mlx serve` with no reference names the registered version the working tree holds."""

from __future__ import annotations

from tests.conftest import run_mlx
from tests.serve.conftest import copy_project
from tests.serve.helpers import metadata


def test_working_tree_model_reports_its_registered_version(serve, binary_project, tmp_path):
    project = copy_project(binary_project, tmp_path / "p")
    meta = metadata(project)
    unregistered = serve(project)
    assert unregistered.doc["model"]["version"] == f"md5-{meta['onnx']['md5'][:8]}"
    assert unregistered.stop() == 0

    res = run_mlx("promote", "--stage", "prod", "--force", "--reason", "t", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    version = res.json()["version"]
    server = serve(project)
    assert server.doc["model"]["version"] == version
    with server.client() as c:
        assert c.post("/predict", json=[]).status_code in (200, 400)
        assert c.get(f"/v2/models/{meta['name']}").json()["versions"] == [version]
