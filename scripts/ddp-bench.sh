#!/usr/bin/env bash
# Data-parallel benchmark on CPU ranks: step time with the gradient all-reduce overlapping backward
# (distributed.overlap=true) against a plain all-reduce after backward (false), the communication
# time per step that backward did not hide, and the all-reduce bandwidth of the MPI backend.
#   scripts/ddp-bench.sh [BUILD_DIR] [REPS]      (default build-cpu, 3)
# Both settings run interleaved, REPS times each, so a loaded machine slows both alike. The model
# is an MLP 784-1024-1024-10 (1.8 M parameters, 7.3 MB of gradients) in 1 MB buckets.
set -euo pipefail
build=${1:-build-cpu}
reps=${2:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi=(mpirun --oversubscribe --bind-to none -np 2)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for rep in $(seq "$reps"); do
  for overlap in true false; do
    dir=$out/$overlap-$rep
    "${mpi[@]}" "$build/bin/trim-train" apps/manifests/fmnist_mlp_ddp.json --set device=cpu --set threads=1 \
      --set output="$dir" --set train.epochs=2 --set data.train_limit=20000 --set 'model.hidden=[1024,1024]' \
      --set distributed.overlap=$overlap --set distributed.bucket_mb=1 --set distributed.first_bucket_mb=0.25 \
      >/dev/null 2>&1
  done
done
python3 - "$out" "$reps" <<'PY'
import json, sys, glob, statistics
out, reps = sys.argv[1], int(sys.argv[2])
for overlap in ("true", "false"):
    step, comm = [], []
    for f in glob.glob(f"{out}/{overlap}-*/metrics.jsonl"):
        lines = [json.loads(l) for l in open(f)]
        last = lines[-1]  # the second epoch: warm
        step.append(last["step_seconds"]); comm.append(last["exposed_comm_seconds_per_step"])
    print(f"overlap={overlap}: step {statistics.median(step)*1e3:.2f} ms (median of {len(step)}), "
          f"exposed communication {statistics.median(comm)*1e3:.2f} ms per step")
PY
"${mpi[@]}" "$build/test/mpi/trim_ddp_check" bandwidth "$out/bw" 2>/dev/null
