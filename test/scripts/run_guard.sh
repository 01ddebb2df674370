#!/usr/bin/env bash
# End to end through the app (issue 18): one process per run folder, SIGINT and SIGTERM exit codes.
#   run_guard.sh <trim-train binary>
# A run A holds its folder: a second run and a --resume started while A trains are refused at once
# with A's pid, and A ends unharmed; after kill -9 of A (no stale lock) --resume finishes the run.
# SIGINT and SIGTERM checkpoint the run and exit 130 and 143.
set -u
app=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/trim-run-guard-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.err; do echo "--- $f"; tail -n 5 "$f"; done; exit 1; }

# A small run on synthetic data: 400 steps per epoch, a checkpoint every 20 steps.
manifest() {  # <file> <output> <epochs>
  cat > "$1" <<JSON
{"name": "guard", "device": "cpu", "output": "$2", "seed": 1, "threads": 1,
 "data": {"dataset": "synthetic", "shape": [1, 28, 28], "classes": 10, "size": 20000, "test_size": 500,
          "batch_size": 50, "workers": 1},
 "model": {"name": "mlp", "in_features": 784, "hidden": [256, 256], "num_classes": 10},
 "optimizer": {"lr": 0.05, "momentum": 0.9},
 "train": {"epochs": $3, "checkpoint_every_steps": 20, "log_interval_seconds": 1000}}
JSON
}

# Waits until <file> exists while process <pid> runs.
wait_for() {
  for _ in $(seq 1 1200); do
    [ -e "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

run=$work/run
manifest "$work/m.json" "$run" 3
"$app" "$work/m.json" > "$work/a.out" 2> "$work/a.err" &
a=$!
pids+=("$a")
wait_for "$run/checkpoint.safetensors" "$a" || fail "run A wrote no checkpoint"

"$app" "$work/m.json" --set seed=7 --set optimizer.lr=0.01 > /dev/null 2> "$work/b.err"
rc=$?
[ "$rc" -eq 1 ] || fail "a second run on A's folder exited $rc, expected 1"
grep -q "$run: another trim process (pid $a) is running in this output folder" "$work/b.err" ||
  fail "the second run's message does not name the folder and pid $a: $(cat "$work/b.err")"
[ "$(wc -l < "$work/b.err")" -eq 1 ] || fail "expected one error line: $(cat "$work/b.err")"

"$app" "$work/m.json" --resume > /dev/null 2> "$work/c.err"
rc=$?
[ "$rc" -eq 1 ] || fail "a --resume on A's running folder exited $rc, expected 1"
grep -q "another trim process (pid $a)" "$work/c.err" || fail "the --resume was not refused for the lock: $(cat "$work/c.err")"
kill -0 "$a" 2>/dev/null || fail "run A did not survive the refused runs"
grep -q '"seed": 1' "$run/manifest.json" || fail "the refused run rewrote manifest.json"

kill -9 "$a"
wait "$a" 2>/dev/null
"$app" "$work/m.json" --resume > "$work/d.out" 2> "$work/d.err" || fail "--resume after kill -9 failed: $(tail -n 3 "$work/d.err")"
grep -q '"epochs": 3' "$run/summary.json" || fail "the resumed run wrote no summary"

# SIGINT and SIGTERM: a checkpoint where training stands, exit 128 + the signal's number.
for sig in INT TERM; do
  out=$work/run-$sig
  manifest "$work/m-$sig.json" "$out" 50
  "$app" "$work/m-$sig.json" > /dev/null 2> "$work/$sig.err" &
  p=$!
  pids+=("$p")
  wait_for "$out/checkpoint.safetensors" "$p" || fail "the $sig run wrote no checkpoint"
  kill -s "$sig" "$p"
  wait "$p"
  rc=$?
  want=$([ "$sig" = INT ] && echo 130 || echo 143)
  [ "$rc" -eq "$want" ] || fail "SIG$sig: exit $rc, expected $want"
  grep -q "stopped by SIG$sig" "$work/$sig.err" || fail "SIG$sig: no stop message"
  [ ! -e "$out/summary.json" ] || fail "SIG$sig: a stopped run wrote summary.json"
done
echo "run guard: lock, kill -9 resume, SIGINT 130, SIGTERM 143: ok"
