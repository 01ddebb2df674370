#!/usr/bin/env bash
# Installs the Debian packages trim builds and tests with. Idempotent: packages already present
# are left alone and apt is not touched. Uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config python3
  libopenblas-openmp-dev        # CPU GEMM that shares OpenMP's thread pool with trim's loops
  libdnnl-dev ocl-icd-opencl-dev  # oneDNN 2.6 (OpenMP build): CPU convolutions (TRIM_DNNL); its CMake
                                # config requires OpenCL (a recommends, which setup does not install)
  nlohmann-json3-dev catch2 libfmt-dev libcli11-dev zlib1g-dev
  libturbojpeg0-dev libpng-dev libopenmpi-dev openmpi-bin
  dataset-fashion-mnist         # /usr/share/datasets/fashion-mnist/*.gz
  clang libclang-rt-dev         # libFuzzer for the fuzz tests (test/fuzz/)
  shellcheck                    # lints scripts/gpu-check.sh (CTest gpu_check_plan)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
