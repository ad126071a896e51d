"""The dask runner against a real scheduler and two worker processes on loopback."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import git
from tests.test_json_schemas import assert_matches

pytestmark = [pytest.mark.dask]


def add_runner(project, name: str, spec: dict) -> None:
    path = project / "mlops.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.setdefault("runners", {})[name] = spec
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-q", "-am", f"runner {name}")


def test_dask_train_passes_parity_and_the_example_gates(cli, example_project, dask_cluster):
    add_runner(example_project, "cluster", dask_cluster.runner())
    res = cli("train", "--runner", "cluster", "--json", cwd=example_project)
    assert res.exit_code == 0, res.output
    assert_matches(res, "train")
    meta = json.loads((example_project / "models/churn/metadata.json").read_text())
    runner = meta["runner"]
    assert runner["kind"] == "dask" and runner["scheduler"] == dask_cluster.scheduler
    assert runner["workers"] == 2 and runner["partitions"] == 4 and runner["rows"] == 6000
    assert meta["parity"]["max_abs_diff"] <= meta["parity"]["tolerance"]
    assert meta["parity"]["by_probe"]["unseen categories"] <= 1e-5
    assert meta["metrics"]["auc"] > 0.75
    assert {f["name"] for f in meta["features"] if f["kind"] == "categorical"} >= {"plan"}
    ev = cli("eval", "--json", cwd=example_project)
    assert ev.exit_code == 0, ev.output
    assert ev.json()["gates"]["passed"] and ev.json()["passed"]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_dask_train_other_tasks_keep_categories_and_parity(cli, tmp_path, dask_cluster, task):
    from tests.helpers import config, make_project, synthetic

    cfg = config(task)
    cfg["runners"] = {"cluster": dask_cluster.runner(partitions=3)}
    project = make_project(tmp_path / task, synthetic(task, n=600), cfg)
    res = cli("train", "--runner", "cluster", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    meta = json.loads((project / "models/m/metadata.json").read_text())
    assert meta["runner"]["partitions"] == 3 and meta["runner"]["rows"] == 600
    assert meta["parity"]["max_abs_diff"] <= meta["parity"]["tolerance"]
    if task == "multiclass":
        assert meta["classes"] == ["high", "low", "mid"] and meta["metrics"]["accuracy"] > 0.5
    else:
        assert meta["metrics"]["r2"] > 0.5
    color = next(f for f in meta["features"] if f["name"] == "color")
    assert color["categories"] == ["black", "blue", "green", "red"]


def test_unreachable_scheduler_is_exit_3(cli, tmp_path):
    from tests.helpers import config, make_project, synthetic
    from tests.runners.conftest import free_port

    cfg = config("binary")
    cfg["runners"] = {
        "cluster": {"kind": "dask", "scheduler": f"tcp://127.0.0.1:{free_port()}", "timeout": 2}
    }
    project = make_project(tmp_path / "p", synthetic("binary", n=200), cfg)
    res = cli("train", "--runner", "cluster", "--json", cwd=project)
    assert res.exit_code == 3, res.output
    assert "cannot reach the Dask scheduler" in res.json()["error"]["message"]


def test_early_stopping_is_refused_with_a_reason(cli, tmp_path, dask_cluster):
    from tests.helpers import config, make_project, synthetic

    cfg = config("binary")
    cfg["model"]["early_stopping_rounds"] = 5
    cfg["runners"] = {"cluster": dask_cluster.runner()}
    project = make_project(tmp_path / "p", synthetic("binary", n=200), cfg)
    res = cli("train", "--runner", "cluster", "--json", cwd=project)
    assert res.exit_code == 2 and "early-stop" in res.json()["error"]["message"]


def test_without_the_extra_the_error_names_it(tmp_path):
    """A Python where `distributed` cannot be imported (blocked by a meta-path hook in a
    real subprocess) gets exit 3 and the extra's name."""
    import subprocess
    import sys

    from tests.helpers import config, make_project, synthetic

    cfg = config("binary")
    cfg["runners"] = {"cluster": {"kind": "dask", "scheduler": "tcp://127.0.0.1:1"}}
    project = make_project(tmp_path / "p", synthetic("binary", n=200), cfg)
    block = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from mlx.cli import main\n"
        "sys.argv = ['mlx', 'train', '--runner', 'cluster', '--json']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", block], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert (
        "mlx-mlops[dask]" in error["message"] and error["hint"] == "pip install 'mlx-mlops[dask]'"
    )


def test_validate_and_eval_with_a_dask_runner_run_here_and_say_so(cli, tmp_path):
    from tests.helpers import config, make_project, synthetic

    cfg = config("binary")
    cfg["runners"] = {"cluster": {"kind": "dask", "scheduler": "tcp://127.0.0.1:1"}}
    project = make_project(tmp_path / "p", synthetic("binary", n=300), cfg)
    res = cli("validate", "--runner", "cluster", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    assert any("validate ran here" in n for n in res.json()["notes"])
    assert cli("train", cwd=project).exit_code == 0
    res = cli("eval", "--runner", "cluster", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    assert res.json()["runner"] == {"name": "cluster", "kind": "dask", "where": "here"}


def test_dask_train_reads_parquet_by_row_groups(cli, tmp_path, dask_cluster):
    from mlx.adapters import dvc
    from tests.helpers import config, make_project, synthetic

    cfg = config("binary")
    cfg["data"]["train"] = "data/train.parquet"
    cfg["runners"] = {"cluster": dask_cluster.runner()}
    project = make_project(tmp_path / "p", synthetic("binary", n=600), cfg, commit=False)
    synthetic("binary", n=600).to_parquet(
        project / "data" / "train.parquet", index=False, row_group_size=200
    )
    dvc.add(project, [project / "data" / "train.parquet"])
    res = cli("train", "--runner", "cluster", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    meta = json.loads((project / "models/m/metadata.json").read_text())
    assert meta["runner"]["partitions"] == 4 and meta["runner"]["rows"] == 600
    assert meta["parity"]["max_abs_diff"] <= meta["parity"]["tolerance"]
