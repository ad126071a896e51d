"""The baseline: a bare one-worker Starlette + uvicorn (uvloop, httptools) + orjson app
that calls onnxruntime once per request (V2 JSON in, V2 JSON out), no validation.

    python bench/serve_bare_app.py MODEL_DIR PORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def make_app(model_dir: Path) -> Starlette:
    meta = json.loads((model_dir / "metadata.json").read_text())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(
        str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    kinds = {f["name"]: f["kind"] for f in meta["features"]}
    out_names = [o.name for o in sess.get_outputs()]
    name = meta["name"]

    async def infer(request: Request) -> Response:
        body = orjson.loads(await request.body())
        feeds = {}
        for inp in body["inputs"]:
            if kinds[inp["name"]] == "numeric":
                feeds[inp["name"]] = np.asarray(inp["data"], dtype=np.float32).reshape(-1, 1)
            else:
                feeds[inp["name"]] = np.asarray(inp["data"], dtype=object).reshape(-1, 1)
        results = sess.run(out_names, feeds)
        outputs = [
            {
                "name": n,
                "datatype": "INT64" if r.dtype == np.int64 else "FP32",
                "shape": list(r.shape),
                "data": r.ravel().tolist(),
            }
            for n, r in zip(out_names, results, strict=True)
        ]
        return Response(
            orjson.dumps({"model_name": name, "outputs": outputs}), media_type="application/json"
        )

    return Starlette(routes=[Route(f"/v2/models/{name}/infer", infer, methods=["POST"])])


if __name__ == "__main__":
    app = make_app(Path(sys.argv[1]))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
