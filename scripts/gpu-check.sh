#!/usr/bin/env bash
# GPU check of trim in ONE device call (one H100/H200, CUDA toolkit, PyTorch with its cuDNN/NCCL
# wheels, no Debian -dev packages, no network). A session gets 15 minutes of device time in all,
# the machine's start (1-2 min) included, and a machine goes back 30 s after a call ends, so the
# whole check is one call that ends well inside the tool's 600 s command limit.
#
# The device invocation, exactly:
#   here, once (needs apt):  bash scripts/gpu-deps.sh          # fills .deps/debs (about 45 MiB)
#   device tool:  run(command="bash scripts/gpu-check.sh --commit <git rev-parse --short HEAD>",
#                     carry=[".deps/debs"], timeout_s=600)
#   here, to see the plan:   bash scripts/gpu-check.sh --dry-run
#
# Steps, in order, each under its own cap (`timeout`); the caps are estimates for a 16-core H100
# machine (the review cuda-2026-12b: cold build 70-150 s, CUDA cases 60-110 s at -j4):
#   preflight  15 s  GPU, compilers, CMake, PyTorch, where cuBLAS/NVRTC/cuDNN/NCCL are found (read only)
#   unpack     15 s  .deps/debs/*.deb -> .deps/root with dpkg -x (never into /)
#   data        5 s  Fashion-MNIST to /usr/share/datasets/fashion-mnist (where the code looks)
#   configure  35 s  CUDA Release build folder build-gpu against .deps/root
#   build     147 s  the CUDA tests and apps first, then everything, -j 16, -k 0 (later steps use
#                    whatever did build)
#   cuda_test 130 s  every CUDA case (label cuda, one CTest test per case, -j 4); none may be skipped
#   train      30 s  trim-train apps/manifests/fmnist_cnn.json on cuda, 1 epoch
#   speed      71 s  whole training steps in images/s (issue 17): ResNet-50 at batch 64 and SEW
#                    ResNet-18 (T = 4) at batch 32, trim-bench model in fp32 and in bf16 (channels-last
#                    convolutions, the default), and ResNet-50 in bf16 with NCHW convolutions
#                    (--no-channels-last) too (41 s, each run under 8 s), then ResNet-50 in fp32 with
#                    the step captured as a CUDA graph (--cuda-graph; 8 s; SEW ResNet-18 cannot be
#                    captured), then PyTorch eager AMP bf16 channels_last on the same GPU
#                    (scripts/bench_torch_model.py --amp --channels-last; 22 s); a table in the report
#   deploy     25 s  the sparse CUDA cases again (ctest -R sparse: cuSPARSE and its CPU twin), then, when
#                    trim-deploy was built, a tiny fmnist_mlp_gmp_90 run of trim-magnitude (10 steps
#                    on 2500 images, 90% zeros from step 6) deployed by `trim-deploy RUN --device cuda --eval`
#   sync       20 s  the op, pruning and bf16 cases again under TRIM_CUDA_SYNC=1 (a fault shows at its kernel)
#   memcheck   17 s  compute-sanitizer memcheck on the tensor and RNG cases (SKIPPED where the
#                    sanitizer refuses the device: "Device not supported" under gVisor)
#   bench      30 s  trim-bench and scripts/bench_torch.py (ResNet-50 shapes, short timing), compared
# Total 540 s, plus at most 15 s to write the report: inside the 600 s call with a margin.
#
# Options: --dry-run (print the plan; last line "total budget: N s"), --steps a,b,c (a subset, in
# the order above), --commit SHA (recorded in the report: the device copy has no .git), --batch N
# (benchmark batch, 64), --jobs N (16), --build-dir DIR (build-gpu), --cudnn-benchmark (both
# benchmarks choose cuDNN algorithms by timing; default: heuristics).
#
# A failing step is recorded and the rest still run where they can. The report $OUT/gpu-check.md
# (a summary table first, then each step's log tail) is written whatever fails, also when the
# script itself stops early; the exit status is non-zero when any step failed. At most 8 files
# come back from $OUT, so exactly these are written there:
#   gpu-check.md  build.log  ctest.log  run.log  bench_trim.jsonl  bench_torch.jsonl
#   fmnist_cuda/summary.json  fmnist_cuda/metrics.jsonl
# The GPU's settings are only read (nvidia-smi queries), never changed.
# shellcheck disable=SC2317  # functions run from the EXIT trap and through bash -c "$(declare -f ...)"
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

plan="preflight,unpack,data,configure,build,cuda_test,train,speed,deploy,sync,memcheck,bench"
declare -A caps=([preflight]=15 [unpack]=15 [data]=5 [configure]=35 [build]=147 [cuda_test]=130
                 [train]=30 [speed]=71 [deploy]=25 [sync]=20 [memcheck]=17 [bench]=30)
# bench is three commands sharing its 30 s; deploy is three sharing its 25 s; speed is three sharing its 71 s.
declare -A bench_caps=([bench_trim]=12 [bench_torch]=13 [bench_cmp]=5)
declare -A speed_caps=([speed_trim]=41 [speed_graph]=8 [speed_torch]=22)
speed_run_cap=8   # each model run of the speed step (5 trim runs fit speed_trim, 1 speed_graph, 2 torch speed_torch)
speed_models="resnet50:64 sew_resnet18:32"
speed_nchw_models="resnet50:64"   # bf16 again with NCHW convolutions: does channels-last pay?
speed_graph_models="resnet50:64"  # a spiking network is never captured (its firing rates are host counts)
declare -A deploy_caps=([deploy_test]=8 [deploy_run]=7 [deploy_app]=10)
reserve=15      # seconds for the report after the last step
call_limit=600  # the device tool's timeout_s

dry_run=0
steps=$plan
batch=64
jobs=16
build_dir="build-gpu"
commit=${TRIM_COMMIT:-}
cudnn_benchmark=0
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then
    echo "gpu-check: $1 needs a value (see --help)" >&2
    exit 2
  fi
}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --cudnn-benchmark) cudnn_benchmark=1 ;;
    --steps) need_value "$@"; steps=$2; shift ;;
    --batch) need_value "$@"; batch=$2; shift ;;
    --jobs) need_value "$@"; jobs=$2; shift ;;
    --build-dir) need_value "$@"; build_dir=$2; shift ;;
    --commit) need_value "$@"; commit=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$batch" "$jobs"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "gpu-check: '$v' is not a positive whole number" >&2; exit 2; }
done
IFS=, read -r -a step_list <<<"$steps"
for st in "${step_list[@]}"; do
  [[ ",$plan," == *",$st,"* ]] || { echo "gpu-check: unknown step '$st' (steps: ${plan//,/ })" >&2; exit 2; }
done
budget=0
for st in "${step_list[@]}"; do budget=$((budget + caps[$st])); done

if [ $dry_run = 1 ]; then
  echo "gpu-check plan: one device call; each step under its own cap, in this order"
  echo "  device call: run(command=\"bash scripts/gpu-check.sh --commit <sha>\", carry=[\".deps/debs\"], timeout_s=$call_limit)"
  echo "  before it, here: bash scripts/gpu-deps.sh"
  for st in "${step_list[@]}"; do
    note=""
    [ "$st" = bench ] && note="  (bench_trim ${bench_caps[bench_trim]}, bench_torch ${bench_caps[bench_torch]}, bench_cmp ${bench_caps[bench_cmp]})"
    [ "$st" = deploy ] && note="  (deploy_test ${deploy_caps[deploy_test]}, deploy_run ${deploy_caps[deploy_run]}, deploy_app ${deploy_caps[deploy_app]})"
    [ "$st" = speed ] && note="  (speed_trim ${speed_caps[speed_trim]}, speed_graph ${speed_caps[speed_graph]}, speed_torch ${speed_caps[speed_torch]}; each run ${speed_run_cap})"
    printf '  %-10s %4d s%s\n' "$st" "${caps[$st]}" "$note"
  done
  echo "  report: gpu-check.md (summary table, then logs) + up to 7 more files in \$OUT, within ${reserve} s after the last step"
  echo "  the call: ${budget} s of steps + ${reserve} s report = $((budget + reserve)) s of the ${call_limit} s timeout_s"
  echo "total budget: ${budget} s"
  exit 0
fi

if [ -z "${OUT:-}" ]; then
  echo "gpu-check: \$OUT is not set: run this through the device tool (see the header), or use --dry-run" >&2
  exit 2
fi
build=$build_dir
bench_timing=(--iters 5 --repeats 3 --warmup 2)
bench_flags=()
[ $cudnn_benchmark = 1 ] && bench_flags=(--cudnn-benchmark)
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
deps=$root/.deps/root
scratch=$(mktemp -d /tmp/trim-gpu-check.XXXXXX)
python=${PYTHON:-python3}
orig_ld=${LD_LIBRARY_PATH-__unset__}
build_log=$OUT/build.log ctest_log=$OUT/ctest.log run_log=$OUT/run.log
: >"$build_log"; : >"$ctest_log"; : >"$run_log"
start=$(date +%s)
deadline=$((start + budget))
gpu_name="not checked"
train_out=$OUT/fmnist_cuda
deploy_run=$scratch/deploy_run
bench_table=$scratch/bench_table.md
speed_dir=$scratch/speed  # the speed step's JSON lines (the 8 returned files are all taken)

want() { [[ ",$steps," == *",$1,"* ]]; }

# ---- step bookkeeping -------------------------------------------------------------------------
# Per step: name, state, seconds, note, and where its output starts in which log (for the report).
names=() states=() secs=() notes=() logs=() offsets=()
any_failed=0
record() {  # record NAME STATE SECONDS NOTE [LOG OFFSET]
  names+=("$1"); states+=("$2"); secs+=("$3"); notes+=("$4"); logs+=("${5:-}"); offsets+=("${6:-0}")
  [ "$2" = FAILED ] && any_failed=1
  printf 'gpu-check: %-11s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4"
}
state_of() {
  local i
  for i in "${!names[@]}"; do [ "${names[$i]}" = "$1" ] && { echo "${states[$i]}"; return; }; done
  echo none
}
# amend_last STATE NOTE: restates the last recorded step (a failure found to be no failure of trim).
amend_last() {
  local last=$((${#names[@]} - 1)) i
  states[last]=$1 notes[last]=$2
  any_failed=0
  for i in "${!states[@]}"; do [ "${states[$i]}" = FAILED ] && any_failed=1; done
  printf 'gpu-check: %-11s %-7s %4ss  %s\n' "${names[last]}" "$1" "${secs[last]}" "$2"
}
log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# run_step NAME CAP LOG TEE CMD...: runs CMD under min(CAP, the budget left), appending its output
# to LOG (and to stdout when TEE is 1), and records the outcome.
run_step() {
  local name=$1 cap=$2 log=$3 tee=$4
  shift 4
  local left=$((deadline - $(date +%s)))
  if [ "$left" -lt 5 ]; then
    record "$name" SKIPPED 0 "out of the ${budget} s budget"
    return 1
  fi
  [ "$cap" -gt "$left" ] && cap=$left
  local offset t0 rc dt
  offset=$(log_size "$log")
  echo "===== $name (cap ${cap} s): $(printf '%s' "$*" | head -n 1)" >>"$log"
  t0=$(date +%s)
  if [ "$tee" = 1 ]; then
    timeout --kill-after=5 "$cap" "$@" 2>&1 | tee -a "$log"
  else
    timeout --kill-after=5 "$cap" "$@" >>"$log" 2>&1
  fi
  rc=$?
  dt=$(($(date +%s) - t0))
  if [ $rc -eq 0 ]; then
    record "$name" ok "$dt" "" "$log" "$offset"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    record "$name" FAILED "$dt" "timed out at its ${cap} s cap (see $(basename "$log"))" "$log" "$offset"
  else
    record "$name" FAILED "$dt" "exit $rc (see $(basename "$log"))" "$log" "$offset"
  fi
  return $rc
}

# ---- the report: written on every exit --------------------------------------------------------
count_tests() { grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: $1.*$2" "$ctest_log"; }
# The speed step's table: one row per model shape, trim fp32 / bf16 and PyTorch AMP images/s.
speed_table() {
  if [ ! -d "$speed_dir" ]; then
    echo "not run"
    return
  fi
  "$python" - "$speed_dir" "$speed_nchw_models" "$speed_graph_models" <<'EOF'
import json, os, sys
d = sys.argv[1]
# model names run with NCHW convolutions / as a CUDA graph (the others' cells say "not run")
nchw_models = {m.split(":")[0] for m in sys.argv[2].split()}
graph_models = {m.split(":")[0] for m in sys.argv[3].split()}
def load(name):
    try:
        with open(os.path.join(d, name)) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []
rows = {}
graph_note = {}
for col, name in (("trim fp32", "trim_fp32.jsonl"), ("trim bf16", "trim_bf16.jsonl"), ("nchw", "trim_bf16_nchw.jsonl"),
                  ("graph", "trim_fp32_graph.jsonl"), ("torch", "torch_amp.jsonl")):
    for r in load(name):
        rows.setdefault(r.get("shape", "?"), {})[col] = float(r.get("images_per_s", 0.0))
        if col == "graph" and not r.get("cuda_graph"):  # ran eagerly: say why
            graph_note[r.get("shape", "?")] = r.get("graph_fallback", "not captured")
if not rows:
    print("no results (see run.log)")
    sys.exit(0)
print("| model, batch x C x H x W | trim fp32 img/s | trim bf16 img/s | trim bf16 NCHW convs img/s | trim fp32 CUDA graph img/s | PyTorch AMP bf16 channels_last img/s | trim bf16 / PyTorch | trim bf16 / fp32 | channels-last / NCHW | graph / eager fp32 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def cell(v):
    return f"{v:.1f}" if v else "no result"
for shape, r in rows.items():
    f32, b16, nchw, gr, pt = r.get("trim fp32"), r.get("trim bf16"), r.get("nchw"), r.get("graph"), r.get("torch")
    vs_pt = f"{b16 / pt:.2f}x" if b16 and pt else "-"
    vs_f32 = f"{b16 / f32:.2f}x" if b16 and f32 else "-"
    vs_nchw = f"{b16 / nchw:.2f}x" if b16 and nchw else "-"
    vs_eager = f"{gr / f32:.2f}x" if gr and f32 else "-"
    model = shape.split(" ")[0]
    g = cell(gr) + (f" (eager: {graph_note[shape]})" if shape in graph_note else "")
    if not gr and model not in graph_models:
        g = "not run"
    nc = cell(nchw) if nchw or model in nchw_models else "not run"
    print(f"| {shape} | {cell(f32)} | {cell(b16)} | {nc} | {g} | {cell(pt)} | {vs_pt} | {vs_f32} | {vs_nchw} | {vs_eager} |")
EOF
}
write_report() {
  local summary=$OUT/gpu-check.md i n_total n_passed n_skipped n_listed
  n_total=$(count_tests 'cuda:' '')
  n_passed=$(count_tests 'cuda:' ' +Passed ')
  n_skipped=$(count_tests 'cuda:' '\*\*\*Skipped')
  n_listed=$(cat "$scratch/n_listed" 2>/dev/null || echo "?")
  if [ -z "$commit" ]; then
    commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null) || commit="unknown (this copy has no .git: pass --commit)"
  fi
  {
    echo "# trim GPU check"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); GPU: $gpu_name; commit: $commit"
    echo "- steps: $steps; budget ${budget} s; ran $(($(date +%s) - start)) s$([ "$cudnn_benchmark" = 1 ] && echo '; cuDNN benchmark mode')"
    echo
    echo "| step | status | seconds | note |"
    echo "| --- | --- | ---: | --- |"
    for i in "${!names[@]}"; do echo "| ${names[$i]} | ${states[$i]} | ${secs[$i]} | ${notes[$i]} |"; done
    echo
    echo "CUDA cases: $n_listed listed, $n_total run, $n_passed passed, $((n_total - n_passed - n_skipped)) failed, $n_skipped skipped"
    if [ "$((n_total - n_passed))" -gt 0 ]; then
      echo
      echo '```'
      grep -E "^ *[0-9]+/[0-9]+ Test +#[0-9]+: " "$ctest_log" | grep -vE ' +Passed ' | head -40
      echo '```'
    fi
    echo
    echo "## Training (fmnist_cnn on cuda, 1 epoch)"
    echo
    if [ -s "$train_out/summary.json" ]; then
      "$python" - "$train_out/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
keys = ("test_accuracy", "epochs", "seconds", "device")
print("| key | value |\n| --- | --- |")
for k in keys:
    print(f"| {k} | {s.get(k, 'MISSING')} |")
rest = {k: v for k, v in s.items() if k not in keys}
if rest:
    print("\nother fields: " + json.dumps(rest)[:1500])
EOF
    else
      echo "no summary.json"
    fi
    echo
    echo "## Training speed (whole steps, random input; issue 17: ResNet-50 bf16 >= 1.25x PyTorch AMP)"
    echo
    speed_table
    echo
    echo "## Deploy (tiny fmnist_mlp_gmp_90 run, trim-deploy --device cuda --eval)"
    echo
    if [ -s "$deploy_run/deploy/deploy_report.md" ]; then cat "$deploy_run/deploy/deploy_report.md"; else echo "no deploy_report.md (see run.log)"; fi
    echo
    echo "## Benchmark: forward + backward, ResNet-50 shapes, batch $batch, trim vs PyTorch"
    echo
    if [ -s "$bench_table" ]; then cat "$bench_table"; else echo "no comparison (see run.log)"; fi
    echo
    echo "## Logs (each step's last lines; the full logs are build.log, ctest.log, run.log)"
    for i in "${!names[@]}"; do
      [ -n "${logs[$i]}" ] || continue
      local lines=15
      [ "${states[$i]}" = FAILED ] && lines=60
      echo
      echo "### ${names[$i]} (${states[$i]})"
      echo '```'
      if [ "${names[$i]}" = build ] && [ "${states[$i]}" = FAILED ]; then
        grep -E -A12 '^FAILED: ' "${logs[$i]}" | head -n 80
        echo "..."
      fi
      tail -c +"$((offsets[i] + 1))" "${logs[$i]}" | grep -vE '^\[[0-9]+/[0-9]+\] ' | tail -n "$lines"
      echo '```'
    done
  } >"$summary" 2>&1
  # Keep every returned file under the tool's 16 MiB limit.
  local f
  for f in "$build_log" "$ctest_log" "$run_log"; do
    if [ "$(log_size "$f")" -gt $((15 * 1024 * 1024)) ]; then
      tail -c $((15 * 1024 * 1024)) "$f" >"$f.tmp" && mv "$f.tmp" "$f"
    fi
  done
  local n_files
  n_files=$(find "$OUT" -type f | wc -l)
  [ "$n_files" -gt 8 ] && echo "gpu-check: warning: $n_files files under \$OUT; only 8 come back" | tee -a "$summary"
  echo
  echo "==================== gpu-check report ($(($(date +%s) - start)) s) ===================="
  cat "$summary"
  rm -rf "$scratch"
}
finish() {
  local rc=$?
  trap - EXIT
  [ "$rc" -ne 0 ] && [ "$any_failed" = 0 ] && record script FAILED 0 "gpu-check.sh stopped with status $rc"
  write_report
  [ "$any_failed" = 0 ] || exit 1
  exit 0
}
trap finish EXIT
trap 'exit 143' TERM INT

# ---- preflight: the machine, read only --------------------------------------------------------
# What the build and the tests will find: compilers, CMake, the GPU, and where each CUDA library
# lives (the toolkit, ldconfig, PyTorch's wheels). A missing GPU or nvcc fails the step; the rest
# still runs, so the build's own errors come back too.
nvidia_dirs() {  # the folders of PyTorch's nvidia wheels (nvidia/cudnn, nvidia/cu13, ...)
  "$python" -c 'import nvidia, os
for p in nvidia.__path__:
    for d in sorted(os.listdir(p)):
        if os.path.isdir(os.path.join(p, d, "lib")): print(os.path.join(p, d))' 2>/dev/null
}
preflight() {
  date -u
  uname -srm
  echo "cores $(nproc), memory $(awk '/MemTotal/ {print int($2 / 1048576) " GiB"}' /proc/meminfo), disk free $(df -h "$root" | awk 'NR == 2 {print $4}')"
  local ok=0 t gpu
  for t in g++ cmake ninja "$python"; do
    if command -v "$t" >/dev/null; then echo "$t: $("$t" --version 2>&1 | head -1)"; else echo "$t: NOT FOUND"; ok=1; fi
  done
  if [ -x /usr/local/cuda/bin/nvcc ]; then
    echo "nvcc: $(/usr/local/cuda/bin/nvcc --version | tail -1)"
  else
    echo "nvcc: NOT FOUND at /usr/local/cuda/bin/nvcc"; ok=1
  fi
  command -v compute-sanitizer >/dev/null && echo "compute-sanitizer: $(command -v compute-sanitizer)"
  timeout 5 "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1
  echo "--- libraries (toolkit, ldconfig, PyTorch wheels)"
  local libs='.*/lib(cudart|cublas|cublasLt|nvrtc|cudnn|nccl)\.so[.0-9]*'
  find /usr/local/cuda/lib64/ -maxdepth 1 -regextype egrep -regex "$libs" 2>/dev/null | sort
  local h
  for h in /usr/local/cuda/include/cublas_v2.h /usr/local/cuda/include/cudnn.h; do
    if [ -e "$h" ]; then echo "header: $h"; else echo "header: $h NOT FOUND"; fi
  done
  ldconfig -p 2>/dev/null | grep -E 'lib(cublas|cublasLt|nvrtc|cudnn|nccl)\.so' | head -12
  local d
  for d in $(nvidia_dirs); do
    find "$d/lib" -maxdepth 1 -regextype egrep -regex "$libs" | sort
    find "$d/include" -maxdepth 1 -regextype egrep -regex '.*/(cublas_v2|cudnn|nccl)\.h' 2>/dev/null
  done
  echo "carried: $(find "$root/.deps/debs" -name '*.deb' 2>/dev/null | wc -l) packages in .deps/debs"
  if gpu=$(timeout 5 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1); then
    gpu=$(echo "$gpu" | head -1)
  else
    gpu="no GPU: nvidia-smi failed: $(echo "$gpu" | head -1)"
    ok=1
  fi
  echo "GPU: $gpu"
  echo "$gpu" >"$scratch/gpu_name"
  return "$ok"
}
# timeout runs programs, not shell functions: the steps below hand a function to a bash, which
# reads these from the environment.
export python root scratch deps
if want preflight; then
  run_step preflight "${caps[preflight]}" "$build_log" 1 bash -c "$(declare -f nvidia_dirs preflight); preflight"
  [ -s "$scratch/gpu_name" ] && gpu_name=$(cat "$scratch/gpu_name")
fi

# ---- unpack: the carried Debian packages, into .deps/root only --------------------------------
unpack() {
  shopt -s nullglob
  local debs=("$root"/.deps/debs/*.deb) f
  shopt -u nullglob
  if [ ${#debs[@]} -eq 0 ]; then
    echo "no .deps/debs/*.deb: run scripts/gpu-deps.sh on a machine with apt and carry .deps/debs"
    return 1
  fi
  rm -rf "$deps" && mkdir -p "$deps" || return 1
  for f in "${debs[@]}"; do
    echo "dpkg -x $(basename "$f")"
    dpkg -x "$f" "$deps" || return 1
  done
  du -sh "$deps"
}
if want unpack; then
  run_step unpack "${caps[unpack]}" "$build_log" 0 bash -c "$(declare -f unpack); unpack"
fi

# Libraries the carried tree provides at run time: OpenBLAS (openblas-openmp/), its Fortran
# runtime and libfmt (the multiarch folder). libopenblas's own needs are not covered by the
# executables' RUNPATH, hence LD_LIBRARY_PATH. PyTorch's cuDNN/NCCL wheels go on it too, because
# cuDNN 9 loads its engine libraries by name at run time. Only trim's steps get this path; PyTorch
# runs with the machine's own.
trim_ld="$deps/usr/lib/x86_64-linux-gnu/openblas-openmp:$deps/usr/lib/x86_64-linux-gnu"
for pkg in cudnn nccl; do
  d=$("$python" -c "import nvidia.$pkg, os; print(os.path.join(list(nvidia.$pkg.__path__)[0], 'lib'))" 2>/dev/null) &&
    [ -d "$d" ] && trim_ld="$trim_ld:$d"
done
[ -d /usr/local/cuda/lib64 ] && trim_ld="$trim_ld:/usr/local/cuda/lib64"
# CUDA 13 wheels keep cuBLAS, NVRTC and the runtime in nvidia/cu13/lib: after the toolkit, so the
# toolkit's copy wins where both exist.
wheel_cuda=""
for d in $(nvidia_dirs); do
  case "$(basename "$d")" in cu1[0-9]) wheel_cuda=$d; trim_ld="$trim_ld:$d/lib" ;; esac
done
[ "$orig_ld" != __unset__ ] && [ -n "$orig_ld" ] && trim_ld="$trim_ld:$orig_ld"
export LD_LIBRARY_PATH="$trim_ld"
# Prefix for PyTorch's commands: the machine's own library path.
if [ "$orig_ld" = __unset__ ]; then torch_env=(env -u LD_LIBRARY_PATH); else torch_env=(env LD_LIBRARY_PATH="$orig_ld"); fi

# ---- data: Fashion-MNIST where the code looks for it ------------------------------------------
# The data loader reads /usr/share/datasets/fashion-mnist (kFashionMnistDir in
# data/fashion_mnist.h, the Debian package's folder). The device has no such package, so the
# carried copy is placed there (the device runs as root).
place_data() {
  local sys=/usr/share/datasets/fashion-mnist f
  local files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
  for f in "${files[@]}"; do
    [ -s "$deps$sys/$f" ] || { echo "the carried copy lacks $f"; return 1; }
  done
  mkdir -p "$sys" || return 1
  for f in "${files[@]}"; do
    [ -s "$sys/$f" ] || cp "$deps$sys/$f" "$sys/$f" || return 1
  done
  ls -l "$sys"
}
if want data; then
  run_step data "${caps[data]}" "$build_log" 0 bash -c "$(declare -f place_data); place_data"
fi

# ---- configure + build ------------------------------------------------------------------------
# zlib: the carried zlib1g-dev gives zlib.h, but its libz.so points at an absolute path that does
# not exist on the device, so link the machine's own runtime libz.so.1 (same ABI).
system_libz=$(ldconfig -p 2>/dev/null | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')
cmake_args=(
  -S "$root" -B "$root/$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRIM_CUDA=ON
  -DCMAKE_PREFIX_PATH="$deps/usr"
  -DOpenBLAS_ROOT="$deps/usr"
  -DZLIB_INCLUDE_DIR="$deps/usr/include"
  -DZLIB_LIBRARY="${system_libz:-libz.so.1-not-found-by-ldconfig}"
  # CMake 4 (pip's) refuses package configs that declare compatibility with CMake < 3.5 unless
  # told this; older CMake ignores the variable.
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5
)
# A toolkit without cuBLAS (only its compiler and runtime): take cuBLAS from the CUDA wheel.
if [ ! -e /usr/local/cuda/lib64/libcublas.so ] && [ -n "$wheel_cuda" ]; then
  blas=$(find "$wheel_cuda/lib" -maxdepth 1 -name 'libcublas.so*' 2>/dev/null | sort | head -1)
  blaslt=$(find "$wheel_cuda/lib" -maxdepth 1 -name 'libcublasLt.so*' 2>/dev/null | sort | head -1)
  [ -n "$blas" ] && [ -n "$blaslt" ] && cmake_args+=(-DCUDA_cublas_LIBRARY="$blas" -DCUDA_cublasLt_LIBRARY="$blaslt")
  if [ ! -e /usr/local/cuda/include/cublas_v2.h ] && [ -e "$wheel_cuda/include/cublas_v2.h" ]; then
    cmake_args+=(-DCMAKE_CXX_FLAGS="-isystem $wheel_cuda/include" -DCMAKE_CUDA_FLAGS="-isystem $wheel_cuda/include")
  fi
fi
if want configure; then
  if [ -z "$system_libz" ]; then
    record configure FAILED 0 "ldconfig knows no x86-64 libz.so.1 on this machine"
  elif run_step configure "${caps[configure]}" "$build_log" 0 cmake "${cmake_args[@]}"; then
    # Which copy of each dependency CMake took: the carried tree is the point of this check.
    grep -E '^(OpenBLAS_LIBRARY|fmt_DIR|nlohmann_json_DIR|CLI11_DIR|Catch2_DIR|ZLIB_INCLUDE_DIR|ZLIB_LIBRARY|CUDNN_LIBRARY|CUDNN_INCLUDE_DIR|NCCL_LIBRARY|CMAKE_CUDA_COMPILER):' \
      "$root/$build/CMakeCache.txt" >>"$build_log"
  fi
fi
if want build; then
  if [ "$(state_of configure)" = FAILED ]; then
    record build SKIPPED 0 "configure failed"
  else
    # -k 0: one broken target must not stop the others (tests, apps) from building. What the later
    # steps run is built first, so a build that overruns its cap still leaves them something to run;
    # both passes share the one cap.
    # shellcheck disable=SC2016  # the inner script expands its own arguments
    run_step build "${caps[build]}" "$build_log" 0 bash -c \
      'cmake --build "$1" -j "$2" --target trim_cuda_tests trim-train trim-bench -- -k 0; rc=$?
       cmake --build "$1" -j "$2" -- -k 0 || rc=$?
       exit "$rc"' build-first "$root/$build" "$jobs"
  fi
fi
# Later steps run on whatever did build; a target that failed shows up as its own failure there.
built() { [ -f "$root/$build/build.ninja" ]; }
cuda_tests=$root/$build/test/trim_cuda_tests
app_path() {  # <build>/bin/NAME, empty when it was not built
  local p="$root/$build/bin/$1"
  if [ -x "$p" ]; then echo "$p"; fi
}

# ---- cuda_test --------------------------------------------------------------------------------
# One CTest test per CUDA case (label cuda; each has its own TIMEOUT property, which --timeout
# would not override). --stop-time ends every case still running 10 s before the step's cap, so a
# hung case costs its lane, ctest still prints its summary, and unstarted cases count as not run.
test_jobs=$((jobs >= 8 ? 4 : 1))
if want cuda_test; then
  if ! built; then
    record cuda_test SKIPPED 0 "no build"
  else
    ctest --test-dir "$root/$build" -N -L cuda 2>/dev/null | grep -cE '^ *Test +#' >"$scratch/n_listed"
    # The cap run_step will apply: the step's own or the budget left, whichever is less.
    now=$(date +%s)
    cap=${caps[cuda_test]}
    [ "$cap" -gt $((deadline - now)) ] && cap=$((deadline - now))
    # A stop time already past would read as tomorrow's: with little left, stop at half of it.
    stop=$(date -d "@$((now + (cap > 20 ? cap - 10 : cap / 2)))" '+%H:%M:%S')
    OMP_NUM_THREADS=$((jobs / test_jobs)) run_step cuda_test "$cap" "$ctest_log" 1 \
      ctest --test-dir "$root/$build" -L cuda --output-on-failure -j "$test_jobs" --stop-time "$stop"
    if grep -qE 'Test +#[0-9]+: cuda.*\*\*\*Skipped' "$ctest_log"; then
      record cuda_skips FAILED 0 "CUDA cases were skipped on a GPU machine (see ctest.log)"
    fi
  fi
fi

# ---- train ------------------------------------------------------------------------------------
# Output goes to $OUT/fmnist_cuda; anything there besides summary.json and metrics.jsonl (the
# manifest as run, checkpoints) moves to scratch, to stay within the 8 files that come back.
if want train; then
  if [ -z "$(app_path trim-train)" ]; then
    record train FAILED 0 "$build/bin/trim-train was not built"
  else
    run_step train "${caps[train]}" "$run_log" 0 "$(app_path trim-train)" "$root/apps/manifests/fmnist_cnn.json" \
      --set device=cuda --set train.epochs=1 --set output="$train_out"
    if [ -d "$train_out" ]; then
      mkdir -p "$scratch/fmnist_cuda"
      find "$train_out" -mindepth 1 -maxdepth 1 ! -name summary.json ! -name metrics.jsonl \
        -exec mv -t "$scratch/fmnist_cuda" {} +
    fi
  fi
fi

# ---- speed -------------------------------------------------------------------------------------
# Whole training steps (forward, cross-entropy, backward, SGD with momentum) on random input, in
# images/s: trim-bench model in fp32 and bf16 (--precision), and PyTorch eager with autocast bf16 and
# channels_last (its fastest everyday mode; cuDNN heuristics on both sides). Each run has its own
# cap, so one slow model cannot take the others' time; short timing (4 steps x 2 repeats after 2
# warm-up steps), since ResNet-50's host-side initialisation alone takes seconds.
speed_timing=(--iters 4 --repeats 2 --warmup 2)
speed_trim() {  # speed_trim TRIM_BENCH DIR RUN_CAP TIMING...
  local bench=$1 dir=$2 cap=$3 m prec rc=0
  shift 3
  for m in $speed_models; do
    for prec in fp32 bf16; do
      echo "--- trim ${m%%:*}, batch ${m##*:}, $prec"
      timeout --kill-after=2 "$cap" "$bench" model "${m%%:*}" --device cuda --batch "${m##*:}" --precision "$prec" \
        "$@" --out "$dir/trim_$prec.jsonl" || rc=1
    done
  done
  for m in $speed_nchw_models; do
    echo "--- trim ${m%%:*}, batch ${m##*:}, bf16, NCHW convolutions"
    timeout --kill-after=2 "$cap" "$bench" model "${m%%:*}" --device cuda --batch "${m##*:}" --precision bf16 \
      --no-channels-last "$@" --out "$dir/trim_bf16_nchw.jsonl" || rc=1
  done
  return "$rc"
}
speed_graph() {  # speed_graph TRIM_BENCH DIR RUN_CAP TIMING...: fp32 steps replayed from a CUDA graph
  local bench=$1 dir=$2 cap=$3 m rc=0
  shift 3
  for m in $speed_graph_models; do
    echo "--- trim ${m%%:*}, batch ${m##*:}, fp32, CUDA graph"
    timeout --kill-after=2 "$cap" "$bench" model "${m%%:*}" --device cuda --batch "${m##*:}" --precision fp32 \
      --cuda-graph "$@" --out "$dir/trim_fp32_graph.jsonl" || rc=1
  done
  return "$rc"
}
speed_torch() {  # speed_torch PYTHON SCRIPT DIR RUN_CAP TIMING...
  local py=$1 script=$2 dir=$3 cap=$4 m rc=0
  shift 4
  for m in $speed_models; do
    echo "--- PyTorch ${m%%:*}, batch ${m##*:}, AMP bf16, channels_last"
    timeout --kill-after=2 "$cap" "$py" "$script" "${m%%:*}" --device cuda --batch "${m##*:}" --amp --channels-last \
      "$@" --out "$dir/torch_amp.jsonl" || rc=1
  done
  return "$rc"
}
export speed_models speed_nchw_models speed_graph_models
if want speed; then
  mkdir -p "$speed_dir"
  if [ -z "$(app_path trim-bench)" ]; then
    record speed_trim FAILED 0 "$build/bin/trim-bench was not built"
    record speed_graph FAILED 0 "$build/bin/trim-bench was not built"
  else
    # shellcheck disable=SC2016  # the inner script expands its own arguments
    run_step speed_trim "${speed_caps[speed_trim]}" "$run_log" 0 bash -c "$(declare -f speed_trim)"'; speed_trim "$@"' \
      speed "$(app_path trim-bench)" "$speed_dir" "$speed_run_cap" "${speed_timing[@]}"
    # The graph is captured after StepGraph's warm-up: trim-bench raises --warmup to cover it.
    # shellcheck disable=SC2016
    run_step speed_graph "${speed_caps[speed_graph]}" "$run_log" 0 bash -c "$(declare -f speed_graph)"'; speed_graph "$@"' \
      speed "$(app_path trim-bench)" "$speed_dir" "$speed_run_cap" "${speed_timing[@]}"
  fi
  if ! timeout 10 "${torch_env[@]}" "$python" -c 'import torch, torchvision' >/dev/null 2>&1; then
    record speed_torch SKIPPED 0 "$python has no torch/torchvision (or importing them took over 10 s)"
  else
    # shellcheck disable=SC2016
    run_step speed_torch "${speed_caps[speed_torch]}" "$run_log" 0 "${torch_env[@]}" bash -c \
      "$(declare -f speed_torch)"'; speed_torch "$@"' speed "$python" "$root/scripts/bench_torch_model.py" \
      "$speed_dir" "$speed_run_cap" "${speed_timing[@]}"
  fi
fi

# ---- deploy -----------------------------------------------------------------------------------
# The sparse kernels on cuSPARSE (their CUDA cases ran in cuda_test already; again here on their own
# so this step's verdict covers them), then the deployment app end to end on a run folder made here:
# gmp pruning to 90% within 10 steps of 2500 images, evaluated on 1000.
if want deploy; then
  if ! built; then
    record deploy_test SKIPPED 0 "no build"
  else
    # Into run.log: ctest.log's per-case lines are counted for the report's CUDA case totals.
    run_step deploy_test "${deploy_caps[deploy_test]}" "$run_log" 0 \
      ctest --test-dir "$root/$build" -L cuda -R sparse --output-on-failure
  fi
  if [ -z "$(app_path trim-deploy)" ]; then
    record deploy_app SKIPPED 0 "$build/bin/trim-deploy was not built (not in this tree yet?)"
  elif [ -z "$(app_path trim-magnitude)" ]; then
    record deploy_app FAILED 0 "$build/bin/trim-magnitude was not built: no run folder to deploy"
  elif run_step deploy_run "${deploy_caps[deploy_run]}" "$run_log" 0 "$(app_path trim-magnitude)" \
    "$root/apps/manifests/fmnist_mlp_gmp_90.json" --set device=cuda --set train.epochs=1 \
    --set data.train_limit=2500 --set data.test_limit=1000 --set pruning.start_step=2 \
    --set pruning.interval_steps=1 --set pruning.events=5 --set output="$deploy_run"; then
    run_step deploy_app "${deploy_caps[deploy_app]}" "$run_log" 0 "$(app_path trim-deploy)" "$deploy_run" \
      --device cuda --eval
  fi
fi

# ---- sync, memcheck ---------------------------------------------------------------------------
if want sync; then
  if [ ! -x "$cuda_tests" ]; then
    record sync SKIPPED 0 "no trim_cuda_tests"
  else
    TRIM_CUDA_SYNC=1 run_step sync "${caps[sync]}" "$run_log" 0 "$cuda_tests" "[ops],[pruning],[bf16]~[graph]"
  fi
fi
if want memcheck; then
  if [ ! -x "$cuda_tests" ]; then
    record memcheck SKIPPED 0 "no trim_cuda_tests"
  else
    # The toolkit's copy when PATH lacks it (the device machines do not always put it there).
    cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    if [ ! -x "$cs" ]; then
      record memcheck SKIPPED 0 "no compute-sanitizer on PATH or in /usr/local/cuda/bin"
    else
      # API errors are not memory errors: some cases provoke them on purpose (an out-of-memory).
      mc_offset=$(log_size "$run_log")
      if ! run_step memcheck "${caps[memcheck]}" "$run_log" 0 "$cs" --tool memcheck --report-api-errors no \
        --error-exitcode 3 "$cuda_tests" "[tensor],[rng]" &&
        grep -qF 'Device not supported' < <(tail -c +$((mc_offset + 1)) "$run_log"); then
        # Under a sandbox (gVisor on the H200 machines) the sanitizer refuses the device (error
        # 999): that says nothing about trim's memory accesses.
        amend_last SKIPPED "sanitizer unsupported on this machine (see $(basename "$run_log"))"
      fi
    fi
  fi
fi

# ---- bench ------------------------------------------------------------------------------------
if want bench; then
  if [ -z "$(app_path trim-bench)" ]; then
    record bench_trim FAILED 0 "$build/bin/trim-bench was not built"
  else
    run_step bench_trim "${bench_caps[bench_trim]}" "$run_log" 0 "$(app_path trim-bench)" --device cuda \
      --batch "$batch" "${bench_timing[@]}" "${bench_flags[@]}" --out "$OUT/bench_trim.jsonl"
  fi
  # A broken install can hang on import (a driver query): 20 s is many times a normal import.
  if ! timeout 20 "${torch_env[@]}" "$python" -c 'import torch' >/dev/null 2>&1; then
    record bench_torch SKIPPED 0 "$python has no torch (or importing it took over 20 s)"
  else
    run_step bench_torch "${bench_caps[bench_torch]}" "$run_log" 0 "${torch_env[@]}" "$python" \
      "$root/scripts/bench_torch.py" --device cuda --batch "$batch" "${bench_timing[@]}" "${bench_flags[@]}" \
      --out "$OUT/bench_torch.jsonl"
  fi
  if [ -s "$OUT/bench_trim.jsonl" ] && [ -s "$OUT/bench_torch.jsonl" ]; then
    run_step bench_cmp "${bench_caps[bench_cmp]}" "$run_log" 0 "$python" "$root/scripts/bench_compare.py" \
      "$OUT/bench_trim.jsonl" "$OUT/bench_torch.jsonl" --out "$bench_table"
  fi
fi
# The EXIT trap writes the report and sets the exit status (1 when any step failed).
exit 0
