#!/usr/bin/env bash
# One-call GPU check of trim on a device machine (one H100/H200, CUDA toolkit, PyTorch with its
# cuDNN/NCCL wheels, no Debian -dev packages, no network). Run from the repository root with $OUT
# set, after scripts/gpu-deps.sh filled .deps/debs on a machine with apt, carrying .deps/debs:
#
#   scripts/gpu-check.sh                 # everything, within a 560 s budget
#   scripts/gpu-check.sh --steps unpack,test,bench  # reuse a build-gpu left on a still-warm machine
#   scripts/gpu-check.sh --local-smoke   # here, without a GPU: unpack, CPU-only build against the
#                                        # unpacked tree, CPU tests, tiny CPU benchmark
#   other options: --batch N (benchmark batch, 64; 2 in smoke), --jobs N (build jobs, 16; 2),
#                  --budget SECONDS (560), --build-dir DIR (build-gpu; build-bench-smoke)
#
# Steps: env (nvidia-smi, tool versions), unpack (.deps/debs/*.deb -> .deps/root with dpkg -x,
# never into /), data (Fashion-MNIST where the code looks for it), configure + build (CUDA Release
# in build-gpu against .deps/root), test (ctest, all tests; the CUDA tests must run, not skip),
# train (trim-train on Fashion-MNIST on the GPU), bench (trim-bench and scripts/bench_torch.py side
# by side on the same GPU, joined by scripts/bench_compare.py).
#
# A failing step is recorded and the rest still run where they can, so one call yields all the
# information; the exit status is non-zero when any step failed. Each step runs under a time limit
# taken from one overall budget, so the summary is always written before the device tool's 10-minute
# limit. What comes back from $OUT is at most 8 files, so exactly these are written there:
#   gpu-check.md  build.log  ctest.log  run.log  bench_trim.jsonl  bench_torch.jsonl
#   fmnist_cuda/summary.json  fmnist_cuda/metrics.jsonl
# The GPU's settings are only read (nvidia-smi queries), never changed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

smoke=0
steps="env,unpack,data,configure,build,test,train,bench"
batch=""
jobs=""
budget=560
build_dir=""
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --local-smoke) smoke=1 ;;
    --steps) steps=$2; shift ;;
    --batch) batch=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --budget) budget=$2; shift ;;
    --build-dir) build_dir=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ $smoke = 1 ]; then
  build="build-bench-smoke"
  : "${OUT:=$root/$build/out}"
  batch=${batch:-2}
  jobs=${jobs:-2}
  bench_device=cpu
  bench_timing=(--iters 1 --repeats 1 --warmup 0)
else
  build="build-gpu"
  if [ -z "${OUT:-}" ]; then
    echo "gpu-check: \$OUT is not set: run this through the device tool, or use --local-smoke here" >&2
    exit 2
  fi
  batch=${batch:-64}
  jobs=${jobs:-16}
  bench_device=cuda
  bench_timing=()
fi
build=${build_dir:-$build}
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
reserve=15  # seconds kept for writing the summary

want() { [[ ",$steps," == *",$1,"* ]]; }

# ---- step bookkeeping -------------------------------------------------------------------------
names=() states=() secs=() notes=()
any_failed=0
record() {
  names+=("$1"); states+=("$2"); secs+=("$3"); notes+=("$4")
  [ "$2" = FAILED ] && any_failed=1
  printf 'gpu-check: %-10s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4"
}
state_of() {
  local i
  for i in "${!names[@]}"; do [ "${names[$i]}" = "$1" ] && { echo "${states[$i]}"; return; }; done
  echo none
}

# run_step NAME CAP LOG TEE CMD...: runs CMD under a time limit (CAP seconds, less when the budget
# is short), appending its output to LOG, and to stdout too when TEE is 1.
run_step() {
  local name=$1 cap=$2 log=$3 tee=$4
  shift 4
  local left=$((deadline - $(date +%s) - reserve))
  if [ "$left" -lt 20 ]; then
    record "$name" SKIPPED 0 "out of the ${budget}s budget"
    return 1
  fi
  [ "$cap" -gt "$left" ] && cap=$left
  echo "===== $name: $* (limit ${cap}s)" >>"$log"
  local t0 rc
  t0=$(date +%s)
  if [ "$tee" = 1 ]; then
    timeout --kill-after=10 "$cap" "$@" 2>&1 | tee -a "$log"
  else
    timeout --kill-after=10 "$cap" "$@" >>"$log" 2>&1
  fi
  rc=$?
  local dt=$(($(date +%s) - t0))
  if [ $rc -eq 0 ]; then
    record "$name" ok "$dt" ""
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    record "$name" FAILED "$dt" "timed out after ${cap}s (see $(basename "$log"))"
  else
    record "$name" FAILED "$dt" "exit $rc (see $(basename "$log"))"
  fi
  return $rc
}

# ---- env: the machine, read only --------------------------------------------------------------
gpu_name="none"
if want env; then
  env_state=ok
  {
    echo "===== env"
    date -u
    uname -a
    /usr/local/cuda/bin/nvcc --version | tail -2
    g++ --version | head -1
    cmake --version | head -1
    echo "ninja $(ninja --version)"
    "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
  } 2>&1 | tee -a "$build_log"
  if [ $smoke = 1 ]; then
    gpu_name="none (local smoke)"
  elif gpu_name=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1); then
    gpu_name=$(echo "$gpu_name" | head -1)
    nvidia-smi 2>&1 | tee -a "$build_log"
  else
    gpu_name="nvidia-smi failed: $(echo "$gpu_name" | head -1)"
    env_state=FAILED
  fi
  echo "gpu-check: GPU: $gpu_name"
  record env $env_state 0 "$gpu_name"
fi

# ---- unpack: the carried Debian packages, into .deps/root only --------------------------------
unpack() {
  shopt -s nullglob
  local debs=("$root"/.deps/debs/*.deb)
  shopt -u nullglob
  if [ ${#debs[@]} -eq 0 ]; then
    echo "no .deps/debs/*.deb: run scripts/gpu-deps.sh on a machine with apt and carry .deps/debs"
    return 1
  fi
  rm -rf "$deps" && mkdir -p "$deps" || return 1
  local f
  for f in "${debs[@]}"; do
    echo "dpkg -x $(basename "$f")"
    dpkg -x "$f" "$deps" || return 1
  done
  du -sh "$deps"
}
if want unpack; then
  t0=$(date +%s)
  if unpack >>"$build_log" 2>&1; then
    record unpack ok $(($(date +%s) - t0)) "$(find "$root/.deps/debs" -name '*.deb' | wc -l) packages"
  else
    record unpack FAILED $(($(date +%s) - t0)) "see build.log"
  fi
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
[ "$orig_ld" != __unset__ ] && [ -n "$orig_ld" ] && trim_ld="$trim_ld:$orig_ld"
export LD_LIBRARY_PATH="$trim_ld"
# Prefix for PyTorch's commands: the machine's own library path.
if [ "$orig_ld" = __unset__ ]; then torch_env=(env -u LD_LIBRARY_PATH); else torch_env=(env LD_LIBRARY_PATH="$orig_ld"); fi

# ---- data: Fashion-MNIST where the code looks for it ------------------------------------------
# The data loader reads /usr/share/datasets/fashion-mnist (kFashionMnistDir in
# data/fashion_mnist.h, the Debian package's folder; manifests may name another root). The
# device has no such package, so the carried copy is placed there (the device runs as root);
# here, in a local smoke run, the system folder is only checked, never written.
fmnist_sys=/usr/share/datasets/fashion-mnist
fmnist_deps=$deps$fmnist_sys
fmnist_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
place_data() {
  local f missing=0
  for f in "${fmnist_files[@]}"; do [ -s "$fmnist_deps/$f" ] || { echo "carried copy lacks $f"; missing=1; }; done
  [ $missing = 0 ] || return 1
  for f in "${fmnist_files[@]}"; do
    if [ ! -s "$fmnist_sys/$f" ]; then
      if [ $smoke = 1 ]; then echo "$fmnist_sys/$f missing here (not written in a local smoke run)"; return 1; fi
      mkdir -p "$fmnist_sys" && cp "$fmnist_deps/$f" "$fmnist_sys/$f" || return 1
      echo "copied $f to $fmnist_sys"
    fi
  done
  ls -l "$fmnist_sys"
}
if want data; then
  if place_data >>"$build_log" 2>&1; then
    record data ok 0 "$fmnist_sys"
  else
    record data FAILED 0 "see build.log"
  fi
fi

# ---- configure + build ------------------------------------------------------------------------
# zlib: the carried zlib1g-dev gives zlib.h, but its libz.so points at an absolute path that does
# not exist on the device, so link the machine's own runtime libz.so.1 (same ABI).
system_libz=$(ldconfig -p 2>/dev/null | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')
cmake_args=(
  -S "$root" -B "$root/$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH="$deps/usr"
  -DOpenBLAS_ROOT="$deps/usr"
  -DZLIB_INCLUDE_DIR="$deps/usr/include"
  -DZLIB_LIBRARY="${system_libz:-libz.so.1-not-found-by-ldconfig}"
)
if [ $smoke = 1 ]; then cmake_args+=(-DTRIM_CUDA=OFF); else cmake_args+=(-DTRIM_CUDA=ON); fi
if want configure; then
  if [ -z "$system_libz" ]; then
    record configure FAILED 0 "ldconfig knows no x86-64 libz.so.1 on this machine"
  elif run_step configure 120 "$build_log" 0 cmake "${cmake_args[@]}"; then
    # Which copy of each dependency CMake took: the carried tree is the point of this check.
    grep -E '^(OpenBLAS_LIBRARY|OpenBLAS_INCLUDE_DIR|fmt_DIR|nlohmann_json_DIR|CLI11_DIR|Catch2_DIR|ZLIB_INCLUDE_DIR|ZLIB_LIBRARY_RELEASE|ZLIB_LIBRARY|CUDNN_LIBRARY|CUDNN_INCLUDE_DIR|NCCL_LIBRARY|CMAKE_CUDA_COMPILER):' \
      "$root/$build/CMakeCache.txt" | tee -a "$build_log"
  fi
fi
if want build; then
  if [ "$(state_of configure)" = FAILED ]; then
    record build SKIPPED 0 "configure failed"
  else
    # -k 0: one broken target must not stop the others (tests, apps) from building.
    run_step build 330 "$build_log" 0 cmake --build "$root/$build" -j "$jobs" -- -k 0
    [ "$(state_of build)" = FAILED ] && grep -E -A12 '^FAILED: ' "$build_log" | head -n 60
  fi
fi
# Later steps run on whatever did build; a target that failed shows up as its own failure there.
built() { [ -f "$root/$build/build.ninja" ]; }
# An app's executable, <build>/bin/NAME; empty when it was not built.
app_path() {
  local p="$root/$build/bin/$1"
  if [ -x "$p" ]; then echo "$p"; fi
}

# ---- test -------------------------------------------------------------------------------------
# OpenMP threads per test times parallel tests stays within the cores.
test_jobs=$((jobs >= 8 ? 4 : 1))
if want test; then
  if ! built; then
    record test SKIPPED 0 "no build"
  else
    OMP_NUM_THREADS=$((jobs / test_jobs)) run_step test 240 "$ctest_log" 1 \
      ctest --test-dir "$root/$build" --output-on-failure -j "$test_jobs"
    if [ $smoke = 0 ] && grep -qE 'cuda_tests .*\*\*\*Skipped' "$ctest_log"; then
      record cuda_tests FAILED 0 "the CUDA tests were skipped on a GPU machine (see ctest.log)"
    fi
  fi
fi

# ---- train ------------------------------------------------------------------------------------
# Output goes to $OUT/fmnist_cuda; anything there besides summary.json and metrics.jsonl (the
# manifest as run, checkpoints) moves to a scratch folder, to stay within the 8 files that return.
train_out=$OUT/fmnist_cuda
if want train; then
  if [ $smoke = 1 ]; then
    record train SKIPPED 0 "needs a GPU (local smoke)"
  elif ! built || [ -z "$(app_path trim-train)" ]; then
    record train FAILED 0 "$build/bin/trim-train was not built"
  else
    run_step train 180 "$run_log" 0 "$(app_path trim-train)" "$root/apps/manifests/fmnist_cnn.json" \
      --set device=cuda --set output="$train_out"
    tail -n 5 "$run_log"
    if [ -d "$train_out" ]; then
      mkdir -p "$scratch/fmnist_cuda"
      find "$train_out" -mindepth 1 -maxdepth 1 ! -name summary.json ! -name metrics.jsonl \
        -exec mv -t "$scratch/fmnist_cuda" {} +
    fi
  fi
fi

# ---- bench ------------------------------------------------------------------------------------
bench_table=$scratch/bench_table.md
if want bench; then
  if ! built || [ -z "$(app_path trim-bench)" ]; then
    record bench_trim FAILED 0 "$build/bin/trim-bench was not built"
  else
    run_step bench_trim 150 "$run_log" 0 "$(app_path trim-bench)" --device "$bench_device" \
      --batch "$batch" "${bench_timing[@]}" --out "$OUT/bench_trim.jsonl"
  fi
  if ! "${torch_env[@]}" "$python" -c 'import torch' >/dev/null 2>&1; then
    record bench_torch SKIPPED 0 "$python has no torch"
  else
    run_step bench_torch 150 "$run_log" 0 "${torch_env[@]}" "$python" "$root/scripts/bench_torch.py" \
      --device "$bench_device" --batch "$batch" "${bench_timing[@]}" --out "$OUT/bench_torch.jsonl"
  fi
  if [ -s "$OUT/bench_trim.jsonl" ] && [ -s "$OUT/bench_torch.jsonl" ]; then
    run_step bench_cmp 30 "$run_log" 0 "$python" "$root/scripts/bench_compare.py" \
      "$OUT/bench_trim.jsonl" "$OUT/bench_torch.jsonl" --out "$bench_table"
  fi
fi

# ---- summary ----------------------------------------------------------------------------------
# Test counts from ctest's per-test lines ("  3/97 Test  #3: name ....   Passed  0.01 sec").
count_tests() { grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*$1" "$ctest_log"; }
n_total=$(count_tests '')
n_passed=$(count_tests ' +Passed ')
n_skipped=$(count_tests '\*\*\*Skipped')
n_failed=$((n_total - n_passed - n_skipped))

summary=$OUT/gpu-check.md
{
  echo "# trim GPU check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ $smoke = 1 ] && echo 'local smoke (no GPU)' || echo GPU)"
  echo "- GPU: $gpu_name"
  echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' + working-tree changes')"
  echo "- build: $build ($([ $smoke = 1 ] && echo 'TRIM_CUDA=OFF' || echo 'TRIM_CUDA=ON'), Release), deps from .deps/debs"
  echo
  echo "## Steps"
  echo
  echo "| step | status | seconds | note |"
  echo "| --- | --- | ---: | --- |"
  for i in "${!names[@]}"; do echo "| ${names[$i]} | ${states[$i]} | ${secs[$i]} | ${notes[$i]} |"; done
  echo
  echo "## Tests"
  echo
  echo "ctest: $n_total tests, $n_passed passed, $n_failed failed, $n_skipped skipped"
  grep -E '^[0-9]+% tests passed' "$ctest_log" | tail -1
  grep -E 'cuda_tests' "$ctest_log" | grep -E 'Test +#' | tail -1 | sed 's/^ */cuda_tests line: /'
  if [ "$n_failed" -gt 0 ] || [ "$n_skipped" -gt 0 ]; then
    echo
    echo '```'
    grep -E "^ *[0-9]+/[0-9]+ Test +#[0-9]+: " "$ctest_log" | grep -vE ' +Passed ' | head -40
    echo '```'
  fi
  echo
  echo "## Training (fmnist_cnn on cuda)"
  echo
  if [ -s "$train_out/summary.json" ]; then
    "$python" - "$train_out/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("| key | value |\n| --- | --- |")
for k in ("test_accuracy", "epochs", "seconds", "device"):
    print(f"| {k} | {s.get(k, 'MISSING')} |")
rest = {k: v for k, v in s.items() if k not in ("test_accuracy", "epochs", "seconds", "device")}
if rest:
    print("\nother fields: " + json.dumps(rest)[:1500])
EOF
  else
    echo "no summary.json"
  fi
  echo
  echo "## Benchmark: forward + backward, ResNet-50 shapes, batch $batch, trim vs PyTorch in this run"
  echo
  if [ -s "$bench_table" ]; then cat "$bench_table"; else echo "no comparison (see run.log)"; fi
} >"$summary" 2>&1

# Keep every returned file under the tool's 16 MiB limit.
for f in "$build_log" "$ctest_log" "$run_log"; do
  if [ "$(stat -c %s "$f")" -gt $((15 * 1024 * 1024)) ]; then
    tail -c $((15 * 1024 * 1024)) "$f" >"$f.tmp" && mv "$f.tmp" "$f"
  fi
done
n_files=$(find "$OUT" -type f | wc -l)
[ "$n_files" -gt 8 ] && echo "gpu-check: warning: $n_files files under \$OUT; only 8 come back" | tee -a "$summary"

echo
echo "==================== gpu-check summary ($(($(date +%s) - start))s) ===================="
cat "$summary"
rm -rf "$scratch"
exit $any_failed
