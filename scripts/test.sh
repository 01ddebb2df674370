#!/usr/bin/env bash
# README command (2): set up, build and run the whole test suite through CTest. Without a usable
# GPU the CUDA tests report "skipped" (CTest skip code 77), never "passed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh "$@"
ctest --test-dir build --output-on-failure -j "$(nproc)"
