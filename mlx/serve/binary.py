"""The Open Inference Protocol's binary tensor extension (what tritonclient sends by default).

A request body is a JSON header of ``Inference-Header-Content-Length`` bytes followed by
raw tensors, one per input whose ``parameters.binary_data_size`` is set, in input order:
little-endian numbers, or for BYTES each element as a 4-byte little-endian length and
its bytes. Responses use the same layout for outputs asked for in binary.
"""

from __future__ import annotations

import struct

import numpy as np

from mlx.serve.errors import BadRequest, show

NUMPY_TYPES = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
NUMERIC_DATATYPES = frozenset(NUMPY_TYPES)
DATATYPES = (*NUMPY_TYPES, "BYTES")  # every tensor datatype the protocol defines
_LEN = struct.Struct("<I")


def split_body(body: bytes, header_length: bytes | str) -> tuple[bytes, memoryview]:
    """(JSON header, binary tail) from a body and its Inference-Header-Content-Length."""
    try:
        n = int(header_length)
    except ValueError:
        raise BadRequest(
            f"Inference-Header-Content-Length must be an integer, got {show(header_length)}"
        ) from None
    if n < 0 or n > len(body):
        raise BadRequest(
            f"Inference-Header-Content-Length is {n} but the body has only {len(body)} bytes"
        )
    view = memoryview(body)
    return bytes(view[:n]), view[n:]


class BinaryReader:
    """Hands out the binary tail of a request to inputs in order, checking every size."""

    def __init__(self, tail: memoryview) -> None:
        self.tail = tail
        self.offset = 0

    def take(self, name: str, datatype: str, count: int, size) -> np.ndarray | list[str]:
        if type(size) is not int or size < 0:
            raise BadRequest(f"input {name!r}: binary_data_size must be a non-negative integer")
        left = len(self.tail) - self.offset
        if size > left:
            raise BadRequest(
                f"input {name!r}: binary_data_size is {size} bytes but only {left} bytes of "
                "binary data are left in the body"
            )
        chunk = self.tail[self.offset : self.offset + size]
        self.offset += size
        if datatype == "BYTES":
            return decode_bytes_elements(name, chunk, count)
        dtype = NUMPY_TYPES.get(datatype)
        if dtype is None:
            raise BadRequest(f"input {name!r}: unknown datatype {show(datatype)}")
        if size != count * dtype.itemsize:
            raise BadRequest(
                f"input {name!r}: {count} {datatype} values need {count * dtype.itemsize} "
                f"bytes, binary_data_size is {size}"
            )
        return np.frombuffer(chunk, dtype=dtype, count=count)

    def finish(self) -> None:
        left = len(self.tail) - self.offset
        if left:
            raise BadRequest(
                f"{left} bytes of binary data after the JSON header belong to no input "
                "(check binary_data_size and Inference-Header-Content-Length)"
            )


def decode_bytes_elements(name: str, chunk: memoryview, count: int) -> list[str]:
    """BYTES elements (4-byte little-endian length + bytes) as strings."""
    out: list[str] = []
    pos, end = 0, len(chunk)
    raw = chunk.tobytes()
    while pos < end:
        if pos + 4 > end:
            raise BadRequest(f"input {name!r}: BYTES element {len(out)} has a truncated length")
        (length,) = _LEN.unpack_from(raw, pos)
        pos += 4
        if pos + length > end:
            raise BadRequest(
                f"input {name!r}: BYTES element {len(out)} claims {length} bytes, "
                f"only {end - pos} left"
            )
        try:
            out.append(raw[pos : pos + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"input {name!r}: BYTES element {len(out)} is not UTF-8") from None
        pos += length
    if len(out) != count:
        raise BadRequest(f"input {name!r}: shape says {count} elements, binary data has {len(out)}")
    return out
