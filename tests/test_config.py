"""mlops.yaml: fixed keys, defaults, the example file, and errors that point at the key."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from mlx.config import MlxConfig, parse_config
from mlx.config.reference import render
from mlx.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
data:
  train: data/train.csv
  target: churned
  id: customer_id
model:
  name: churn
  task: binary
  params: {}
  seed: 42
"""


def test_minimal_config_is_complete():
    cfg = parse_config(MINIMAL)
    assert cfg.data.id == "customer_id"
    assert cfg.model.folder == "models/churn"
    assert cfg.registry.stages == ["dev", "staging", "prod"]
    assert cfg.serve.host == "127.0.0.1"
    assert cfg.split.test_size == 0.2


def _issue(text: str):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "mlops.yaml")
    assert info.value.exit_code == 2
    return info.value.issues


def test_typo_suggests_closest_key_with_line():
    (issue,) = [i for i in _issue(MINIMAL.replace("model:", "modle:")) if i.key == "modle"]
    assert issue.suggestion == "model"
    assert issue.line == 5
    assert "did you mean 'model'" in str(issue)


def test_nested_typo_in_tagged_runner_suggests_from_its_kind():
    text = MINIMAL + "runners:\n  box:\n    kind: ssh\n    host: h\n    prot: 22\n"
    (issue,) = _issue(text)
    assert issue.key == "runners.box.prot"
    assert issue.suggestion == "port"
    assert issue.line == 14


def test_wrong_type_names_key_line_and_value():
    (issue,) = _issue(MINIMAL.replace("seed: 42", "seed: forty-two"))
    assert issue.key == "model.seed"
    assert issue.line == 9
    assert "forty-two" in issue.message


def test_missing_required_key():
    (issue,) = _issue(MINIMAL.replace("  target: churned\n", ""))
    assert issue.key == "data.target"
    assert "required" in issue.message


def test_malformed_yaml_has_line():
    (issue,) = _issue("data:\n  train: [a, b\nmodel: {}\n")
    assert "malformed YAML" in issue.message
    assert issue.line is not None


def test_cross_field_error_points_at_the_key():
    (issue,) = _issue(MINIMAL + "eval:\n  gates:\n    rmse: {max: 1}\n")
    assert issue.key == "eval.gates.rmse"
    assert issue.line == 12
    assert "not a binary metric" in issue.message


def test_reserved_lightgbm_params_are_rejected():
    (issue,) = _issue(MINIMAL.replace("params: {}", "params: {objective: regression}"))
    assert issue.key == "model.params"
    assert "objective" in issue.message


def _field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths = set()
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        paths.add(key)
        annotation = field.annotation
        if typing.get_origin(annotation) is dict:  # map of name -> model: fields under "*"
            key, annotation = key + ".*", typing.get_args(annotation)[1]
        for arg in _members(annotation):
            paths |= _field_paths(arg, key + ".")
    return paths


def _members(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _members(a)]


def _yaml_paths(node, prefix: str = "") -> set[str]:
    paths = set()
    if isinstance(node, dict):
        for key, value in node.items():
            paths.add(prefix + str(key))
            paths |= _yaml_paths(value, prefix + str(key) + ".")
    return paths


def test_example_file_parses_and_shows_every_option():
    import yaml

    text = (ROOT / "mlops.yaml.example").read_text()
    parse_config(text, "mlops.yaml.example")
    written = _yaml_paths(yaml.safe_load(text))
    # collapse map entries (columns.<name>, gates.<metric>, runners.<name>) onto their fields
    normalized = set()
    for path in written:
        parts = path.split(".")
        for i, part in enumerate(parts[:-1]):
            if part in ("columns", "gates", "runners", "space") and i + 1 < len(parts):
                parts[i + 1] = "*"
        normalized.add(".".join(parts))
    expected = _field_paths(MlxConfig)
    missing = sorted(p for p in expected if p not in normalized)
    assert not missing, f"mlops.yaml.example does not show: {missing}"


def test_config_reference_is_current():
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == render(), "run: python -m mlx.config.reference > docs/config.md"


def test_bad_configs_through_the_cli(cli, tmp_path):
    cases = {
        "typo": (MINIMAL.replace("model:", "modle:"), "did you mean 'model'"),
        "type": (MINIMAL.replace("seed: 42", "seed: abc"), "model.seed"),
        "missing": (
            MINIMAL.replace("  target: churned\n", ""),
            "data.target: required key is missing",
        ),
        "yaml": ("data: [\n", "malformed YAML"),
    }
    for name, (text, expected) in cases.items():
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(text)
        res = cli("validate", "--config-only", "--config", str(cfg))
        assert res.exit_code == 2, (name, res.output)
        assert expected in res.stderr, (name, res.stderr)
        assert f"{name}.yaml:" in res.stderr
        res = cli("validate", "--config-only", "--config", str(cfg), "--json")
        doc = res.json()
        assert res.exit_code == 2 and doc["ok"] is False
        assert doc["error"]["type"] == "ConfigError"
        assert doc["error"]["details"]["issues"][0]["file"].endswith(f"{name}.yaml")
