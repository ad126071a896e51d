"""Write a wrk Lua script that posts V2 JSON single-row bodies, rotating distinct rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def v2_bodies(meta: dict, n: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(n):
        inputs = []
        for f in meta["features"]:
            if f["kind"] == "numeric":
                inputs.append(
                    {
                        "name": f["name"],
                        "shape": [1, 1],
                        "datatype": "FP32",
                        "data": [round(float(rng.normal()), 5)],
                    }
                )
            else:
                inputs.append(
                    {
                        "name": f["name"],
                        "shape": [1, 1],
                        "datatype": "BYTES",
                        "data": [str(rng.choice(f["categories"]))],
                    }
                )
        bodies.append(json.dumps({"inputs": inputs}, separators=(",", ":")))
    return bodies


def lua(path: str, bodies: list[str]) -> str:
    items = ",\n".join("[==[" + b + "]==]" for b in bodies)
    return f"""
local bodies = {{
{items}
}}
local n = #bodies
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % n + 1
  return wrk.format(nil, "{path}", nil, bodies[i])
end
"""


if __name__ == "__main__":
    meta = json.loads((Path(sys.argv[1]) / "metadata.json").read_text())
    print(lua(f"/v2/models/{meta['name']}/infer", v2_bodies(meta, 1000)))
