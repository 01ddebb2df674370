#!/usr/bin/env bash
# Installs the dependencies (scripts/setup.sh) and builds trim (Release) into ./build, with the CUDA
# backend when nvcc is available. Extra arguments go to CMake's configure step (e.g. -DTRIM_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build
