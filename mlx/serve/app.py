"""Routes and handlers: Open Inference Protocol, MLflow ``/invocations``, ``/predict``,
health, metadata and metrics. Every failure is an answer ``{"error": "..."}`` with a
4xx/5xx status; nothing a client sends can take the worker down.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from mlx import __version__
from mlx.serve import metrics
from mlx.serve.batcher import Batcher, Job
from mlx.serve.decode import decode_mlflow, decode_records
from mlx.serve.encode import mlflow_body, predict_body
from mlx.serve.errors import BadRequest
from mlx.serve.http import JSON, Request
from mlx.serve.model import ServedModel
from mlx.serve.openapi import openapi_document
from mlx.serve.spec import ServeSpec
from mlx.serve.v2 import decode_v2, encode_v2

OCTET = b"application/octet-stream"
GET, POST = (b"GET", b"HEAD"), (b"POST",)
PUBLIC = ("health", "docs")  # routes that answer without the bearer token


class App:
    def __init__(
        self,
        spec: ServeSpec,
        model: ServedModel,
        *,
        stats: metrics.WorkerStats | None = None,
        predlog: Any = None,
        access_log: Any = None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.stats = stats
        self.access_log = access_log
        self.allow_non_finite = spec.allow_non_finite
        self.token = ("Bearer " + spec.token).encode() if spec.token else None
        self.batcher = Batcher(
            model,
            max_batch_size=spec.max_batch_size,
            max_delay_us=spec.max_delay_us,
            max_queue=spec.max_queue,
            stats=stats,
            predlog=predlog,
            sample_rate=spec.prediction_log.sample_rate,
        )
        self.ready = True
        self.openapi = openapi_document(model, token=self.token is not None)
        self._rid_prefix = f"{os.getpid():x}-{int(time.time() * 1000):x}-"
        self._rid_seq = 0
        self.routes = self._routes()

    # --- routing ----------------------------------------------------------------------

    def _routes(self) -> dict[str, tuple[str, tuple, Callable[[Request], None]]]:
        m = self.model
        name = m.name
        model_doc = orjson.dumps(
            {
                "name": name,
                "versions": [m.version],
                "platform": "onnx_onnxv1",
                "inputs": m.schema.v2_inputs(),
                "outputs": m.v2_outputs(),
                "parameters": {
                    "task": m.task,
                    "classes": m.classes,
                    "id_column": m.schema.id_column,
                    "commit": m.commit,
                    "md5": m.md5,
                },
            }
        )
        server_doc = orjson.dumps(
            {"name": "mlx", "version": __version__, "extensions": ["binary_tensor_data"]}
        )
        model_ready = orjson.dumps({"name": name, "ready": True})
        routes: dict[str, tuple[str, tuple, Callable[[Request], None]]] = {
            "/v2/health/live": ("health", GET, self._const(b'{"live":true}')),
            "/v2/health/ready": ("health", GET, self._readiness),
            "/ping": ("health", GET, self._readiness),
            "/health": ("health", GET, self._readiness),
            "/v2": ("metadata", GET, self._const(server_doc)),
            "/version": (
                "metadata",
                GET,
                self._const(
                    orjson.dumps({"mlx": __version__, "model": name, "version": m.version})
                ),
            ),  # fmt: skip
            "/metrics": ("metrics", GET, self._metrics),
            "/openapi.json": ("docs", GET, self._const(self.openapi)),
            "/v2/docs/dataplane.json": ("docs", GET, self._const(self.openapi)),
            "/invocations": ("invocations", POST, self._invocations),
            "/predict": ("predict", POST, self._predict),
        }
        for base in (f"/v2/models/{name}", f"/v2/models/{name}/versions/{m.version}"):
            routes[base] = ("metadata", GET, self._const(model_doc))
            routes[base + "/ready"] = ("health", GET, self._const(model_ready))
            routes[base + "/infer"] = ("infer", POST, self._infer)
        return routes

    def handle(self, req: Request) -> None:
        """Entry point for every request (called by the HTTP layer)."""
        try:
            path = req.path
            entry = self.routes.get(path)
            if entry is None:
                if len(path) > 1 and path[-1] == "/":  # /v2/ and /v2 answer alike
                    path = path.rstrip("/") or "/"
                    entry = self.routes.get(path)
                if entry is None:
                    self._not_found(req)
                    return
            route, methods, handler = entry
            req.route = route
            if req.method not in methods:
                allow = b"GET, HEAD" if methods is GET else b"POST"
                req.error(405, f"{req.method.decode()} is not allowed on {path}; use {allow.decode()}", b"allow: " + allow + b"\r\n")  # fmt: skip
                return
            if self.token is not None and route not in PUBLIC and not self._authorized(req):
                return
            handler(req)
        except BadRequest as exc:
            req.error(exc.status, exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug answers 500, the worker lives on
            self._internal_error(req, exc)

    def _authorized(self, req: Request) -> bool:
        given = req.headers.get(b"authorization")
        if given is None:
            req.error(401, "missing bearer token (send Authorization: Bearer <token>)", b"www-authenticate: Bearer\r\n")  # fmt: skip
            return False
        if not hmac.compare_digest(given, self.token):
            req.error(401, "invalid bearer token", b'www-authenticate: Bearer error="invalid_token"\r\n')  # fmt: skip
            return False
        return True

    def _not_found(self, req: Request) -> None:
        parts = req.path.split("/")
        if req.path.startswith("/v2/models/") and len(parts) > 3:
            req.route = "infer" if parts[-1] == "infer" else "metadata"
            if parts[3] != self.model.name:
                req.error(
                    404, f"unknown model {parts[3]!r}; this server serves {self.model.name!r}"
                )
                return
            if len(parts) > 5 and parts[4] == "versions" and parts[5] != self.model.version:
                req.error(404, f"unknown version {parts[5]!r} of {self.model.name!r}; serving {self.model.version!r}")  # fmt: skip
                return
        req.error(404, f"no route {req.path}")

    def _internal_error(self, req: Request, exc: Exception) -> None:
        print(f"mlx serve: internal error on {req.path}:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        req.error(500, f"internal error: {type(exc).__name__}: {exc}")

    # --- simple routes ------------------------------------------------------------------

    @staticmethod
    def _const(body: bytes) -> Callable[[Request], None]:
        return lambda req: req.respond(200, body)

    def _readiness(self, req: Request) -> None:
        if self.ready:
            req.respond(200, b'{"ready":true}')
        else:
            req.error(503, "not ready: the server is shutting down")

    def _metrics(self, req: Request) -> None:
        m = self.model
        info = {"name": m.name, "version": m.version, "commit": m.commit, "md5": m.md5}
        body, ctype = metrics.render(Path(self.spec.run_dir), info)
        req.respond(200, body, ctype)

    # --- scoring ------------------------------------------------------------------------

    def _request_id(self, req: Request, given: Any = None) -> str:
        if type(given) is str and given:
            return given
        header = req.headers.get(b"x-request-id")
        if header:
            return header.decode("latin-1")
        self._rid_seq += 1
        return f"{self._rid_prefix}{self._rid_seq:x}"

    def _json(self, req: Request, body: bytes | None = None, media: bool = True) -> Any:
        if media:
            ctype = req.headers.get(b"content-type")
            if ctype is not None and not ctype.split(b";")[0].strip().endswith(b"json"):
                raise BadRequest(
                    f"unsupported content type {ctype.decode('latin-1')!r}; send application/json",
                    415,
                )
        raw = self._body(req) if body is None else body
        if not raw:
            raise BadRequest("the request body is empty; send JSON")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if b"NaN" in raw or b"Infinity" in raw:  # what Python's json (and tritonclient) write
                try:  # parsed so the 400 can name the column that holds them
                    return json.loads(raw)
                except (ValueError, RecursionError):
                    pass
            raise BadRequest(f"malformed JSON: {exc}") from None

    def _body(self, req: Request) -> bytes:
        encoding = req.headers.get(b"content-encoding")
        if encoding is None or encoding == b"identity":
            return req.body
        wbits = {b"gzip": 31, b"deflate": 15}.get(encoding.lower())
        if wbits is None:
            raise BadRequest(f"unsupported content encoding {encoding.decode('latin-1')!r}", 415)
        limit = self.spec.max_body_bytes
        try:
            d = zlib.decompressobj(wbits)
            out = d.decompress(req.body, limit + 1)
        except zlib.error as exc:
            raise BadRequest(f"body is not valid {encoding.decode()}: {exc}") from None
        if len(out) > limit:
            raise BadRequest(f"decompressed body exceeds the limit of {limit} bytes", 413)
        return out

    def _submit(self, req: Request, rows, request_id: str, on_done) -> None:
        req.rows = rows.n
        req.rid = request_id

        def fail(exc: Exception) -> None:
            self._internal_error(req, exc)

        def done(outputs, s: int, e: int) -> None:
            try:
                on_done(outputs, s, e)
            except Exception as exc:  # noqa: BLE001
                fail(exc)

        if not self.batcher.submit(Job(rows, request_id, done, fail)):
            req.error(503, f"server busy: {self.spec.max_queue} requests already queued; retry shortly", b"retry-after: 1\r\n")  # fmt: skip

    def _infer(self, req: Request) -> None:
        header_len = req.headers.get(b"inference-header-content-length")
        if header_len is not None:
            from mlx.serve.binary import split_body

            header, tail = split_body(self._body(req), header_len)
            doc = self._json(req, header, media=False)
        else:
            doc, tail = self._json(req, media=False), None
        rows, v2req = decode_v2(doc, self.model, self.allow_non_finite, tail)
        rid = self._request_id(req, v2req.id)
        model = self.model
        rid_header = _rid_header(rid)

        def done(outputs, s: int, e: int) -> None:
            body, json_len = encode_v2(model, v2req, outputs, s, e)
            if json_len is None:
                req.respond(200, body, JSON, rid_header)
            else:
                extra = b"inference-header-content-length: %d\r\n" % json_len + rid_header
                req.respond(200, body, OCTET, extra)

        self._submit(req, rows, rid, done)

    def _invocations(self, req: Request) -> None:
        rows = decode_mlflow(self._json(req), self.model.schema, self.allow_non_finite)
        rid = self._request_id(req)
        model = self.model
        self._submit(
            req,
            rows,
            rid,
            lambda outputs, s, e: req.respond(200, mlflow_body(model, outputs, s, e)),
        )

    def _predict(self, req: Request) -> None:
        rows = decode_records(self._json(req), self.model.schema, self.allow_non_finite)
        rid = self._request_id(req)
        model = self.model

        def done(outputs, s: int, e: int) -> None:
            req.respond(200, predict_body(model, outputs, s, e, rows.ids, rid))

        self._submit(req, rows, rid, done)

    # --- bookkeeping ----------------------------------------------------------------------

    def on_response(self, req: Request, status: int, nbytes: int) -> None:
        """Called by the HTTP layer after each answer: metrics and the access log."""
        seconds = time.perf_counter() - req.t0
        if self.stats is not None:
            self.stats.observe_request(req.route, status, seconds)
        if self.access_log is not None:
            self.access_log.log(
                {
                    "ts": round(time.time(), 6),
                    "client": req.conn.peer,
                    "method": req.method.decode("latin-1"),
                    "path": req.path,
                    "status": status,
                    "ms": round(seconds * 1000, 3),
                    "rows": req.rows,
                    "request_id": req.rid,
                    "bytes": nbytes,
                    "pid": os.getpid(),
                }
            )


def _rid_header(rid: str) -> bytes:
    """``X-Request-ID`` echoed back, only when it is safe in a header (printable ASCII)."""
    if len(rid) <= 200 and rid.isascii() and rid.isprintable():
        return b"x-request-id: " + rid.encode("ascii") + b"\r\n"
    return b""
