#!/usr/bin/env bash
# GPU check of trim on a device machine (one H100/H200, CUDA toolkit, PyTorch with its cuDNN/NCCL
# wheels, no Debian -dev packages, no network). Run from the repository root with $OUT set, after
# scripts/gpu-deps.sh filled .deps/debs on a machine with apt, carrying .deps/debs.
#
# A task gets 15 minutes of device time in all, the machine's start (1-2 min) included, and a
# machine stays warm for only 30 s after a call. So the check runs in two phases, each under its
# own time budget, and the second call is made at once after the first:
#
#   scripts/gpu-check.sh --phase 1 --commit SHA   # preflight, unpack, data, configure, build,
#                                                 # cuda_test (every CUDA case), 380 s budget
#   scripts/gpu-check.sh --phase 2 --commit SHA   # memcheck, sync, nccl, train, bench, cpu_test, 300 s;
#                                                 # rebuilds first if the machine came back cold
#   scripts/gpu-check.sh --dry-run --phase 1      # here: the plan (steps, limits, budget), no run
#   OUT=/tmp/x scripts/gpu-check.sh --steps preflight   # here: the preflight alone; without a
#                                                 # GPU it reports what it found and fails cleanly
#   scripts/gpu-check.sh --local-smoke            # here, without a GPU: unpack, CPU-only build
#                                                 # against the unpacked tree, CPU tests, tiny bench
#   other options: --phase all (everything in one call, 560 s), --steps a,b,c (explicit list),
#                  --budget SECONDS, --batch N (benchmark batch, 64; 2 in smoke), --jobs N (16; 2),
#                  --build-dir DIR (build-gpu; build-bench-smoke), --cudnn-benchmark (both
#                  benchmarks choose cuDNN algorithms by timing; default: both by heuristics),
#                  --commit SHA (recorded in the summary: the device copy has no .git)
#
# Steps: preflight (at most 20 s: GPU, compiler, CMake, Python/PyTorch, where cuBLAS, NVRTC,
# cuDNN and NCCL are found, PyTorch's nvidia/*/lib and nvidia/cu13/lib included), unpack
# (.deps/debs/*.deb -> .deps/root with dpkg -x, never into /), data (Fashion-MNIST where the code
# looks for it), configure + build (CUDA Release in build-gpu against .deps/root), cuda_test (one
# CTest test per CUDA case; on a GPU none may be skipped), memcheck (compute-sanitizer memcheck on
# the tensor, optimizer and RNG cases), sync (the op cases under TRIM_CUDA_SYNC=1), nccl (the
# NCCL backend on one rank: collectives and the overlapped gradient buckets), train
# (trim-train on Fashion-MNIST on the GPU), bench (trim-bench and scripts/bench_torch.py side by
# side, joined by scripts/bench_compare.py), cpu_test (the CPU test suite). Aliases: env =
# preflight, test = cuda_test,cpu_test. In phase 2, unpack/configure/build run only when their
# output is missing (a cold machine).
#
# A failing step is recorded and the rest still run where they can, so one call yields all the
# information; the exit status is non-zero when any step failed. Each step runs under a time limit
# taken from the call's budget, so the summary is always written before the device tool's limit.
# What comes back from $OUT is at most 8 files, so exactly these are written there:
#   gpu-check.md  build.log  ctest.log  run.log  bench_trim.jsonl  bench_torch.jsonl
#   fmnist_cuda/summary.json  fmnist_cuda/metrics.jsonl
# The GPU's settings are only read (nvidia-smi queries), never changed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

smoke=0
dry_run=0
phase=""
steps=""
batch=""
jobs=""
budget=""
build_dir=""
commit=${TRIM_COMMIT:-}
cudnn_benchmark=0
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu-check: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --local-smoke) smoke=1 ;;
    --dry-run) dry_run=1 ;;
    --cudnn-benchmark) cudnn_benchmark=1 ;;
    --phase) need_value "$@"; phase=$2; shift ;;
    --steps) need_value "$@"; steps=$2; shift ;;
    --batch) need_value "$@"; batch=$2; shift ;;
    --jobs) need_value "$@"; jobs=$2; shift ;;
    --budget) need_value "$@"; budget=$2; shift ;;
    --build-dir) need_value "$@"; build_dir=$2; shift ;;
    --commit) need_value "$@"; commit=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$batch" "$jobs" "$budget"; do
  [[ -z "$v" || "$v" =~ ^[0-9]+$ ]] || { echo "gpu-check: '$v' is not a whole number of items or seconds" >&2; exit 2; }
done

# Which steps, in which order, under which budget.
if_missing=""  # steps that run only when their output is missing (phase 2 on a cold machine)
if [ -n "$steps" ]; then
  [ -n "$phase" ] && { echo "gpu-check: give --phase or --steps, not both" >&2; exit 2; }
  budget=${budget:-560}
elif [ $smoke = 1 ]; then
  steps="preflight,unpack,configure,build,cpu_test,bench"
  budget=${budget:-900}
else
  case "${phase:-all}" in
    1) steps="preflight,unpack,data,configure,build,cuda_test"; budget=${budget:-380} ;;
    2) steps="preflight,unpack,data,configure,build,memcheck,sync,nccl,train,bench,cpu_test"; budget=${budget:-300}
       if_missing="unpack,configure,build" ;;
    all) steps="preflight,unpack,data,configure,build,cuda_test,memcheck,sync,nccl,train,bench,cpu_test"
         budget=${budget:-560} ;;
    *) echo "gpu-check: --phase must be 1, 2 or all, got '$phase'" >&2; exit 2 ;;
  esac
fi
steps=$(echo ",$steps," | sed -e 's/,env,/,preflight,/g' -e 's/,test,/,cuda_test,cpu_test,/g' -e 's/^,//' -e 's/,$//')
known=",preflight,unpack,data,configure,build,cuda_test,memcheck,sync,nccl,train,bench,cpu_test,"
IFS=, read -r -a step_list <<<"$steps"
for st in "${step_list[@]}"; do
  [[ "$known" == *",$st,"* ]] || { echo "gpu-check: unknown step '$st' (steps:${known//,/ })" >&2; exit 2; }
done

# Each step's own limit in seconds; the budget left lowers it.
declare -A caps=([preflight]=20 [unpack]=60 [data]=30 [configure]=120 [build]=330 [cuda_test]=300
                 [memcheck]=120 [sync]=60 [nccl]=60 [train]=150 [bench]=200 [cpu_test]=200
                 [bench_trim]=100 [bench_torch]=100 [bench_cmp]=20)

if [ $dry_run = 1 ]; then
  echo "gpu-check plan: $([ $smoke = 1 ] && echo 'local smoke' || echo "phase ${phase:-custom}"), budget ${budget}s"
  for st in "${step_list[@]}"; do
    note=""
    [[ ",$if_missing," == *",$st,"* ]] && note=" (only when its output is missing)"
    printf '  %-10s limit %4ss%s\n' "$st" "${caps[$st]}" "$note"
  done
  echo "files back from \$OUT: gpu-check.md build.log ctest.log run.log bench_trim.jsonl bench_torch.jsonl fmnist_cuda/{summary.json,metrics.jsonl}"
  exit 0
fi

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
    echo "gpu-check: \$OUT is not set: run this through the device tool, or use --local-smoke or --dry-run here" >&2
    exit 2
  fi
  batch=${batch:-64}
  jobs=${jobs:-16}
  bench_device=cuda
  bench_timing=()
fi
bench_flags=()
[ $cudnn_benchmark = 1 ] && bench_flags=(--cudnn-benchmark)
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
# In phase 2 a step of if_missing runs only when `missing_NAME` says its output is absent.
only_if_missing() { [[ ",$if_missing," == *",$1,"* ]]; }

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

# run_step NAME LOG TEE CMD...: runs CMD under the step's time limit (caps[NAME], less when the
# budget is short), appending its output to LOG, and to stdout too when TEE is 1.
run_step() {
  local name=$1 cap=${caps[$1]} log=$2 tee=$3
  shift 3
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

# ---- preflight: the machine, read only, in at most 20 s -----------------------------------------
# What the build and the tests will find: compilers, CMake, the GPU, and where each CUDA library
# lives (the toolkit, ldconfig, PyTorch's wheels). A missing GPU or nvcc fails the step; the rest
# still runs, so the build's own errors come back too.
gpu_name="none"
nvidia_dirs() {  # the folders of PyTorch's nvidia wheels (nvidia/cudnn, nvidia/cu13, ...)
  "$python" -c 'import nvidia, os
for p in nvidia.__path__:
    for d in sorted(os.listdir(p)):
        if os.path.isdir(os.path.join(p, d, "lib")): print(os.path.join(p, d))' 2>/dev/null
}
preflight() {
  echo "===== preflight"
  date -u
  uname -srm
  echo "cores $(nproc), memory $(awk '/MemTotal/ {print int($2 / 1048576) " GiB"}' /proc/meminfo), disk free $(df -h "$root" | awk 'NR == 2 {print $4}')"
  local ok=0 t
  for t in g++ cmake ninja "$python"; do
    if command -v "$t" >/dev/null; then echo "$t: $("$t" --version 2>&1 | head -1)"; else echo "$t: NOT FOUND"; ok=1; fi
  done
  if [ -x /usr/local/cuda/bin/nvcc ]; then
    echo "nvcc: $(/usr/local/cuda/bin/nvcc --version | tail -1)"
  elif [ $smoke = 0 ]; then
    echo "nvcc: NOT FOUND at /usr/local/cuda/bin/nvcc"; ok=1
  fi
  command -v compute-sanitizer >/dev/null && echo "compute-sanitizer: $(command -v compute-sanitizer)"
  timeout 8 "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.is_available())' 2>&1 | tail -1
  echo "--- libraries (toolkit, ldconfig, PyTorch wheels)"
  local libs='.*/lib(cudart|cublas|cublasLt|nvrtc|cudnn|nccl)\.so[.0-9]*'
  find /usr/local/cuda/lib64/ -maxdepth 1 -regextype egrep -regex "$libs" 2>/dev/null | sort
  ls /usr/local/cuda/include/cublas_v2.h /usr/local/cuda/include/cudnn.h 2>&1 | sed 's/^/header: /'
  ldconfig -p 2>/dev/null | grep -E 'lib(cublas|cublasLt|nvrtc|cudnn|nccl)\.so' | head -12
  local d
  for d in $(nvidia_dirs); do
    find "$d/lib" -maxdepth 1 -regextype egrep -regex "$libs" | sort
    find "$d/include" -maxdepth 1 -regextype egrep -regex '.*/(cublas_v2|cudnn|nccl)\.h' 2>/dev/null
  done
  echo "carried: $(find "$root/.deps/debs" -name '*.deb' 2>/dev/null | wc -l) packages in .deps/debs"
  if [ $smoke = 1 ]; then
    gpu_name="none (local smoke)"
  elif gpu_name=$(timeout 8 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1); then
    gpu_name=$(echo "$gpu_name" | head -1)
  else
    gpu_name="no GPU: nvidia-smi failed: $(echo "$gpu_name" | head -1)"
    ok=1
  fi
  echo "GPU: $gpu_name"
  echo "$gpu_name" >"$scratch/gpu_name"
  return $ok
}
if want preflight; then
  # timeout runs programs, not shell functions: hand the function and its inputs to a bash.
  export python root smoke scratch
  run_step preflight "$build_log" 1 bash -c "$(declare -f nvidia_dirs preflight); preflight"
  [ -s "$scratch/gpu_name" ] && gpu_name=$(cat "$scratch/gpu_name")
  echo "gpu-check: GPU: $gpu_name"
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
if want unpack && only_if_missing unpack && [ -d "$deps/usr" ]; then
  record unpack kept 0 "$deps from the previous call"
elif want unpack; then
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
  # CMake 4 (pip's) refuses package configs that declare compatibility with CMake < 3.5 unless
  # told this; older CMake ignores the variable.
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5
)
if [ $smoke = 1 ]; then cmake_args+=(-DTRIM_CUDA=OFF); else cmake_args+=(-DTRIM_CUDA=ON); fi
# A toolkit without cuBLAS (only its compiler and runtime): take cuBLAS from the CUDA wheel.
if [ $smoke = 0 ] && [ ! -e /usr/local/cuda/lib64/libcublas.so ] && [ -n "$wheel_cuda" ]; then
  blas=$(ls "$wheel_cuda"/lib/libcublas.so* 2>/dev/null | head -1)
  blaslt=$(ls "$wheel_cuda"/lib/libcublasLt.so* 2>/dev/null | head -1)
  [ -n "$blas" ] && [ -n "$blaslt" ] && cmake_args+=(-DCUDA_cublas_LIBRARY="$blas" -DCUDA_cublasLt_LIBRARY="$blaslt")
  if [ ! -e /usr/local/cuda/include/cublas_v2.h ] && [ -e "$wheel_cuda/include/cublas_v2.h" ]; then
    cmake_args+=(-DCMAKE_CXX_FLAGS="-isystem $wheel_cuda/include" -DCMAKE_CUDA_FLAGS="-isystem $wheel_cuda/include")
  fi
fi
if want configure && only_if_missing configure && [ -f "$root/$build/build.ninja" ]; then
  record configure kept 0 "$build from the previous call"
elif want configure; then
  if [ -z "$system_libz" ]; then
    record configure FAILED 0 "ldconfig knows no x86-64 libz.so.1 on this machine"
  elif run_step configure "$build_log" 0 cmake "${cmake_args[@]}"; then
    # Which copy of each dependency CMake took: the carried tree is the point of this check.
    grep -E '^(OpenBLAS_LIBRARY|OpenBLAS_INCLUDE_DIR|fmt_DIR|nlohmann_json_DIR|CLI11_DIR|Catch2_DIR|ZLIB_INCLUDE_DIR|ZLIB_LIBRARY_RELEASE|ZLIB_LIBRARY|CUDNN_LIBRARY|CUDNN_INCLUDE_DIR|NCCL_LIBRARY|CMAKE_CUDA_COMPILER):' \
      "$root/$build/CMakeCache.txt" | tee -a "$build_log"
  fi
fi
if want build && only_if_missing build && [ -x "$root/$build/test/trim_cuda_tests" ] && [ "$(state_of configure)" = kept ]; then
  record build kept 0 "$build from the previous call"
elif want build; then
  if [ "$(state_of configure)" = FAILED ]; then
    record build SKIPPED 0 "configure failed"
  else
    # -k 0: one broken target must not stop the others (tests, apps) from building.
    run_step build "$build_log" 0 cmake --build "$root/$build" -j "$jobs" -- -k 0
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

# ---- cuda_test, memcheck, sync ---------------------------------------------------------------
# One CTest test per CUDA case (label cuda); none may be skipped on a GPU machine. OpenMP threads
# per test times parallel tests stays within the cores (the cases compare with the CPU backend).
test_jobs=$((jobs >= 8 ? 4 : 1))
if want cuda_test; then
  if ! built; then
    record cuda_test SKIPPED 0 "no build"
  else
    OMP_NUM_THREADS=$((jobs / test_jobs)) run_step cuda_test "$ctest_log" 1 \
      ctest --test-dir "$root/$build" -L cuda --output-on-failure -j "$test_jobs" --timeout 280
    if [ $smoke = 0 ] && grep -qE 'Test +#[0-9]+: cuda.*\*\*\*Skipped' "$ctest_log"; then
      record cuda_skips FAILED 0 "CUDA cases were skipped on a GPU machine (see ctest.log)"
    fi
  fi
fi
if want memcheck; then
  if ! built || [ ! -x "$root/$build/test/trim_cuda_tests" ]; then
    record memcheck SKIPPED 0 "no trim_cuda_tests"
  elif ! command -v compute-sanitizer >/dev/null; then
    record memcheck SKIPPED 0 "no compute-sanitizer on PATH"
  else
    # API errors are not memory errors: the cases provoke some on purpose (an out-of-memory).
    run_step memcheck "$run_log" 0 compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 3 \
      "$root/$build/test/trim_cuda_tests" "[tensor],[optim],[rng],[beta]"
  fi
fi
if want sync; then
  if ! built || [ ! -x "$root/$build/test/trim_cuda_tests" ]; then
    record sync SKIPPED 0 "no trim_cuda_tests"
  else
    TRIM_CUDA_SYNC=1 run_step sync "$run_log" 0 "$root/$build/test/trim_cuda_tests" "[ops],[reduce],[loss]"
  fi
fi

# ---- nccl: the NCCL backend on one rank (all-reduce, broadcast, the overlapped bucket path) ----
if want nccl; then
  if ! built || [ ! -x "$root/$build/test/trim_cuda_tests" ]; then
    record nccl SKIPPED 0 "no trim_cuda_tests"
  elif ! grep -qE '^NCCL_LIBRARY:FILEPATH=/' "$root/$build/CMakeCache.txt"; then
    record nccl FAILED 0 "CMake found no NCCL: the build has no NCCL backend"
  else
    run_step nccl "$run_log" 0 "$root/$build/test/trim_cuda_tests" "[nccl]"
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
    run_step train "$run_log" 0 "$(app_path trim-train)" "$root/apps/manifests/fmnist_cnn.json" \
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
    run_step bench_trim "$run_log" 0 "$(app_path trim-bench)" --device "$bench_device" \
      --batch "$batch" "${bench_timing[@]}" "${bench_flags[@]}" --out "$OUT/bench_trim.jsonl"
  fi
  if ! "${torch_env[@]}" "$python" -c 'import torch' >/dev/null 2>&1; then
    record bench_torch SKIPPED 0 "$python has no torch"
  else
    run_step bench_torch "$run_log" 0 "${torch_env[@]}" "$python" "$root/scripts/bench_torch.py" \
      --device "$bench_device" --batch "$batch" "${bench_timing[@]}" "${bench_flags[@]}" --out "$OUT/bench_torch.jsonl"
  fi
  if [ -s "$OUT/bench_trim.jsonl" ] && [ -s "$OUT/bench_torch.jsonl" ]; then
    run_step bench_cmp "$run_log" 0 "$python" "$root/scripts/bench_compare.py" \
      "$OUT/bench_trim.jsonl" "$OUT/bench_torch.jsonl" --out "$bench_table"
  fi
fi

# ---- cpu_test: the CPU suite (last: CI runs it anyway; here it checks this machine's compiler) ---
if want cpu_test; then
  if ! built; then
    record cpu_test SKIPPED 0 "no build"
  else
    OMP_NUM_THREADS=$((jobs / test_jobs)) run_step cpu_test "$ctest_log" 1 \
      ctest --test-dir "$root/$build" -LE cuda --output-on-failure -j "$test_jobs" --timeout 190
  fi
fi

# ---- summary ----------------------------------------------------------------------------------
# Test counts from ctest's per-test lines ("  3/97 Test  #3: name ....   Passed  0.01 sec"); the
# CUDA cases are the tests named "cuda:<case>".
count_tests() { grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: $1.*$2" "$ctest_log"; }
n_total=$(count_tests '' '')
n_passed=$(count_tests '' ' +Passed ')
n_skipped=$(count_tests '' '\*\*\*Skipped')
n_failed=$((n_total - n_passed - n_skipped))
c_total=$(count_tests 'cuda' '')
c_passed=$(count_tests 'cuda' ' +Passed ')
c_skipped=$(count_tests 'cuda' '\*\*\*Skipped')
if [ -z "$commit" ]; then
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null) ||
    commit="unknown (this copy has no .git: pass --commit)"
  git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit + working-tree changes"
fi

summary=$OUT/gpu-check.md
{
  echo "# trim GPU check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ $smoke = 1 ] && echo 'local smoke (no GPU)' || echo GPU)"
  echo "- GPU: $gpu_name"
  echo "- commit: $commit"
  echo "- steps: $steps; budget ${budget}s$([ $cudnn_benchmark = 1 ] && echo '; cuDNN benchmark mode in both benchmarks')"
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
  echo "of which CUDA cases: $c_total, $c_passed passed, $((c_total - c_passed - c_skipped)) failed, $c_skipped skipped"
  grep -E '^[0-9]+% tests passed' "$ctest_log" | tail -2
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
