"""metadata.json is a typed contract: what train writes parses; anything else is refused
with the file and the field named."""

from __future__ import annotations

import json

import pytest

from mlx.errors import UsageError
from mlx.metadata import ModelMetadata, parse_metadata
from tests.conftest import run_mlx

MINIMAL = {
    "format": 1,
    "name": "m",
    "task": "binary",
    "target": "y",
    "features": [{"name": "x", "kind": "numeric"}],
}


def test_minimal_document_round_trips_byte_for_byte():
    meta = parse_metadata(json.dumps(MINIMAL), "m.json")
    assert isinstance(meta, ModelMetadata) and meta.features[0].name == "x"
    assert meta.to_dict() == MINIMAL  # nothing added, nothing lost


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"task": "ranking"}, "task"),
        ({"features": [{"name": "x", "kind": "text"}]}, "features.0.kind"),
        ({"onnx": {"file": "model.onnx"}}, "onnx.md5"),
    ],
)
def test_foreign_fields_are_named(change, named):
    with pytest.raises(UsageError) as err:
        parse_metadata(json.dumps(MINIMAL | change), "models/m/metadata.json")
    assert "models/m/metadata.json" in err.value.message and named in err.value.message


def test_missing_field_and_other_format_are_named():
    doc = {k: v for k, v in MINIMAL.items() if k != "features"}
    with pytest.raises(UsageError, match="features"):
        parse_metadata(json.dumps(doc), "x.json")
    with pytest.raises(UsageError, match="unsupported metadata format 2"):
        parse_metadata(json.dumps(MINIMAL | {"format": 2}), "x.json")


def test_serving_a_folder_with_foreign_metadata_is_a_usage_error(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps(MINIMAL | {"extra": 1}))
    res = run_mlx("serve", str(folder), "--port", "0", "--json", cwd=tmp_path, timeout=120)
    assert res.exit_code == 2, res.output
    assert "extra" in res.json()["error"]["message"]
