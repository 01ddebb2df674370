#!/usr/bin/env bash
# End to end: a manifest whose "output" holds a NUL (JSON "\u0000") is refused with the value shown
# escaped, the message whole (not cut at the NUL), and nothing written; a 100,000-character
# data.root is shown cut, with its length.
#   message_escapes.sh <trim-train binary>
set -euo pipefail
train=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/trim-escapes-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > m.json <<'JSON'
{"name": "t", "output": "ru\u0000ns", "data": {"dataset": "synthetic"}, "model": {"name": "mlp"},
 "optimizer": {"lr": 0.1}, "train": {"epochs": 1}}
JSON
set +e
"$train" m.json > out.txt 2> err.txt
status=$?
set -e
cat err.txt
[ "$status" -eq 1 ] || { echo "FAIL: exit status $status, expected 1"; exit 1; }
grep -qF 'm.json: /output: expected no control characters (NUL, newline...), found "ru\u0000ns"' err.txt ||
  { echo "FAIL: the NUL is not shown escaped, or the message is cut"; exit 1; }
[ -z "$(ls -A | grep -v -e '^m.json$' -e '^out.txt$' -e '^err.txt$')" ] || { echo "FAIL: something was written"; exit 1; }
long=$(head -c 100000 /dev/zero | tr '\0' r)
set +e
"$train" m.json --set output=runs/x --set data.dataset=fashion_mnist --set "data.root=$long" 2> err.txt
set -e
head -c 400 err.txt; echo
grep -qF '(100000 characters)' err.txt || { echo "FAIL: the long root is not shown with its length"; exit 1; }
[ "$(wc -c < err.txt)" -lt 1000 ] || { echo "FAIL: the message is $(wc -c < err.txt) bytes"; exit 1; }
echo "ok"
