"""The export bench's tables and its section of docs/benchmarks.md."""

from __future__ import annotations

from datetime import date

from bench._common import machine, table, update_doc_section

PARAMS = {"num_iterations": 200, "num_leaves": 63, "learning_rate": 0.1}

EXPLAIN = """

Rows of the scoring tables: **new, mlx scorer** is what `mlx serve --batch` and the
train stage's parity check do (row chunks on a thread pool of one-thread onnxruntime
runs, `mlx/util/rowchunks.py`); **new, one onnxruntime session** is the same file in one
plain session with onnxruntime's own intra-op threads (all cores), and its 1-thread
column is one session with one thread; **before** is main 287f3f4's form of the same
booster (opset-5 `BRANCH_MEMBER` on the category codes), **old** is onnxmltools'.

How categorical splits are written (`mlx/train/category_atoms.py`, `onnx_trees.py`,
`tree_ensemble5.py`):

- **why main's form was slow**: onnxruntime (its `tree_ensemble_attribute.h`) converts an
  opset-5 tree into its opset-3 node table; a `BRANCH_MEMBER` set with fewer than 31
  values, all in [0, 30], becomes a chain of `BRANCH_EQ` nodes that it merges back into
  one 32-bit bitmask test; any other set becomes `BRANCH_MEMBER_BIGSET`, a search through
  the set's values for every row that reaches the node. On the 4,000-level column every
  set holds codes in the thousands, so every such split took the slow path.
- **shipped: "atoms"**. Per categorical feature, its distinct split sets are packed
  (greedy first fit, deterministic) into groups whose codes fall into at most 30 *atoms*
  (codes in exactly the same sets of the group). Each group is one derived column: a
  `Gather` from a `uint8` table `[codes + 1, groups]` gives every row its atom id once
  (the last row, 31 = in no set, is where missing and unseen categories go: right, as in
  LightGBM). A split on set S becomes `BRANCH_MEMBER` on its group's column with the
  atom ids inside S: at most 30 values in [0, 30], onnxruntime's bitmask test. Exact by
  construction (`code ∈ S` ⇔ `atom(code) ⊆ S`); the export's probe checks the installed
  onnxruntime on a five-row model (31 included) and falls back to the code-range search
  form, with a train note, when it fails. On this table's booster: 8,142 distinct sets
  on the 4,000-level column packed into ~790 columns, 2,268 on the 105-level one into
  ~400, one each on the small ones.
- **fallback: opset-3 `TreeEnsembleRegressor` with code-range searches** (exact, deep,
  large), for an onnxruntime without opset 5; numeric-only models keep opset 3.
- **tried and dropped earlier**: one 0/1 membership column per distinct set (126 MB on
  this table); main's `BRANCH_MEMBER` on the codes (the "before" row).
"""


def report(results: dict) -> str:
    parts = []
    for name, r in results.items():
        lgb_s = r["lightgbm_s"]
        rows = [
            [
                model,
                f"{s['s']:.3f}",
                f"{lgb_s / s['s']:.2f}×",
                f"{s['s_1t']:.3f}" if "s_1t" in s else "(as below)",
                f"{r['lightgbm_1t_s'] / s['s_1t']:.2f}×" if "s_1t" in s else "",
                f"{s['max_diff']:.1e}",
                f"{s['p50_us']:.0f} / {s['p99_us']:.0f}" if "p50_us" in s else "",
            ]
            for model, s in r["scoring"].items()
        ]
        rows.insert(
            0,
            [
                "LightGBM predict",
                f"{lgb_s:.3f}",
                "1.00×",
                f"{r['lightgbm_1t_s']:.3f}",
                "1.00×",
                "0",
                f"{r['lightgbm_p50_us']:.0f} / {r['lightgbm_p99_us']:.0f}",
            ],
        )
        parts.append(
            f"**{name}** ({r['rows']:,} rows; scoring the {r['test_rows']:,} held-out rows, "
            "median):\n\n"
            + table(
                [
                    "scorer",
                    "all cores (s)",
                    "vs LightGBM",
                    "1 thread (s)",
                    "vs LightGBM",
                    "max |Δp|",
                    "1 row p50 / p99 (µs, 1 thread)",
                ],
                rows,
            )
        )
        e2e = r.get("e2e")
        prow = [
            ["fit (in process)", f"{r['fit_s']:.2f}"],
            ["export, new (with the session)", f"{r['export_new_s']:.2f}"],
            ["export, old (onnxmltools)", f"{r['export_old_s']:.2f}"],
            [
                "parity check, new (sample + probes, both sides)",
                f"{r['parity_s']:.2f} ({r['parity_rows']:,} rows, max |Δ| {r['parity_max_diff']:.1e})",
            ],
            [
                "held-out scoring for the metrics (every held-out row, ONNX)",
                f"{r.get('held_out_scoring_s', 0):.2f}",
            ],
            ["model size new / old (MB)", f"{r['size_new_mb']:.2f} / {r['size_old_mb']:.2f}"],
            [
                "export + parity / fit",
                f"{(r['export_new_s'] + r['parity_s']) / r['fit_s'] * 100:.0f}%",
            ],
        ]
        if "size_member_mb" in r:
            prow.append(
                [
                    "before form (main) export / size",
                    f"{r['export_member_s']:.2f} s / {r['size_member_mb']:.2f} MB",
                ]
            )
        if "size_search_mb" in r:
            prow.append(
                [
                    "fallback form export / size",
                    f"{r['export_search_s']:.2f} s / {r['size_search_mb']:.2f} MB",
                ]
            )
        if e2e:
            prow += [
                ["bare fit + onnxmltools (process)", f"{e2e['bare_s']:.2f}"],
                ["`mlx train` (process)", f"{e2e['mlx_s']:.2f}"],
                ["mlx / bare", f"{e2e['mlx_s'] / e2e['bare_s']:.2f}×"],
                ["mlx train phases", ", ".join(f"{k} {v:.2f}" for k, v in e2e["phases"].items())],
            ]
        parts.append(table(["", "seconds"], prow))
        if r.get("online"):
            orows = [
                [form, "error: " + o["error"][:80], "", ""]
                if "error" in o
                else [form, f"{o['p50_ms']:.2f}", f"{o['p99_ms']:.2f}", f"{o['rps']:.0f}"]
                for form, o in r["online"].items()
            ]
            parts.append(
                "Online, `mlx serve DIR` (1 worker), wrk 1 thread, c=16, single-row V2 JSON "
                "rotating through 500 held-out rows:\n\n"
                + table(["model.onnx form", "p50 (ms)", "p99 (ms)", "req/s"], orows)
            )
    return "\n\n".join(parts)


def write_doc(results: dict, rows: int, repeats: int) -> None:
    load = results.pop("_load", "")
    online = " --online" if any(r.get("online") for r in results.values()) else ""
    update_doc_section(
        "LightGBM → ONNX export",
        f"`python -m bench.export_bench --rows {rows} --repeats {repeats}{online}` on {date.today()} "
        f"({machine()}). Binary, LightGBM {PARAMS}; 80/20 split in order; batch scoring on "
        "prepared inputs (pandas categoricals for LightGBM, raw strings and FP32 for "
        "onnxruntime), both on all cores; one-row calls in process, one thread, rotating "
        "through 500 distinct rows (no HTTP); " + load + ".\n\n" + report(results) + EXPLAIN,
    )
