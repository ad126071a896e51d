"""A retrain that changes nothing leaves nothing to commit (same bytes, same metadata)."""

from __future__ import annotations

import json

from tests.conftest import git, run_mlx


def test_identical_retrain_leaves_the_tree_clean(example_project):
    res = run_mlx("train", "--commit", "--json", cwd=example_project)
    assert res.exit_code == 0, res.output
    head = git(example_project, "rev-parse", "HEAD")
    meta = (example_project / "models" / "churn" / "metadata.json").read_bytes()

    again = run_mlx("train", "--commit", "--json", cwd=example_project)
    assert again.exit_code == 0, again.output
    doc = again.json()
    assert doc["changed"] == [] and doc["commit"] is None
    assert any("nothing to commit" in n for n in doc["notes"])
    assert git(example_project, "status", "--porcelain") == ""
    assert git(example_project, "rev-parse", "HEAD") == head
    assert (example_project / "models" / "churn" / "metadata.json").read_bytes() == meta

    # a real change (another seed) is written and committed as before
    cfg = (example_project / "params.yaml").read_text().replace("seed: 42", "seed: 43")
    (example_project / "params.yaml").write_text(cfg)
    git(example_project, "commit", "-qam", "another seed")
    changed = run_mlx("train", "--json", cwd=example_project)
    assert changed.exit_code == 0
    assert "models/churn/metadata.json" in changed.json()["changed"]
    new_meta = json.loads((example_project / "models" / "churn" / "metadata.json").read_text())
    assert new_meta["seed"] == 43
