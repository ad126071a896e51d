#!/usr/bin/env bash
# The whole mlx loop on the bundled example, in a throwaway folder.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$here/.venv/bin:$PATH"
work="$(mktemp -d -t mlx-demo-XXXXXX)"
trap 'rm -rf "$work"' EXIT
# the demo's commits and remote stay inside the throwaway folder
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" DVC_NO_ANALYTICS=1
mkdir -p "$HOME"
git config --global user.name "mlx demo"
git config --global user.email "demo@example.com"
git config --global init.defaultBranch main
cd "$work"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step mlx init churn --example
cd churn
step git add -A
step git commit -q -m "Set up mlx with the example dataset"
step mlx validate --config-only
step mlx validate
step mlx train --commit
step mlx eval --commit
# a short sweep (tune: in mlops.yaml); its trials table is committed, so `mlx runs` lists it
step mlx tune --trials 5
step git add models/churn/tune/trials.json
step git commit -q -m "Sweep: 5 trials of num_leaves, learning_rate, feature_fraction"
step dvc metrics show
# the registry: GTO-format git tags; --push sends the model to the DVC remote, then the tags
step git init -q --bare ../origin.git
step git remote add origin ../origin.git
step mlx promote --stage staging
step mlx promote --stage prod --push --reason "first release"
step mlx show
step mlx lineage churn#prod
step mlx runs
# a variant through DVC's own experiment tools (the train and eval stages in dvc.yaml),
# then what it changed against the production model
step dvc exp run -S model.params.num_leaves=31 -n leaves31
step mlx diff churn#prod workspace
step git checkout -q -- .
step dvc checkout -q
# the live batch comes from a shifted world: drift is found, so monitor exits 1
step mlx monitor --labels data/live_labels.csv --report drift.html || echo "(exit $?: drift found, as expected)"

# Serve the promoted model when the registry has one (churn#prod), else the working tree's.
ref=()
if [ -n "$(git tag -l 'churn#prod#*')" ]; then ref=(churn#prod); fi
printf '\n\033[1m$ mlx serve %s--port 0 --json &\033[0m\n' "${ref[*]:+${ref[*]} }"
mlx serve "${ref[@]}" --port 0 --json > "$work/serve.json" 2> "$work/serve.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do [ -s "$work/serve.json" ] && break; sleep 0.2; done
cat "$work/serve.json"
url=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$work/serve.json")
# the first row of the training data, as the model's features (plus the id column)
row=$(python "$here/scripts/demo_row.py" models/churn/metadata.json)
step curl -s "$url/predict" -H 'Content-Type: application/json' -d "$row"
echo
kill -TERM "$server" && wait "$server"

# Releasing the next model (docs/serving.md): a retrained candidate goes to staging and is
# scored in shadow next to prod; prod is then promoted and `--follow` switches live.
if [ ${#ref[@]} -gt 0 ]; then
  python -c 'import re, sys; p = sys.argv[1]; t = open(p).read(); open(p, "w").write(re.sub(r"num_iterations: \d+", "num_iterations: 120", t, count=1))' params.yaml
  step git commit -q -am "candidate: 120 trees"
  step mlx train --commit
  step mlx promote --stage staging --force --reason "candidate for shadow"
  v1=$(git tag -l 'churn@v*' --sort=v:refname | head -1); v1=${v1#churn@}
  v2=$(git tag -l 'churn@v*' --sort=v:refname | tail -1); v2=${v2#churn@}
  printf '\n\033[1m$ mlx serve churn#prod --follow --interval 1 --shadow churn#staging --port 0 --json &\033[0m\n'
  mlx serve churn#prod --follow --interval 1 --shadow churn#staging --port 0 --json > "$work/follow.json" 2> "$work/follow.log" &
  server=$!
  for _ in $(seq 1 300); do [ -s "$work/follow.json" ] && break; sleep 0.2; done
  url=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$work/follow.json")
  ask() { curl -s "$url/predict" -H 'Content-Type: application/json' -H "X-Request-ID: demo-$1" -d "$row" | python -c 'import json, sys; print(json.load(sys.stdin)["model_version"])'; }
  printf 'answered by: '; for i in $(seq 1 20); do printf '%s ' "$(ask "$i")"; done; echo
  step mlx promote "churn@$v2" --stage prod --force --reason "shadow agreed; no eval rerun in the demo"
  for i in $(seq 21 150); do [ "$(ask "$i")" = "$v2" ] && break; sleep 0.2; done
  printf 'after the promote, answered by: %s (picked up live by --follow)\n' "$(ask 999)"
  grep -- '--follow:' "$work/follow.log" || true
  kill -TERM "$server" && wait "$server"
  step mlx monitor --compare "churn@$v1" "churn@$v2" --markdown
fi
printf '\nDemo finished in %s\n' "$work"
