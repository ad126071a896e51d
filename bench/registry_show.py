"""`mlx show` vs `gto show` on a repository with many registry tags.

    python -m bench.registry_show [--tags 1000] [--repeats 7] [--write-doc]

Builds a git repository (one `git fast-import` stream) whose tags are a realistic GTO
registry: several artifacts, each with registered versions on successive commits,
assignments to dev/staging/prod, some unassignments, deregistrations and one
deprecation; tag messages carry mlx's lineage block. Then times, as fresh processes
(start-up included), `mlx show --json`, `gto show --json`, `mlx --version` (the CLI's
start-up alone), `mlx validate --config-only` (start-up + loading mlops.yaml, which
`show` needs for the stage list) and the bare `git for-each-ref` pass mlx makes; runs are interleaved and the median is reported. The two
JSON answers are compared, so a fast wrong answer cannot pass.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
from datetime import date
from pathlib import Path

from bench._common import BIN, WORK, machine, median, run, table, update_doc_section

ARTIFACTS = ("churn", "fraud", "ltv", "upsell", "models/credit")
CONFIG = """data:
  train: data/train.csv
  target: y
model:
  name: churn
  task: binary
"""
MESSAGE = """{first}

mlx:
  format: 1
  action: {action}
  commit: {commit}
  model:
    path: models/{name}
    md5: 0f343b0931126a20f133d67c2b018a3b
  data:
    path: data/train.csv
    md5: 286710a745740a07a1f8b7363e199007
  metrics:
    auc: 0.84
    log_loss: 0.41
  eval_passed: true
  by: Bench <bench@example.com>
  forced: false
"""


def _events(n_tags: int):
    """(artifact, kind, version, stage) tuples in time order, ``n_tags`` of them."""
    out: list[tuple[str, str, str | None, str | None]] = []
    version = dict.fromkeys(ARTIFACTS, 0)
    step = 0
    while len(out) < n_tags:
        name = ARTIFACTS[step % len(ARTIFACTS)]
        version[name] += 1
        v = f"v1.{version[name] // 10}.{version[name] % 10}"
        out.append((name, "register", v, None))
        out.append((name, "assign", v, "dev"))
        if version[name] % 2 == 0:
            out.append((name, "assign", v, "staging"))
        if version[name] % 3 == 0:
            out.append((name, "assign", v, "prod"))
        if version[name] % 5 == 0:
            out.append((name, "unassign", v, "dev"))
        if version[name] % 11 == 0:
            out.append((name, "deregister", v, None))
        step += 1
    out = out[:n_tags]
    out[-1] = (ARTIFACTS[-1], "deprecate", None, None)
    return out


def _tag_name(name: str, kind: str, version, stage, counter: int) -> str:
    name = name.replace(":", "=")
    return {
        "register": f"{name}@{version}",
        "deregister": f"{name}@{version}!",
        "assign": f"{name}#{stage}#{counter}",
        "unassign": f"{name}#{stage}!#{counter}",
        "deprecate": f"{name}@deprecated",
    }[kind]


def build_repo(root: Path, n_tags: int) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    events = _events(n_tags)
    t0 = 1_700_000_000
    chunks: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        chunks.append(f"data {len(raw)}\n".encode() + raw + b"\n")

    commits: dict[tuple[str, str], int] = {}
    counters = dict.fromkeys(ARTIFACTS, 0)
    mark = 0
    for i, (name, kind, version, stage) in enumerate(events):
        if kind == "register":  # every version gets its own commit
            mark += 1
            chunks.append(f"commit refs/heads/main\nmark :{mark}\n".encode())
            chunks.append(f"committer Bench <bench@example.com> {t0 + 2 * i} +0000\n".encode())
            data(f"train {name} {version}")
            if mark == 1:
                chunks.append(b"M 644 inline mlops.yaml\n")
                data(CONFIG)
            chunks.append(f"M 644 inline models/{name}/model.onnx.dvc\n".encode())
            data(f"outs:\n- md5: {mark:032x}\n  size: 1\n  hash: md5\n  path: model.onnx\n")
            commits[(name, version)] = mark
        target = commits[(name, version)] if version else mark
        if kind in ("assign", "unassign"):
            counters[name] += 1
        tag = _tag_name(name, kind, version, stage, counters[name])
        chunks.append(f"tag {tag}\nfrom :{target}\n".encode())
        chunks.append(f"tagger Bench <bench@example.com> {t0 + 2 * i + 1} +0000\n".encode())
        first = f"{kind.capitalize()} {name} {version or ''} {stage or ''}".strip()
        data(MESSAGE.format(first=first, action=kind, commit="0" * 40, name=name))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(chunks), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=root, check=True)


def _json(cmd: list[str], cwd: Path):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def check_agreement(root: Path) -> None:
    ours = _json([str(BIN / "mlx"), "show", "--json"], root)
    theirs = _json([str(BIN / "gto"), "show", "--json"], root)
    mine = {a["name"]: a for a in ours["artifacts"] if a["registered"] and not a["deprecated"]}
    assert set(mine) == set(theirs), (sorted(mine), sorted(theirs))
    for name, art in theirs.items():
        assert (mine[name]["latest"] or {}).get("version") == art["version"], name
        held = {s: v["version"] for s, v in mine[name]["stages"].items() if v}
        assert held == {s: v for s, v in art["stage"].items() if v}, name


def measure(root: Path, repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU (user + sys, children included) seconds per command."""
    commands = {
        "mlx show --json": [str(BIN / "mlx"), "show", "--json"],
        "mlx show (table)": [str(BIN / "mlx"), "show"],
        "gto show --json": [str(BIN / "gto"), "show", "--json"],
        "mlx --version (start-up floor)": [str(BIN / "mlx"), "--version"],
        "mlx validate --config-only (+ config)": [str(BIN / "mlx"), "validate", "--config-only"],
        "git for-each-ref (mlx's one pass)": [
            "git", "for-each-ref", "--format=%(refname)%00%(objecttype)%00%(*objectname)"
            "%00%(taggername)%00%(taggerdate:iso-strict)%00%(contents)", "refs/tags",
        ],
    }  # fmt: skip
    wall: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    for cmd in commands.values():  # warm the page cache once
        run(cmd, cwd=root)
    for _ in range(repeats):
        for name, cmd in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall[name].append(run(cmd, cwd=root))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {k: (median(wall[k]), median(cpu[k])) for k in commands}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, nargs="+", default=[1000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write-doc", action="store_true", help="Update docs/benchmarks.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    rows = []
    for n in args.tags:
        root = WORK / f"registry-{n}"
        build_repo(root, n)
        count = len(subprocess.run(["git", "tag"], cwd=root, capture_output=True, text=True, check=True).stdout.split())  # fmt: skip
        check_agreement(root)
        result = measure(root, args.repeats)
        gto = result["gto show --json"][0]
        for name, (seconds, cpu) in result.items():
            rows.append([count, name, f"{seconds:.3f}", f"{cpu:.3f}", f"{gto / seconds:.1f}x"])
    headers = ["tags", "command", "wall s (median)", "CPU s (median)", "wall speed-up vs gto"]
    text = table(headers, rows)
    load = f"1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(text)
    print(load)
    if args.write_doc:
        body = (
            f"`python -m bench.registry_show --tags {' '.join(map(str, args.tags))} "
            f"--repeats {args.repeats}` on {date.today()} ({machine()}; {load}: the machine "
            "is shared, so absolute times vary with load while the ratios hold).\n\n"
            "Fresh processes, start-up included, interleaved runs, median. The repository "
            "holds GTO tags for 5 artifacts (registrations, assignments, unassignments, "
            "deregistrations, one deprecation) with mlx lineage messages; `mlx show --json` "
            "and `gto show --json` are checked to give the same latest versions and stage "
            "holders before timing. Target: `mlx show` under 0.5 s at 1,000 tags.\n\n"
            + text
            + "\n\nWhat `mlx show` costs above `mlx validate --config-only` is the registry "
            "itself (one `git for-each-ref`, parsing, GTO's state rules): the rest is Python, "
            "Typer and pydantic start-up, the same for every mlx command. CPU time (user + "
            "sys of the process and its children) is what the command needs from an idle "
            "core; wall time on this shared machine adds the wait for a core."
        )
        update_doc_section("Registry", body)


if __name__ == "__main__":
    main()
