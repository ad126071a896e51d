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
step dvc metrics show
# the registry: GTO-format git tags; --push sends the model to the DVC remote, then the tags
step git init -q --bare ../origin.git
step git remote add origin ../origin.git
step mlx promote --stage staging
step mlx promote --stage prod --push --reason "first release"
step mlx show
step mlx lineage churn#prod
# the live batch comes from a shifted world: drift is found, so monitor exits 1
step mlx monitor --labels data/live_labels.csv --report drift.html || echo "(exit $?: drift found, as expected)"
printf '\nDemo finished in %s\n' "$work"
