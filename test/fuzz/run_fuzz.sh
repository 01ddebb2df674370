#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its seed corpus (CTest's fuzz_* tests).
#   run_fuzz.sh <target binary> <seed corpus folder> <seconds>
# Exits 77 (CTest "skipped") when the target was not built (no clang++ or no libFuzzer), else with
# the fuzzer's status: 0 when nothing was found, non-zero with the crashing input's path otherwise.
set -euo pipefail
target=$1 seeds=$2 seconds=$3
if [ ! -x "$target" ]; then
  echo "skipped: $target was not built (needs clang++ with libFuzzer: Debian packages clang, libclang-rt-dev)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/trim-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
# New inputs go to the scratch corpus; the seeds in the source tree stay as they are.
set +e
"$target" -max_total_time="$seconds" -timeout=10 -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" 2>&1 | tail -n 40
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  for f in "$work"/artifacts/*; do
    [ -e "$f" ] || continue
    keep="${TMPDIR:-/tmp}/$(basename "$f")"
    cp "$f" "$keep"
    echo "fuzz: crashing input kept at $keep (base64: $(head -c 512 "$f" | base64 -w0))"
  done
fi
exit "$status"
