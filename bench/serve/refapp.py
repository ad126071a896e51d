"""The reference servers: a bare single-worker Starlette + uvicorn (uvloop, httptools) +
orjson app that calls onnxruntime once per request (no batching), and the same app
answering a constant (the Python HTTP floor on one worker).

Run as a script so it needs nothing from mlx:
``python bench/serve/refapp.py MODEL_DIR --port P [--constant]``.
Requests are V2 (Open Inference Protocol) JSON, one input per feature.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DTYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "BYTES": object}
V2_TYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64"}


def make_app(model_dir: Path, constant: bool) -> Starlette:
    meta = json.loads((model_dir / "metadata.json").read_text())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    output_names = [o.name for o in session.get_outputs()]
    name = meta["name"]

    def answer(feeds: dict) -> bytes:
        results = session.run(None, feeds)
        outputs = [
            {
                "name": out_name,
                "shape": list(arr.shape),
                "datatype": V2_TYPES.get(str(arr.dtype), "BYTES"),
                "data": arr.ravel().tolist(),
            }
            for out_name, arr in zip(output_names, results, strict=True)
        ]
        return orjson.dumps({"model_name": name, "outputs": outputs})

    def decode(body: bytes) -> dict:
        doc = orjson.loads(body)
        return {
            inp["name"]: np.asarray(inp["data"], dtype=DTYPES[inp["datatype"]]).reshape(
                inp["shape"]
            )
            for inp in doc["inputs"]
        }

    async def infer(request: Request) -> Response:
        return Response(answer(decode(await request.body())), media_type="application/json")

    fixed: list[bytes] = []

    async def infer_constant(request: Request) -> Response:
        body = await request.body()
        if not fixed:  # the first request's real answer, then always the same bytes
            fixed.append(answer(decode(body)))
        return Response(fixed[0], media_type="application/json")

    async def ready(_request: Request) -> Response:
        return Response(b"", status_code=200)

    return Starlette(
        routes=[
            Route(
                "/v2/models/{model}/infer",
                infer_constant if constant else infer,
                methods=["POST"],
            ),
            Route("/v2/health/ready", ready),
            Route("/v2/health/live", ready),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--constant", action="store_true", help="answer a constant")
    args = parser.parse_args()
    app = make_app(args.model_dir, args.constant)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
