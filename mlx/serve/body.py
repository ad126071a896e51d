"""A request's body as bytes (gzip/deflate undone within the size limit) and as JSON.

Every refusal is a :class:`BadRequest` naming what was wrong: the content type (415),
the encoding (415), a decompressed size over the limit (413), empty or malformed JSON.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson

from mlx.serve.errors import BadRequest
from mlx.serve.http import Request

WBITS = {b"gzip": 31, b"deflate": 15}


def body_bytes(req: Request, limit: int) -> bytes:
    """The body, decompressed when ``Content-Encoding`` says so; never more than
    ``limit`` bytes come out (a small gzip bomb is refused, not inflated)."""
    encoding = req.headers.get(b"content-encoding")
    if encoding is None or encoding == b"identity":
        return req.body
    wbits = WBITS.get(encoding.lower())
    if wbits is None:
        raise BadRequest(f"unsupported content encoding {encoding.decode('latin-1')!r}", 415)
    try:
        d = zlib.decompressobj(wbits)
        out = d.decompress(req.body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {encoding.decode()}: {exc}") from None
    if len(out) > limit:
        raise BadRequest(f"decompressed body exceeds the limit of {limit} bytes", 413)
    return out


def body_json(req: Request, limit: int, body: bytes | None = None, media: bool = True) -> Any:
    """The body parsed as JSON (``body``: already extracted bytes, e.g. the JSON header
    of a binary request). ``media``: refuse a Content-Type that is not JSON."""
    if media:
        ctype = req.headers.get(b"content-type")
        if ctype is not None and not ctype.split(b";")[0].strip().endswith(b"json"):
            raise BadRequest(
                f"unsupported content type {ctype.decode('latin-1')!r}; send application/json",
                415,
            )
    raw = body_bytes(req, limit) if body is None else body
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
