"""``mlx serve NAME#prod --follow``: a promote and a rollback picked up live under
concurrent load (every request 2xx, the answering version switching), and a corrupted
new version rejected while the old one keeps serving."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.conftest import run_mlx
from tests.serve.helpers import ROWS, metadata, model_dir

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def two_versions(binary_project, tmp_path_factory):
    from tests.serve.release_helpers import two_version_project

    return two_version_project(binary_project, tmp_path_factory.mktemp("follow") / "p")


class Load:
    """Clients posting /predict in a loop; every (status, version) is kept."""

    def __init__(self, url: str, clients: int = 4) -> None:
        self.url = url
        self.seen: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while not self.stop.is_set():
                try:
                    r = c.post("/predict", json=ROWS)
                    self.seen.append((r.status_code, r.headers.get("x-model-version", "")))
                except httpx.HTTPError as exc:
                    self.seen.append((0, type(exc).__name__))
                time.sleep(0.005)

    def wait_for(self, version: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.seen[-8:] and all(v == version for _, v in self.seen[-8:]):
                return
            time.sleep(0.1)
        raise AssertionError(f"never switched to {version}: last {self.seen[-8:]}")

    def finish(self) -> list[tuple[int, str]]:
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return self.seen


def _promote(project, *args: str) -> None:
    res = run_mlx("promote", *args, "--stage", "prod", "--force", "--reason", "t", "--json", cwd=project)  # fmt: skip
    assert res.exit_code == 0, res.output


def test_promote_and_rollback_are_picked_up_under_load(serve, two_versions):
    project, v1, v2 = two_versions
    name = metadata(project)["name"]
    server = serve(project, f"{name}#prod", "--follow", "--interval", "0.3", "--workers", "2")
    assert server.doc["follow"] is True
    load = Load(server.url)
    try:
        load.wait_for(v1)
        _promote(project, f"{name}@{v2}")
        load.wait_for(v2)
        res = run_mlx("promote", name, "--stage", "prod", "--rollback", "--reason", "t", cwd=project)  # fmt: skip
        assert res.exit_code == 0, res.output
        load.wait_for(v1)
    finally:
        seen = load.finish()
    assert {s for s, _ in seen} == {200}, [x for x in seen if x[0] != 200][:5]
    versions = [v for _, v in seen]
    switches = [b for a, b in zip(versions, versions[1:], strict=False) if a != b]
    assert v2 in switches and switches[-1] == v1
    with server.client() as c:
        assert c.get(f"/v2/models/{name}").json()["parameters"]["serving_version"] == v1
        text = c.get("/metrics").text
    assert f'mlx_release_switched_total{{model="{name}",version="{v2}"}} 2.0' in text  # 2 workers
    assert server.stop() == 0
    log = server.stderr()
    assert f"-> {v2}" in log and f"{v2} -> {v1}" in log


def test_a_corrupted_new_version_is_rejected_while_the_old_one_serves(serve, two_versions):
    from tests.serve.release_helpers import retrain

    project, v1, _ = two_versions
    name = metadata(project)["name"]
    _promote(project, f"{name}@{v1}")
    server = serve(project, f"{name}#prod", "--follow", "--interval", "0.3")
    retrain(project, 8)  # v3: a new model at HEAD; its DVC cache file is then corrupted
    md5 = (model_dir(project) / "model.onnx.dvc").read_text().split("md5: ")[1].split()[0]
    cached = project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.write_bytes(cached.read_bytes()[:-10] + b"corrupted!")
    res = run_mlx("promote", "--stage", "prod", "--force", "--reason", "t", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    v3 = res.json()["version"]
    load = Load(server.url, clients=2)
    try:
        deadline = time.monotonic() + 60
        with server.client() as c:
            while time.monotonic() < deadline:
                doc = c.get(f"/v2/models/{name}").json()
                if "rejected" in doc["parameters"]:
                    break
                time.sleep(0.2)
            assert doc["parameters"]["rejected"]["version"] == v3, doc
            assert "md5" in doc["parameters"]["rejected"]["reason"]
            assert doc["parameters"]["serving_version"] == v1
            assert c.get(f"/v2/models/{name}/ready").json()["rejected"]["version"] == v3
            index = c.post("/v2/repository/index").json()
            assert {"name": name, "version": v3, "state": "UNAVAILABLE"}.items() <= next(
                e for e in index if e["version"] == v3
            ).items()
            time.sleep(1.0)
            text = c.get("/metrics").text
            assert f'mlx_release_rejected_total{{model="{name}",version="{v3}"}} 1.0' in text
    finally:
        seen = load.finish()
    assert seen and {s for s, _ in seen} == {200} and {v for _, v in seen} == {v1}
    assert server.stop() == 0
    assert f"{v3} rejected, {v1} keeps serving" in server.stderr()


def test_a_followed_version_with_other_features_is_logged_in_its_own_schema(serve, two_versions):
    """The schema change is reported before the switch, and the prediction log keeps the
    rows of both versions (each in Parquet files of its own columns)."""
    import pyarrow.parquet as pq
    import yaml

    from tests.conftest import git

    project, v1, _ = two_versions
    name = metadata(project)["name"]
    _promote(project, f"{name}@{v1}")
    server = serve(project, f"{name}#prod", "--follow", "--interval", "0.3")
    with server.client() as c:
        for i in range(5):
            assert c.post("/predict", json=ROWS, headers={"x-request-id": f"old-{i}"}).status_code == 200  # fmt: skip
    path = project / "mlops.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["data"]["drop"] = ["size"]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "add", "mlops.yaml")
    git(project, "commit", "-qm", "drop size")
    from mlx import api

    api.train(path, commit=True)
    res = run_mlx("promote", "--stage", "prod", "--force", "--reason", "t", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    new = res.json()["version"]
    rows = [{k: v for k, v in r.items() if k != "size"} for r in ROWS]
    deadline = time.monotonic() + 60
    with server.client() as c:
        while time.monotonic() < deadline:
            r = c.post("/predict", json=rows)
            if r.status_code == 200 and r.json()["model_version"] == new:
                break
            time.sleep(0.2)
        assert r.status_code == 200 and r.json()["model_version"] == new, r.text
        for i in range(5):
            assert c.post("/predict", json=rows, headers={"x-request-id": f"new-{i}"}).status_code == 200  # fmt: skip
    assert server.stop() == 0
    assert "inputs removed ['size']" in server.stderr()
    seen: dict[str, set] = {}
    for f in (project / "logs" / "predictions" / name).glob("*/part-*.parquet"):
        t = pq.read_table(f)
        for rid, version in zip(t["_request_id"].to_pylist(), t["_version"].to_pylist(), strict=True):  # fmt: skip
            seen.setdefault(version, set()).add(rid)
            assert ("size" in t.column_names) == (version != new)
    assert {f"old-{i}" for i in range(5)} <= seen[v1]
    assert {f"new-{i}" for i in range(5)} <= seen[new]
    assert not list((project / "logs" / "predictions" / name / ".spool").glob("*.bad"))
