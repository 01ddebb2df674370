#!/usr/bin/env bash
# Builds trim CPU-only with AddressSanitizer and UndefinedBehaviorSanitizer into build-sanitize/
# and runs the CPU test suite under them; any report fails the run. Slow (about 3-5x the plain
# suite), so not part of CI. Arguments select Catch2 tests (default: all of trim_tests):
#   bash scripts/sanitize.sh                      # the whole CPU suite
#   bash scripts/sanitize.sh "[hardening],[io]"   # a subset
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRIM_CUDA=OFF \
  -DTRIM_SANITIZE=address,undefined
cmake --build build-sanitize --target trim_tests trim-train
# detect_leaks: trim owns every allocation; halt_on_error + -fno-sanitize-recover: the first report
# ends the run with a non-zero status.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build-sanitize/test/trim_tests "$@"
echo "sanitize: no AddressSanitizer or UndefinedBehaviorSanitizer report"
