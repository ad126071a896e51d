"""The OpenAPI 3.1 description of what ``mlx serve`` answers (``GET /openapi.json``).

``docs/openapi.yaml`` is the document people read and edit; ``openapi.json`` beside this
module is the same document as JSON (``python -m mlx.serve.openapi`` rewrites it, and a
test checks the two agree), so a worker reads it once at start with orjson and never
imports a YAML parser. Each worker fills in the models it serves: the ``model_name`` and
``model_version`` path parameters get those names and versions as their only values,
so a client generated from the served document calls this server's model; and when the
server has no token, the document asks for none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

JSON_COPY = Path(__file__).with_name("openapi.json")


def load() -> dict[str, Any]:
    return orjson.loads(JSON_COPY.read_bytes())


def openapi_document(served: list[Any], token: bool) -> bytes:
    """The document for the served models (``Served`` entries, or models with ``name``
    and ``version``), as JSON bytes (built once per worker and per switch); with no token
    configured, no route asks for one."""
    doc = load()
    if not token:
        doc["security"] = []
    params = doc.get("components", {}).get("parameters", {})
    names = list(dict.fromkeys(s.name for s in served))
    versions = list(dict.fromkeys(s.version for s in served))
    for key, values in (("model_name", names), ("model_version", versions)):
        if key in params:
            params[key]["schema"] = {"type": "string", "enum": values}
    return orjson.dumps(doc)


def main() -> None:  # pragma: no cover - a maintainer's tool
    """Regenerate ``openapi.json`` from ``docs/openapi.yaml`` (atomic write)."""
    import os
    import tempfile

    from mlx.util.yamlsafe import safe_load

    source = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
    doc = safe_load(source.read_text(encoding="utf-8"))
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    fd, tmp = tempfile.mkstemp(dir=JSON_COPY.parent, prefix=".openapi-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, JSON_COPY)


if __name__ == "__main__":
    main()
