"""Hostile YAML (a fork's mlops.yaml, schema file, pointer) is refused, bounded in memory."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlx.util import yamlsafe

LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def _limited(max_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))

    return apply


def _mlx_limited(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real CLI with 1.5 GB of address space: a bomb that expands would die, not exit 2."""
    exe = Path(sys.executable).with_name("mlx")
    return subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limited(1_500_000_000),
    )


def test_billion_laughs_config_is_refused_with_file_and_line(tmp_path):
    (tmp_path / "mlops.yaml").write_text(LAUGHS + "\n")
    res = _mlx_limited("validate", "--config-only", "--config", "mlops.yaml", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "mlops.yaml:" in res.stderr and "aliases expand" in res.stderr


def test_billion_laughs_json_error_names_line(tmp_path):
    (tmp_path / "mlops.yaml").write_text(LAUGHS + "\n")
    res = _mlx_limited(
        "validate", "--config-only", "--config", "mlops.yaml", "--json", cwd=tmp_path
    )
    assert res.returncode == 2
    import json

    issue = json.loads(res.stdout)["error"]["details"]["issues"][0]
    assert issue["line"] >= 2 and "aliases" in issue["message"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &a [*a]\n", "cycle"),
        ("x: " + "[" * 100 + "]" * 100 + "\n", "nested deeper"),
    ],
)
def test_cycles_and_deep_nesting_are_refused(text, reason):
    with pytest.raises(yamlsafe.YamlLimitError, match=reason):
        yamlsafe.safe_load(text)


def test_ordinary_aliases_and_merge_keys_still_load():
    doc = yamlsafe.safe_load(
        "base: &base {num_leaves: 15, seed: 1}\nmodel:\n  <<: *base\n  seed: 2\nlist: [*base, *base]\n"
    )
    assert doc["model"] == {"num_leaves": 15, "seed": 2}
    assert doc["list"][1]["num_leaves"] == 15
    assert doc == yaml.safe_load(
        "base: &base {num_leaves: 15, seed: 1}\nmodel:\n  <<: *base\n  seed: 2\nlist: [*base, *base]\n"
    )


def test_oversized_file_is_refused():
    with pytest.raises(yamlsafe.YamlLimitError, match="limit"):
        yamlsafe.safe_load("x: " + "y" * (yamlsafe.MAX_BYTES + 1))


def test_bomb_in_a_dvc_pointer_is_a_dvc_error(tmp_path):
    from mlx.adapters import dvc
    from mlx.errors import DvcError

    bomb = LAUGHS + "\nouts: [{md5: abc, path: x}]\n"
    with pytest.raises(DvcError, match="aliases expand"):
        dvc.parse_pointer(bomb, tmp_path / "x.dvc")


def test_bomb_in_a_pandera_schema_file_is_refused(example_project):
    cfg = example_project / "mlops.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace("data:\n", "data:\n  schema: schema.yaml\n", 1))
    (example_project / "schema.yaml").write_text(LAUGHS + "\n")
    res = _mlx_limited("validate", cwd=example_project)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "schema.yaml" in res.stderr and "aliases expand" in res.stderr
