#!/usr/bin/env bash
# Runs every pruning method on Fashion-MNIST on the CPU (the apps/manifests/fmnist_*_<method>_<pct>.json
# manifests, plus dense references of the same models and epochs), then writes the results table
# (runs/prune-fmnist/results.md) and the accuracy-vs-sparsity plot (runs/prune-fmnist/accuracy_vs_sparsity.png).
#
#   bash scripts/prune-fmnist.sh                      # everything (builds first)
#   bash scripts/prune-fmnist.sh --targets 90         # only the 90% manifests
#   bash scripts/prune-fmnist.sh --methods gmp,lats   # only these methods
#
# A finished run (its summary.json exists) is not run again, so the script can be stopped and
# restarted; an interrupted run resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
targets="90,95,98"
methods="omp,gmp,lottery,os_sap,random,sap,lats,ltp,greg1,greg2"
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) targets="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    *) echo "prune-fmnist: unknown argument $1 (expected --targets a,b or --methods x,y)" >&2; exit 2 ;;
  esac
done
bin=${TRIM_BIN:-build/bin}  # where the apps are (TRIM_BIN overrides)
[ -x "$bin/trim-train" ] || bash scripts/build.sh
out=runs/prune-fmnist
mkdir -p "$out"

app_of() {  # the app that runs method $1, from the method registry (trim-train --list methods)
  "$bin/trim-train" --list methods | awk -v m="$1" '$1 == m { print $2 }'
}

run() {  # run <app> <manifest> <name> [--set ...]
  local app=$1 manifest=$2 name=$3
  shift 3
  [ -f "$out/$name/summary.json" ] && return 0
  local resume=()
  [ -f "$out/$name/checkpoint.safetensors" ] && resume=(--resume)
  echo "== $name ($app $manifest)"
  "$bin/$app" "$manifest" --set device=cpu --set "output=$out/$name" "$@" "${resume[@]}" > "$out/$name.log" 2>&1 ||
    { echo "prune-fmnist: $name failed, see $out/$name.log" >&2; tail -3 "$out/$name.log" >&2; }
}

declare -A dense_done=()
for m in ${methods//,/ }; do
  app=$(app_of "$m")
  if [ -z "$app" ] || [ ! -x "$bin/$app" ]; then echo "prune-fmnist: no app runs method $m (trim-train --list methods), skipping it" >&2; continue; fi
  for t in ${targets//,/ }; do
    for manifest in apps/manifests/fmnist_*_"${m}"_"${t}".json; do
      [ -f "$manifest" ] || continue
      name=$(basename "$manifest" .json)
      # The dense reference: the same model, data and optimizer for as many epochs as the method trains in all.
      ref=$(python3 scripts/prune_results.py --dense-reference "$manifest")
      model=${ref%% *}; epochs=${ref##* }
      key="dense_${model}_${epochs}"
      if [ -z "${dense_done[$key]:-}" ]; then
        run trim-train "$manifest" "$key" --set "train.epochs=$epochs" --set 'pruning=null'
        dense_done[$key]=1
      fi
      run "$app" "$manifest" "$name"
    done
  done
done
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib || true  # for the plot
python3 scripts/prune_results.py "$out"
