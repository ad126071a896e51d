"""The models one worker serves: each loaded version with its own batcher, prediction
log spool and per-version metrics, addressed by name (the default version) or by name
and version (Open Inference Protocol). Imports numpy and onnxruntime only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from mlx.serve.batcher import Batcher
from mlx.serve.model import ServedModel


class Served:
    """One loaded model version and what answers with it."""

    __slots__ = ("model", "batcher", "spool", "mstats", "ref", "role", "doc", "version_header",
                 "share", "runner", "mspec")  # fmt: skip

    def __init__(self, model: ServedModel, batcher: Batcher, spool: Any, mstats: Any,
                 ref: str = "", role: str = "primary", share: float = 0.0) -> None:  # fmt: skip
        self.model = model
        self.share = share  # canary/split: the share of its model's requests (0-1)
        self.runner: Any = None  # shadow: its thread or process (mlx.serve.routing.Shadow)
        self.mspec: Any = None  # the ModelSpec it was loaded from (a worker sets it)
        self.batcher = batcher
        self.spool = spool
        self.mstats = mstats
        self.ref = ref
        self.role = role
        self.doc: bytes = b""
        self.version_header = b"x-model-version: " + _ascii(model.version) + b"\r\n"

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> str:
        return self.model.version


def _ascii(value: str) -> bytes:
    return value.encode("ascii", "replace")


class ModelTable:
    """Every served version, in the order given; a name's default is its first version."""

    def __init__(self, served: list[Served]) -> None:
        self.entries: list[Served] = list(served)
        self.rejected: dict[str, dict[str, str]] = {}  # name -> {version, reason}
        self.retiring: list[Served] = []  # switched away from, still finishing their jobs

    @property
    def default(self) -> Served:
        return self.entries[0]

    def names(self) -> list[str]:
        return list(dict.fromkeys(s.name for s in self.entries))

    def default_of(self, name: str) -> Served | None:
        for s in self.entries:
            if s.name == name and s.role not in ("shadow", "canary", "split"):
                return s
        return None

    def versions_of(self, name: str) -> list[Served]:
        return [s for s in self.entries if s.name == name]

    def find(self, name: str, version: str) -> Served | None:
        for s in self.entries:
            if s.name == name and s.version == version:
                return s
        return None

    def replace(self, old: Served, new: Served) -> None:
        """Switch: new requests go to ``new``; ``old`` keeps its queued jobs until done."""
        self.entries[self.entries.index(old)] = new

    def in_flight(self) -> int:
        return sum(s.batcher.in_flight for s in self.entries + self.retiring)

    def model_doc(self, name: str) -> bytes:
        """``/v2/models/{name}``: the default version's inputs and outputs, every version."""
        first = self.default_of(name) or self.versions_of(name)[0]
        versions = list(dict.fromkeys(s.version for s in self.versions_of(name)))
        return self._doc(first, versions)

    def version_doc(self, served: Served) -> bytes:
        """``/v2/models/{name}/versions/{version}`` (the same shape as the model's)."""
        return self._doc(served, [served.version])

    def _doc(self, served: Served, versions: list[str]) -> bytes:
        m = served.model
        params: dict[str, Any] = {
            "task": m.task,
            "classes": m.classes,
            "id_column": m.schema.id_column,
            "commit": m.commit,
            "md5": m.md5,
            "ref": served.ref,
            "role": served.role,
            "serving_version": (self.default_of(m.name) or served).version,
        }
        if m.name in self.rejected:
            params["rejected"] = self.rejected[m.name]
        return orjson.dumps(
            {
                "name": m.name,
                "versions": versions,
                "platform": "onnx_onnxv1",
                "inputs": m.schema.v2_inputs(),
                "outputs": m.v2_outputs(),
                "parameters": params,
            }
        )

    def ready_doc(self, name: str) -> bytes:
        s = self.default_of(name) or self.versions_of(name)[0]
        doc: dict[str, Any] = {"name": name, "ready": True, "version": s.version}
        others = [
            {"version": x.version, "role": x.role} for x in self.versions_of(name) if x is not s
        ]
        if others:
            doc["also"] = others
        if name in self.rejected:
            doc["rejected"] = self.rejected[name]
        return orjson.dumps(doc)

    def index(self) -> list[dict[str, str]]:
        """The model-repository index (``POST /v2/repository/index``)."""
        out = [{"name": s.name, "version": s.version, "state": "READY", "reason": ""}
               for s in self.entries]  # fmt: skip
        for name, r in self.rejected.items():
            out.append({"name": name, "version": r["version"], "state": "UNAVAILABLE",
                        "reason": r["reason"]})  # fmt: skip
        return out


Factory = Callable[[ServedModel, str, str], Served]
