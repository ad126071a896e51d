"""Routes and handlers: Open Inference Protocol, MLflow ``/invocations``, ``/predict``,
health, metadata and metrics. Every failure is an answer ``{"error": "..."}`` with a
4xx/5xx status; nothing a client sends can take the worker down.
"""

from __future__ import annotations

import hmac
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from mlx import __version__
from mlx.serve import metrics
from mlx.serve.accesslog import request_entry
from mlx.serve.batcher import Batcher, Job
from mlx.serve.body import body_bytes, body_json
from mlx.serve.decode import decode_mlflow, decode_records
from mlx.serve.encode import mlflow_body, predict_body
from mlx.serve.errors import BadRequest
from mlx.serve.http import JSON, Request
from mlx.serve.model import ServedModel
from mlx.serve.openapi import openapi_document
from mlx.serve.routing import Router, Shadow, remap, wire
from mlx.serve.slots import ModelTable, Served
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
        table: ModelTable | None = None,
    ) -> None:
        self.spec = spec
        self.stats = stats
        self.access_log = access_log
        self.allow_non_finite = spec.allow_non_finite
        self.token = ("Bearer " + spec.token).encode() if spec.token else None
        self.table = table or ModelTable([self.served(model, predlog)])
        self.routers: dict[Served, Router] = {}  # canary/split: by the primary they share
        self.shadows: dict[Served, list[Shadow]] = {}  # by the primary they shadow
        self.observers: dict[Served, Router] = {}  # every version a router watches
        self.ready = True
        self.openapi = openapi_document(self.table.entries, token=self.token is not None)
        self._rid_prefix = f"{os.getpid():x}-{int(time.time() * 1000):x}-"
        self._rid_seq = 0
        self.routes = self._routes()

    def served(self, model: ServedModel, spool: Any = None, mstats: Any = None,
               ref: str = "", role: str = "primary", share: float = 0.0) -> Served:  # fmt: skip
        """One model version with its own batcher (its queue, its session)."""
        spec = self.spec
        batcher = Batcher(
            model,
            max_batch_size=spec.max_batch_size,
            max_delay_us=spec.max_delay_us,
            max_queue=spec.max_queue,
            stats=self.stats,
            predlog=spool,
            sample_rate=spec.prediction_log.sample_rate,
        )
        return Served(model, batcher, spool, mstats, ref, role, share)

    @property
    def model(self) -> ServedModel:
        """The default model (the first one given)."""
        return self.table.default.model

    @property
    def batcher(self) -> Batcher:
        return self.table.default.batcher

    def switched(self) -> None:
        """Rebuild the route table after the table changed (a --follow switch)."""
        self.openapi = openapi_document(self.table.entries, token=self.token is not None)
        self.routers, self.shadows, self.observers = wire(
            self.table, self.spec.release, self.spec.run_dir, self.spec.max_batch_size
        )
        for entry in self.table.entries:  # the primary's batcher hands its batches over
            entry.batcher.shadows = self.shadows.get(entry, [])
        self.routes = self._routes()

    # --- routing ----------------------------------------------------------------------

    def _routes(self) -> dict[str, tuple[str, tuple, Callable[[Request], None]]]:
        table = self.table
        m = table.default.model
        server_doc = orjson.dumps(
            {
                "name": "mlx",
                "version": __version__,
                "extensions": ["binary_tensor_data", "model_repository"],
            }  # fmt: skip
        )
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
                    orjson.dumps(
                        {
                            "mlx": __version__,
                            "model": m.name,
                            "version": m.version,
                            "models": [
                                {"name": s.name, "version": s.version, "role": s.role}
                                for s in table.entries
                            ],
                        }
                    )
                ),
            ),  # fmt: skip
            "/metrics": ("metrics", GET, self._metrics),
            "/openapi.json": ("docs", GET, self._const(self.openapi)),
            "/v2/docs/dataplane.json": ("docs", GET, self._const(self.openapi)),
            "/v2/repository/index": ("metadata", POST, self._index),
            "/invocations": ("invocations", POST, self._invocations),
            "/predict": ("predict", POST, self._predict),
        }
        for served in reversed(table.entries):  # the first of a name/version wins
            base = f"/v2/models/{served.name}/versions/{served.version}"
            routes[base] = ("metadata", GET, self._const(table.version_doc(served)))
            routes[base + "/ready"] = ("health", GET, self._const(orjson.dumps({"name": served.name, "version": served.version, "ready": True})))  # fmt: skip
            routes[base + "/infer"] = ("infer", POST, self._infer_on(served))
        for name in table.names():
            base = f"/v2/models/{name}"
            routes[base] = ("metadata", GET, self._const(table.model_doc(name)))
            routes[base + "/ready"] = ("health", GET, self._const(table.ready_doc(name)))
            default = table.default_of(name) or table.versions_of(name)[0]
            routes[base + "/infer"] = ("infer", POST, self._infer_on(default, routed=True))
            routes[base + "/feedback"] = ("feedback", POST, self._feedback_on(name))
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
            names = self.table.names()
            if parts[3] not in names:
                req.error(404, f"unknown model {parts[3]!r}; this server serves {', '.join(map(repr, names))}")  # fmt: skip
                return
            if len(parts) > 5 and parts[4] == "versions":
                have = [s.version for s in self.table.versions_of(parts[3])]
                if parts[5] not in have:
                    req.error(404, f"unknown version {parts[5]!r} of {parts[3]!r}; serving {', '.join(map(repr, have))}")  # fmt: skip
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

    def _index(self, req: Request) -> None:
        """Triton's index request: an optional ``{"ready": true}`` keeps the READY ones."""
        entries = self.table.index()
        if req.body:
            doc = self._json(req)
            if type(doc) is not dict:
                raise BadRequest("the repository index request must be a JSON object")
            ready = doc.get("ready", False)
            if type(ready) is not bool:
                raise BadRequest(f"'ready' must be true or false, not {ready!r}")
            if ready:
                entries = [e for e in entries if e["state"] == "READY"]
        req.respond(200, orjson.dumps(entries))

    def _pick(self, req: Request) -> tuple[Served, bool]:
        """``?model=NAME`` (or NAME:VERSION) for /invocations and /predict, else the
        default; and whether a canary/split may answer instead (not for NAME:VERSION)."""
        if not req.query:
            return self.table.default, True
        from urllib.parse import parse_qs

        asked = parse_qs(req.query.decode("latin-1")).get("model")
        if not asked:
            return self.table.default, True
        name, _, version = asked[0].partition(":")
        served = self.table.find(name, version) if version else self.table.default_of(name)
        if served is None:
            names = ", ".join(f"{s.name}:{s.version}" for s in self.table.entries)
            raise BadRequest(f"unknown model {asked[0]!r}; this server serves {names}", 404)
        return served, not version

    def _route(self, req: Request, served: Served, rows):
        """The canary/split arm (or the primary) that answers, and the rows in its schema."""
        router = self.routers.get(served)
        if router is None:
            return served, rows
        chosen = router.pick(router.key(req.headers, rows))
        if chosen is served:
            return served, rows
        req.served = chosen  # an arm that cannot take the rows is the arm's error
        return chosen, remap(rows, served.model.schema, chosen.model.schema)

    def _feedback_on(self, name: str) -> Callable[[Request], None]:
        return lambda req: self._feedback(req, name)

    def _feedback(self, req: Request, name: str) -> None:
        """``{"id": "<request id>", "reward": 0..1}`` (:func:`mlx.serve.bandit.feedback`)."""
        from mlx.serve.bandit import feedback

        default = self.table.default_of(name) or self.table.versions_of(name)[0]
        doc = feedback(self._json(req), self.routers.get(default), name, self.spec.release)
        req.respond(200, orjson.dumps(doc))

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
        return body_json(req, self.spec.max_body_bytes, body, media)

    def _body(self, req: Request) -> bytes:
        return body_bytes(req, self.spec.max_body_bytes)

    def _submit(self, req: Request, rows, request_id: str, on_done, served: Served) -> None:
        req.rows = rows.n
        req.rid = request_id
        req.served = served

        def fail(exc: Exception) -> None:
            self._internal_error(req, exc)

        def done(outputs, s: int, e: int) -> None:
            try:
                on_done(outputs, s, e)
            except Exception as exc:  # noqa: BLE001
                fail(exc)

        if not served.batcher.submit(Job(rows, request_id, done, fail)):
            req.error(503, f"server busy: {self.spec.max_queue} requests already queued; retry shortly", b"retry-after: 1\r\n")  # fmt: skip

    def _infer_on(self, served: Served, routed: bool = False) -> Callable[[Request], None]:
        return lambda req: self._infer(req, served, routed)

    def _infer(self, req: Request, served: Served, routed: bool = False) -> None:
        header_len = req.headers.get(b"inference-header-content-length")
        if header_len is not None:
            from mlx.serve.binary import split_body

            header, tail = split_body(self._body(req), header_len)
            doc = self._json(req, header, media=False)
        else:
            doc, tail = self._json(req, media=False), None
        rows, v2req = decode_v2(doc, served.model, self.allow_non_finite, tail)
        if routed:
            served, rows = self._route(req, served, rows)
        model = served.model
        rid = self._request_id(req, v2req.id)
        rid_header = _rid_header(rid) + served.version_header

        def done(outputs, s: int, e: int) -> None:
            body, json_len = encode_v2(model, v2req, outputs, s, e)
            if json_len is None:
                req.respond(200, body, JSON, rid_header)
            else:
                extra = b"inference-header-content-length: %d\r\n" % json_len + rid_header
                req.respond(200, body, OCTET, extra)

        self._submit(req, rows, rid, done, served)

    def _invocations(self, req: Request) -> None:
        served, routed = self._pick(req)
        rows = decode_mlflow(self._json(req), served.model.schema, self.allow_non_finite)
        if routed:
            served, rows = self._route(req, served, rows)
        model = served.model
        rid = self._request_id(req)
        extra = served.version_header
        self._submit(
            req,
            rows,
            rid,
            lambda outputs, s, e: req.respond(200, mlflow_body(model, outputs, s, e), JSON, extra),
            served,
        )

    def _predict(self, req: Request) -> None:
        served, routed = self._pick(req)
        rows = decode_records(self._json(req), served.model.schema, self.allow_non_finite)
        if routed:
            served, rows = self._route(req, served, rows)
        model = served.model
        rid = self._request_id(req)
        extra = served.version_header

        def done(outputs, s: int, e: int) -> None:
            req.respond(200, predict_body(model, outputs, s, e, rows.ids, rid), JSON, extra)

        self._submit(req, rows, rid, done, served)

    # --- bookkeeping ----------------------------------------------------------------------

    def on_response(self, req: Request, status: int, nbytes: int) -> None:
        """Called by the HTTP layer after each answer: metrics and the access log."""
        seconds = time.perf_counter() - req.t0
        if self.stats is not None:
            self.stats.observe_request(req.route, status, seconds)
        served = req.served
        if served is not None:
            if served.mstats is not None:
                served.mstats.observe(status, seconds)
            router = self.observers.get(served)
            if router is not None:
                router.observe(served, status, seconds, req.rid)
        if self.access_log is not None:
            self.access_log.log(request_entry(req, status, nbytes, seconds))


def _rid_header(rid: str) -> bytes:
    """``X-Request-ID`` echoed back, only when it is safe in a header (printable ASCII)."""
    if len(rid) <= 200 and rid.isascii() and rid.isprintable():
        return b"x-request-id: " + rid.encode("ascii") + b"\r\n"
    return b""
