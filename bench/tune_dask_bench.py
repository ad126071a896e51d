"""`mlx tune` trials on local threads vs on a 2-worker loopback Dask cluster.

    python -m bench.tune_dask_bench [--rows 100000] [--trials 20] [--quick] [--write-doc]

Both run ``mlx tune --jobs 2`` (two trials at a time, one LightGBM thread each) on the
same committed project (``bench.tune_bench``'s space and params), in fresh processes;
the dask side adds ``--runner cluster`` (a scheduler and two one-thread workers on
loopback, started once, reported apart). On one 2-core machine the cluster cannot be
faster: the figures are its overhead (shipping the prepared rows once, a task per trial)
and the check that both give the same trials. ``--quick``: 20,000 rows, 8 trials.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import date
from pathlib import Path

from bench._common import BIN, WORK, machine, make_train_project, median, table, update_doc_section
from bench.runners_bench import Cluster, timed
from bench.tune_bench import PARAMS, SPACE


def _key(doc: dict) -> list:
    return [(t["number"], t["params"], t["value"], t["state"]) for t in doc["trials"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.trials, args.repeats = 20_000, 8, 1
    WORK.mkdir(parents=True, exist_ok=True)
    mlx = str(BIN / "mlx")
    base = [mlx, "tune", "--trials", str(args.trials), "--jobs", "2", "--json"]
    walls: dict[str, list[float]] = {"local": [], "dask": []}
    docs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        cluster = Cluster(Path(tmp))
        try:
            startup = cluster.start()
            tune = {"trials": args.trials, "metric": "auc", "space": SPACE}
            runners = {"cluster": {"kind": "dask", "scheduler": cluster.address}}
            root = make_train_project(
                Path(tmp) / "proj", args.rows, dict(PARAMS), {"tune": tune, "runners": runners}
            )
            for _ in range(args.repeats):  # interleaved, so load drifts hit both
                for side, cmd in (("local", base), ("dask", [*base, "--runner", "cluster"])):
                    wall, _rss = timed(cmd, root)
                    walls[side].append(wall)
                    docs[side] = json.loads((root / "models/bench/tune/trials.json").read_text())
        finally:
            cluster.stop()
    lw, dw = median(walls["local"]), median(walls["dask"])
    same = _key(docs["local"]) == _key(docs["dask"])
    rows = [
        ["mlx tune --jobs 2 (local threads)", f"{lw:.1f}", "1.00×", docs["local"]["best"]["value"]],
        ["mlx tune --jobs 2 --runner cluster", f"{dw:.1f}", f"{dw / lw:.2f}×", docs["dask"]["best"]["value"]],
    ]  # fmt: skip
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    out = (
        table(["command", "wall s (median)", "vs local", "best AUC"], rows)
        + f"\n\nSame trials (params, values, states) on both: {'yes' if same else 'NO'}. "
        f"Cluster start-up {startup:.1f} s (not in the figures). Load average at the end "
        f"(1/5/15 min): {load}."
    )
    print(out)
    if args.write_doc:
        update_doc_section(
            "mlx tune on a Dask runner",
            f"`python -m bench.tune_dask_bench --rows {args.rows} --trials {args.trials} "
            f"--repeats {args.repeats}` on {date.today()} ({machine()}); fresh processes, "
            "interleaved runs, median. Two one-thread workers on loopback share the same two "
            "cores as the local run, so this measures the overhead, not a speed-up.\n\n" + out,
        )


if __name__ == "__main__":
    main()
