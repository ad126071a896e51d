"""A lean HTTP/1.1 server: asyncio (uvloop) protocol objects over httptools' parser.

Why not uvicorn: per request, the ASGI layer (scope dicts, receive/send coroutines,
header lists) cost ~3x the CPU of this protocol on the same model and batching
(docs/benchmarks.md), and the HTTP layer, not the model, bounds online throughput.

What it does, and what it guards against:

- keep-alive and pipelining (responses strictly in request order, reading paused when
  too many requests are queued on one connection or the client stops reading);
- ``Content-Length`` over the limit → 413 before reading the body, chunked bodies capped
  while reading; oversized headers → 431; the connection is then half-closed and the
  rest of the upload discarded, so the client still reads the answer;
- ``Expect: 100-continue`` (curl sends it for large bodies);
- malformed HTTP → 400 and close; idle connections closed after ``keep_alive``
  seconds; a request whose headers or body are not complete ``request_timeout``
  seconds after its first byte (a stalled or trickling client) answered 408 and closed;
- graceful drain (:meth:`HttpServer.drain`): every request already received is
  answered; a connection stops being read once its current request is complete and is
  closed after that response, which carries ``Connection: close``; connections idle
  when the drain starts stay open ``DRAIN_IDLE_GRACE`` seconds, so a request a client
  sent just before the listener closed is still read and answered, never reset. Closes
  are half-closes (the unread rest of an upload is discarded, not answered with RST).

Handlers get a :class:`Request` and answer it once with :meth:`Request.respond`, now or
later (after batching).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools
import orjson

JSON = b"application/json"
MAX_HEADER_BYTES = 64 * 1024
MAX_PIPELINE = 16
LINGER_SECONDS = 2.0
DRAIN_IDLE_GRACE = 1.0


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {code} {phrase}\r\n".encode()


_STATUS = {
    code: _status_line(code) for code in (200, 400, 401, 404, 405, 408, 413, 415, 431, 500, 503)
}


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing a rejected request."""


class Request:
    __slots__ = ("conn", "method", "path", "query", "headers", "body", "keep_alive", "t0",
                 "route", "rows", "rid", "preset", "served")  # fmt: skip

    def __init__(self, conn, method: bytes, url: bytes, headers: dict, body: bytes, keep_alive: bool, t0: float):  # fmt: skip
        self.conn = conn
        self.method = method
        raw_path, _, query = url.partition(b"?")
        path = raw_path.decode("latin-1")
        self.path = unquote(path) if "%" in path else path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.t0 = t0
        self.route = "other"
        self.rows = 0
        self.rid = ""
        self.preset: tuple[int, str] | None = None  # an answer decided while parsing
        self.served: Any = None  # the model version that answers (mlx.serve.slots.Served)

    def respond(self, status: int, body: bytes, content_type: bytes = JSON, extra: bytes = b"") -> None:  # fmt: skip
        self.conn.send(self, status, body, content_type, extra)

    def error(self, status: int, message: str, extra: bytes = b"") -> None:
        self.conn.send(self, status, orjson.dumps({"error": message}), JSON, extra)


class HttpServer:
    """Shared state of all connections of one worker."""

    def __init__(
        self,
        handler: Callable[[Request], None],
        *,
        max_body: int,
        keep_alive: float,
        request_timeout: float = 5.0,
        on_response: Callable[[Request, int, int], None] | None = None,
    ) -> None:
        self.handler = handler
        self.max_body = max_body
        self.keep_alive = keep_alive
        self.request_timeout = request_timeout
        self.on_response = on_response
        self.connections: set[Connection] = set()
        self.draining = False
        self.drain_started = 0.0
        self.date = b""
        self.tick()

    def factory(self) -> Connection:
        return Connection(self)

    def tick(self) -> None:
        """Once a second: refresh the Date header, close idle and stalled connections."""
        self.date = b"date: " + formatdate(usegmt=True).encode() + b"\r\n"
        now = time.monotonic()
        for conn in list(self.connections):
            conn.check_timeouts(now)

    def drain(self) -> None:
        """Stop taking requests (see the module docstring); call again to close the
        connections that stayed idle through the grace period."""
        if not self.draining:
            self.draining = True
            self.drain_started = time.monotonic()
        for conn in list(self.connections):
            conn.drain()


class Connection(asyncio.Protocol):
    __slots__ = ("server", "transport", "parser", "pipeline", "current", "url", "headers",
                 "body", "body_size", "header_bytes", "in_message", "t0", "last_active", "started",
                 "discarding", "dispatching", "read_paused", "write_paused", "peer", "read_eof",
                 "closing")  # fmt: skip

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pipeline: deque[Request] = deque()
        self.current: Request | None = None
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []
        self.body_size = self.header_bytes = 0
        self.in_message = False
        self.t0 = self.last_active = self.started = time.monotonic()
        self.discarding = self.dispatching = False
        self.read_paused = self.write_paused = False
        self.read_eof = False
        self.closing = False
        self.peer = ""

    # --- transport events -------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else ""
        self.server.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.server.connections.discard(self)
        self.transport = None
        self.pipeline.clear()

    def eof_received(self) -> bool:
        """The client is done sending: answer what it asked for, then close."""
        self.read_eof = True
        return self.current is not None or bool(self.pipeline)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update_reading()

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if self.discarding:
            self.body_size += len(data)
            if self.body_size > self.server.max_body + 1024 * 1024 and self.transport:
                self.transport.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self.discarding:  # a real parse error, not our own _Stop
                self._reject(400, f"malformed HTTP request: {exc}")
        self._update_reading()

    # --- parser callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_message = True
        self.started = time.monotonic()
        self.t0 = time.perf_counter()
        self.url = b""
        self.headers = {}
        self.body = []
        self.body_size = self.header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > MAX_HEADER_BYTES:
            self._reject(431, f"request headers exceed {MAX_HEADER_BYTES} bytes")
            raise _Stop
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        length = self.headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.server.max_body:
            self._reject(
                413,
                f"request body of {int(length)} bytes exceeds the limit of {self.server.max_body}",
            )
            raise _Stop
        if self.headers.get(b"expect", b"").lower() == b"100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.server.max_body:
            self._reject(413, f"request body exceeds the limit of {self.server.max_body} bytes")
            raise _Stop
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body = []
        req = Request(
            self,
            self.parser.get_method(),
            self.url,
            self.headers,
            body,
            self.parser.should_keep_alive(),
            self.t0,
        )
        self.pipeline.append(req)
        if self.server.draining and self.transport is not None:
            self.read_paused = True  # draining: this request is the connection's last read
            self.transport.pause_reading()
        if self.current is None:
            self._next()

    # --- answering ----------------------------------------------------------------------

    def _next(self) -> None:
        if self.dispatching:
            return
        self.dispatching = True
        try:
            while self.current is None and self.pipeline and self.transport is not None:
                req = self.current = self.pipeline.popleft()
                if req.preset is not None:
                    req.error(*req.preset)
                else:
                    self.server.handler(req)
        finally:
            self.dispatching = False
        self._update_reading()

    def send(self, req: Request, status: int, body: bytes, ctype: bytes, extra: bytes) -> None:
        if req is not self.current:
            return  # connection gone, or answered twice
        self.current = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        server = self.server
        keep = req.keep_alive and req.preset is None
        keep = keep and not (self.read_eof and not self.pipeline)
        if server.draining and not self.pipeline:
            keep = False  # the last request received: answer it, then close
        head = b"".join(
            (
                _STATUS.get(status) or _status_line(status),
                b"content-type: ",
                ctype,
                b"\r\ncontent-length: ",
                str(len(body)).encode(),
                b"\r\n",
                server.date,
                extra,
                b"" if keep else b"connection: close\r\n",
                b"\r\n",
            )
        )
        transport.write(head + body if req.method != b"HEAD" else head)
        if server.on_response is not None:
            server.on_response(req, status, len(body))
        if not keep:
            self._close(linger=req.preset is not None or server.draining)
        elif self.pipeline:
            self._next()

    def _reject(self, status: int, message: str) -> None:
        """Answer a request that could not be parsed or read, then stop reading."""
        self.discarding = True
        self.in_message = False
        req = Request(self, b"", self.url, self.headers, b"", False, self.t0)
        req.preset = (status, message)
        self.pipeline.append(req)
        if self.current is None:
            self._next()

    def _close(self, linger: bool) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        self.closing = True
        if linger and transport.can_write_eof():
            # half-close: the client reads our answer while we discard the rest of its upload
            transport.write_eof()
            self.discarding = True
            asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None:
            return
        pause = self.write_paused or len(self.pipeline) >= MAX_PIPELINE
        if self.server.draining and not self.in_message and not self.idle():
            pause = True  # draining: read nothing past the requests already received
        if pause and not self.read_paused:
            self.read_paused = True
            transport.pause_reading()
        elif not pause and self.read_paused:
            self.read_paused = False
            transport.resume_reading()

    # --- timeouts and draining ----------------------------------------------------------

    def idle(self) -> bool:
        return self.current is None and not self.pipeline and not self.in_message

    def check_timeouts(self, now: float) -> None:
        if self.transport is None:
            return
        if self.idle():
            if now - self.last_active > self.server.keep_alive:
                self.transport.close()
        elif self.in_message and now - self.started > self.server.request_timeout:
            limit = self.server.request_timeout
            self._reject(408, f"the request was not complete {limit:g} seconds after it began")

    def drain(self) -> None:
        """Idle since the drain began (or before) for DRAIN_IDLE_GRACE: close. A request
        that arrives meanwhile is answered with ``Connection: close``."""
        if self.transport is None or not self.idle():
            return
        now = time.monotonic()
        if now - max(self.server.drain_started, self.last_active) >= DRAIN_IDLE_GRACE:
            self._close(linger=True)
