#!/usr/bin/env bash
# The README's pruning table: every pruning method on Fashion-MNIST on the CPU at one equal training
# budget per network, over several seeds, each manifest run by scripts/sweep.py; then the table
# (runs/prune-fmnist/results.md, mean ± std over seeds) and the accuracy-vs-sparsity plot
# (runs/prune-fmnist/accuracy_vs_sparsity.png) by scripts/prune_results.py.
#
#   bash scripts/prune-fmnist.sh                      # everything (builds first)
#   bash scripts/prune-fmnist.sh --targets 90         # only the 90% MLP manifests
#   bash scripts/prune-fmnist.sh --methods gmp,lats   # only these methods
#   bash scripts/prune-fmnist.sh --seeds 0 --no-cnn   # one seed, MLP only
#
# The budget: every MLP run trains 12 epochs in all, every cnn_small run 6 (every optimizer step of
# every round counts, and the pretraining of a manifest that starts from `init_from`); the dense
# references are trained for exactly that budget. prune_results.py prints each run's epochs as
# counted from its steps, so a manifest off budget shows.
#
# Finished runs (summary.json present) are skipped and interrupted ones resumed, so the script can be
# stopped and restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
targets="90,95,98"
methods="omp,gmp,lottery,os_sap,random,sap,lats,ltp,greg1,greg2"
seeds="0,1,2"
jobs=1
cnn=1
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) targets="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-cnn) cnn=0; shift ;;
    *) echo "prune-fmnist: unknown argument $1 (expected --targets a,b, --methods x,y, --seeds 0,1,2, --jobs N or --no-cnn)" >&2; exit 2 ;;
  esac
done
declare -A budget=([mlp]=12 [cnn_small]=6)  # training epochs per run, per network
# The dense reference of each network: this manifest's recipe, without pruning, for the whole budget.
declare -A dense_base=([mlp]=apps/manifests/fmnist_mlp.json [cnn_small]=apps/manifests/fmnist_cnn_l1filter_50.json)
bin=${TRIM_BIN:-build/bin}  # where the apps are (TRIM_BIN overrides)
[ -x "$bin/trim-train" ] || bash scripts/build.sh
out=runs/prune-fmnist
mkdir -p "$out"
failed=0

sweep() {  # sweep <manifest> <app> <folder name> [--set ...]: all seeds of one manifest
  local manifest=$1 app=$2 name=$3
  shift 3
  echo "== $name ($app $manifest, seeds $seeds)"
  python3 scripts/sweep.py "$manifest" --app "$bin/$app" --seeds "$seeds" --jobs "$jobs" \
    --set device=cpu "$@" --out "$out/$name" > "$out/$name.log" 2>&1 ||
    { echo "prune-fmnist: $name failed, see $out/$name.log" >&2; tail -3 "$out/$name.log" >&2; failed=1; }
}

app_of() {  # the app that runs method $1, from the method registry (trim-train --list methods)
  "$bin/trim-train" --list methods | awk -v m="$1" '$1 == m { print $2 }'
}

declare -A done_before=()
run_manifest() {  # run_manifest <manifest>: its dense reference, its pretraining (if any), its seeds
  local manifest=$1 name model pre app extra=()
  name=$(basename "$manifest" .json)
  model=$(python3 scripts/prune_results.py --model "$manifest")
  [ -n "${budget[$model]:-}" ] || { echo "prune-fmnist: no budget for model $model ($manifest)" >&2; exit 2; }
  pre=$(python3 scripts/prune_results.py --pretrain-manifest "$manifest")  # empty without init_from
  if [ -n "$pre" ]; then  # each seed starts from the network that seed's pretraining wrote
    local prename
    prename=$(basename "$pre" .json)
    [ -n "${done_before[$prename]:-}" ] || { sweep "$pre" trim-train "$prename"; done_before[$prename]=1; }
    extra=(--set "init_from=$out/$prename/default/seed{seed}/model.safetensors")
  fi
  local dense="dense_${model}_${budget[$model]}"
  if [ -z "${done_before[$dense]:-}" ]; then  # the dense reference: the same recipe, the whole budget
    sweep "${dense_base[$model]}" trim-train "$dense" --set "train.epochs=${budget[$model]}" --set 'pruning=null'
    done_before[$dense]=1
  fi
  app=$(app_of "$(python3 scripts/prune_results.py --method "$manifest")")
  sweep "$manifest" "$app" "$name" "${extra[@]}"
}

for m in ${methods//,/ }; do
  [ -n "$(app_of "$m")" ] || { echo "prune-fmnist: no app runs method $m (trim-train --list methods), skipping it" >&2; continue; }
  for t in ${targets//,/ }; do
    manifest=apps/manifests/fmnist_mlp_${m}_${t}.json
    [ -f "$manifest" ] && run_manifest "$manifest"
  done
done
# GReg's headline comparison: GReg-1 filter mode against one-shot L1-norm filter pruning, same ratio.
if [ "$cnn" = 1 ]; then
  for manifest in apps/manifests/fmnist_cnn_l1filter_50.json apps/manifests/fmnist_cnn_greg1_50.json; do
    run_manifest "$manifest"
  done
fi
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib || true  # for the plot
python3 scripts/prune_results.py "$out"
exit $failed
