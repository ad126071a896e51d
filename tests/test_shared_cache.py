"""A second work tree that shares the project's DVC cache (as `mlx monitor --on-drift
retrain` makes one) can open registry models: found in the configured cache.dir."""

from __future__ import annotations

from mlx import api
from mlx.adapters import dvc
from mlx.adapters.git import Git
from tests.conftest import run_mlx
from tests.helpers import config, make_project, synthetic


def test_open_model_in_a_work_tree_sharing_the_cache(tmp_path):
    root = make_project(tmp_path / "proj", synthetic("binary", n=300), config("binary"))
    for step in (("train", "--commit"), ("eval", "--commit"), ("promote", "--stage", "prod")):
        res = run_mlx(*step, cwd=root)
        assert res.exit_code == 0, res.output
    git = Git.discover(root)
    tree = tmp_path / "tree"
    git.add_worktree(tree, git.head())
    try:
        dvc.use_cache(tree, dvc.cache_dir(root))
        model = api.open_model("m#prod", config=tree / "mlops.yaml")
        assert dvc.file_md5(model.onnx_path) == model.md5
    finally:
        git.remove_worktree(tree)
